//! The relay's changefeed: every commit numbers the documents it changed (in its own
//! transaction, through [`FeedHook`]) and records the web shop events it applied; devices ask
//! which documents changed after their cursor in their scopes, and for the documents granted to
//! them outside those scopes (customers fetched on demand).

use super::RelayDocs;
use aisle_core::Store;
use aisle_core::automerge::ChangeHash;
use aisle_core::doc::DocId;
use aisle_core::store::{chunks, json_array, projection};
use aisle_core::{CommitHook, DocChange, Result};
use rusqlite::{OptionalExtension, Transaction, params};
use std::borrow::BorrowMut;
use std::sync::{Arc, Mutex, PoisonError};

/// A document change that was committed, numbered in the changefeed, for live fan-out.
#[derive(Clone, Debug)]
pub struct Committed {
    pub change: DocChange,
    /// Changefeed sequence number and scope.
    pub seq: i64,
    pub scope: String,
}

/// What the relay's commits leave for it: commits to fan out, and event ids the next commit
/// records. Shared by [`RelayDocs`] and the hook inside its store.
#[derive(Debug, Default)]
pub(crate) struct FeedLog {
    /// Numbered by the transaction in progress; moved to `committed` when it commits.
    staged: Vec<Committed>,
    committed: Vec<Committed>,
    pub(crate) event_marks: Vec<String>,
}

pub(crate) type SharedFeedLog = Arc<Mutex<FeedLog>>;

/// Runs in every commit of the relay's store: numbers each changed document in the changefeed
/// and records marked event ids, so both commit or roll back with the documents.
pub(crate) struct FeedHook {
    pub(crate) log: SharedFeedLog,
    pub(crate) now: aisle_core::Clock,
}

impl CommitHook for FeedHook {
    fn in_transaction(&mut self, tx: &Transaction<'_>, changed: &[DocChange]) -> Result<()> {
        let mut log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
        log.staged.clear();
        for change in changed {
            let (seq, scope) = advance_feed(tx, &change.doc)?;
            log.staged.push(Committed {
                change: change.clone(),
                seq,
                scope,
            });
        }
        let now = self.now.now();
        for event in std::mem::take(&mut log.event_marks) {
            tx.execute(
                "INSERT INTO ingested_events (event_id, received_at) VALUES (?1, ?2)",
                params![event, now],
            )?;
        }
        Ok(())
    }

    fn committed(&mut self) {
        let mut log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
        let staged = std::mem::take(&mut log.staged);
        log.committed.extend(staged);
    }
}

/// Gives a changed document the next changefeed sequence number.
pub(crate) fn advance_feed(tx: &Transaction<'_>, id: &DocId) -> Result<(i64, String)> {
    let scope = projection::scope_of(tx, id)?;
    let seq: i64 = tx.query_row(
        "INSERT INTO feed (doc_id, seq, scope)
         VALUES (?1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM feed), ?2)
         ON CONFLICT (doc_id) DO UPDATE SET seq = excluded.seq, scope = excluded.scope
         RETURNING seq",
        params![id.to_string(), scope],
        |r| r.get(0),
    )?;
    Ok((seq, scope))
}

/// A document in the changefeed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedEntry {
    pub doc: DocId,
    pub seq: i64,
    pub heads: Vec<ChangeHash>,
}

impl<S: BorrowMut<Store>> RelayDocs<S> {
    /// What was committed since the last call, in commit order.
    pub fn take_committed(&mut self) -> Vec<Committed> {
        std::mem::take(&mut self.feed_log().committed)
    }

    /// The next commit also records this web shop event id, in its transaction: a retried
    /// event is then skipped exactly when its effect is stored.
    pub fn mark_next_commit(&mut self, event: &str) {
        self.feed_log().event_marks.push(event.to_string());
    }

    pub fn clear_marks(&mut self) {
        self.feed_log().event_marks.clear();
    }

    /// Records the marked event ids when the event itself changed nothing.
    pub fn record_event_only(&mut self) -> Result<()> {
        self.commit_writes(Vec::new())
    }

    fn feed_log(&self) -> std::sync::MutexGuard<'_, FeedLog> {
        self.feed.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Documents in `scopes` (or in `extra`, documents fetched on demand) that changed after
    /// `cursor`, in changefeed order.
    pub fn feed_since(
        &self,
        cursor: i64,
        scopes: &[String],
        device: Option<&str>,
        limit: usize,
    ) -> Result<Vec<FeedEntry>> {
        // Scopes are few (a device has three); binding them as a JSON array keeps one statement.
        let scopes_json = json_array(scopes);
        let mut stmt = self.conn().prepare_cached(
            "SELECT f.doc_id, f.seq, d.heads FROM feed f JOIN docs d ON d.doc_id = f.doc_id
             WHERE f.seq > ?1
               AND (f.scope IN (SELECT value FROM json_each(?2))
                    OR f.doc_id IN (SELECT doc_id FROM device_docs WHERE device_id = ?3))
             ORDER BY f.seq LIMIT ?4",
        )?;
        let rows = stmt.query_map(
            params![
                cursor,
                scopes_json,
                device.unwrap_or(""),
                i64::try_from(limit).unwrap_or(i64::MAX)
            ],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                ))
            },
        )?;
        rows.map(|row| {
            let (doc, seq, heads) = row?;
            let doc: DocId = doc.parse()?;
            let heads = chunks::decode_heads(&heads, &doc)?;
            Ok(FeedEntry { doc, seq, heads })
        })
        .collect()
    }

    /// How many documents `feed_since` would list in all.
    pub fn feed_count_since(
        &self,
        cursor: i64,
        scopes: &[String],
        device: Option<&str>,
    ) -> Result<u64> {
        let n: i64 = self.conn().query_row(
            "SELECT COUNT(*) FROM feed f JOIN docs d ON d.doc_id = f.doc_id
             WHERE f.seq > ?1
               AND (f.scope IN (SELECT value FROM json_each(?2))
                    OR f.doc_id IN (SELECT doc_id FROM device_docs WHERE device_id = ?3))",
            params![cursor, json_array(scopes), device.unwrap_or("")],
            |r| r.get(0),
        )?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// The highest sequence number in the changefeed (erasures take theirs from it too).
    pub fn feed_head(&self) -> Result<i64> {
        Ok(self
            .conn()
            .query_row("SELECT COALESCE(MAX(seq), 0) FROM feed", [], |r| r.get(0))?)
    }

    /// The changefeed scope of a stored document.
    pub fn doc_scope(&self, doc: &DocId) -> Result<Option<String>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT scope FROM feed WHERE doc_id = ?1",
                [doc.to_string()],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Lets a device receive a document outside its scopes (fetched on demand).
    pub fn grant_doc(&mut self, device: &str, doc: &DocId) -> Result<()> {
        let doc = doc.to_string();
        self.with_tx(|tx| {
            tx.execute(
                "INSERT OR IGNORE INTO device_docs (device_id, doc_id) VALUES (?1, ?2)",
                params![device, doc],
            )?;
            Ok(())
        })
    }

    /// Whether a device was granted a document.
    pub fn is_granted(&self, device: &str, doc: &DocId) -> Result<bool> {
        Ok(self
            .conn()
            .query_row(
                "SELECT 1 FROM device_docs WHERE device_id = ?1 AND doc_id = ?2",
                params![device, doc.to_string()],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }
}
