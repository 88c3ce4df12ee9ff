//! The shared backend: several relay processes on one PostgreSQL database
//! (`--database postgres://…`).
//!
//! The database holds the truth: documents as change chunks with a version each, the
//! changefeed, grants, the ingest ledger, erasures, the device registry and the audit trail.
//! Each relay keeps a working copy of the documents in SQLite (`<data-dir>/working-copy.sqlite3`),
//! the same store the embedded backend uses, for what needs documents loaded or projected:
//! validating pushes, search, identification, stock, the relay's own domain operations. The
//! copy is disposable: deleted, it is rebuilt from the database's feed.
//!
//! - Writes go through to the database first ([`write_through`]); a copy that is behind
//!   catches up the documents concerned and the write runs again.
//! - The [`follower`] reads the shared changefeed below its commit horizon, brings what other
//!   relays wrote into the copy, and fans every change out to this relay's devices in feed
//!   order, its own writes included.
//! - Devices read the changefeed from the database, up to where the copy has followed it, so
//!   every document a feed page names can be served from the copy.

mod compaction;
pub mod database;
mod follower;
pub mod leader;
mod registry;
mod search;
mod write_through;

use aisle_core::api::{CustomerExport, EventBatch, ImportSummary, IngestOutcome};
use aisle_core::automerge::{ActorId, ChangeHash};
use aisle_core::model::{
    CustomerId, CustomerSummary, Identifier, IncomingTransfer, KioskCheckIn, KioskWelcome,
    ProductSku, Role, StoreId, StoreInfo, StoreStats, StoreStock, VariantSku,
};
use aisle_core::replicate::HeadsAndChanges;
use aisle_core::store::snapshots::CustomerSnapshot;
use aisle_core::{CoreError, DocId, LoyaltyKeyInfo};
use anyhow::Context;
use ed25519_dalek::SigningKey;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::{
    AuditLog, Customers, DeviceRegistry, DocumentStore, IngestLedger, LoyaltyKeys, Pushed, Result,
    Stores, TillOutbox,
};
use crate::acl::DocFacts;
use crate::domain::RelayDocs;
use crate::domain::changefeed::FeedEntry;
use crate::domain::demo::{self, DemoConfig, DemoProgress};
use crate::domain::import::{ImportError, ImportFile, ImportProgress};
use crate::domain::ingest::IngestError;
use crate::domain::till::{QueuedSale, TillAttempt};
use aisle_core::api::{TillDelivery, TillSale};

/// An operation's error that is either the storage's or the request's own refusal.
trait Refusable: From<CoreError> {
    /// The storage's error, or the refusal back.
    fn into_storage(self) -> std::result::Result<CoreError, Self>;
}

impl Refusable for IngestError {
    fn into_storage(self) -> std::result::Result<CoreError, Self> {
        match self {
            Self::Store(e) => Ok(e),
            refusal => Err(refusal),
        }
    }
}

impl Refusable for ImportError {
    fn into_storage(self) -> std::result::Result<CoreError, Self> {
        match self {
            Self::Store(e) => Ok(e),
            refusal => Err(refusal),
        }
    }
}
use crate::domain::push::DevicePush;
use crate::domain::recommend::PublishedRecommendations;
use crate::hub::Hub;
use crate::registry::{Device, EnrolError};
use database::{POSITION_SQL, Pool, now_ms, storage_error};
use registry::PgRegistry;
use write_through::SharedWriteState;
pub(crate) use write_through::WriteThrough;

/// How often a write whose documents another relay changed meanwhile runs again before it
/// is refused as busy (the device retries later).
const WRITE_ATTEMPTS: usize = 8;

pub struct PgStorage {
    /// `None` only while dropping: see [`Drop`].
    parts: Option<(Arc<Inner>, PgRegistry)>,
    tenant: String,
    leadership: leader::Leadership,
    stop: Arc<AtomicBool>,
    follower: Option<std::thread::JoinHandle<()>>,
}

/// What the storage and its follower share.
pub(crate) struct Inner {
    copy: Mutex<RelayDocs>,
    pool: Pool,
    writes: SharedWriteState,
    hub: Hub,
    /// The changefeed position up to which the working copy holds every change.
    followed: AtomicI64,
    /// When the follower last read the horizon (ms since the epoch), and the horizon then.
    pub(crate) horizon_read_at: AtomicI64,
    pub(crate) horizon: AtomicI64,
    /// How long the oldest transaction holding the horizon back had been open then (ms).
    pub(crate) oldest_transaction_ms: AtomicI64,
    /// The changefeed's identity as this relay started with it ([`database::feed_identity`]).
    feed_identity: Mutex<String>,
    /// Set when the follower found the database under another identity (restored, failed
    /// over): the working copy is of another history, and the relay must start again.
    pub(crate) identity_changed: AtomicBool,
}

