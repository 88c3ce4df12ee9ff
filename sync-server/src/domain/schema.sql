-- The relay's own tables, beside the store's shared schema (aisle-core's store/schema*.sql).
-- `IF NOT EXISTS`: databases from before the split already hold them.

-- The changefeed: the latest change sequence number of each document, and the scope that
-- decides which devices receive it. A device resumes from the highest sequence it has applied,
-- so a reconnect costs what changed, not what exists.
CREATE TABLE IF NOT EXISTS feed (
    doc_id TEXT PRIMARY KEY,
    seq    INTEGER NOT NULL UNIQUE,
    scope  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS feed_by_scope ON feed(scope, seq);

-- Documents a device fetched on demand, outside its scopes: it receives their changes too.
CREATE TABLE IF NOT EXISTS device_docs (
    device_id TEXT NOT NULL,
    doc_id    TEXT NOT NULL,
    PRIMARY KEY (device_id, doc_id)
) WITHOUT ROWID;

-- Web shop events applied: a retried event id is skipped.
CREATE TABLE IF NOT EXISTS ingested_events (
    event_id    TEXT PRIMARY KEY,
    received_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Documents erased (a customer's right to erasure). Devices holding one are told to purge it,
-- live or when they next connect; pushes to it are refused.
CREATE TABLE IF NOT EXISTS erasures (
    doc_id    TEXT PRIMARY KEY,
    seq       INTEGER NOT NULL,
    scope     TEXT NOT NULL,
    erased_at INTEGER NOT NULL
) WITHOUT ROWID;
