//! What the relay stores, behind traits whose methods speak the relay's domain, the way a
//! handler thinks of it: enrolled devices, documents with their changefeed, customers, stores
//! and stock, loyalty keys, and the ledger of ingested web shop events. No method hands out a
//! database or a document store.
//!
//! Every backend is written for a database that several relay processes may share: no method
//! keeps state between calls that another relay's writes could make stale, and each write
//! publishes what it committed to the relay's fan-out itself, so no caller can forget to.
//! The embedded SQLite backend ([`SqliteStorage`]) is the default; [`PgStorage`] puts the
//! truth in a PostgreSQL database that several relays share.

pub mod postgres;
mod sqlite;

use crate::acl::DocFacts;
use crate::domain::changefeed::FeedEntry;
use crate::domain::demo::DemoProgress;
use crate::domain::import::{ImportError, ImportFile, ImportProgress};
use crate::domain::ingest::IngestError;
use crate::domain::recommend::PublishedRecommendations;
use crate::domain::till::{QueuedSale, TillAttempt};
use aisle_core::api::{CustomerExport, EventBatch, ImportSummary, IngestOutcome};
use aisle_core::api::{TillDelivery, TillSale};
use aisle_core::automerge::{ActorId, ChangeHash};
use aisle_core::model::{
    CustomerId, CustomerSummary, Identifier, IncomingTransfer, KioskCheckIn, KioskWelcome,
    ProductSku, Role, StoreId, StoreInfo, StoreStats, StoreStock, TenantLocale, VariantSku,
};
use aisle_core::replicate::{Applied, HeadsAndChanges};
use aisle_core::store::snapshots::CustomerSnapshot;
use aisle_core::{CoreError, DocId, LoyaltyKeyInfo};
use ed25519_dalek::SigningKey;

use crate::registry::{Device, EnrolError};

pub use postgres::PgStorage;
pub use sqlite::SqliteStorage;

/// Opens the storage `config` names: the shared database, or the embedded files in the data
/// directory (`working_copy` is where the shared backend keeps this process's copy).
pub fn open(
    config: &crate::config::Config,
    working_copy: &std::path::Path,
    hub: crate::hub::Hub,
) -> anyhow::Result<std::sync::Arc<dyn RelayStorage>> {
    Ok(match &config.database {
        Some(url) => {
            let database = postgres::database::Database::new(url, config.database_ca.as_deref())?;
            std::sync::Arc::new(PgStorage::open(
                &database,
                working_copy,
                &config.tenant,
                hub,
            )?)
        }
        None => std::sync::Arc::new(SqliteStorage::open(&config.data_dir, &config.tenant, hub)?),
    })
}

/// How a relay follows a shared database's changefeed.
#[derive(Clone, Copy, Debug)]
pub struct FeedLag {
    /// Transactions below the horizon the working copy has not followed yet.
    pub behind_transactions: i64,
    /// Since the follower last read the horizon (ms).
    pub read_age_ms: i64,
    /// How long the oldest transaction holding the horizon back had been open (ms): a long
    /// one (a forgotten `psql` session, a backup) holds every relay's fan-out back.
    pub oldest_transaction_ms: i64,
}

/// How this relay's storage is doing, for readiness and metrics.
pub trait Operations: Send + Sync {
    /// Whether the relay can serve: its database answers and it follows the changefeed.
    fn ready(&self) -> anyhow::Result<()>;
    /// For a shared database: how this relay follows its changefeed.
    fn feed_lag(&self) -> Option<FeedLag>;
    /// Runs `f`, a job that must run on one relay at a time (the recommendation recount),
    /// unless another relay on the same database runs them; whether it ran here.
    fn run_job(&self, job: &str, f: &mut dyn FnMut() -> anyhow::Result<()>)
    -> anyhow::Result<bool>;
    /// Folds the change chunks of up to `max_docs` documents that gathered many into one
    /// snapshot each; how many documents it compacted.
    fn compact(&self, max_docs: usize) -> anyhow::Result<usize>;
}

impl Operations for SqliteStorage {
    fn ready(&self) -> anyhow::Result<()> {
        // The files are this process's: if it runs, they answer.
        Ok(())
    }
    fn feed_lag(&self) -> Option<FeedLag> {
        None
    }
    fn run_job(&self, _: &str, f: &mut dyn FnMut() -> anyhow::Result<()>) -> anyhow::Result<bool> {
        f().map(|()| true)
    }
    fn compact(&self, _: usize) -> anyhow::Result<usize> {
        // The embedded store compacts a document's chunks as they are written (core's
        // `chunks::append`): nothing gathers.
        Ok(0)
    }
}