impl Inner {
    // A panic while holding the copy leaves it usable: every operation is its own
    // transaction, so the poisoned guard is taken as it is.
    fn copy(&self) -> MutexGuard<'_, RelayDocs> {
        self.copy.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until the copy has followed the feed up to the horizon as it is now.
    fn wait_followed(&self) -> Result<()> {
        let mut client = self.pool.get().map_err(storage_error)?;
        let (horizon, _) = database::horizon(&mut client).map_err(storage_error)?;
        drop(client);
        let started = std::time::Instant::now();
        while self.followed.load(Ordering::Acquire) < horizon - 1 {
            if started.elapsed() > std::time::Duration::from_secs(10) {
                return Err(CoreError::Busy);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Ok(())
    }

    /// Brings documents in the working copy up to the database's version of them.
    fn catch_up(&self, copy: &mut RelayDocs, docs: &[DocId]) -> Result<()> {
        let mut wanted = Vec::new();
        for doc in docs {
            let id = doc.to_string();
            let have = write_through::copy_version(copy.conn(), &id)?;
            wanted.push((id, have));
        }
        let fetched = follower::fetch_changes(&self.pool, &wanted)?;
        follower::apply_fetched(copy, &self.writes, fetched)?;
        Ok(())
    }
}

impl PgStorage {
    /// Connects to the shared database (migrating it), opens the working copy in `data_dir`,
    /// and starts following the changefeed; commits go out through `hub`.
    pub fn open(
        database: &database::Database,
        data_dir: &Path,
        tenant: &str,
        hub: Hub,
    ) -> anyhow::Result<Self> {
        let pool = database.pool()?;
        let feed_id = {
            let mut client = pool.get().context("no database connection")?;
            database::migrate(&mut client)?;
            database::check_positions(&mut client)?;
            database::feed_identity(&mut client)?
        };
        let path = data_dir.join("working-copy.sqlite3");
        let writes = SharedWriteState::default();
        let open = |writes: SharedWriteState| {
            RelayDocs::open_with_hook(&path, &write_through::COPY_SCHEMA, |log| {
                Box::new(WriteThrough {
                    pool: pool.clone(),
                    state: writes,
                    log,
                })
            })
        };
        let mut copy = open(writes.clone())
            .with_context(|| format!("opening the working copy {}", path.display()))?;
        let mut followed = follower::position(&copy, &feed_id)?;
        if followed.is_none() {
            // A copy of another database (or none yet): start it again from nothing.
            drop(copy);
            for suffix in ["", "-wal", "-shm"] {
                let file = data_dir.join(format!("working-copy.sqlite3{suffix}"));
                if file.exists() {
                    std::fs::remove_file(&file)
                        .with_context(|| format!("removing {}", file.display()))?;
                }
            }
            copy = open(writes.clone())?;
            follower::set_position(&copy, &feed_id, 0)?;
            followed = Some(0);
        }
        let inner = Arc::new(Inner {
            copy: Mutex::new(copy),
            pool: pool.clone(),
            writes,
            hub,
            followed: AtomicI64::new(followed.unwrap_or(0)),
            horizon_read_at: AtomicI64::new(0),
            horizon: AtomicI64::new(0),
            oldest_transaction_ms: AtomicI64::new(0),
            feed_identity: Mutex::new(feed_id.clone()),
            identity_changed: AtomicBool::new(false),
        });
        // Caught up before anything is served: a relay (or an admin command) starts from
        // what the database holds now, however long its copy was away.
        let mut client = database.connect()?;
        while follower::round(&mut client, &feed_id, &inner)? {}
        drop(client);
        search::fill_once(&pool, &mut inner.copy())?;
        let stop = Arc::new(AtomicBool::new(false));
        let follower = follower::spawn(database.clone(), feed_id, inner.clone(), stop.clone())?;
        Ok(Self {
            parts: Some((inner, PgRegistry::new(pool))),
            tenant: tenant.to_string(),
            leadership: leader::Leadership::new(database.clone()),
            stop,
            follower: Some(follower),
        })
    }

    fn inner(&self) -> &Inner {
        match &self.parts {
            Some((inner, _)) => inner,
            None => unreachable!("the storage is in use while dropped"),
        }
    }

    fn registry(&self) -> &PgRegistry {
        match &self.parts {
            Some((_, registry)) => registry,
            None => unreachable!("the storage is in use while dropped"),
        }
    }

    fn copy(&self) -> MutexGuard<'_, RelayDocs> {
        self.inner().copy()
    }

    fn pool(&self) -> &Pool {
        &self.inner().pool
    }

    fn followed(&self) -> i64 {
        self.inner().followed.load(Ordering::Acquire)
    }

    /// Runs a write against the working copy, through to the database; runs it again on the
    /// caught-up copy while another relay's writes to the same documents come first.
    fn write<T>(
        &self,
        origin: Option<&str>,
        mut f: impl FnMut(&mut RelayDocs) -> Result<T>,
    ) -> Result<T> {
        let mut copy = self.copy();
        for _ in 0..WRITE_ATTEMPTS {
            write_through::lock(&self.inner().writes).origin = origin.map(str::to_string);
            let out = f(&mut copy);
            let stale = std::mem::take(&mut write_through::lock(&self.inner().writes).stale);
            if stale.is_empty() {
                return out;
            }
            tracing::debug!(
                docs = stale.docs.len(),
                "written elsewhere meanwhile; again"
            );
            for event in &stale.events {
                copy.conn().execute(
                    "INSERT OR IGNORE INTO ingested_events (event_id, received_at) VALUES (?1, ?2)",
                    rusqlite::params![event, now_ms()],
                )?;
            }
            self.inner().catch_up(&mut copy, &stale.docs)?;
        }
        Err(CoreError::Busy)
    }

    /// [`PgStorage::write`] for an operation that can also refuse the request itself (a bad
    /// file, a bad event batch): a storage error runs it again on the caught-up copy, as
    /// `write` does, and a refusal is handed back as it came.
    fn write_or_refuse<T, E: Refusable>(
        &self,
        mut f: impl FnMut(&mut RelayDocs) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        let mut refused = None;
        let out = self.write(None, |copy| match f(copy) {
            Ok(done) => Ok(Some(done)),
            Err(e) => match e.into_storage() {
                Ok(storage) => Err(storage),
                Err(refusal) => {
                    refused = Some(refusal);
                    Ok(None)
                }
            },
        })?;
        match (out, refused) {
            (Some(done), _) => Ok(done),
            (None, Some(refusal)) => Err(refusal),
            (None, None) => Err(CoreError::Busy.into()),
        }
    }

    /// The readiness check: the database answers, its schema is this build's, and the
    /// follower read the horizon lately.
    pub fn ready(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            !self.inner().identity_changed.load(Ordering::Acquire),
            "the database was restored or failed over since this relay started; restart it"
        );
        let mut client = self.pool().get().context("no database connection")?;
        anyhow::ensure!(
            database::schema_is_current(&mut client)?,
            "the database schema is not this relay's; run `aisle-relay migrate`"
        );
        let age = now_ms() - self.inner().horizon_read_at.load(Ordering::Acquire);
        anyhow::ensure!(
            age < follower::STALE_AFTER_MS,
            "the changefeed follower has not read the database for {age} ms"
        );
        Ok(())
    }

