//! The embedded backend: `relay.sqlite3` (documents, projections and changefeed, aisle-core's
//! store in WAL mode) and `devices.sqlite3` (the device registry). One relay process owns the
//! files; every write publishes its commits to the relay's hub while still holding the
//! documents, so devices receive changes in the order they were committed.

use crate::domain::RelayDocs;
use crate::domain::changefeed::FeedEntry;
use crate::domain::demo::{self, DemoConfig, DemoProgress};
use crate::domain::import::{ImportError, ImportFile, ImportProgress};
use crate::domain::ingest::IngestError;
use crate::domain::push::DevicePush;
use crate::domain::recommend::PublishedRecommendations;
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
use std::sync::{Mutex, MutexGuard};

use super::{
    AuditLog, Customers, DeviceRegistry, DocumentStore, IngestLedger, LoyaltyKeys, Pushed, Result,
    Stores, TillOutbox,
};
use crate::domain::till::{QueuedSale, TillAttempt};
use crate::hub::Hub;
use crate::registry::{Device, EnrolError, Registry};
use aisle_core::api::{TillDelivery, TillSale};

/// Where the relay's database keeps its changefeed's identity.
const FEED_ID_KEY: &str = "feed_id";

pub struct SqliteStorage {
    docs: Mutex<RelayDocs>,
    registry: Mutex<Registry>,
    tenant: String,
    hub: Hub,
}

impl SqliteStorage {
    /// Opens (creating if needed) the relay's files in `data_dir`; commits go out through `hub`.
    pub fn open(data_dir: &Path, tenant: &str, hub: Hub) -> anyhow::Result<Self> {
        let db = data_dir.join("relay.sqlite3");
        let docs = RelayDocs::open(&db)
            .with_context(|| format!("opening relay database {}", db.display()))?;
        let registry = Registry::open(&data_dir.join("devices.sqlite3"))?;
        Ok(Self {
            docs: Mutex::new(docs),
            registry: Mutex::new(registry),
            tenant: tenant.to_string(),
            hub,
        })
    }

    // A panic while holding a lock leaves the data usable: every operation is its own
    // transaction, so the poisoned guard is taken as it is.
    fn docs(&self) -> MutexGuard<'_, RelayDocs> {
        self.docs.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs a write and publishes what it committed (also when it failed part-way: what was
    /// committed stands and devices must get it). `origin` is the device that pushed.
    fn write<T>(&self, origin: Option<&str>, f: impl FnOnce(&mut RelayDocs) -> T) -> T {
        let mut docs = self.docs();
        let out = f(&mut docs);
        self.hub.publish(origin, docs.take_committed());
        out
    }
}

use super::PushSplit;

impl SqliteStorage {
    /// Publishes what a push committed (also when it failed part-way) and reports it.
    fn published(
        &self,
        device: &str,
        docs: &mut RelayDocs,
        outcome: Result<PushSplit>,
    ) -> Result<Pushed> {
        let committed = docs.take_committed();
        let changed = committed.len();
        self.hub.publish(Some(device), committed);
        let (applied, refused) = outcome?;
        Ok(Pushed {
            applied,
            refused,
            changed,
        })
    }
}

impl DeviceRegistry for SqliteStorage {
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
        // Open connections of the device close now, not at their next check.
        self.hub.revoke(device);
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
        Ok(crate::registry::now_ms())
    }
    fn touch(&self, device: &str) -> anyhow::Result<()> {
        self.registry().touch(device)
    }
}

