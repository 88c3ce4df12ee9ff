-- Version 3: what customers bought and have in carts (recommendations, the demand behind stock
-- alerts), customers merged into another, the relay's related-products list, and the keys and
-- revocations loyalty tokens are checked against.

-- One row per purchase or cart line. `open` marks a cart line not yet bought.
CREATE TABLE customer_lines (
    customer_id TEXT NOT NULL,
    basket_id   TEXT NOT NULL,
    line        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    open        INTEGER NOT NULL,
    store_id    TEXT,
    product_sku TEXT NOT NULL,
    variant_sku TEXT NOT NULL,
    quantity    INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    PRIMARY KEY (customer_id, basket_id, line)
) WITHOUT ROWID;
CREATE INDEX customer_lines_open ON customer_lines(variant_sku) WHERE open = 1;
CREATE INDEX customer_lines_by_store ON customer_lines(store_id, at) WHERE kind = 'purchase';

-- A customer document merged into another: the old id opens the survivor.
CREATE TABLE customer_merges (
    customer_id TEXT PRIMARY KEY,
    merged_into TEXT NOT NULL,
    home_store  TEXT NOT NULL,
    merged_at   INTEGER NOT NULL
) WITHOUT ROWID;

-- From the recommendations document: products bought or carted together, best first.
CREATE TABLE related_products (
    product_sku TEXT NOT NULL,
    rank        INTEGER NOT NULL,
    related_sku TEXT NOT NULL,
    score       REAL NOT NULL,
    together    INTEGER NOT NULL,
    PRIMARY KEY (product_sku, rank)
) WITHOUT ROWID;

-- From the loyalty document: the keys that sign loyalty tokens, and revoked tokens.
CREATE TABLE loyalty_keys (
    key_id     TEXT PRIMARY KEY,
    public_hex TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    retired_at INTEGER,
    withdrawn_at INTEGER
) WITHOUT ROWID;

CREATE TABLE revoked_tokens (
    token_id    TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    at          INTEGER NOT NULL,
    PRIMARY KEY (token_id, customer_id)
) WITHOUT ROWID;
