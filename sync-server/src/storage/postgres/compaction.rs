//! Compaction of the shared database: a document's change chunks up to its current version
//! become one snapshot chunk at that version, so a relay rebuilding its working copy (or
//! catching up a document) reads one compressed chunk instead of hundreds of small ones. Run
//! by the relay leading the chain's jobs, and by `aisle-relay admin compact`.
//!
//! The document's row is locked while its chunks are replaced, and the snapshot is made from
//! the working copy only when the copy holds exactly the locked version; a document written
//! meanwhile is compacted at the next run. Readers of chunks after a version they hold get the
//! snapshot when it folds what they lack; applying changes a replica has is a no-op.

use aisle_core::DocId;

use super::Inner;
use super::database::now_ms;
use super::write_through::copy_version;

/// A document is compacted once this many chunks were written since its last snapshot.
pub const COMPACT_AFTER_CHUNKS: i64 = 32;

/// What one run did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Compacted {
    pub docs: usize,
    pub chunks_folded: u64,
}

impl Inner {
    /// Compacts up to `max_docs` documents with the most chunks since their last snapshot
    /// (at least `after_chunks`).
    pub(crate) fn compact(&self, after_chunks: i64, max_docs: i64) -> anyhow::Result<Compacted> {
        let due: Vec<String> = {
            let mut client = self.pool.get()?;
            client
                .query(
                    "SELECT doc_id FROM docs WHERE version - snapshot_version >= $1
                     ORDER BY version - snapshot_version DESC LIMIT $2",
                    &[&after_chunks.max(2), &max_docs],
                )?
                .iter()
                .map(|r| r.get(0))
                .collect()
        };
        let mut done = Compacted::default();
        for doc in due {
            let id: DocId = doc.parse()?;
            if let Some(folded) = self.compact_one(&id)? {
                done.docs += 1;
                done.chunks_folded += folded;
            }
        }
        Ok(done)
    }

    /// Compacts one document; how many chunks it folded, or `None` if it was written while
    /// this ran (or erased).
    fn compact_one(&self, doc: &DocId) -> anyhow::Result<Option<u64>> {
        let key = doc.to_string();
        let mut copy = self.copy();
        self.catch_up(&mut copy, std::slice::from_ref(doc))?;
        let mut client = self.pool.get()?;
        let mut tx = client.transaction()?;
        let Some(row) = tx.query_opt(
            "SELECT version FROM docs WHERE doc_id = $1 FOR UPDATE",
            &[&key],
        )?
        else {
            return Ok(None);
        };
        let version: i64 = row.get(0);
        if copy_version(copy.conn(), &key)? != version {
            return Ok(None);
        }
        let Some(snapshot) = copy.with_doc(doc, |d| d.save())? else {
            return Ok(None);
        };
        let folded = tx.execute(
            "DELETE FROM doc_chunks WHERE doc_id = $1 AND version <= $2",
            &[&key, &version],
        )?;
        tx.execute(
            "INSERT INTO doc_chunks (doc_id, version, snapshot, bytes, written_at)
             VALUES ($1, $2, true, $3, $4)",
            &[&key, &version, &snapshot, &now_ms()],
        )?;
        tx.execute(
            "UPDATE docs SET snapshot_version = $2 WHERE doc_id = $1",
            &[&key, &version],
        )?;
        tx.commit()?;
        Ok(Some(folded))
    }
}