impl AuditLog for SqliteStorage {
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

impl DocumentStore for SqliteStorage {
    fn push(
        &self,
        device: &str,
        role: Role,
        batch: Vec<(DocId, Vec<u8>)>,
        author: &ActorId,
    ) -> Result<Pushed> {
        let mut docs = self.docs();
        let check = DevicePush { author, role };
        let outcome = super::apply_or_split(batch, |part| docs.apply_changes(part, &check));
        self.published(device, &mut docs, outcome)
    }
    fn changes_since(&self, doc: &DocId, have: &[ChangeHash]) -> Result<Option<HeadsAndChanges>> {
        self.docs().changes_since(doc, have)
    }
    fn has_heads(&self, doc: &DocId, heads: &[ChangeHash]) -> Result<bool> {
        self.docs().has_heads(doc, heads)
    }
    fn customer_snapshot(&self, doc: &DocId) -> Result<Option<CustomerSnapshot>> {
        self.docs().customer_snapshot(doc)
    }
    fn feed_since(
        &self,
        cursor: i64,
        scopes: &[String],
        device: &str,
        limit: usize,
    ) -> Result<Vec<FeedEntry>> {
        self.docs().feed_since(cursor, scopes, Some(device), limit)
    }
    fn feed_count_since(&self, cursor: i64, scopes: &[String], device: &str) -> Result<u64> {
        self.docs().feed_count_since(cursor, scopes, Some(device))
    }
    fn erasures_since(&self, cursor: i64, scopes: &[String], device: &str) -> Result<Vec<DocId>> {
        self.docs().erasures_since(cursor, scopes, device)
    }
    fn feed_head(&self) -> Result<i64> {
        self.docs().feed_head()
    }
    fn feed_id(&self) -> Result<String> {
        let mut docs = self.docs();
        match docs.meta(FEED_ID_KEY)? {
            Some(id) => Ok(String::from_utf8_lossy(&id).into_owned()),
            None => {
                let id = uuid::Uuid::new_v4().to_string();
                docs.set_meta(FEED_ID_KEY, id.as_bytes())?;
                Ok(id)
            }
        }
    }
    fn rename_feed(&self) -> Result<String> {
        let id = uuid::Uuid::new_v4().to_string();
        self.docs().set_meta(FEED_ID_KEY, id.as_bytes())?;
        Ok(id)
    }
    fn doc_scope(&self, doc: &DocId) -> Result<Option<String>> {
        self.docs().doc_scope(doc)
    }
    fn is_erased(&self, doc: &DocId) -> Result<bool> {
        self.docs().is_erased(doc)
    }
    fn grant(&self, device: &str, doc: &DocId) -> Result<()> {
        self.docs().grant_doc(device, doc)
    }
    fn is_granted(&self, device: &str, doc: &DocId) -> Result<bool> {
        self.docs().is_granted(device, doc)
    }
}

impl Customers for SqliteStorage {
    fn identify(&self, identifier: &Identifier) -> Result<CustomerId> {
        self.docs().identify(identifier)
    }
    fn current_id(&self, id: &CustomerId) -> Result<CustomerId> {
        self.docs().current_id(id)
    }
    fn home_store(&self, id: &CustomerId) -> Result<StoreId> {
        Ok(self.docs().customer(id)?.identity.home_store)
    }
    fn search(&self, store: &StoreId, query: &str, limit: usize) -> Result<Vec<CustomerSummary>> {
        self.docs().search_customers_of(Some(store), query, limit)
    }
    fn verify_loyalty_token(&self, token: &str) -> Result<CustomerId> {
        Ok(self.docs().verify_loyalty_token(token)?.customer)
    }
    fn export_person(&self, customer: &CustomerId) -> Result<CustomerExport> {
        self.docs().export_person(customer)
    }
    fn erase_person(&self, customer: &CustomerId) -> Result<Vec<(DocId, String)>> {
        let mut docs = self.docs();
        let mut erased = Vec::new();
        for id in docs.same_person(customer)? {
            let doc = DocId::Customer(id);
            match docs.erase_doc(&doc) {
                Ok(scope) => erased.push((doc, scope)),
                // Erased on its own before: nothing left of it.
                Err(CoreError::NotFound { .. }) if !erased.is_empty() => {}
                Err(e) => return Err(e),
            }
        }
        self.hub.publish(None, docs.take_committed());
        for (doc, scope) in &erased {
            self.hub.erase(&doc.to_string(), scope);
        }
        Ok(erased)
    }
    fn merge(&self, survivor: &CustomerId, duplicate: &CustomerId) -> Result<()> {
        self.write(None, |docs| docs.merge_customers(survivor, duplicate))
    }
    fn carry_merged(&self, id: &CustomerId) -> Result<bool> {
        self.write(None, |docs| docs.carry_merged(id))
    }
    fn kiosk_check_in(&self, store: &StoreId, check_in: &KioskCheckIn) -> Result<KioskWelcome> {
        self.write(None, |docs| docs.kiosk_check_in(store, check_in))
    }
    fn kiosk_consent(&self, store: &StoreId, check_in: &KioskCheckIn, granted: bool) -> Result<()> {
        self.write(None, |docs| docs.kiosk_consent(store, check_in, granted))
    }
}

impl Stores for SqliteStorage {
    fn stores(&self) -> Result<Vec<StoreInfo>> {
        self.docs().stores()
    }
    fn unknown_variants(&self, variants: &[VariantSku]) -> Result<Vec<VariantSku>> {
        self.docs().unknown_variants(variants)
    }
    fn product_image(&self, product: &ProductSku) -> Result<String> {
        Ok(self.docs().product(product)?.image)
    }
    fn shop_item_variant(&self, item: &str) -> Result<Option<VariantSku>> {
        self.docs().shop_item_variant(item)
    }
    fn products_of(
        &self,
        variants: &[VariantSku],
    ) -> Result<std::collections::BTreeSet<ProductSku>> {
        self.docs().products_of(variants)
    }
    fn create_store(&self, store: StoreInfo) -> Result<()> {
        self.write(None, |docs| docs.create_store(store))
    }
    fn stock_by_store(&self, here: &StoreId, product: &ProductSku) -> Result<Vec<StoreStock>> {
        self.docs().stock_by_store(here, product)
    }
    fn incoming_transfers(&self, store: &StoreId) -> Result<Vec<IncomingTransfer>> {
        self.docs().incoming_transfers(store)
    }
    fn publish_locale(&self, tenant: &aisle_core::model::TenantLocale) -> Result<bool> {
        self.write(None, |docs| docs.publish_locale(tenant))
    }
    fn publish_recommendations(&self) -> Result<PublishedRecommendations> {
        self.write(None, RelayDocs::publish_recommendations)
    }
    fn seed_demo(&self, customers: usize, progress: &mut dyn FnMut(DemoProgress)) -> Result<bool> {
        self.write(None, |docs| {
            let now = docs.now();
            let seeded = demo::seed_if_empty(docs, DemoConfig::new(customers, now), progress)?;
            // The demo's past sales are history: a till connected later never hears of them.
            if seeded {
                docs.till_mark_history()?;
            }
            Ok(seeded)
        })
    }
    fn stats(&self) -> Result<StoreStats> {
        self.docs().stats()
    }
    fn import(
        &self,
        file: &ImportFile,
        progress: &mut dyn FnMut(ImportProgress),
    ) -> Result<ImportSummary, ImportError> {
        self.write(None, |docs| docs.import_with_progress(file, progress))
    }
}

impl TillOutbox for SqliteStorage {
    fn till_collect(&self) -> Result<usize> {
        Ok(0)
    }
    fn till_due(&self, now: i64, limit: usize) -> Result<Vec<QueuedSale>> {
        self.docs().till_due(now, limit)
    }
    fn till_message(&self, sale: &QueuedSale, currency: &str) -> Result<TillSale> {
        self.docs().till_message(sale, currency)
    }
    fn till_attempted(&self, sale_id: &str, at: i64, attempt: &TillAttempt) -> Result<()> {
        self.docs().till_attempted(sale_id, at, attempt)
    }
    fn till_deliveries(&self, store: &StoreId, limit: usize) -> Result<(u64, Vec<TillDelivery>)> {
        self.docs().till_deliveries(store, limit)
    }
}

impl LoyaltyKeys for SqliteStorage {
    fn loyalty_keys(&self) -> Result<Vec<LoyaltyKeyInfo>> {
        self.docs().loyalty_keys()
    }
    fn add_loyalty_key(&self, key_id: &str, key: &SigningKey) -> Result<()> {
        self.write(None, |docs| docs.add_loyalty_key(key_id, key))
    }
    fn withdraw_loyalty_key(&self, key_id: &str) -> Result<()> {
        self.write(None, |docs| docs.withdraw_loyalty_key(key_id))
    }
    fn issue_loyalty_token(
        &self,
        key_id: &str,
        key: &SigningKey,
        customer: &CustomerId,
        valid_days: Option<u32>,
    ) -> Result<String> {
        self.docs()
            .issue_loyalty_token(key_id, key, customer, valid_days)
    }
    fn revoke_loyalty_token(&self, token: &str, reason: &str) -> Result<String> {
        self.write(None, |docs| docs.revoke_loyalty_token(token, reason))
    }
}

impl IngestLedger for SqliteStorage {
    fn ingest(&self, batch: &EventBatch) -> Result<IngestOutcome, IngestError> {
        self.write(None, |docs| docs.ingest(batch))
    }
}
