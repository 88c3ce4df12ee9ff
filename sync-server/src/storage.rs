//! What the relay stores, behind a trait: enrolled devices and the documents with their
//! changefeed. The embedded SQLite backend (aisle-core's store plus the device registry, both
//! WAL) is the default; a Postgres backend for many relays would implement the same trait.

use aisle_core::automerge::{ActorId, ChangeHash};
use aisle_core::model::{CustomerSummary, Identifier, StoreId, StoreStats};
use aisle_core::protocol::Role;
use aisle_core::replicate::{Applied, FeedEntry, HeadsAndChanges};
use aisle_core::{Committed, CoreError, DocId, Store, StoreOptions};
use anyhow::Context;
use std::path::Path;

use crate::registry::{Device, Registry};

pub trait RelayStorage: Send + 'static {
    fn authenticate(&self, token: &str) -> anyhow::Result<Option<Device>>;
    fn create_code(&self, store: &StoreId, role: Role, name: &str) -> anyhow::Result<String>;
    fn enrol(&mut self, code: &str, actor: &[u8]) -> anyhow::Result<(Device, String)>;
    fn revoke(&mut self, device: &str) -> anyhow::Result<bool>;
    fn devices(&self) -> anyhow::Result<Vec<Device>>;
    fn is_revoked(&self, device: &str) -> anyhow::Result<bool>;
    fn touch(&self, device: &str) -> anyhow::Result<()>;

    /// Applies a device's changes (all must be by `author`) in one transaction.
    fn apply(
        &mut self,
        batch: Vec<(DocId, Vec<u8>)>,
        author: &ActorId,
    ) -> Result<Vec<Applied>, CoreError>;
    fn changes_since(
        &mut self,
        doc: &DocId,
        have: &[ChangeHash],
    ) -> Result<Option<HeadsAndChanges>, CoreError>;
    fn has_heads(&mut self, doc: &DocId, heads: &[ChangeHash]) -> Result<bool, CoreError>;
    fn feed_since(
        &self,
        cursor: i64,
        scopes: &[String],
        device: &str,
        limit: usize,
    ) -> Result<Vec<FeedEntry>, CoreError>;
    fn feed_count_since(
        &self,
        cursor: i64,
        scopes: &[String],
        device: &str,
    ) -> Result<u64, CoreError>;
    fn doc_scope(&self, doc: &DocId) -> Result<Option<String>, CoreError>;
    fn grant(&mut self, device: &str, doc: &DocId) -> Result<(), CoreError>;
    fn is_granted(&self, device: &str, doc: &DocId) -> Result<bool, CoreError>;
    /// Commits since the last call, for live fan-out.
    fn take_committed(&mut self) -> Vec<Committed>;

    fn identify(&self, identifier: &Identifier)
    -> Result<aisle_core::model::CustomerId, CoreError>;
    fn search(&self, query: &str, limit: usize) -> Result<Vec<CustomerSummary>, CoreError>;
    fn stats(&self) -> Result<StoreStats, CoreError>;
    /// The document store, for loading demo data and admin changes to the catalog.
    fn documents(&mut self) -> &mut Store;
}

/// The embedded backend: `relay.sqlite3` (documents) and `devices.sqlite3` (registry).
pub struct SqliteStorage {
    docs: Store,
    registry: Registry,
    tenant: String,
}

impl SqliteStorage {
    pub fn open(data_dir: &Path, tenant: &str) -> anyhow::Result<Self> {
        let db = data_dir.join("relay.sqlite3");
        let docs = Store::open_with(
            &db,
            StoreOptions {
                changefeed: true,
                ..StoreOptions::default()
            },
        )
        .with_context(|| format!("opening relay database {}", db.display()))?;
        let registry = Registry::open(&data_dir.join("devices.sqlite3"))?;
        Ok(Self {
            docs,
            registry,
            tenant: tenant.to_string(),
        })
    }
}

impl RelayStorage for SqliteStorage {
    fn authenticate(&self, token: &str) -> anyhow::Result<Option<Device>> {
        self.registry.authenticate(token)
    }
    fn create_code(&self, store: &StoreId, role: Role, name: &str) -> anyhow::Result<String> {
        self.registry.create_code(&self.tenant, store, role, name)
    }
    fn enrol(&mut self, code: &str, actor: &[u8]) -> anyhow::Result<(Device, String)> {
        self.registry.enrol(code, actor)
    }
    fn revoke(&mut self, device: &str) -> anyhow::Result<bool> {
        self.registry.revoke(device)
    }
    fn devices(&self) -> anyhow::Result<Vec<Device>> {
        self.registry.devices()
    }
    fn is_revoked(&self, device: &str) -> anyhow::Result<bool> {
        self.registry.is_revoked(device)
    }
    fn touch(&self, device: &str) -> anyhow::Result<()> {
        self.registry.touch(device)
    }
    fn apply(
        &mut self,
        batch: Vec<(DocId, Vec<u8>)>,
        author: &ActorId,
    ) -> Result<Vec<Applied>, CoreError> {
        self.docs.apply_changes(batch, Some(author))
    }
    fn changes_since(
        &mut self,
        doc: &DocId,
        have: &[ChangeHash],
    ) -> Result<Option<HeadsAndChanges>, CoreError> {
        self.docs.changes_since(doc, have)
    }
    fn has_heads(&mut self, doc: &DocId, heads: &[ChangeHash]) -> Result<bool, CoreError> {
        self.docs.has_heads(doc, heads)
    }
    fn feed_since(
        &self,
        cursor: i64,
        scopes: &[String],
        device: &str,
        limit: usize,
    ) -> Result<Vec<FeedEntry>, CoreError> {
        self.docs.feed_since(cursor, scopes, Some(device), limit)
    }
    fn feed_count_since(
        &self,
        cursor: i64,
        scopes: &[String],
        device: &str,
    ) -> Result<u64, CoreError> {
        self.docs.feed_count_since(cursor, scopes, Some(device))
    }
    fn doc_scope(&self, doc: &DocId) -> Result<Option<String>, CoreError> {
        self.docs.doc_scope(doc)
    }
    fn grant(&mut self, device: &str, doc: &DocId) -> Result<(), CoreError> {
        self.docs.grant_doc(device, doc)
    }
    fn is_granted(&self, device: &str, doc: &DocId) -> Result<bool, CoreError> {
        self.docs.is_granted(device, doc)
    }
    fn take_committed(&mut self) -> Vec<Committed> {
        self.docs.take_committed()
    }
    fn identify(
        &self,
        identifier: &Identifier,
    ) -> Result<aisle_core::model::CustomerId, CoreError> {
        self.docs.identify(identifier)
    }
    fn search(&self, query: &str, limit: usize) -> Result<Vec<CustomerSummary>, CoreError> {
        self.docs.search_customers(query, limit)
    }
    fn stats(&self) -> Result<StoreStats, CoreError> {
        self.docs.stats()
    }
    fn documents(&mut self) -> &mut Store {
        &mut self.docs
    }
}
