-- What several relays share: documents as change chunks, the changefeed, grants, the ingest
-- ledger, erasures, the device registry and the audit trail. Projections (search, stock,
-- identifiers) are each relay's working copy, rebuilt from these tables (docs/deploy.md).

-- A document's current state: `version` counts its writes, so a relay can tell whether its
-- working copy is the latest before it writes.
CREATE TABLE docs (
    doc_id  TEXT PRIMARY KEY,
    kind    TEXT NOT NULL,
    scope   TEXT NOT NULL,
    version BIGINT NOT NULL DEFAULT 0,
    heads   BYTEA NOT NULL DEFAULT ''::bytea
);

-- Each write's new changes; compaction folds old chunks into one snapshot at its version.
CREATE TABLE doc_chunks (
    doc_id     TEXT NOT NULL REFERENCES docs (doc_id) ON DELETE CASCADE,
    version    BIGINT NOT NULL,
    snapshot   BOOLEAN NOT NULL DEFAULT false,
    bytes      BYTEA NOT NULL,
    written_at BIGINT NOT NULL,
    -- The device whose push it was, if one's.
    origin     TEXT,
    PRIMARY KEY (doc_id, version)
);

-- The changefeed: a document's latest write, at a position made of the writing transaction's
-- id and its place in it (docs/sync.md, "A changefeed cursor with no gaps"). Readers take
-- only positions below the oldest transaction still running.
CREATE TABLE feed (
    doc_id  TEXT PRIMARY KEY,
    pos     BIGINT NOT NULL UNIQUE,
    scope   TEXT NOT NULL,
    version BIGINT NOT NULL
);
CREATE INDEX feed_by_scope ON feed (scope, pos);

CREATE TABLE device_docs (
    device_id TEXT NOT NULL,
    doc_id    TEXT NOT NULL,
    PRIMARY KEY (device_id, doc_id)
);

CREATE TABLE ingested_events (
    event_id    TEXT PRIMARY KEY,
    received_at BIGINT NOT NULL
);

CREATE TABLE erasures (
    doc_id    TEXT PRIMARY KEY,
    pos       BIGINT NOT NULL UNIQUE,
    scope     TEXT NOT NULL,
    erased_at BIGINT NOT NULL
);

CREATE TABLE devices (
    device_id    TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    tenant       TEXT NOT NULL,
    store_id     TEXT NOT NULL,
    role         TEXT NOT NULL,
    token_hash   BYTEA NOT NULL UNIQUE,
    actor        BYTEA NOT NULL,
    enrolled_at  BIGINT NOT NULL,
    revoked_at   BIGINT,
    last_seen_at BIGINT
);
-- One device per Automerge actor (docs/security.md), also when two relays enrol at once.
CREATE UNIQUE INDEX devices_by_actor ON devices (tenant, actor);
CREATE INDEX devices_by_revocation ON devices (revoked_at) WHERE revoked_at IS NOT NULL;

CREATE TABLE enrolment_codes (
    code_hash  BYTEA PRIMARY KEY,
    tenant     TEXT NOT NULL,
    store_id   TEXT NOT NULL,
    role       TEXT NOT NULL,
    name       TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);

CREATE TABLE audit (
    seq     BIGSERIAL PRIMARY KEY,
    at      BIGINT NOT NULL,
    actor   TEXT NOT NULL,
    store   TEXT,
    action  TEXT NOT NULL,
    subject TEXT NOT NULL,
    detail  TEXT NOT NULL
);
CREATE INDEX audit_by_store ON audit (store, seq);
CREATE FUNCTION audit_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only';
END $$;
CREATE TRIGGER audit_is_append_only BEFORE UPDATE OR DELETE ON audit
    FOR EACH ROW EXECUTE FUNCTION audit_is_append_only();

-- `feed_id` names this changefeed: a relay's working copy of another database (or of one
-- restored from a backup, after `aisle-relay migrate --new-feed-id`) is rebuilt, not reused.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT INTO meta (key, value) VALUES ('feed_id', gen_random_uuid()::text);

-- Runs of the jobs that must run on one relay at a time (the recommendation recount), by the
-- relay holding the jobs' advisory lock: what an operator reads to see who leads.
CREATE TABLE job_runs (
    id         BIGSERIAL PRIMARY KEY,
    job        TEXT NOT NULL,
    holder     TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    ended_at   BIGINT
);
