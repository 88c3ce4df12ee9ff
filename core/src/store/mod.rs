//! The local store: Automerge documents as chunks in SQLite (WAL), with projection tables for
//! lookups. A document change and the projection rows it implies commit in one transaction, so
//! a killed process leaves either both or neither.

pub mod chunks;
pub mod projection;
pub mod snapshots;

use automerge::{ActorId, AutoCommit, ChangeHash};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::clock::{Clock, IdGen};
use crate::doc::{CustomerDoc, DocId};
use crate::error::{CoreError, Result};
use projection::PurchaseLines;

const SCHEMA: &str = include_str!("schema.sql");
const SCHEMA_V2: &str = include_str!("schema_v2.sql");
const SCHEMA_V3: &str = include_str!("schema_v3.sql");
const SCHEMA_V4: &str = include_str!("schema_v4.sql");
const SCHEMA_V5: &str = include_str!("schema_v5.sql");
const SCHEMA_V6: &str = include_str!("schema_v6.sql");
const SCHEMA_V7: &str = include_str!("schema_v7.sql");
const SCHEMA_VERSION: i64 = 7;

/// How a store is set up; the defaults suit a tablet.
#[derive(Debug)]
pub struct StoreOptions {
    pub clock: Clock,
    pub ids: IdGen,
    /// Used to complete phone numbers typed without a country code.
    pub default_country_code: String,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            clock: Clock::System,
            ids: IdGen::random(),
            default_country_code: "44".to_string(),
        }
    }
}

/// A document being changed: loaded, edited in memory, then committed with
/// [`Store::commit_writes`].
pub struct DocWrite {
    pub id: DocId,
    pub doc: AutoCommit,
    /// What is already stored; the commit writes the changes after these.
    pub heads_before: Vec<ChangeHash>,
    pub pending: Pending,
    /// For a document that is new here: bytes that load as exactly this document (as a peer
    /// sent it), stored as they are instead of saving the document again.
    pub as_received: Option<Vec<u8>>,
    /// A customer's projection already read off the document at these heads (on another
    /// thread, while a first sync loads many at once); read again if the heads moved.
    pub indexed: Option<(Vec<ChangeHash>, crate::doc::IndexedCustomer)>,
}

impl DocWrite {
    /// A document not stored here yet, empty, to be written by `actor`.
    pub fn new_here(id: &DocId, actor: &ActorId) -> Self {
        Self {
            id: id.clone(),
            doc: AutoCommit::new().with_actor(actor.clone()),
            heads_before: Vec::new(),
            pending: Pending::Unchanged,
            as_received: None,
            indexed: None,
        }
    }
}

/// What to do with a document's received-but-not-yet-applicable changes.
pub enum Pending {
    Unchanged,
    /// Keep these chunks: they wait for dependencies that have not arrived.
    Add(Vec<Vec<u8>>),
    /// Everything that was waiting has applied.
    Clear,
}

/// A role's own tables (the relay's changefeed, the tablet's kiosk queue), created beside the
/// shared schema and versioned on their own in `meta`, so neither role carries the other's.
pub struct RoleSchema {
    pub role: &'static str,
    /// Applied in order; the store records how many have run.
    pub migrations: &'static [&'static str],
}

/// A document's new changes, as a commit stores them.
#[derive(Clone, Debug)]
pub struct DocChange {
    pub doc: DocId,
    /// Heads after the change.
    pub heads: Vec<ChangeHash>,
    /// Heads before it: a peer at these heads needs exactly `changes`.
    pub heads_before: Vec<ChangeHash>,
    /// The new changes (the whole document if it is new).
    pub changes: Vec<u8>,
}

