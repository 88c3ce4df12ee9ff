-- Customer search in the shared database: the one projection a relay answers from PostgreSQL
-- rather than from its working copy, so a chain's search runs on the database's indexes.
-- Written by the relay that writes the customer, in the same transaction as its chunk; the
-- row goes with the document (an erasure deletes the `docs` row).
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS unaccent;

-- `unaccent` is only STABLE (its dictionary could change); a fixed dictionary makes it safe
-- to index, which is how its documentation suggests using it.
CREATE FUNCTION aisle_fold(text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    RETURN lower(unaccent('unaccent'::regdictionary, $1));

CREATE TABLE customer_search (
    doc_id      TEXT PRIMARY KEY REFERENCES docs (doc_id) ON DELETE CASCADE,
    -- The document version this row was projected from: an older projection never replaces
    -- a newer one.
    version     BIGINT NOT NULL,
    customer_id TEXT NOT NULL,
    name        TEXT NOT NULL,
    loyalty_id  TEXT NOT NULL,
    email       TEXT,
    phone       TEXT,
    -- Phone digits in international and national form, as the tablets index them.
    phone_words TEXT NOT NULL,
    home_store  TEXT NOT NULL,
    tier        TEXT NOT NULL,
    -- Words split where FTS5's unicode61 splits them (any non-alphanumeric), folded to
    -- lower case without accents, so a prefix query finds what a tablet would.
    words       tsvector GENERATED ALWAYS AS (to_tsvector('simple', regexp_replace(
                    aisle_fold(name || ' ' || coalesce(email, '') || ' ' || phone_words),
                    '[^[:alnum:]]+', ' ', 'g'))) STORED,
    folded_name TEXT GENERATED ALWAYS AS (aisle_fold(name)) STORED
);
CREATE INDEX customer_search_words ON customer_search USING gin (words);
-- Near spellings of a name (a typo, a transliteration): trigram similarity.
CREATE INDEX customer_search_trigrams ON customer_search USING gin (folded_name gin_trgm_ops);
CREATE INDEX customer_search_by_store ON customer_search (home_store);
CREATE INDEX customer_search_by_loyalty ON customer_search (loyalty_id);

-- Set once every customer a relay's working copy held was written here (databases made
-- before this migration); until then relays fill it from their copies.
INSERT INTO meta (key, value) VALUES ('customer_search_filled', 'no');
