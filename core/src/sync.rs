//! Automerge sync with one peer, over any transport. The relay protocol (next layer) carries
//! the bytes; this module keeps the per-document sync states and applies what arrives through
//! the store, so received changes and their projections commit together.
//!
//! Sync states live in memory for a session (Automerge needs the in-flight bookkeeping) and are
//! saved to the store when the session ends; the saved form keeps only the shared heads, which
//! is what makes a reconnect cheap without trusting in-flight state across a disconnect.

use automerge::AutoCommit;
use automerge::sync::{Message, State, SyncDoc};
use rusqlite::{OptionalExtension, params};
use std::collections::HashMap;

use crate::doc::DocId;
use crate::error::{CoreError, Result};
use crate::store::{Pending, Store};

/// Largest sync message accepted for one document.
pub const MAX_SYNC_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// A sync session with one peer.
#[derive(Debug)]
pub struct SyncPeer {
    peer: String,
    states: HashMap<DocId, State>,
}

impl SyncPeer {
    pub fn new(peer: impl Into<String>) -> Self {
        Self {
            peer: peer.into(),
            states: HashMap::new(),
        }
    }

    pub fn peer(&self) -> &str {
        &self.peer
    }

    fn state(&mut self, store: &Store, doc: &DocId) -> Result<&mut State> {
        if !self.states.contains_key(doc) {
            let saved: Option<Vec<u8>> = store
                .conn()
                .query_row(
                    "SELECT state FROM sync_states WHERE peer = ?1 AND doc_id = ?2",
                    params![self.peer, doc.to_string()],
                    |r| r.get(0),
                )
                .optional()?;
            // A saved state that does not decode is only a lost optimisation: start afresh.
            let state = saved
                .and_then(|bytes| State::decode(&bytes).ok())
                .unwrap_or_default();
            self.states.insert(doc.clone(), state);
        }
        self.states
            .get_mut(doc)
            .ok_or_else(|| CoreError::Internal("sync state vanished".into()))
    }

    /// The next message to send for `doc`, if any. A document not stored here yields a request
    /// for it.
    pub fn generate(&mut self, store: &mut Store, doc: &DocId) -> Result<Option<Vec<u8>>> {
        let mut state = std::mem::take(self.state(store, doc)?);
        let message = match store.with_doc(doc, |d| d.sync().generate_sync_message(&mut state))? {
            Some(message) => message,
            None => AutoCommit::new().sync().generate_sync_message(&mut state),
        };
        self.states.insert(doc.clone(), state);
        Ok(message.map(Message::encode))
    }

    /// Applies a message from the peer. A malformed message or one whose changes do not fit the
    /// document schema is rejected and changes nothing; the session for that document restarts.
    pub fn receive(&mut self, store: &mut Store, doc: &DocId, bytes: &[u8]) -> Result<()> {
        if bytes.len() > MAX_SYNC_MESSAGE_BYTES {
            return Err(CoreError::invalid("sync message", "is too large"));
        }
        let message = Message::decode(bytes)
            .map_err(|e| CoreError::invalid("sync message", &e.to_string()))?;
        let mut state = std::mem::take(self.state(store, doc)?);
        let chunks: Vec<Vec<u8>> = message.changes.iter().map(<[u8]>::to_vec).collect();
        let result = (|| {
            let mut write = store.begin_write(doc, true)?;
            write
                .doc
                .sync()
                .receive_sync_message(&mut state, message)
                .map_err(|e| CoreError::invalid("sync message", &e.to_string()))?;
            // Changes whose dependencies are still missing wait in memory in Automerge's queue;
            // keep them on disk too, or the next load forgets them while the sender believes
            // they were delivered.
            write.pending = if !write.doc.get_missing_deps(&[]).is_empty() {
                Pending::Add(chunks)
            } else {
                Pending::Clear
            };
            store.commit_writes(vec![write])
        })();
        match result {
            Ok(()) => {
                self.states.insert(doc.clone(), state);
                Ok(())
            }
            Err(e) => {
                self.states.remove(doc);
                Err(e)
            }
        }
    }

    /// Saves the shared heads of every document touched in this session.
    pub fn save(&self, store: &mut Store) -> Result<()> {
        let peer = self.peer.clone();
        let states: Vec<(String, Vec<u8>)> = self
            .states
            .iter()
            .map(|(doc, state)| (doc.to_string(), state.encode()))
            .collect();
        store.with_tx(|tx| {
            let mut stmt = tx.prepare_cached(
                "INSERT OR REPLACE INTO sync_states (peer, doc_id, state) VALUES (?1, ?2, ?3)",
            )?;
            for (doc, state) in &states {
                stmt.execute(params![peer, doc, state])?;
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_messages_are_rejected_without_change() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path().join("a.sqlite3")).unwrap();
        let mut peer = SyncPeer::new("relay");
        let doc = DocId::Catalog;
        for garbage in [&b""[..], b"\x42", b"\x42\x00\x01garbage", &[0xff; 64]] {
            assert!(peer.receive(&mut store, &doc, garbage).is_err());
        }
        assert!(!store.has_doc(&doc).unwrap());
    }
}