    /// Runs a job that must run on one relay at a time, if this relay leads.
    pub fn run_job(
        &self,
        job: &str,
        f: &mut dyn FnMut() -> anyhow::Result<()>,
    ) -> anyhow::Result<leader::JobRun> {
        self.leadership.run(job, f)
    }

    /// Compacts up to `max_docs` of the documents with most chunks since their last snapshot.
    pub fn compact(&self, max_docs: usize) -> anyhow::Result<compaction::Compacted> {
        let max_docs = i64::try_from(max_docs).unwrap_or(i64::MAX);
        self.inner()
            .compact(compaction::COMPACT_AFTER_CHUNKS, max_docs)
    }

    /// How this relay follows the shared changefeed: the per-relay metrics.
    pub fn feed_lag(&self) -> super::FeedLag {
        let inner = self.inner();
        let horizon = inner.horizon.load(Ordering::Acquire);
        let behind =
            (horizon >> database::POSITION_BITS) - (self.followed() >> database::POSITION_BITS);
        super::FeedLag {
            behind_transactions: behind.max(0),
            read_age_ms: now_ms() - inner.horizon_read_at.load(Ordering::Acquire),
            oldest_transaction_ms: inner.oldest_transaction_ms.load(Ordering::Acquire),
        }
    }
}

impl Drop for PgStorage {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(follower) = self.follower.take() {
            let _ = follower.join();
        }
        // A database connection says goodbye as it closes, blocking: not on an async runtime's
        // thread, where the relay's last reference to its storage may well be dropped.
        let parts = self.parts.take();
        let leadership = self.leadership.release();
        let _ = std::thread::spawn(move || drop((parts, leadership))).join();
    }
}