impl Operations for PgStorage {
    fn ready(&self) -> anyhow::Result<()> {
        PgStorage::ready(self)
    }
    fn feed_lag(&self) -> Option<FeedLag> {
        Some(PgStorage::feed_lag(self))
    }
    fn run_job(
        &self,
        job: &str,
        f: &mut dyn FnMut() -> anyhow::Result<()>,
    ) -> anyhow::Result<bool> {
        let ran = PgStorage::run_job(self, job, f)?;
        Ok(ran == postgres::leader::JobRun::Ran)
    }
    fn compact(&self, max_docs: usize) -> anyhow::Result<usize> {
        Ok(PgStorage::compact(self, max_docs)?.docs)
    }
}

pub type Result<T, E = CoreError> = std::result::Result<T, E>;

/// What a device's push did.
#[derive(Debug)]
pub struct Pushed {
    /// Per pushed document, in order: its heads here now, and whether changes wait for
    /// dependencies the relay lacks.
    pub applied: Vec<Applied>,
    /// Documents refused on their own (what a device's role may not write, content that does
    /// not fit): nothing of them was applied, and the rest of the push was.
    pub refused: Vec<(DocId, aisle_core::CoreError)>,
    /// How many documents the push changed.
    pub changed: usize,
}

/// What of a push was applied, and the documents refused with why.
pub(crate) type PushSplit = (Vec<Applied>, Vec<(DocId, CoreError)>);

/// Applies a device's push with `apply`, in one transaction; only when something in it is
/// refused, each document on its own, so one refused document does not hold back the others.
/// A transient failure (storage, a busy database) fails the push: the device sends it again.
pub(crate) fn apply_or_split(
    batch: Vec<(DocId, Vec<u8>)>,
    mut apply: impl FnMut(Vec<(DocId, Vec<u8>)>) -> Result<Vec<Applied>>,
) -> Result<PushSplit> {
    match apply(batch.clone()) {
        Err(e) if !e.is_transient() && batch.len() > 1 => {
            let mut applied = Vec::new();
            let mut refused = Vec::new();
            for item in batch {
                let doc = item.0.clone();
                match apply(vec![item]) {
                    Ok(done) => applied.extend(done),
                    Err(e) if !e.is_transient() => refused.push((doc, e)),
                    Err(e) => return Err(e),
                }
            }
            Ok((applied, refused))
        }
        Err(e) if !e.is_transient() && batch.len() == 1 => {
            Ok((Vec::new(), vec![(batch[0].0.clone(), e)]))
        }
        other => other.map(|applied| (applied, Vec::new())),
    }
}

/// Devices, their enrolment codes, and the audit trail of what was done to them and by them.
pub trait DeviceRegistry: AuditLog + Send + Sync {
    /// The device a bearer token belongs to (revoked ones included, marked so).
    fn authenticate(&self, token: &str) -> anyhow::Result<Option<Device>>;
    fn create_code(&self, store: &StoreId, role: Role, name: &str) -> anyhow::Result<String>;
    /// Spends a code: the new device and its bearer token.
    fn enrol(&self, code: &str, actor: &[u8]) -> Result<(Device, String), EnrolError>;
    /// Whether an active device was revoked now.
    fn revoke_device(&self, device: &str) -> anyhow::Result<bool>;
    fn devices(&self) -> anyhow::Result<Vec<Device>>;
    fn is_revoked(&self, device: &str) -> anyhow::Result<bool>;
    /// Devices revoked at or after `since` (milliseconds since the epoch), with when: what
    /// a relay's revocation watcher asks, whichever process revoked them.
    fn revoked_since(&self, since: i64) -> anyhow::Result<Vec<(String, i64)>>;
    /// Now, on the clock revocations are stamped with (the database's, when several relays
    /// share one), where a revocation watcher starts.
    fn revocation_clock(&self) -> anyhow::Result<i64>;
    /// Records that the device was heard from now.
    fn touch(&self, device: &str) -> anyhow::Result<()>;
}

