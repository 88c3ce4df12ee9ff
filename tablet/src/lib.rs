//! The tablet's domain: what an associate's (or manager's, or kiosk's) tablet does with its own
//! copy of the documents. The briefing (`briefing`), the Floor (`floor`), the manager's KPIs
//! (`kpis`) and stock alerts (`alerts`), holds and sales (`checkout`), deliveries, counts and
//! oversell conflicts (`stock`), what a scan opens (`scan`), the kiosk's offline queue
//! (`kiosk_queue`), the sync client (`sync_client`) and the relay's HTTP API (`relay_client`),
//! and PC/SC card readers (`nfc`, feature `nfc`). Nothing here is compiled into the relay.
//!
//! [`Tablet`] is aisle-core's [`Store`] (documents as chunks in SQLite with their projections,
//! shared with the relay) plus these operations. It derefs to the store, so the shared
//! operations (customer writes, catalog and stock reads, search) read the same.

pub mod alerts;
pub mod briefing;
pub mod checkout;
pub mod floor;
pub mod images;
pub mod kiosk_queue;
pub mod kpis;
#[cfg(feature = "nfc")]
pub mod nfc;
pub mod push_refusals;
pub mod relay_client;
pub mod relay_tls;
pub mod scan;
pub mod stock;
pub mod sync_client;
pub mod wipe;

use aisle_core::{RoleSchema, Store, StoreOptions};
use std::ops::{Deref, DerefMut};
use std::path::Path;

pub use sync_client::{SyncClient, SyncConfig, SyncError};

/// A day in milliseconds, for day boundaries and rates per day.
pub(crate) const DAY_MS: aisle_core::model::Millis = 86_400_000;

/// The tablet's own tables, beside the store's shared schema.
pub const TABLET_SCHEMA: RoleSchema = RoleSchema {
    role: "tablet",
    migrations: &[include_str!("schema.sql"), include_str!("schema_v2.sql")],
};

pub struct Tablet {
    store: Store,
}

impl Tablet {
    /// Opens (creating if needed) the tablet's store at `path`.
    pub fn open(path: impl AsRef<Path>) -> aisle_core::Result<Self> {
        Self::new(Store::open(path)?)
    }

    pub fn open_with(path: impl AsRef<Path>, options: StoreOptions) -> aisle_core::Result<Self> {
        Self::new(Store::open_with(path, options)?)
    }

    /// Makes `store` a tablet's, adding the tablet's tables if it lacks them.
    pub fn new(mut store: Store) -> aisle_core::Result<Self> {
        store.migrate_role(&TABLET_SCHEMA)?;
        Ok(Self { store })
    }

    pub fn into_store(self) -> Store {
        self.store
    }
}

impl std::fmt::Debug for Tablet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.store.fmt(f)
    }
}

impl Deref for Tablet {
    type Target = Store;
    fn deref(&self) -> &Store {
        &self.store
    }
}

impl DerefMut for Tablet {
    fn deref_mut(&mut self) -> &mut Store {
        &mut self.store
    }
}
