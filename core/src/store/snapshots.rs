//! Whole customer documents for a peer that holds none of them (a tablet's first sync): the
//! stored bytes as they are, with the fields the customer's projection reads. A store that
//! serves peers (the relay) keeps those fields beside each customer document, written in the
//! same transaction; the receiver stores the bytes and writes its rows from the fields,
//! without loading or reading the document, which was most of a first sync's time.
//!
//! The fields are postcard, which does not describe itself: the first byte names the layout,
//! and a receiver that does not know it loads the document instead.

use automerge::ChangeHash;
use rusqlite::{OptionalExtension, Transaction, params};

use super::{Store, chunks};
use crate::doc::{DocId, IndexedCustomer};
use crate::error::Result;

/// The layout of [`IndexedCustomer`] in a snapshot; bump it when the struct changes.
const INDEX_FORMAT: u8 = 1;

/// What every saved Automerge document starts with.
const AUTOMERGE_MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];

/// A customer document as a peer that holds none of it receives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomerSnapshot {
    pub doc: DocId,
    pub heads: Vec<ChangeHash>,
    /// The stored document, loadable as it is.
    pub bytes: Vec<u8>,
    /// [`encode_indexed`] of the document at `heads`.
    pub indexed: Vec<u8>,
}

pub fn encode_indexed(customer: &IndexedCustomer) -> Vec<u8> {
    let mut out = vec![INDEX_FORMAT];
    // Serialising plain structs into a Vec cannot fail.
    out.extend(postcard::to_allocvec(customer).unwrap_or_default());
    out
}

/// The fields, if they are in the layout this build writes and nothing trails them.
pub fn decode_indexed(bytes: &[u8]) -> Option<IndexedCustomer> {
    let (&format, body) = bytes.split_first()?;
    if format != INDEX_FORMAT {
        return None;
    }
    match postcard::take_from_bytes(body) {
        Ok((customer, [])) => Some(customer),
        _ => None,
    }
}

/// Whether `bytes` start as a saved Automerge document does. A first sync stores snapshots
/// without loading them; this turns away what is plainly not one.
pub fn looks_like_document(bytes: &[u8]) -> bool {
    bytes.starts_with(&AUTOMERGE_MAGIC)
}

/// Records a customer's fields at `heads`, replacing what was kept before.
pub(crate) fn keep(
    tx: &Transaction<'_>,
    id: &DocId,
    heads: &[ChangeHash],
    customer: &IndexedCustomer,
) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO customer_index (doc_id, heads, data) VALUES (?1, ?2, ?3)
         ON CONFLICT (doc_id) DO UPDATE SET heads = excluded.heads, data = excluded.data",
    )?
    .execute(params![
        id.to_string(),
        chunks::encode_heads(heads),
        encode_indexed(customer)
    ])?;
    Ok(())
}

impl Store {
    /// Makes this store one that serves peers (the relay): it keeps each customer's
    /// projected fields for [`Store::customer_snapshot`] (documents written before are sent
    /// without them until they change), and every purchase line as a row, for the
    /// recommendations that count all baskets ([`super::projection::PurchaseLines`]).
    pub fn serve_peers(&mut self) {
        self.serves_peers = true;
    }

    /// A customer document with its fields, as [`CustomerSnapshot`]; `None` when the document
    /// is not here, or its fields were not kept at its current heads (send it as changes).
    pub fn customer_snapshot(&self, doc: &DocId) -> Result<Option<CustomerSnapshot>> {
        if !matches!(doc, DocId::Customer(_)) {
            return Ok(None);
        }
        let kept: Option<(Vec<u8>, Vec<u8>)> = self
            .conn()
            .prepare_cached("SELECT heads, data FROM customer_index WHERE doc_id = ?1")?
            .query_row([doc.to_string()], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let Some((kept_heads, indexed)) = kept else {
            return Ok(None);
        };
        let Some((bytes, heads)) = chunks::stored_bytes(self.conn(), doc)? else {
            return Ok(None);
        };
        if chunks::encode_heads(&heads) != kept_heads {
            return Ok(None);
        }
        Ok(Some(CustomerSnapshot {
            doc: doc.clone(),
            heads,
            bytes,
            indexed,
        }))
    }
}

/// A whole customer a peer sent with its fields, stored without loading it.
pub(crate) struct ReceivedCustomer {
    pub id: DocId,
    pub heads: Vec<ChangeHash>,
    pub bytes: Vec<u8>,
    pub customer: IndexedCustomer,
}
