-- The till outbox, shared by the relays: each relay's working copy queues the sales it
-- projects (a trigger, as on the embedded relay) and moves them here; the relay that holds
-- the `till` job delivers them. The sale id is the key: a sale queued by every relay is one
-- row, delivered once (and the till is given the id as the idempotency key besides).
CREATE TABLE till_outbox (
    sale_id         TEXT PRIMARY KEY,
    -- 'sale', or 'return' (keyed by the return's movement id).
    event           TEXT NOT NULL DEFAULT 'sale',
    store_id        TEXT NOT NULL,
    recorded_at     BIGINT NOT NULL,
    total_minor     BIGINT NOT NULL,
    queued_at       BIGINT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    delivered_at    BIGINT,
    last_error      TEXT,
    till_reference  TEXT,
    history         BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX till_outbox_due ON till_outbox (next_attempt_at)
    WHERE delivered_at IS NULL AND NOT history;
CREATE INDEX till_outbox_by_store ON till_outbox (store_id, queued_at);
