-- Version 7: products no longer bought in (still shown and sold, never suggested), and the
-- web shop's ids for variants' stock (Shopify's stock updates name an inventory item, not a
-- SKU). Both read off the catalog.
CREATE TABLE IF NOT EXISTS discontinued_products (
    sku TEXT PRIMARY KEY
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS shop_items (
    item_id     TEXT PRIMARY KEY,
    variant_sku TEXT NOT NULL
) WITHOUT ROWID;
