//! A customer's right to erasure on the relay: the document leaves storage and every
//! projection, and devices that hold it learn to purge it from the erasure feed.

use aisle_core::Result;
use aisle_core::doc::DocId;
use aisle_core::store::{json_array, not_found};
use rusqlite::params;

use super::RelayDocs;
use super::changefeed::advance_feed;
use aisle_core::Store;
use std::borrow::BorrowMut;

impl<S: BorrowMut<Store>> RelayDocs<S> {
    /// Relay: erases a document (a customer's right to erasure). It leaves storage and every
    /// projection; its changefeed entry moves on, so devices holding it learn to purge it, and
    /// later pushes to it are refused. Returns the scope it was in.
    pub fn erase_doc(&mut self, id: &DocId) -> Result<String> {
        if !self.has_doc(id)? {
            return Err(not_found(id));
        }
        let now = self.now();
        self.forget_doc(id, |tx| {
            let (seq, scope) = advance_feed(tx, id)?;
            tx.execute(
                "INSERT OR REPLACE INTO erasures (doc_id, seq, scope, erased_at) VALUES (?1, ?2, ?3, ?4)",
                params![id.to_string(), seq, scope, now],
            )?;
            Ok(scope)
        })
    }

    /// Whether a document was erased: pushes to it are refused.
    pub fn is_erased(&self, id: &DocId) -> Result<bool> {
        Ok(self
            .conn()
            .prepare_cached("SELECT 1 FROM erasures WHERE doc_id = ?1")?
            .exists([id.to_string()])?)
    }

    /// Relay: documents erased after `cursor` that a device with these scopes (or that fetched
    /// them on demand) may hold.
    pub fn erasures_since(
        &self,
        cursor: i64,
        scopes: &[String],
        device: &str,
    ) -> Result<Vec<DocId>> {
        let scopes_json = json_array(scopes);
        let mut stmt = self.conn().prepare_cached(
            "SELECT doc_id FROM erasures WHERE seq > ?1
               AND (scope IN (SELECT value FROM json_each(?2))
                    OR doc_id IN (SELECT doc_id FROM device_docs WHERE device_id = ?3))",
        )?;
        let ids = stmt
            .query_map(params![cursor, scopes_json, device], |r| {
                r.get::<_, String>(0)
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        ids.iter().map(|id| id.parse()).collect()
    }
}