/// Applies a device's push to the working copy (and through it to the database). Changes that
/// wait for dependencies are not kept in the copy, in the same lock: the device is told what
/// the relay lacks (`NeedFrom`) and sends them again with their dependencies, so they are
/// checked and written through like any push, on whichever relay it reaches. Kept, they would
/// apply unchecked and only here once the follower brought their dependencies.
fn apply_push(
    copy: &mut RelayDocs,
    batch: Vec<(DocId, Vec<u8>)>,
    check: &DevicePush<'_>,
) -> Result<Vec<aisle_core::replicate::Applied>> {
    let applied = copy.apply_changes(batch, check)?;
    for waiting in applied.iter().filter(|a| a.missing_deps) {
        copy.discard_pending(&waiting.doc)?;
    }
    Ok(applied)
}

impl DeviceRegistry for PgStorage {
    fn authenticate(&self, token: &str) -> anyhow::Result<Option<Device>> {
        self.registry().authenticate(token)
    }
    fn create_code(&self, store: &StoreId, role: Role, name: &str) -> anyhow::Result<String> {
        self.registry().create_code(&self.tenant, store, role, name)
    }
    fn enrol(&self, code: &str, actor: &[u8]) -> Result<(Device, String), EnrolError> {
        self.registry().enrol(code, actor)
    }
    fn revoke_device(&self, device: &str) -> anyhow::Result<bool> {
        let revoked = self.registry().revoke(device)?;
        // This relay's connections close now; the others' revocation watchers find it.
        self.inner().hub.revoke(device);
        Ok(revoked)
    }
    fn devices(&self) -> anyhow::Result<Vec<Device>> {
        self.registry().devices()
    }
    fn is_revoked(&self, device: &str) -> anyhow::Result<bool> {
        self.registry().is_revoked(device)
    }
    fn revoked_since(&self, since: i64) -> anyhow::Result<Vec<(String, i64)>> {
        self.registry().revoked_since(since)
    }
    fn revocation_clock(&self) -> anyhow::Result<i64> {
        self.registry().now()
    }
    fn touch(&self, device: &str) -> anyhow::Result<()> {
        self.registry().touch(device)
    }
}

impl AuditLog for PgStorage {
    fn record(&self, act: &crate::audit::Act) -> anyhow::Result<()> {
        self.registry().record(act)
    }
    fn audit(
        &self,
        store: Option<&StoreId>,
        limit: usize,
    ) -> anyhow::Result<Vec<aisle_core::api::AuditEntry>> {
        self.registry().audit(store, limit)
    }
}

