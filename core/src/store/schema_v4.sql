-- Version 4: what a customer's projection reads, kept beside the document by a store that
-- serves peers (the relay), so a tablet's first sync writes its rows without loading or
-- reading the document. Tablets leave it empty. `heads` are the document's heads the row was
-- read at: a row whose heads are not the document's is not sent.
CREATE TABLE IF NOT EXISTS customer_index (
    doc_id TEXT PRIMARY KEY,
    heads  BLOB NOT NULL,
    data   BLOB NOT NULL
);
