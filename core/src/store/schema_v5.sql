-- Version 5: each chunk's document heads once it is applied, so what a peer at those heads
-- lacks is the later chunks as stored, sent without loading the document (a reconnect's
-- changed customers). Older chunks have none, except each document's last, whose heads are
-- the document's; a peer elsewhere in the history is answered by loading the document.
ALTER TABLE doc_chunks ADD COLUMN heads BLOB;
UPDATE doc_chunks SET heads = (SELECT d.heads FROM docs d WHERE d.doc_id = doc_chunks.doc_id)
WHERE seq = (SELECT MAX(c.seq) FROM doc_chunks c WHERE c.doc_id = doc_chunks.doc_id);
