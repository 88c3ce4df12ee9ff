//! Replication primitives for the relay protocol: apply changes a peer sent, say what a peer
//! with given heads lacks, and remember what a peer is known to have.
//!
//! Both sides keep track of the other's heads, so a change crosses the wire once, with no
//! bloom filters or extra round trips; a wrong guess shows up as missing dependencies, and the
//! receiver then asks for everything after its own heads.

use automerge::{ActorId, AutoCommit, ChangeHash};
use rusqlite::{OptionalExtension, Transaction, params};
use std::collections::HashMap;

use crate::doc::{self, DocId, IndexedCustomer};
use crate::error::{CoreError, Result};
use crate::store::snapshots::{self, ReceivedCustomer};
use crate::store::{DocWrite, Pending, Store, chunks, put_meta};

/// Fewest new customer documents in one batch worth loading on several threads (a first
/// sync brings them by the thousand; a live change brings one).
const PARALLEL_LOAD_MIN_DOCS: usize = 64;
/// Most threads loading new documents at once.
const PARALLEL_LOAD_MAX_THREADS: usize = 8;

/// A document new here, loaded from what the peer sent, with its projection read when it
/// is a whole customer: the CPU-bound part of applying it, done off the writing thread.
struct Preloaded {
    doc: AutoCommit,
    indexed: Option<(Vec<ChangeHash>, IndexedCustomer)>,
}

/// What a receiver checks of a peer's changes to one document before it stores them; an error
/// refuses the whole batch and nothing of it is written. The relay checks what a device pushes
/// against the device's role (aisle-relay's `DevicePush`); a tablet takes what its relay sends
/// ([`Unchecked`]), since the relay checked it on the way in.
pub trait ChangeCheck {
    /// What [`ChangeCheck::after`] compares against, read before the changes load.
    type Before;
    /// Looks at the received bytes alone, before the document is loaded: the cheap refusals.
    fn bytes(&self, _doc: &DocId, _changes: &[u8]) -> Result<()> {
        Ok(())
    }
    /// Looks at the document as stored (empty if new here).
    fn before(&self, loading: &mut Loading<'_>) -> Result<Self::Before>;
    /// Looks at the document with the changes loaded.
    fn after(&self, before: Self::Before, loading: &mut Loading<'_>) -> Result<()>;
    /// Whether a whole customer sent with its fields ([`Incoming::indexed`]) may be stored
    /// without loading it, and so without [`ChangeCheck::before`] and [`ChangeCheck::after`].
    fn takes_snapshots_unloaded(&self) -> bool {
        false
    }
}

/// A document a peer's changes load into, as a [`ChangeCheck`] sees it.
pub struct Loading<'a> {
    /// The store as it was before the batch.
    pub store: &'a Store,
    pub doc: &'a DocId,
    /// As stored in [`ChangeCheck::before`]; with the changes loaded in [`ChangeCheck::after`].
    pub content: &'a mut AutoCommit,
    /// The heads stored before the changes.
    pub heads_before: &'a [ChangeHash],
    /// A customer's projection, at the heads it was read at, if a check read the whole
    /// document anyway: the commit then projects from it instead of reading it again.
    pub projection: &'a mut Option<(Vec<ChangeHash>, IndexedCustomer)>,
}

/// Takes every change as it comes.
pub struct Unchecked;

impl ChangeCheck for Unchecked {
    type Before = ();
    fn before(&self, _: &mut Loading<'_>) -> Result<()> {
        Ok(())
    }
    fn after(&self, (): (), _: &mut Loading<'_>) -> Result<()> {
        Ok(())
    }
    fn takes_snapshots_unloaded(&self) -> bool {
        true
    }
}

/// What applying received changes to one document did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    pub doc: DocId,
    /// Heads after applying.
    pub heads: Vec<ChangeHash>,
    /// Some changes wait for dependencies this side does not have yet.
    pub missing_deps: bool,
    /// This side has changes beyond the heads the sender gave (a merge of both sides' edits):
    /// the sender lacks them.
    pub ahead_of_sender: bool,
    /// The sender gave heads this side still lacks with nothing waiting for dependencies: it
    /// sent only some of what it holds (a live change whose sibling this side never got).
    pub behind_sender: bool,
}

