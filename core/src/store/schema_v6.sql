-- Version 6: stock movements (deliveries, damage, transfers, counts, returns) as listed on
-- the Stock screen and matched by the relay (a transfer received against the one sent, a
-- return against its sale).
CREATE TABLE IF NOT EXISTS stock_movements (
    movement_id  TEXT PRIMARY KEY,
    store_id     TEXT NOT NULL,
    variant_sku  TEXT NOT NULL,
    kind         TEXT NOT NULL,
    delta        INTEGER NOT NULL,
    counted      INTEGER,
    transfer_id  TEXT,
    other_store  TEXT,
    sale_id      TEXT,
    refund_minor INTEGER,
    note         TEXT NOT NULL,
    associate_id TEXT NOT NULL,
    at           INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS stock_movements_by_variant ON stock_movements(store_id, variant_sku, at);
CREATE INDEX IF NOT EXISTS stock_movements_by_sale ON stock_movements(sale_id)
    WHERE sale_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS stock_movements_by_transfer ON stock_movements(transfer_id, kind)
    WHERE transfer_id IS NOT NULL;