/// Documents as sync sees them: changes in and out, the changefeed, and who may read what.
pub trait DocumentStore: Send + Sync {
    /// Applies a device's pushed changes (all must be by `author`, the device's actor, and
    /// fit what `role` may change) in one transaction; `device` is the origin live fan-out
    /// skips.
    fn push(
        &self,
        device: &str,
        role: Role,
        batch: Vec<(DocId, Vec<u8>)>,
        author: &ActorId,
    ) -> Result<Pushed>;
    /// Heads and the changes a peer at `have` lacks; `None` if the document is not here.
    fn changes_since(&self, doc: &DocId, have: &[ChangeHash]) -> Result<Option<HeadsAndChanges>>;
    fn has_heads(&self, doc: &DocId, heads: &[ChangeHash]) -> Result<bool>;
    /// A whole customer with the fields its projection reads, for a device that holds none of
    /// it; `None` when it is not here or its fields are not current (send its changes).
    fn customer_snapshot(&self, doc: &DocId) -> Result<Option<CustomerSnapshot>>;
    /// Documents changed after `cursor` in these scopes or granted to `device`, oldest first.
    fn feed_since(
        &self,
        cursor: i64,
        scopes: &[String],
        device: &str,
        limit: usize,
    ) -> Result<Vec<FeedEntry>>;
    fn feed_count_since(&self, cursor: i64, scopes: &[String], device: &str) -> Result<u64>;
    /// The highest changefeed position written: a device's cursor beyond it comes from a feed
    /// that has since moved backwards (a restore, a failover that lost the last writes).
    fn feed_head(&self) -> Result<i64>;
    /// The changefeed's identity: cursors are places in it, not in another (the same data
    /// restored from a backup after `aisle-relay admin restored`, a database failed over).
    fn feed_id(&self) -> Result<String>;
    /// After a restore from a backup: names the changefeed anew, so every device follows it
    /// from its start (and gives back what the backup lacks).
    fn rename_feed(&self) -> Result<String>;
    /// Documents erased after `cursor` that the device may hold.
    fn erasures_since(&self, cursor: i64, scopes: &[String], device: &str) -> Result<Vec<DocId>>;
    /// The changefeed scope of a stored document.
    fn doc_scope(&self, doc: &DocId) -> Result<Option<String>>;
    fn is_erased(&self, doc: &DocId) -> Result<bool>;
    /// Lets a device read one document outside its scopes (a customer fetched on demand).
    fn grant(&self, device: &str, doc: &DocId) -> Result<()>;
    fn is_granted(&self, device: &str, doc: &DocId) -> Result<bool>;
    /// What access control needs of each of `docs` for `device`, in their order: a pull
    /// names up to hundreds, and a backend with round trips answers them in one.
    fn access_facts(&self, device: &str, docs: &[DocId]) -> Result<Vec<DocFacts>> {
        docs.iter()
            .map(|doc| {
                Ok(DocFacts {
                    scope: self.doc_scope(doc)?,
                    granted: self.is_granted(device, doc)?,
                })
            })
            .collect()
    }
}

/// Customer profiles as the relay's API acts on them.
pub trait Customers: Send + Sync {
    fn identify(&self, identifier: &Identifier) -> Result<CustomerId>;
    /// The profile an id stands for now (a merged duplicate's id names its survivor).
    fn current_id(&self, id: &CustomerId) -> Result<CustomerId>;
    fn home_store(&self, id: &CustomerId) -> Result<StoreId>;
    /// Customers of `store` matching a search.
    fn search(&self, store: &StoreId, query: &str, limit: usize) -> Result<Vec<CustomerSummary>>;
    /// The customer a signed loyalty code names, once its signature, key and revocation check
    /// out.
    fn verify_loyalty_token(&self, token: &str) -> Result<CustomerId>;
    /// Erases a person: the profile and every duplicate merged into it. Returns each erased
    /// document with the scope it was in.
    fn erase_person(&self, customer: &CustomerId) -> Result<Vec<(DocId, String)>>;
    /// Everything held about the person `customer` is (a subject access request).
    fn export_person(&self, customer: &CustomerId) -> Result<CustomerExport>;
    /// Folds `duplicate` into `survivor`.
    fn merge(&self, survivor: &CustomerId, duplicate: &CustomerId) -> Result<()>;
    /// Re-folds a merged duplicate that a device wrote to after the merge; whether it was one.
    fn carry_merged(&self, id: &CustomerId) -> Result<bool>;
    fn kiosk_check_in(&self, store: &StoreId, check_in: &KioskCheckIn) -> Result<KioskWelcome>;
    fn kiosk_consent(&self, store: &StoreId, check_in: &KioskCheckIn, granted: bool) -> Result<()>;
}

