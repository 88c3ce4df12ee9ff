-- The tablet's own tables, beside the store's shared schema (aisle-core's store/schema*.sql).
-- `IF NOT EXISTS`: databases from before the split already hold them.

-- Kiosk: check-ins not yet delivered to the relay (the kiosk was offline).
CREATE TABLE IF NOT EXISTS kiosk_queue (
    check_in_id TEXT PRIMARY KEY,
    body        TEXT NOT NULL,
    at          INTEGER NOT NULL
) WITHOUT ROWID;