impl DocumentStore for PgStorage {
    fn push(
        &self,
        device: &str,
        role: Role,
        batch: Vec<(DocId, Vec<u8>)>,
        author: &ActorId,
    ) -> Result<Pushed> {
        let check = DevicePush { author, role };
        let (applied, refused) = super::apply_or_split(batch, |part| {
            self.write(Some(device), |copy| apply_push(copy, part.clone(), &check))
        })?;
        let changed = applied.iter().filter(|a| !a.missing_deps).count();
        Ok(Pushed {
            applied,
            refused,
            changed,
        })
    }
    fn changes_since(&self, doc: &DocId, have: &[ChangeHash]) -> Result<Option<HeadsAndChanges>> {
        self.copy().changes_since(doc, have)
    }
    fn has_heads(&self, doc: &DocId, heads: &[ChangeHash]) -> Result<bool> {
        self.copy().has_heads(doc, heads)
    }
    fn customer_snapshot(&self, doc: &DocId) -> Result<Option<CustomerSnapshot>> {
        self.copy().customer_snapshot(doc)
    }
    fn feed_since(
        &self,
        cursor: i64,
        scopes: &[String],
        device: &str,
        limit: usize,
    ) -> Result<Vec<FeedEntry>> {
        let rows = self
            .pool()
            .get()
            .map_err(storage_error)?
            .query(
                "SELECT doc_id, pos FROM feed
                 WHERE pos > $1 AND pos <= $2
                   AND (scope = ANY($3)
                        OR doc_id IN (SELECT doc_id FROM device_docs WHERE device_id = $4))
                 ORDER BY pos LIMIT $5",
                &[
                    &cursor,
                    &self.followed(),
                    &scopes,
                    &device,
                    &i64::try_from(limit).unwrap_or(i64::MAX),
                ],
            )
            .map_err(storage_error)?;
        // Heads from the copy: it has followed the feed this far, so it has each document at
        // least as written at its position.
        let copy = self.copy();
        let mut entries = Vec::with_capacity(rows.len());
        for row in rows {
            let doc: String = row.get(0);
            let doc: DocId = doc.parse()?;
            let heads = copy.doc_heads(&doc)?;
            entries.push(FeedEntry {
                doc,
                seq: row.get(1),
                heads,
            });
        }
        Ok(entries)
    }
    fn feed_count_since(&self, cursor: i64, scopes: &[String], device: &str) -> Result<u64> {
        let n: i64 = self
            .pool()
            .get()
            .map_err(storage_error)?
            .query_one(
                "SELECT COUNT(*) FROM feed
                 WHERE pos > $1 AND pos <= $2
                   AND (scope = ANY($3)
                        OR doc_id IN (SELECT doc_id FROM device_docs WHERE device_id = $4))",
                &[&cursor, &self.followed(), &scopes, &device],
            )
            .map_err(storage_error)?
            .get(0);
        Ok(u64::try_from(n).unwrap_or(0))
    }
    fn feed_head(&self) -> Result<i64> {
        Ok(self
            .pool()
            .get()
            .map_err(storage_error)?
            .query_one(
                "SELECT GREATEST((SELECT MAX(pos) FROM feed), (SELECT MAX(pos) FROM erasures), 0)",
                &[],
            )
            .map_err(storage_error)?
            .get(0))
    }
    fn feed_id(&self) -> Result<String> {
        Ok(self
            .inner()
            .feed_identity
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone())
    }
    fn rename_feed(&self) -> Result<String> {
        let mut client = self.pool().get().map_err(storage_error)?;
        client
            .execute(
                "UPDATE meta SET value = gen_random_uuid()::text WHERE key = 'feed_id'",
                &[],
            )
            .map_err(storage_error)?;
        database::feed_identity(&mut client).map_err(storage_error)
    }
    fn erasures_since(&self, cursor: i64, scopes: &[String], device: &str) -> Result<Vec<DocId>> {
        let rows = self
            .pool()
            .get()
            .map_err(storage_error)?
            .query(
                "SELECT doc_id FROM erasures
                 WHERE pos > $1 AND pos <= $2
                   AND (scope = ANY($3)
                        OR doc_id IN (SELECT doc_id FROM device_docs WHERE device_id = $4))
                 ORDER BY pos",
                &[&cursor, &self.followed(), &scopes, &device],
            )
            .map_err(storage_error)?;
        rows.iter().map(|r| r.get::<_, String>(0).parse()).collect()
    }
    fn doc_scope(&self, doc: &DocId) -> Result<Option<String>> {
        Ok(self
            .pool()
            .get()
            .map_err(storage_error)?
            .query_opt(
                "SELECT scope FROM docs WHERE doc_id = $1",
                &[&doc.to_string()],
            )
            .map_err(storage_error)?
            .map(|r| r.get(0)))
    }
    fn is_erased(&self, doc: &DocId) -> Result<bool> {
        Ok(self
            .pool()
            .get()
            .map_err(storage_error)?
            .query_opt(
                "SELECT 1 FROM erasures WHERE doc_id = $1",
                &[&doc.to_string()],
            )
            .map_err(storage_error)?
            .is_some())
    }
    fn grant(&self, device: &str, doc: &DocId) -> Result<()> {
        self.pool()
            .get()
            .map_err(storage_error)?
            .execute(
                "INSERT INTO device_docs (device_id, doc_id) VALUES ($1, $2)
                 ON CONFLICT DO NOTHING",
                &[&device, &doc.to_string()],
            )
            .map_err(storage_error)?;
        Ok(())
    }
    fn is_granted(&self, device: &str, doc: &DocId) -> Result<bool> {
        Ok(self
            .pool()
            .get()
            .map_err(storage_error)?
            .query_opt(
                "SELECT 1 FROM device_docs WHERE device_id = $1 AND doc_id = $2",
                &[&device, &doc.to_string()],
            )
            .map_err(storage_error)?
            .is_some())
    }
    fn access_facts(&self, device: &str, docs: &[DocId]) -> Result<Vec<DocFacts>> {
        let ids: Vec<String> = docs.iter().map(DocId::to_string).collect();
        let rows = self
            .pool()
            .get()
            .map_err(storage_error)?
            .query(
                "SELECT d.scope, g.doc_id IS NOT NULL
                 FROM unnest($2::text[]) WITH ORDINALITY AS asked (doc_id, n)
                 LEFT JOIN docs d ON d.doc_id = asked.doc_id
                 LEFT JOIN device_docs g ON g.device_id = $1 AND g.doc_id = asked.doc_id
                 ORDER BY asked.n",
                &[&device, &ids],
            )
            .map_err(storage_error)?;
        Ok(rows
            .iter()
            .map(|r| DocFacts {
                scope: r.get(0),
                granted: r.get(1),
            })
            .collect())
    }
}