/// The chain's stores, their stock, and what the relay publishes about the catalog.
pub trait Stores: Send + Sync {
    fn stores(&self) -> Result<Vec<StoreInfo>>;
    /// Those of `variants` the catalog does not have.
    fn unknown_variants(&self, variants: &[VariantSku]) -> Result<Vec<VariantSku>>;
    /// A product's `image` (what the catalog says it is).
    fn product_image(&self, product: &ProductSku) -> Result<String>;
    /// The variant whose stock the web shop calls `item` (a Shopify inventory item).
    fn shop_item_variant(&self, item: &str) -> Result<Option<VariantSku>>;
    /// The products that those of `variants` in the catalog belong to.
    fn products_of(
        &self,
        variants: &[VariantSku],
    ) -> Result<std::collections::BTreeSet<ProductSku>>;
    /// Adds a store to the catalog with an empty inventory of every variant.
    fn create_store(&self, store: StoreInfo) -> Result<()>;
    /// Units available of a product's variants in every store, `here` first.
    fn stock_by_store(&self, here: &StoreId, product: &ProductSku) -> Result<Vec<StoreStock>>;
    /// What other stores sent `store` that it has not received in full.
    fn incoming_transfers(&self, store: &StoreId) -> Result<Vec<IncomingTransfer>>;
    /// Publishes the tenant's currency and locale in the catalog (when there is one).
    fn publish_locale(&self, tenant: &TenantLocale) -> Result<bool>;
    /// Recounts what is bought together and publishes it if it changed.
    fn publish_recommendations(&self) -> Result<PublishedRecommendations>;
    /// Loads the demo retailer if the relay holds no catalog yet; whether it did.
    fn seed_demo(&self, customers: usize, progress: &mut dyn FnMut(DemoProgress)) -> Result<bool>;
    fn stats(&self) -> Result<StoreStats>;
    /// Imports a retailer's file: checked whole, then written in one transaction, or not at
    /// all.
    fn import(
        &self,
        file: &ImportFile,
        progress: &mut dyn FnMut(ImportProgress),
    ) -> Result<ImportSummary, ImportError>;
}

/// The public halves of loyalty signing keys and revoked tokens, as devices receive them.
/// (The private halves live with the relay's key files, `crate::loyalty`.)
pub trait LoyaltyKeys: Send + Sync {
    fn loyalty_keys(&self) -> Result<Vec<LoyaltyKeyInfo>>;
    /// Publishes a key as the current one; older keys retire.
    fn add_loyalty_key(&self, key_id: &str, key: &SigningKey) -> Result<()>;
    fn withdraw_loyalty_key(&self, key_id: &str) -> Result<()>;
    fn issue_loyalty_token(
        &self,
        key_id: &str,
        key: &SigningKey,
        customer: &CustomerId,
        valid_days: Option<u32>,
    ) -> Result<String>;
    /// Revokes a token; returns its id.
    fn revoke_loyalty_token(&self, token: &str, reason: &str) -> Result<String>;
}

/// Web shop events, applied once each: the ledger of event ids commits with their changes.
pub trait IngestLedger: Send + Sync {
    fn ingest(&self, batch: &EventBatch) -> Result<IngestOutcome, IngestError>;
}

/// Sales on their way to the retailer's till (`crate::till` delivers them).
pub trait TillOutbox: Send + Sync {
    /// Moves the sales this relay's working copy queued into the shared outbox; nothing to
    /// do where the outbox is the relay's own (SQLite). How many moved.
    fn till_collect(&self) -> Result<usize>;
    /// Sales due an attempt at `now`.
    fn till_due(&self, now: i64, limit: usize) -> Result<Vec<QueuedSale>>;
    /// The message for a queued sale, as the till receives it.
    fn till_message(&self, sale: &QueuedSale, currency: &str) -> Result<TillSale>;
    fn till_attempted(&self, sale_id: &str, at: i64, attempt: &TillAttempt) -> Result<()>;
    /// A store's latest deliveries, newest first, and how many of its sales wait.
    fn till_deliveries(&self, store: &StoreId, limit: usize) -> Result<(u64, Vec<TillDelivery>)>;
}

/// Everything a relay stores.
pub trait RelayStorage:
    DeviceRegistry
    + DocumentStore
    + Customers
    + Stores
    + LoyaltyKeys
    + IngestLedger
    + TillOutbox
    + Operations
    + 'static
{
}

impl<T> RelayStorage for T where
    T: DeviceRegistry
        + DocumentStore
        + Customers
        + Stores
        + LoyaltyKeys
        + IngestLedger
        + TillOutbox
        + Operations
        + 'static
{
}

/// The append-only audit trail (`crate::audit`).
pub trait AuditLog: Send + Sync {
    fn record(&self, act: &crate::audit::Act) -> anyhow::Result<()>;
    /// The newest `limit` entries, of one store when given, oldest first.
    fn audit(
        &self,
        store: Option<&StoreId>,
        limit: usize,
    ) -> anyhow::Result<Vec<aisle_core::api::AuditEntry>>;
}
