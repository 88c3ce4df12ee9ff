-- Version 2: visits and sales as rows, for the Floor screen's check-ins and the manager's KPIs.

-- Visit ids are unique within a customer's document only (imports number them).
CREATE TABLE visits (
    customer_id TEXT NOT NULL,
    visit_id    TEXT NOT NULL,
    store_id    TEXT NOT NULL,
    at          INTEGER NOT NULL,
    source      TEXT NOT NULL,
    PRIMARY KEY (customer_id, visit_id)
) WITHOUT ROWID;
CREATE INDEX visits_by_store_time ON visits(store_id, at);

CREATE TABLE sales (
    sale_id          TEXT PRIMARY KEY,
    store_id         TEXT NOT NULL,
    customer_id      TEXT,
    associate_id     TEXT NOT NULL,
    at               INTEGER NOT NULL,
    units            INTEGER NOT NULL,
    total_cents      INTEGER NOT NULL,
    from_online_cart INTEGER NOT NULL
);
CREATE INDEX sales_by_store_time ON sales(store_id, at);

-- What sold, by variant: the Floor's "selling and running out" list.
CREATE TABLE sale_lines (
    sale_id     TEXT NOT NULL,
    line        INTEGER NOT NULL,
    store_id    TEXT NOT NULL,
    variant_sku TEXT NOT NULL,
    quantity    INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    PRIMARY KEY (sale_id, line)
) WITHOUT ROWID;
CREATE INDEX sale_lines_by_store_time ON sale_lines(store_id, at);