impl Customers for PgStorage {
    fn identify(&self, identifier: &Identifier) -> Result<CustomerId> {
        self.copy().identify(identifier)
    }
    fn current_id(&self, id: &CustomerId) -> Result<CustomerId> {
        self.copy().current_id(id)
    }
    fn home_store(&self, id: &CustomerId) -> Result<StoreId> {
        Ok(self.copy().customer(id)?.identity.home_store)
    }
    fn search(&self, store: &StoreId, query: &str, limit: usize) -> Result<Vec<CustomerSummary>> {
        search::search(self.pool(), store, query, limit)
    }
    fn verify_loyalty_token(&self, token: &str) -> Result<CustomerId> {
        Ok(self.copy().verify_loyalty_token(token)?.customer)
    }
    fn export_person(&self, customer: &CustomerId) -> Result<CustomerExport> {
        self.copy().export_person(customer)
    }
    fn erase_person(&self, customer: &CustomerId) -> Result<Vec<(DocId, String)>> {
        // Every profile merged into this person, also by another relay a moment ago: the copy
        // follows the feed up to now first.
        self.inner().wait_followed()?;
        let mut copy = self.copy();
        let mut erased = Vec::new();
        for id in copy.same_person(customer)? {
            let doc = DocId::Customer(id);
            let mut client = self.pool().get().map_err(storage_error)?;
            let mut tx = client.transaction().map_err(storage_error)?;
            let key = doc.to_string();
            let row = tx
                .query_opt(
                    "SELECT scope FROM docs WHERE doc_id = $1 FOR UPDATE",
                    &[&key],
                )
                .map_err(storage_error)?;
            let Some(row) = row else {
                // Erased on its own before: nothing left of it.
                if erased.is_empty() {
                    return Err(aisle_core::store::not_found(&doc));
                }
                continue;
            };
            let scope: String = row.get(0);
            // The chunks go with the row; the feed entry becomes an erasure at a new position.
            tx.execute("DELETE FROM feed WHERE doc_id = $1", &[&key])
                .map_err(storage_error)?;
            tx.execute("DELETE FROM docs WHERE doc_id = $1", &[&key])
                .map_err(storage_error)?;
            tx.execute(
                &format!(
                    "INSERT INTO erasures (doc_id, pos, scope, erased_at)
                     VALUES ($1, {POSITION_SQL}, $2, $3)
                     ON CONFLICT (doc_id) DO UPDATE SET pos = excluded.pos"
                ),
                &[&key, &scope, &now_ms()],
            )
            .map_err(storage_error)?;
            tx.batch_execute("NOTIFY aisle_feed")
                .map_err(storage_error)?;
            tx.commit().map_err(storage_error)?;
            // Devices are told by the follower, on every relay alike, once it passes the
            // erasure's position.
            follower::forget(&mut copy, &doc)?;
            erased.push((doc, scope));
        }
        Ok(erased)
    }
    fn merge(&self, survivor: &CustomerId, duplicate: &CustomerId) -> Result<()> {
        self.write(None, |copy| copy.merge_customers(survivor, duplicate))
    }
    fn carry_merged(&self, id: &CustomerId) -> Result<bool> {
        self.write(None, |copy| copy.carry_merged(id))
    }
    fn kiosk_check_in(&self, store: &StoreId, check_in: &KioskCheckIn) -> Result<KioskWelcome> {
        self.write(None, |copy| copy.kiosk_check_in(store, check_in))
    }
    fn kiosk_consent(&self, store: &StoreId, check_in: &KioskCheckIn, granted: bool) -> Result<()> {
        self.write(None, |copy| copy.kiosk_consent(store, check_in, granted))
    }
}

