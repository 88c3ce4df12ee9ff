//! The relay's changefeed: which documents changed after a device's cursor in its scopes, and
//! the documents granted to one device outside them (customers fetched on demand).

use super::RelayDocs;
use aisle_core::Result;
use aisle_core::Store;
use aisle_core::automerge::ChangeHash;
use aisle_core::doc::DocId;
use aisle_core::store::{chunks, json_array};
use rusqlite::{OptionalExtension, params};
use std::borrow::BorrowMut;

/// A document in the changefeed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedEntry {
    pub doc: DocId,
    pub seq: i64,
    pub heads: Vec<ChangeHash>,
}

impl<S: BorrowMut<Store>> RelayDocs<S> {
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
