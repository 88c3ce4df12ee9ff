-- Aisle local store, schema version 1.
-- Documents are Automerge chunks; every other table is a projection rebuilt from them and
-- written in the same transaction as the chunk that changed it.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
);

CREATE TABLE docs (
    doc_id             TEXT PRIMARY KEY,
    kind               TEXT NOT NULL,
    heads              BLOB NOT NULL,
    snapshot_bytes     INTEGER NOT NULL,
    incremental_bytes  INTEGER NOT NULL,
    incremental_chunks INTEGER NOT NULL,
    next_seq           INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
);
CREATE INDEX docs_by_kind ON docs(kind);

CREATE TABLE doc_chunks (
    doc_id TEXT NOT NULL REFERENCES docs(doc_id) ON DELETE CASCADE,
    seq    INTEGER NOT NULL,
    data   BLOB NOT NULL,
    PRIMARY KEY (doc_id, seq)
) WITHOUT ROWID;

-- Received changes whose dependencies have not arrived yet (a bloom-filter false positive on
-- the sender, or a cut connection). Replayed on every load until they apply.
CREATE TABLE doc_pending (
    id     INTEGER PRIMARY KEY,
    doc_id TEXT NOT NULL,
    data   BLOB NOT NULL
);
CREATE INDEX doc_pending_by_doc ON doc_pending(doc_id);

-- Heads a peer is known to have durably, per document. A tablet tracks what the relay has
-- (peer 'relay'); a document whose heads differ has changes still to send.
CREATE TABLE peer_heads (
    peer   TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    heads  BLOB NOT NULL,
    PRIMARY KEY (peer, doc_id)
) WITHOUT ROWID;

CREATE TABLE customers (
    customer_id   TEXT PRIMARY KEY,
    loyalty_id    TEXT NOT NULL,
    name          TEXT NOT NULL,
    email         TEXT,
    phone         TEXT,
    home_store    TEXT NOT NULL,
    tier          TEXT NOT NULL,
    last_visit_at INTEGER
);
CREATE INDEX customers_by_home_store ON customers(home_store);

-- loyalty / nfc / email / phone → customer.
CREATE TABLE customer_identifiers (
    kind        TEXT NOT NULL,
    value       TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    PRIMARY KEY (kind, value)
) WITHOUT ROWID;
CREATE INDEX customer_identifiers_by_customer ON customer_identifiers(customer_id);

-- rowid = customers.rowid. Phone digits are indexed in international and national form.
CREATE VIRTUAL TABLE customer_search USING fts5(
    name, email, phone,
    tokenize = 'unicode61 remove_diacritics 2',
    prefix = '1 2 3'
);

CREATE TABLE stores (
    store_id  TEXT PRIMARY KEY,
    name      TEXT NOT NULL,
    city      TEXT NOT NULL,
    latitude  REAL NOT NULL,
    longitude REAL NOT NULL
);

CREATE TABLE products (
    sku         TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    brand       TEXT NOT NULL,
    category    TEXT NOT NULL,
    style       TEXT NOT NULL,
    price_cents INTEGER NOT NULL,
    image       TEXT NOT NULL
);

CREATE TABLE variants (
    variant_sku  TEXT PRIMARY KEY,
    product_sku  TEXT NOT NULL,
    colour       TEXT NOT NULL,
    size         TEXT NOT NULL,
    ean          TEXT NOT NULL,
    size_order   INTEGER NOT NULL,
    colour_order INTEGER NOT NULL
);
CREATE INDEX variants_by_product ON variants(product_sku);
CREATE INDEX variants_by_ean ON variants(ean);

CREATE TABLE stock (
    store_id    TEXT NOT NULL,
    variant_sku TEXT NOT NULL,
    on_hand     INTEGER NOT NULL,
    PRIMARY KEY (store_id, variant_sku)
) WITHOUT ROWID;

CREATE TABLE holds (
    hold_id      TEXT PRIMARY KEY,
    store_id     TEXT NOT NULL,
    variant_sku  TEXT NOT NULL,
    customer_id  TEXT NOT NULL,
    associate_id TEXT NOT NULL,
    quantity     INTEGER NOT NULL,
    placed_at    INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    ended_at     INTEGER,
    ended_how    TEXT
);
CREATE INDEX holds_open ON holds(store_id, variant_sku) WHERE ended_at IS NULL;
CREATE INDEX holds_by_customer ON holds(customer_id);

CREATE TABLE conflicts (
    conflict_id TEXT PRIMARY KEY,
    store_id    TEXT NOT NULL,
    variant_sku TEXT NOT NULL,
    on_hand     INTEGER NOT NULL,
    detected_at INTEGER NOT NULL,
    resolved_at INTEGER,
    resolved_by TEXT
);
CREATE UNIQUE INDEX conflicts_open ON conflicts(store_id, variant_sku) WHERE resolved_at IS NULL;
