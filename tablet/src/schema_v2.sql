-- Version 2: pushed documents the relay refused (a change it may not take). The document stays
-- unsynced and is not offered again until it changes; the Settings screen lists them.
CREATE TABLE IF NOT EXISTS push_refusals (
    doc_id  TEXT PRIMARY KEY,
    heads   BLOB NOT NULL,
    code    TEXT NOT NULL,
    message TEXT NOT NULL,
    at      INTEGER NOT NULL
) WITHOUT ROWID;
