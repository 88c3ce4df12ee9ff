-- Version 2 of the relay's tables: the till outbox. Every sale that reaches the relay's
-- projection is queued here in the same transaction (a trigger on the shared `sales` table),
-- so a sale stored is a sale that will be sent: none lost between the two, none sent twice
-- (the sale id is the key, and the till is given it as the idempotency key). A sale
-- projected again (a document re-read) keeps its row. `history` marks sales that are not the
-- till's to hear of: the demo retailer's past.
-- `IF NOT EXISTS`, as version 1: a database set back by hand may hold some of it.
-- A return goes the same way, keyed by its movement id, with `event` 'return'.
CREATE TABLE IF NOT EXISTS till_outbox (
    sale_id         TEXT PRIMARY KEY,
    event           TEXT NOT NULL DEFAULT 'sale',
    store_id        TEXT NOT NULL,
    queued_at       INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    delivered_at    INTEGER,
    last_error      TEXT,
    till_reference  TEXT,
    history         INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS till_outbox_due ON till_outbox(next_attempt_at)
    WHERE delivered_at IS NULL AND history = 0;
CREATE INDEX IF NOT EXISTS till_outbox_by_store ON till_outbox(store_id, queued_at);

CREATE TRIGGER IF NOT EXISTS till_outbox_queue AFTER INSERT ON sales
BEGIN
    INSERT OR IGNORE INTO till_outbox (sale_id, store_id, queued_at, next_attempt_at)
    VALUES (NEW.sale_id, NEW.store_id, CAST(unixepoch('subsec') * 1000 AS INTEGER),
            CAST(unixepoch('subsec') * 1000 AS INTEGER));
END;

CREATE TRIGGER IF NOT EXISTS till_outbox_queue_return AFTER INSERT ON stock_movements
WHEN NEW.kind = 'return'
BEGIN
    INSERT OR IGNORE INTO till_outbox (sale_id, event, store_id, queued_at, next_attempt_at)
    VALUES (NEW.movement_id, 'return', NEW.store_id,
            CAST(unixepoch('subsec') * 1000 AS INTEGER),
            CAST(unixepoch('subsec') * 1000 AS INTEGER));
END;