/// A document's heads and the changes a peer lacks (see [`Store::changes_since`]).
pub type HeadsAndChanges = (Vec<ChangeHash>, Vec<u8>);

/// Changes a peer sent for one document, and the peer's heads once they apply.
#[derive(Clone, Debug)]
pub struct Incoming {
    pub doc: DocId,
    pub changes: Vec<u8>,
    pub sender_heads: Vec<ChangeHash>,
    /// For a whole customer document (a [`crate::store::snapshots::CustomerSnapshot`]): its
    /// fields at `sender_heads`, so a receiver that holds none of it need not load it.
    pub indexed: Option<IndexedCustomer>,
}

impl Incoming {
    pub fn changes(doc: DocId, changes: Vec<u8>, sender_heads: Vec<ChangeHash>) -> Self {
        Self {
            doc,
            changes,
            sender_heads,
            indexed: None,
        }
    }
}

/// Loads received changes into a document, refusing ones that do not load.
fn load_changes(content: &mut AutoCommit, doc: &DocId, changes: &[u8]) -> Result<()> {
    content
        .load_incremental(changes)
        .map_err(|e| CoreError::invalid("changes", &format!("for {doc} do not load: {e}")))?;
    Ok(())
}

/// A new document from what a peer sent, and its projection if it is a whole customer (if
/// it does not read as one, the projection reads it again and says why).
fn preload(item: &Incoming, actor: &ActorId) -> Result<Preloaded> {
    let mut content = AutoCommit::new().with_actor(actor.clone());
    load_changes(&mut content, &item.doc, &item.changes)?;
    let indexed = if content.get_missing_deps(&[]).is_empty() {
        doc::hydrate_doc::<IndexedCustomer>(&content, &item.doc)
            .ok()
            .map(|customer| (content.get_heads(), customer))
    } else {
        None
    };
    Ok(Preloaded {
        doc: content,
        indexed,
    })
}

impl Store {
    /// Applies received changes to several documents in one transaction, each passing `check`
    /// first. A document whose content does not fit its schema fails the batch with a typed
    /// error.
    pub fn apply_changes(
        &mut self,
        batch: Vec<(DocId, Vec<u8>)>,
        check: &impl ChangeCheck,
    ) -> Result<Vec<Applied>> {
        let incoming = batch
            .into_iter()
            .map(|(doc, changes)| Incoming::changes(doc, changes, Vec::new()))
            .collect();
        self.apply_from_peer(None, incoming, check, None)
    }

