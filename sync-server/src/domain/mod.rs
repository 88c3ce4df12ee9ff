//! The relay's domain: what only the relay does to documents. Web shop events (`ingest`),
//! stock moved by the retailer's own systems (`stock_events`), the catalog and stores
//! (`catalog`), a retailer's own files of stores, products, stock and customers (`import`), a
//! person's data taken out (`export`), the demo retailer (`demo`), merging a person found
//! twice (`merge`), counting what is bought together (`recommend`), issuing and revoking
//! loyalty tokens (`loyalty`), erasure (`erasure`), kiosk check-ins (`kiosk`), the till's
//! outbox (`till`) and the changefeed with its grants (`changefeed`). None of it is compiled
//! into the tablet app.
//!
//! [`RelayDocs`] is the relay's document store: aisle-core's [`Store`] (documents as chunks in
//! SQLite with their projections, shared with the tablets) plus these operations. It derefs to
//! the store, so the shared operations (customer writes, catalog reads, search) read the same.

pub mod catalog;
pub mod changefeed;
pub mod demo;
pub mod erasure;
pub mod export;
pub mod import;
pub mod ingest;
pub mod kiosk;
pub mod loyalty;
pub mod merge;
pub mod push;
pub mod recommend;
pub mod stock_events;
pub mod till;

use aisle_core::{RoleSchema, Store};
use changefeed::{FeedHook, SharedFeedLog};
use std::borrow::BorrowMut;
use std::ops::{Deref, DerefMut};
use std::path::Path;

/// The relay's own tables, beside the store's shared schema.
pub const RELAY_SCHEMA: RoleSchema = RoleSchema {
    role: "relay",
    migrations: &[
        include_str!("schema.sql"),
        include_str!("till_schema.sql"),
        include_str!("till_schema_v3.sql"),
    ],
};

/// The relay's operations over a store it owns (`RelayDocs`, the relay's own) or borrows
/// (`RelayDocs<&mut Store>`: loading demo data or an import into a tablet's store in tests
/// and benchmarks).
pub struct RelayDocs<S: BorrowMut<Store> = Store> {
    store: S,
    feed: SharedFeedLog,
}

impl RelayDocs {
    /// Opens (creating if needed) the relay's document store.
    pub fn open(path: impl AsRef<Path>) -> aisle_core::Result<Self> {
        let mut store = Store::open(path)?;
        // The relay sends new tablets whole customers with their fields (a first sync).
        store.serve_peers();
        Self::new(store)
    }

    pub fn into_store(self) -> Store {
        self.store
    }
}

impl<S: BorrowMut<Store>> RelayDocs<S> {
    /// Makes `store` the relay's: adds the relay's tables if it lacks them, and numbers every
    /// commit in the changefeed from now on (a borrowed store keeps doing so afterwards). A
    /// store that is the relay's already keeps its changefeed log.
    pub fn new(mut store: S) -> aisle_core::Result<Self> {
        let inner = store.borrow_mut();
        if let Some(hook) = inner.commit_hook_mut::<FeedHook>() {
            let feed = hook.log.clone();
            return Ok(Self { store, feed });
        }
        // A working copy of a shared database: its commits keep going through.
        if let Some(hook) = inner.commit_hook_mut::<crate::storage::postgres::WriteThrough>() {
            let feed = hook.log.clone();
            return Ok(Self { store, feed });
        }
        inner.migrate_role(&RELAY_SCHEMA)?;
        let feed = SharedFeedLog::default();
        let now = inner.clock.clone();
        inner.set_commit_hook(Box::new(FeedHook {
            log: feed.clone(),
            now,
        }));
        Ok(Self { store, feed })
    }
}

impl RelayDocs {
    /// Opens a store whose commits go through `hook` instead of the embedded changefeed (a
    /// relay's working copy of a shared database); the hook gets the relay's feed log, for the
    /// event ids a commit records.
    pub(crate) fn open_with_hook(
        path: impl AsRef<Path>,
        schema: &RoleSchema,
        hook: impl FnOnce(SharedFeedLog) -> Box<dyn aisle_core::CommitHook>,
    ) -> aisle_core::Result<Self> {
        let mut store = Store::open(path)?;
        store.serve_peers();
        store.migrate_role(&RELAY_SCHEMA)?;
        store.migrate_role(schema)?;
        let feed = SharedFeedLog::default();
        store.set_commit_hook(hook(feed.clone()));
        Ok(Self { store, feed })
    }
}

impl<S: BorrowMut<Store>> std::fmt::Debug for RelayDocs<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.store.borrow().fmt(f)
    }
}

impl<S: BorrowMut<Store>> Deref for RelayDocs<S> {
    type Target = Store;
    fn deref(&self) -> &Store {
        self.store.borrow()
    }
}

impl<S: BorrowMut<Store>> DerefMut for RelayDocs<S> {
    fn deref_mut(&mut self) -> &mut Store {
        self.store.borrow_mut()
    }
}