impl Stores for PgStorage {
    fn stores(&self) -> Result<Vec<StoreInfo>> {
        self.copy().stores()
    }
    fn unknown_variants(&self, variants: &[VariantSku]) -> Result<Vec<VariantSku>> {
        self.copy().unknown_variants(variants)
    }
    fn product_image(&self, product: &ProductSku) -> Result<String> {
        Ok(self.copy().product(product)?.image)
    }
    fn shop_item_variant(&self, item: &str) -> Result<Option<VariantSku>> {
        self.copy().shop_item_variant(item)
    }
    fn products_of(
        &self,
        variants: &[VariantSku],
    ) -> Result<std::collections::BTreeSet<ProductSku>> {
        self.copy().products_of(variants)
    }
    fn create_store(&self, store: StoreInfo) -> Result<()> {
        self.write(None, |copy| copy.create_store(store.clone()))
    }
    fn stock_by_store(&self, here: &StoreId, product: &ProductSku) -> Result<Vec<StoreStock>> {
        self.copy().stock_by_store(here, product)
    }
    fn incoming_transfers(&self, store: &StoreId) -> Result<Vec<IncomingTransfer>> {
        self.copy().incoming_transfers(store)
    }
    fn publish_locale(&self, tenant: &aisle_core::model::TenantLocale) -> Result<bool> {
        // Another relay may have published it already: the copy must know before deciding.
        self.inner().catch_up(&mut self.copy(), &[DocId::Catalog])?;
        self.write(None, |copy| copy.publish_locale(tenant))
    }
    fn publish_recommendations(&self) -> Result<PublishedRecommendations> {
        self.write(None, RelayDocs::publish_recommendations)
    }
    fn seed_demo(&self, customers: usize, progress: &mut dyn FnMut(DemoProgress)) -> Result<bool> {
        // Another relay may have seeded it already: the copy must know before deciding.
        self.inner().catch_up(&mut self.copy(), &[DocId::Catalog])?;
        let seeded = self.write(None, |copy| {
            let now = copy.now();
            let seeded =
                demo::seed_if_empty(copy, DemoConfig::new(customers, now), &mut *progress)?;
            // The demo's past sales are history: a till connected later never hears of them.
            if seeded {
                copy.till_mark_history()?;
            }
            Ok::<_, CoreError>(seeded)
        })?;
        self.till_collect()?;
        Ok(seeded)
    }
    fn stats(&self) -> Result<StoreStats> {
        self.copy().stats()
    }
    fn import(
        &self,
        file: &ImportFile,
        progress: &mut dyn FnMut(ImportProgress),
    ) -> Result<ImportSummary, ImportError> {
        // The file is checked against the catalog and customers as the database has them.
        self.inner().catch_up(&mut self.copy(), &[DocId::Catalog])?;
        self.write_or_refuse(|copy| copy.import_with_progress(file, &mut *progress))
    }
}

impl LoyaltyKeys for PgStorage {
    fn loyalty_keys(&self) -> Result<Vec<LoyaltyKeyInfo>> {
        self.copy().loyalty_keys()
    }
    fn add_loyalty_key(&self, key_id: &str, key: &SigningKey) -> Result<()> {
        self.write(None, |copy| copy.add_loyalty_key(key_id, key))
    }
    fn withdraw_loyalty_key(&self, key_id: &str) -> Result<()> {
        self.write(None, |copy| copy.withdraw_loyalty_key(key_id))
    }
    fn issue_loyalty_token(
        &self,
        key_id: &str,
        key: &SigningKey,
        customer: &CustomerId,
        valid_days: Option<u32>,
    ) -> Result<String> {
        self.copy()
            .issue_loyalty_token(key_id, key, customer, valid_days)
    }
    fn revoke_loyalty_token(&self, token: &str, reason: &str) -> Result<String> {
        self.write(None, |copy| copy.revoke_loyalty_token(token, reason))
    }
}

/// Most sales moved from the working copy into the shared outbox per transaction.
const TILL_COLLECT_BATCH: usize = 500;