    /// Applies what a peer sent, and in the same transaction records the heads the peer has
    /// of each document (when this side now has them too) and, optionally, a metadata value
    /// such as the changefeed cursor. Entries for the same document are merged.
    pub fn apply_from_peer(
        &mut self,
        peer: Option<&str>,
        incoming: Vec<Incoming>,
        check: &impl ChangeCheck,
        meta: Option<(&str, Vec<u8>)>,
    ) -> Result<Vec<Applied>> {
        let mut merged: Vec<Incoming> = Vec::with_capacity(incoming.len());
        let mut position: HashMap<DocId, usize> = HashMap::with_capacity(incoming.len());
        for item in incoming {
            match position.get(&item.doc) {
                Some(&i) => {
                    let m = &mut merged[i];
                    m.changes.extend(item.changes);
                    m.sender_heads = item.sender_heads;
                    // The fields were of the first part alone.
                    m.indexed = None;
                }
                None => {
                    position.insert(item.doc.clone(), merged.len());
                    merged.push(item);
                }
            }
        }
        let mut received = Vec::new();
        let mut applied = Vec::with_capacity(merged.len());
        let mut peer_rows = Vec::new();
        if check.takes_snapshots_unloaded() {
            let mut rest = Vec::with_capacity(merged.len());
            for item in merged {
                match self.unloaded(item)? {
                    Ok(customer) => {
                        peer_rows.push((customer.id.clone(), customer.heads.clone()));
                        applied.push(Applied {
                            doc: customer.id.clone(),
                            heads: customer.heads.clone(),
                            missing_deps: false,
                            ahead_of_sender: false,
                            behind_sender: false,
                        });
                        received.push(customer);
                    }
                    Err(item) => rest.push(item),
                }
            }
            merged = rest;
        }
        let mut preloaded = self.preload_new_customers(&merged)?;
        let mut writes = Vec::with_capacity(merged.len());
        for (i, item) in merged.into_iter().enumerate() {
            let Incoming {
                doc,
                changes,
                sender_heads,
                indexed: _,
            } = item;
            if changes.is_empty() {
                // Nothing new: the peer's heads are still worth recording if this side has them.
                if !sender_heads.is_empty() && self.has_heads(&doc, &sender_heads)? {
                    peer_rows.push((doc.clone(), sender_heads));
                }
                continue;
            }
            check.bytes(&doc, &changes)?;
            let preload = preloaded[i].take();
            let mut write = match preload {
                Some(_) => DocWrite::new_here(&doc, self.actor()),
                None => self.begin_write(&doc, true)?,
            };
            let mut loading = Loading {
                store: self,
                doc: &doc,
                content: &mut write.doc,
                heads_before: &write.heads_before,
                projection: &mut write.indexed,
            };
            let before = check.before(&mut loading)?;
            match preload {
                Some(loaded) => {
                    let loaded = loaded?;
                    *loading.content = loaded.doc;
                    *loading.projection = loaded.indexed;
                }
                None => load_changes(loading.content, &doc, &changes)?,
            }
            check.after(before, &mut loading)?;
            let missing_deps = !write.doc.get_missing_deps(&[]).is_empty();
            let new_here = write.heads_before.is_empty();
            write.pending = if missing_deps {
                Pending::Add(vec![changes])
            } else {
                if new_here {
                    write.as_received = Some(changes);
                }
                Pending::Clear
            };
            let heads = write.doc.get_heads();
            // Looking a change up by hash rebuilds it; the sender's heads are usually exactly
            // this side's heads now, which says the same for nothing.
            let has_sender_heads = !sender_heads.is_empty()
                && sender_heads
                    .iter()
                    .all(|h| heads.contains(h) || write.doc.get_change_by_hash(h).is_some());
            let ahead_of_sender = has_sender_heads
                && heads.iter().any(|h| !sender_heads.contains(h));
            let behind_sender = !missing_deps && !sender_heads.is_empty() && !has_sender_heads;
            if has_sender_heads {
                peer_rows.push((doc.clone(), sender_heads));
            }
            applied.push(Applied {
                doc: doc.clone(),
                heads,
                missing_deps,
                ahead_of_sender,
                behind_sender,
            });
            writes.push(write);
        }
        let record_peer = |tx: &Transaction<'_>| -> Result<()> {
            if let Some(peer) = peer {
                let mut stmt = tx.prepare_cached(
                    "INSERT INTO peer_heads (peer, doc_id, heads) VALUES (?1, ?2, ?3)
                     ON CONFLICT (peer, doc_id) DO UPDATE SET heads = excluded.heads",
                )?;
                for (doc, heads) in &peer_rows {
                    stmt.execute(params![peer, doc.to_string(), chunks::encode_heads(heads)])?;
                }
            }
            if let Some((key, value)) = &meta {
                put_meta(tx, key, value)?;
            }
            Ok(())
        };
        if self.serves_peers() {
            // A relay acknowledges what it received: that must survive a power cut.
            self.commit_received(writes, received, record_peer)?;
        } else {
            self.without_waiting_for_the_disk(|s| s.commit_received(writes, received, record_peer))?;
        }
        Ok(applied)
    }

    /// A whole customer sent with its fields, to store as it came, if this side holds none
    /// of it and it passes what can be checked without loading it; the item back otherwise,
    /// to apply as changes (which refuses what does not load or names another customer).
    fn unloaded(&self, item: Incoming) -> Result<std::result::Result<ReceivedCustomer, Incoming>> {
        let fits = match (&item.doc, &item.indexed) {
            (DocId::Customer(id), Some(customer)) => {
                customer.id == *id
                    && doc::check_schema(customer.schema, &item.doc).is_ok()
                    && !item.sender_heads.is_empty()
                    && snapshots::looks_like_document(&item.changes)
                    && !self.holds_anything_of(&item.doc)?
            }
            _ => false,
        };
        Ok(match item {
            Incoming {
                doc,
                changes,
                sender_heads,
                indexed: Some(customer),
            } if fits => Ok(ReceivedCustomer {
                id: doc,
                heads: sender_heads,
                bytes: changes,
                customer,
            }),
            item => Err(item),
        })
    }

    /// Loads the new customer documents of a batch on several threads when there are enough
    /// of them, reading each one's projection too; `None` for the rest, which load one by
    /// one as they apply. Only the CPU work moves: what is stored, checked and written still
    /// happens in order on this thread.
    fn preload_new_customers(
        &self,
        items: &[Incoming],
    ) -> Result<Vec<Option<Result<Preloaded>>>> {
        let mut out: Vec<Option<Result<Preloaded>>> = items.iter().map(|_| None).collect();
        let threads = std::thread::available_parallelism()
            .map_or(1, std::num::NonZero::get)
            .min(PARALLEL_LOAD_MAX_THREADS);
        if threads < 2 || items.len() < PARALLEL_LOAD_MIN_DOCS {
            return Ok(out);
        }
        let mut new_here = Vec::new();
        for (i, item) in items.iter().enumerate() {
            if matches!(item.doc, DocId::Customer(_))
                && !item.changes.is_empty()
                && item.indexed.is_none()
                && !self.holds_anything_of(&item.doc)?
            {
                new_here.push(i);
            }
        }
        if new_here.len() < PARALLEL_LOAD_MIN_DOCS {
            return Ok(out);
        }
        let actor = self.actor();
        let loaded: Vec<(usize, Result<Preloaded>)> = std::thread::scope(|scope| {
            let workers: Vec<_> = new_here
                .chunks(new_here.len().div_ceil(threads))
                .map(|part| {
                    scope.spawn(move || {
                        part.iter()
                            .map(|&i| (i, preload(&items[i], actor)))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|w| w.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        });
        for (i, result) in loaded {
            out[i] = Some(result);
        }
        Ok(out)
    }

    /// Whether any of a document is stored here, applied or waiting for dependencies.
    fn holds_anything_of(&self, doc: &DocId) -> Result<bool> {
        Ok(self
            .conn()
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM docs WHERE doc_id = ?1)
                     OR EXISTS (SELECT 1 FROM doc_pending WHERE doc_id = ?1)",
            )?
            .query_row([doc.to_string()], |r| r.get(0))?)
    }

    /// The document's heads and the changes a peer at `have` lacks (`None` if the document is
    /// not here). Heads in `have` this side does not know are ignored; an empty `have` gets
    /// the stored document as it is, without loading it.
    pub fn changes_since(
        &mut self,
        doc: &DocId,
        have: &[ChangeHash],
    ) -> Result<Option<HeadsAndChanges>> {
        if have.is_empty() {
            return chunks::stored_bytes(self.conn(), doc)
                .map(|found| found.map(|(bytes, heads)| (heads, bytes)));
        }
        let current = self.doc_heads(doc)?;
        if current.is_empty() && !self.has_doc(doc)? {
            return Ok(None);
        }
        if current == have {
            return Ok(Some((current, Vec::new())));
        }
        // A peer this side last left at a chunk's heads (the usual case: what a reconnect
        // sends) lacks the chunks after it, as stored.
        if let Some(changes) = chunks::stored_after(self.conn(), doc, have)? {
            return Ok(Some((current, changes)));
        }
        self.with_doc(doc, |d| {
            let known: Vec<ChangeHash> = have
                .iter()
                .filter(|h| d.get_change_by_hash(h).is_some())
                .copied()
                .collect();
            (d.get_heads(), d.save_after(&known))
        })
    }

    /// Whether this side has every change in `heads` of a document.
    pub fn has_heads(&mut self, doc: &DocId, heads: &[ChangeHash]) -> Result<bool> {
        if heads.is_empty() {
            return Ok(true);
        }
        Ok(self
            .with_doc(doc, |d| {
                heads.iter().all(|h| d.get_change_by_hash(h).is_some())
            })?
            .unwrap_or(false))
    }

    /// The heads `peer` is known to have of a document (empty if unknown).
    pub fn peer_heads(&self, peer: &str, doc: &DocId) -> Result<Vec<ChangeHash>> {
        let bytes: Option<Vec<u8>> = self
            .conn().prepare_cached("SELECT heads FROM peer_heads WHERE peer = ?1 AND doc_id = ?2")?.query_row(params![peer, doc.to_string()],
                |r| r.get(0),
            )
            .optional()?;
        bytes.map_or(Ok(Vec::new()), |b| chunks::decode_heads(&b, doc))
    }

    /// Records the heads `peer` has durably for some documents.
    pub fn set_peer_heads(&mut self, peer: &str, docs: &[(DocId, Vec<ChangeHash>)]) -> Result<()> {
        self.with_tx(|tx| {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO peer_heads (peer, doc_id, heads) VALUES (?1, ?2, ?3)
                 ON CONFLICT (peer, doc_id) DO UPDATE SET heads = excluded.heads",
            )?;
            for (doc, heads) in docs {
                stmt.execute(params![peer, doc.to_string(), chunks::encode_heads(heads)])?;
            }
            Ok(())
        })
    }

    /// Documents with changes `peer` is not known to have, oldest change first.
    pub fn docs_ahead_of(&self, peer: &str, limit: usize) -> Result<Vec<DocId>> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT d.doc_id FROM docs d
             LEFT JOIN peer_heads p ON p.peer = ?1 AND p.doc_id = d.doc_id
             WHERE p.heads IS NULL OR p.heads != d.heads
             ORDER BY d.updated_at LIMIT ?2",
        )?;
        let ids = stmt
            .query_map(
                params![peer, i64::try_from(limit).unwrap_or(i64::MAX)],
                |r| r.get::<_, String>(0),
            )?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        ids.iter().map(|id| id.parse()).collect()
    }

    /// How many documents have changes `peer` is not known to have.
    pub fn count_docs_ahead_of(&self, peer: &str) -> Result<u64> {
        let n: i64 = self.conn().prepare_cached("SELECT COUNT(*) FROM docs d
             LEFT JOIN peer_heads p ON p.peer = ?1 AND p.doc_id = d.doc_id
             WHERE p.heads IS NULL OR p.heads != d.heads")?.query_row([peer],
            |r| r.get(0),
        )?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// A value from the store's key/value metadata.
    pub fn meta(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .conn().prepare_cached("SELECT value FROM meta WHERE key = ?1")?.query_row([key], |r| r.get(0))
            .optional()?)
    }

    pub fn set_meta(&mut self, key: &str, value: &[u8]) -> Result<()> {
        self.with_tx(|tx| put_meta(tx, key, value))
    }
}