/// What a role does inside every commit's transaction, so it commits or rolls back with the
/// documents (the relay numbers changes in its changefeed and records ingested events).
pub trait CommitHook: std::any::Any + Send {
    /// Runs last in every commit's transaction, with the documents it changed (possibly none).
    /// An error rolls the whole commit back.
    fn in_transaction(&mut self, tx: &Transaction<'_>, changed: &[DocChange]) -> Result<()>;
    /// The transaction of the last [`CommitHook::in_transaction`] call committed.
    fn committed(&mut self);
}

/// One device's (or the relay's) store.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    actor: ActorId,
    writer: String,
    pub clock: Clock,
    pub ids: IdGen,
    pub default_country_code: String,
    /// The catalog and inventory documents are big and written often; they stay loaded.
    /// Customer documents are small and many: loaded per operation, never kept.
    hot_docs: HashMap<DocId, AutoCommit>,
    commit_hook: Option<Box<dyn CommitHook>>,
    /// See [`Store::serve_peers`].
    serves_peers: bool,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating if needed) the store at `path` with default options.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, StoreOptions::default())
    }

    pub fn open_with(path: impl AsRef<Path>, options: StoreOptions) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let mut conn = Connection::open(&path)?;
        // A commit runs a few dozen distinct statements (chunks, projections, a role's hook);
        // rusqlite keeps 16 prepared, which would re-prepare most of them on every document.
        conn.set_prepared_statement_cache_capacity(128);
        // FULL: a change acknowledged to the associate survives power loss, not just a crash.
        // 64 MiB of page cache instead of 2: a first sync inserts rows for thousands of
        // customers into indexes keyed by random ids, and with the default most inserts read
        // pages back from the file (measured: 11.9 s to 9.0 s for 10,000 documents).
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             PRAGMA foreign_keys = ON;
             PRAGMA busy_timeout = 5000;
             PRAGMA secure_delete = ON;
             PRAGMA cache_size = -65536;",
        )?;
        let backfill = migrate(&mut conn)?;
        let actor = load_or_create_actor(&conn, &options.ids)?;
        let mut store = Self {
            writer: actor.to_hex_string(),
            actor,
            conn,
            path,
            clock: options.clock,
            ids: options.ids,
            default_country_code: options.default_country_code,
            hot_docs: HashMap::new(),
            commit_hook: None,
            serves_peers: false,
        };
        match backfill {
            Backfill::Nothing => {}
            Backfill::Catalog => store.backfill_records(&["catalog"])?,
            Backfill::Inventories => store.backfill_records(&["catalog", "inventory"])?,
            Backfill::Everything => {
                store.backfill_records(&[
                    "catalog",
                    "customer",
                    "inventory",
                    "recommendations",
                    "loyalty",
                ])?;
            }
        }
        Ok(store)
    }

    /// Creates or upgrades a role's own tables: the migrations this store has not run yet.
    pub fn migrate_role(&mut self, schema: &RoleSchema) -> Result<()> {
        let key = format!("schema:{}", schema.role);
        let ran: i64 = self
            .meta(&key)?
            .and_then(|bytes| String::from_utf8(bytes).ok()?.parse().ok())
            .unwrap_or(0);
        let known = schema.migrations.len() as i64;
        if ran > known {
            return Err(CoreError::Corrupt {
                doc: "store".into(),
                reason: format!(
                    "the {} tables are at version {ran}, newer than this build ({known}); update the app",
                    schema.role
                ),
            });
        }
        if ran == known {
            return Ok(());
        }
        let tx = self.conn.transaction()?;
        for migration in &schema.migrations[ran as usize..] {
            tx.execute_batch(migration)?;
        }
        put_meta(&tx, &key, known.to_string().as_bytes())?;
        tx.commit()?;
        Ok(())
    }

    /// Sets what runs inside every commit's transaction (replacing any hook set before).
    pub fn set_commit_hook(&mut self, hook: Box<dyn CommitHook>) {
        self.commit_hook = Some(hook);
    }

    /// The commit hook, if one of type `H` is set: a role reaches its own state through it
    /// instead of setting a second hook.
    pub fn commit_hook_mut<H: CommitHook>(&mut self) -> Option<&mut H> {
        let hook: &mut dyn std::any::Any = self.commit_hook.as_deref_mut()?;
        hook.downcast_mut()
    }

    /// Fills the rows added since version 1 (visits, sales, customer lines, merges) from
    /// documents stored before they existed.
    fn backfill_records(&mut self, kinds: &[&str]) -> Result<()> {
        let mut docs = Vec::new();
        for kind in kinds {
            docs.extend(self.doc_ids(kind)?);
        }
        let tx = self.conn.transaction()?;
        for id in docs {
            let Some((mut doc, _)) = chunks::load(&tx, &id, &self.actor)? else {
                continue;
            };
            projection::project_records(&tx, &id, &mut doc)?;
        }
        tx.commit()?;
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// This store's Automerge actor, as hex: the key under which it writes per-writer tallies.
    pub fn writer(&self) -> &str {
        &self.writer
    }

    /// This store's Automerge actor id.
    pub fn actor(&self) -> &ActorId {
        &self.actor
    }

    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    pub fn now(&self) -> crate::model::Millis {
        self.clock.now()
    }

    /// Whether a document is stored here.
    pub fn has_doc(&self, id: &DocId) -> Result<bool> {
        Ok(self
            .conn.prepare_cached("SELECT 1 FROM docs WHERE doc_id = ?1")?.query_row([id.to_string()],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// The current heads of a stored document (empty if absent).
    pub fn doc_heads(&self, id: &DocId) -> Result<Vec<ChangeHash>> {
        let heads: Option<Vec<u8>> = self
            .conn.prepare_cached("SELECT heads FROM docs WHERE doc_id = ?1")?.query_row([id.to_string()],
                |r| r.get(0),
            )
            .optional()?;
        heads.map_or(Ok(Vec::new()), |bytes| chunks::decode_heads(&bytes, id))
    }

    /// Loads a document from its chunks on disk; `None` if it is not stored here.
    pub fn load_doc(&self, id: &DocId) -> Result<Option<AutoCommit>> {
        Ok(chunks::load(&self.conn, id, &self.actor)?.map(|(doc, _)| doc))
    }

    /// Takes a document out of the hot cache if it is there and still what is on disk (another
    /// process, such as the relay's admin command, may have written to the same database).
    fn take_hot(&mut self, id: &DocId) -> Result<Option<AutoCommit>> {
        let Some(mut doc) = self.hot_docs.remove(id) else {
            return Ok(None);
        };
        if doc.get_heads() == self.doc_heads(id)? {
            Ok(Some(doc))
        } else {
            Ok(None)
        }
    }

    /// Gives `f` the document (from the hot cache when loaded) without committing anything,
    /// e.g. to generate a sync message.
    pub fn with_doc<T>(
        &mut self,
        id: &DocId,
        f: impl FnOnce(&mut AutoCommit) -> T,
    ) -> Result<Option<T>> {
        let doc = match self.take_hot(id)? {
            Some(doc) => Some(doc),
            None => self.load_doc(id)?,
        };
        let Some(mut doc) = doc else {
            return Ok(None);
        };
        let out = f(&mut doc);
        if !matches!(id, DocId::Customer(_)) {
            self.hot_docs.insert(id.clone(), doc);
        }
        Ok(Some(out))
    }

    /// Loads a document for writing. A new, empty document if absent and `create` is set.
    pub fn begin_write(&mut self, id: &DocId, create: bool) -> Result<DocWrite> {
        // A cached document's in-memory heads are all stored: every change that applied to it
        // was committed by the write that applied it.
        let loaded = match self.take_hot(id)? {
            Some(mut doc) => {
                let heads = doc.get_heads();
                Some((doc, heads))
            }
            None => chunks::load(&self.conn, id, &self.actor)?,
        };
        let (doc, heads_before) = match loaded {
            Some(loaded) => loaded,
            None if create => (AutoCommit::new().with_actor(self.actor.clone()), Vec::new()),
            None => return Err(not_found(id)),
        };
        Ok(DocWrite {
            id: id.clone(),
            doc,
            heads_before,
            pending: Pending::Unchanged,
            as_received: None,
            indexed: None,
        })
    }

    /// Commits edited documents: each document's new changes as a chunk, plus the projection
    /// rows they imply, in one SQLite transaction. On error nothing is written and the
    /// in-memory copies are dropped, so the next operation reloads what is on disk.
    pub fn commit_writes(&mut self, writes: Vec<DocWrite>) -> Result<()> {
        self.commit_writes_with(writes, |_| Ok(()))
    }

    /// [`Store::commit_writes`], with `extra` run in the same transaction.
    pub fn commit_writes_with(
        &mut self,
        writes: Vec<DocWrite>,
        extra: impl FnOnce(&Transaction<'_>) -> Result<()>,
    ) -> Result<()> {
        self.commit_received(writes, Vec::new(), extra)
    }

    /// [`Store::commit_writes_with`], also storing whole customers a peer sent with their
    /// fields, as they came.
    pub(crate) fn commit_received(
        &mut self,
        mut writes: Vec<DocWrite>,
        received: Vec<snapshots::ReceivedCustomer>,
        extra: impl FnOnce(&Transaction<'_>) -> Result<()>,
    ) -> Result<()> {
        let now = self.clock.now();
        for write in &mut writes {
            write.doc.commit_with(
                automerge::transaction::CommitOptions::default().with_time(now / 1000),
            );
        }
        let tx = self.conn.transaction()?;
        let mut changed = Vec::new();
        for write in &mut writes {
            let heads = write.doc.get_heads();
            if heads != write.heads_before {
                let changes = chunks::append(&tx, write, now)?;
                projection::project(&tx, write, &self.ids, now, self.serves_peers)?;
                changed.push(DocChange {
                    doc: write.id.clone(),
                    heads,
                    heads_before: write.heads_before.clone(),
                    changes,
                });
            }
            chunks::update_pending(&tx, &write.id, &write.pending)?;
        }
        let observed = self.commit_hook.is_some();
        let lines = PurchaseLines::kept_by(self.serves_peers, now);
        for r in received {
            chunks::store_as_received(&tx, &r.id, &r.bytes, &r.heads, now)?;
            projection::project_customer(&tx, &r.customer, lines)?;
            if self.serves_peers {
                snapshots::keep(&tx, &r.id, &r.heads, &r.customer)?;
            }
            if observed {
                changed.push(DocChange {
                    doc: r.id,
                    heads: r.heads,
                    heads_before: Vec::new(),
                    changes: r.bytes,
                });
            }
        }
        extra(&tx)?;
        if let Some(hook) = &mut self.commit_hook {
            hook.in_transaction(&tx, &changed)?;
        }
        tx.commit()?;
        if let Some(hook) = &mut self.commit_hook {
            hook.committed();
        }
        for write in writes {
            if !matches!(write.id, DocId::Customer(_)) {
                self.hot_docs.insert(write.id, write.doc);
            }
        }
        Ok(())
    }

    /// Writes brand-new customer documents in one transaction: `fill` validates records and
    /// passes each finished document to the sink. Used by imports, which can be 50,000
    /// documents: each is reconciled into an empty document (Automerge's batch path), written,
    /// and dropped, so memory stays flat. Any error rolls the whole import back.
    /// `updates`, edits of documents already here (an import's changed customers), commit in
    /// the same transaction.
    pub fn write_new_customers(
        &mut self,
        mut updates: Vec<DocWrite>,
        fill: impl FnOnce(&IdGen, &mut dyn FnMut(CustomerDoc) -> Result<()>) -> Result<()>,
    ) -> Result<()> {
        let now = self.clock.now();
        let actor = self.actor.clone();
        let observed = self.commit_hook.is_some();
        let serves_peers = self.serves_peers;
        let lines = PurchaseLines::kept_by(serves_peers, now);
        let mut changed = Vec::new();
        let tx = self.conn.transaction()?;
        for write in &mut updates {
            write.doc.commit_with(
                automerge::transaction::CommitOptions::default().with_time(now / 1000),
            );
            let heads = write.doc.get_heads();
            if heads != write.heads_before {
                let changes = chunks::append(&tx, write, now)?;
                projection::project(&tx, write, &self.ids, now, serves_peers)?;
                changed.push(DocChange {
                    doc: write.id.clone(),
                    heads,
                    heads_before: write.heads_before.clone(),
                    changes,
                });
            }
        }
        {
            let mut sink = |customer: CustomerDoc| -> Result<()> {
                let id = DocId::Customer(customer.id.clone());
                let exists = tx
                    .query_row(
                        "SELECT 1 FROM docs WHERE doc_id = ?1",
                        [id.to_string()],
                        |_| Ok(()),
                    )
                    .optional()?
                    .is_some();
                if exists {
                    return Err(CoreError::invalid("customer_id", "already exists"));
                }
                let mut write = DocWrite {
                    id,
                    doc: AutoCommit::new().with_actor(actor.clone()),
                    heads_before: Vec::new(),
                    pending: Pending::Unchanged,
                    as_received: None,
                    indexed: None,
                };
                autosurgeon::reconcile(&mut write.doc, &customer)?;
                write.doc.commit_with(
                    automerge::transaction::CommitOptions::default().with_time(now / 1000),
                );
                let changes = chunks::append(&tx, &mut write, now)?;
                let indexed = (&customer).into();
                projection::project_customer(&tx, &indexed, lines)?;
                if serves_peers {
                    snapshots::keep(&tx, &write.id, &write.doc.get_heads(), &indexed)?;
                }
                // Kept only for a hook: an import of 50,000 customers would otherwise hold
                // every document's bytes until the end.
                if observed {
                    changed.push(DocChange {
                        heads: write.doc.get_heads(),
                        doc: write.id,
                        heads_before: Vec::new(),
                        changes,
                    });
                }
                Ok(())
            };
            fill(&self.ids, &mut sink)?;
        }
        if let Some(hook) = &mut self.commit_hook {
            hook.in_transaction(&tx, &changed)?;
        }
        tx.commit()?;
        if let Some(hook) = &mut self.commit_hook {
            hook.committed();
        }
        Ok(())
    }

    /// Whether this store serves peers ([`Store::serve_peers`]).
    pub(crate) fn serves_peers(&self) -> bool {
        self.serves_peers
    }

    /// Runs `f` with commits that do not wait for the disk (`synchronous = NORMAL`): a power
    /// cut may roll the last of them back, never part of one, and never a later commit made
    /// with the usual `FULL`, which flushes them too. For what a device received from the
    /// relay, which the relay keeps: the cursor and peer heads roll back with it, so the
    /// device pulls it again. What an associate did is still flushed before it is shown.
    pub(crate) fn without_waiting_for_the_disk<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T>,
    ) -> Result<T> {
        self.conn.pragma_update(None, "synchronous", "NORMAL")?;
        let out = f(self);
        self.conn.pragma_update(None, "synchronous", "FULL")?;
        out
    }

    /// Runs `f` in one SQLite transaction over projection tables only (no document change).
    pub fn with_tx<T>(&mut self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let tx = self.conn.transaction()?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    /// Deletes a document and everything projected from it (customer erasure).
    pub fn drop_doc(&mut self, id: &DocId) -> Result<()> {
        self.forget_doc(id, |_| Ok(()))
    }

    /// Removes a document and every trace of it (chunks, pending changes, sync state,
    /// projections); `also` runs in the same transaction, for what the caller records of it.
    pub fn forget_doc<T>(
        &mut self,
        id: &DocId,
        also: impl FnOnce(&Transaction<'_>) -> Result<T>,
    ) -> Result<T> {
        self.hot_docs.remove(id);
        let tx = self.conn.transaction()?;
        let out = also(&tx)?;
        forget(&tx, id)?;
        tx.commit()?;
        Ok(out)
    }

    /// Forgets the changes of a document that wait for dependencies (and the loaded copy
    /// holding them), keeping what applied: for a store that must not keep changes it has not
    /// checked and written through (a relay's working copy of a shared database).
    pub fn discard_pending(&mut self, id: &DocId) -> Result<()> {
        self.hot_docs.remove(id);
        self.conn
            .execute("DELETE FROM doc_pending WHERE doc_id = ?1", [id.to_string()])?;
        Ok(())
    }

    /// Ids of stored documents of one kind (`customer`, `inventory`, `catalog`).
    pub fn doc_ids(&self, kind: &str) -> Result<Vec<DocId>> {
        let mut stmt = self
            .conn
            .prepare("SELECT doc_id FROM docs WHERE kind = ?1 ORDER BY doc_id")?;
        let ids = stmt
            .query_map([kind], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        ids.iter().map(|id| id.parse()).collect()
    }

    /// Rebuilds every projection row from the documents and reports rows that differed.
    /// Used after a crash test and by the relay's self-check; cheap enough to run at start-up
    /// on small stores, not on every start of a tablet with 50k customers.
    pub fn check_projections(&mut self) -> Result<Vec<String>> {
        projection::check_all(self)
    }

    /// Copies every chunk into one snapshot per document (explicit compaction).
    pub fn compact_all(&mut self) -> Result<usize> {
        let ids: Vec<DocId> = ["catalog", "inventory", "customer"]
            .iter()
            .map(|kind| self.doc_ids(kind))
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .flatten()
            .collect();
        let mut compacted = 0;
        for id in ids {
            if let Some(mut doc) = self.load_doc(&id)? {
                let tx = self.conn.transaction()?;
                chunks::replace_with_snapshot(&tx, &id, &mut doc, self.clock.now())?;
                tx.commit()?;
                compacted += 1;
            }
        }
        Ok(compacted)
    }
}

/// A list of strings as a JSON array, for SQLite's `json_each` (scopes in changefeed queries).
pub fn json_array(items: &[String]) -> String {
    // A list of strings always serialises.
    serde_json::to_string(items).unwrap_or_else(|_| "[]".to_string())
}

pub fn not_found(id: &DocId) -> CoreError {
    match id {
        DocId::Customer(c) => CoreError::not_found("customer", c),
        DocId::Inventory(s) => CoreError::not_found("inventory for store", s),
        DocId::Catalog => CoreError::not_found("catalog", "catalog"),
        DocId::Recommendations => CoreError::not_found("recommendations", "recommendations"),
        DocId::Loyalty => CoreError::not_found("loyalty keys", "loyalty"),
    }
}

/// Sets a value in the store's key/value metadata, in `tx`.
pub fn put_meta(tx: &Transaction<'_>, key: &str, value: &[u8]) -> Result<()> {
    tx.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

/// Removes every trace of a document: chunks, pending changes, sync state, projections.
fn forget(tx: &Transaction<'_>, id: &DocId) -> Result<()> {
    let key = id.to_string();
    projection::unproject(tx, id)?;
    tx.execute("DELETE FROM peer_heads WHERE doc_id = ?1", [&key])?;
    tx.execute("DELETE FROM doc_pending WHERE doc_id = ?1", [&key])?;
    // Chunks go with the row (ON DELETE CASCADE).
    tx.execute("DELETE FROM docs WHERE doc_id = ?1", [&key])?;
    Ok(())
}

fn migrate(conn: &mut Connection) -> Result<Backfill> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(CoreError::Corrupt {
            doc: "store".into(),
            reason: format!(
                "database schema {version} is newer than this build ({SCHEMA_VERSION}); update the app"
            ),
        });
    }
    if version == SCHEMA_VERSION {
        return Ok(Backfill::Nothing);
    }
    let tx = conn.transaction()?;
    if version == 0 {
        tx.execute_batch(SCHEMA)?;
    }
    if version < 2 {
        tx.execute_batch(SCHEMA_V2)?;
    }
    if version < 3 {
        tx.execute_batch(SCHEMA_V3)?;
    }
    tx.execute_batch(SCHEMA_V4)?;
    // A database whose version was set back by hand (a test standing in for an old build)
    // may have the column already.
    let has_chunk_heads: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM pragma_table_info('doc_chunks') WHERE name = 'heads')",
        [],
        |r| r.get(0),
    )?;
    if version < 5 && !has_chunk_heads {
        tx.execute_batch(SCHEMA_V5)?;
    }
    if version < 6 {
        tx.execute_batch(SCHEMA_V6)?;
    }
    if version < 7 {
        tx.execute_batch(SCHEMA_V7)?;
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()?;
    // Version 4 adds a table only a relay fills, as its documents change; version 5 a column
    // filled as documents change; version 6 a table read off the inventories already held;
    // version 7 tables read off the catalog.
    Ok(match version {
        0 => Backfill::Nothing,
        1 | 2 => Backfill::Everything,
        3..=5 => Backfill::Inventories,
        _ => Backfill::Catalog,
    })
}

/// What an upgraded database re-reads of the documents it holds.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Backfill {
    Nothing,
    Catalog,
    Inventories,
    Everything,
}

fn load_or_create_actor(conn: &Connection, ids: &IdGen) -> Result<ActorId> {
    let existing: Option<Vec<u8>> = conn
        .query_row("SELECT value FROM meta WHERE key = 'actor'", [], |r| {
            r.get(0)
        })
        .optional()?;
    if let Some(bytes) = existing {
        return Ok(ActorId::from(bytes));
    }
    let bytes = ids.bytes16().to_vec();
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('actor', ?1)",
        params![bytes],
    )?;
    Ok(ActorId::from(bytes))
}