impl TillOutbox for PgStorage {
    fn till_collect(&self) -> Result<usize> {
        let mut moved = 0;
        loop {
            // Taken out of the copy and written to the database under the copy's lock: a
            // failed write puts them back by failing the whole step before the copy commits.
            let copy = self.copy();
            let tx = copy.conn().unchecked_transaction()?;
            let taken = copy.till_take_copied(TILL_COLLECT_BATCH)?;
            if taken.is_empty() {
                return Ok(moved);
            }
            let mut client = self.pool().get().map_err(storage_error)?;
            let mut pg = client.transaction().map_err(storage_error)?;
            for sale in &taken {
                let read = if sale.event == "return" {
                    "SELECT at, -COALESCE(refund_minor, 0) FROM stock_movements
                     WHERE movement_id = ?1"
                } else {
                    "SELECT at, total_cents FROM sales WHERE sale_id = ?1"
                };
                let (at, total): (i64, i64) = copy
                    .conn()
                    .query_row(read, [&sale.sale_id], |r| Ok((r.get(0)?, r.get(1)?)))
                    .unwrap_or((sale.queued_at, 0));
                pg.execute(
                    "INSERT INTO till_outbox (sale_id, event, store_id, recorded_at, total_minor,
                         queued_at, next_attempt_at, history)
                     VALUES ($1, $2, $3, $4, $5, $6, $6, $7) ON CONFLICT (sale_id) DO NOTHING",
                    &[
                        &sale.sale_id,
                        &sale.event,
                        &sale.store,
                        &at,
                        &total,
                        &sale.queued_at,
                        &sale.history,
                    ],
                )
                .map_err(storage_error)?;
            }
            pg.commit().map_err(storage_error)?;
            tx.commit()?;
            moved += taken.len();
        }
    }
    fn till_due(&self, now: i64, limit: usize) -> Result<Vec<QueuedSale>> {
        let mut client = self.pool().get().map_err(storage_error)?;
        let rows = client
            .query(
                "SELECT sale_id, store_id, attempts, event FROM till_outbox
                 WHERE delivered_at IS NULL AND NOT history AND next_attempt_at <= $1
                 ORDER BY next_attempt_at, queued_at LIMIT $2",
                &[&now, &i64::try_from(limit).unwrap_or(i64::MAX)],
            )
            .map_err(storage_error)?;
        rows.iter()
            .map(|r| {
                Ok(QueuedSale {
                    sale_id: r.get(0),
                    event: r.get(3),
                    store: StoreId::parse(r.get::<_, String>(1))?,
                    attempts: u32::try_from(r.get::<_, i32>(2)).unwrap_or(0),
                })
            })
            .collect()
    }
    fn till_message(&self, sale: &QueuedSale, currency: &str) -> Result<TillSale> {
        self.copy().till_message(sale, currency)
    }
    fn till_attempted(&self, sale_id: &str, at: i64, attempt: &TillAttempt) -> Result<()> {
        let mut client = self.pool().get().map_err(storage_error)?;
        match attempt {
            TillAttempt::Delivered { reference } => client.execute(
                "UPDATE till_outbox SET attempts = attempts + 1, delivered_at = $2,
                        till_reference = $3, last_error = NULL
                 WHERE sale_id = $1 AND delivered_at IS NULL",
                &[&sale_id, &at, reference],
            ),
            TillAttempt::Failed { error, retry_at } => client.execute(
                "UPDATE till_outbox SET attempts = attempts + 1, last_error = $2,
                        next_attempt_at = $3
                 WHERE sale_id = $1 AND delivered_at IS NULL",
                &[&sale_id, error, retry_at],
            ),
        }
        .map_err(storage_error)?;
        Ok(())
    }
    fn till_deliveries(&self, store: &StoreId, limit: usize) -> Result<(u64, Vec<TillDelivery>)> {
        let mut client = self.pool().get().map_err(storage_error)?;
        let waiting: i64 = client
            .query_one(
                "SELECT COUNT(*) FROM till_outbox
                 WHERE store_id = $1 AND delivered_at IS NULL AND NOT history",
                &[&store.as_str()],
            )
            .map_err(storage_error)?
            .get(0);
        let rows = client
            .query(
                "SELECT sale_id, recorded_at, total_minor, queued_at, attempts, delivered_at,
                        till_reference, last_error, next_attempt_at, event
                 FROM till_outbox WHERE store_id = $1 AND NOT history
                 ORDER BY queued_at DESC LIMIT $2",
                &[&store.as_str(), &i64::try_from(limit).unwrap_or(i64::MAX)],
            )
            .map_err(storage_error)?;
        let deliveries = rows
            .iter()
            .map(|r| {
                let delivered_at: Option<i64> = r.get(5);
                TillDelivery {
                    sale_id: r.get(0),
                    event: r.get(9),
                    recorded_at: r.get(1),
                    total_minor: r.get(2),
                    queued_at: r.get(3),
                    attempts: u32::try_from(r.get::<_, i32>(4)).unwrap_or(0),
                    delivered_at,
                    reference: r.get(6),
                    last_error: if delivered_at.is_some() {
                        None
                    } else {
                        r.get(7)
                    },
                    next_attempt_at: if delivered_at.is_some() {
                        None
                    } else {
                        Some(r.get(8))
                    },
                }
            })
            .collect();
        Ok((u64::try_from(waiting).unwrap_or(0), deliveries))
    }
}

impl IngestLedger for PgStorage {
    fn ingest(&self, batch: &EventBatch) -> Result<IngestOutcome, IngestError> {
        // A busy copy runs the batch again (its applied events are then duplicates).
        self.write_or_refuse(|copy| copy.ingest(batch))
    }
}
