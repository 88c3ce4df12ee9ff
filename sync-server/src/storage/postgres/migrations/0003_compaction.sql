-- Compaction folds a document's chunks up to a version into one snapshot chunk at that
-- version (the leader's `compaction` job, `aisle-relay admin compact`). `snapshot_version`
-- says where the last snapshot ends, so the documents with most chunks since are found by
-- index instead of by counting every chunk.
ALTER TABLE docs ADD COLUMN snapshot_version BIGINT NOT NULL DEFAULT 0;
CREATE INDEX docs_by_chunks_since_snapshot ON docs ((version - snapshot_version));
