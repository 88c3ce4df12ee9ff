//! Pushed documents the relay refused. A refusal is about one document (a change the device's
//! role may not make, say); the tablet keeps the document as it is, stops offering it until
//! it changes again, and tells the associate why, while everything else keeps syncing.

use aisle_core::Result;
use aisle_core::automerge::ChangeHash;
use aisle_core::doc::DocId;
use aisle_core::model::{ErrorCode, PushRefusal};
use aisle_core::store::chunks::{decode_heads, encode_heads};
use rusqlite::params;
use std::collections::HashMap;

use crate::Tablet;

impl Tablet {
    /// Records that the relay refused `doc` at `heads`.
    pub fn record_push_refusal(
        &mut self,
        doc: &DocId,
        heads: &[ChangeHash],
        code: ErrorCode,
        message: &str,
    ) -> Result<()> {
        let now = self.now();
        self.with_tx(|tx| {
            tx.execute(
                "INSERT INTO push_refusals (doc_id, heads, code, message, at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (doc_id) DO UPDATE SET heads = excluded.heads,
                   code = excluded.code, message = excluded.message, at = excluded.at",
                params![
                    doc.to_string(),
                    encode_heads(heads),
                    code.as_str(),
                    message,
                    now
                ],
            )?;
            Ok(())
        })
    }

    /// The relay took these documents after all (changed since, or settled by someone).
    pub fn clear_push_refusals(&mut self, docs: &[DocId]) -> Result<()> {
        self.with_tx(|tx| {
            let mut stmt = tx.prepare_cached("DELETE FROM push_refusals WHERE doc_id = ?1")?;
            for doc in docs {
                stmt.execute([doc.to_string()])?;
            }
            Ok(())
        })
    }

    /// The heads each refused document was refused at: not offered again while unchanged.
    pub fn refused_heads(&self) -> Result<HashMap<DocId, Vec<ChangeHash>>> {
        let mut stmt = self
            .conn()
            .prepare_cached("SELECT doc_id, heads FROM push_refusals")?;
        let rows = stmt
            .query_map([], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter()
            .map(|(doc, heads)| {
                let doc: DocId = doc.parse()?;
                let heads = decode_heads(&heads, &doc)?;
                Ok((doc, heads))
            })
            .collect()
    }

    /// Every refusal, newest first, as the Settings screen lists them.
    pub fn push_refusals(&self) -> Result<Vec<PushRefusal>> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT doc_id, message, at FROM push_refusals ORDER BY at DESC, doc_id",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok(PushRefusal {
                    doc: r.get(0)?,
                    message: r.get(1)?,
                    at: r.get(2)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }
}
