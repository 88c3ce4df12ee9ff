//! Helpers shared by the core's scenario tests.
#![allow(dead_code)]

use aisle_core::demo::{DemoConfig, DemoData};
use aisle_core::sync::SyncPeer;
use aisle_core::{Clock, DocId, IdGen, Store, StoreOptions};
use std::path::Path;

pub const NOW: i64 = 1_780_000_000_000;

/// A store with a manual clock and seeded ids.
pub fn store_at(path: &Path, seed: u64) -> Store {
    Store::open_with(
        path,
        StoreOptions {
            clock: Clock::manual(NOW),
            ids: IdGen::seeded(seed),
            ..StoreOptions::default()
        },
    )
    .unwrap()
}

/// A store holding the demo catalog, stock and `customers` customers.
pub fn demo_store(path: &Path, seed: u64, customers: usize) -> (Store, DemoData) {
    let mut store = store_at(path, seed);
    let data = DemoData::generate(DemoConfig::new(customers, NOW));
    data.import(&mut store, |_| {}).unwrap();
    (store, data)
}

/// Runs Automerge sync for one document between two stores until neither has anything to
/// send. Returns the number of messages exchanged.
pub fn sync_doc(a: &mut Store, b: &mut Store, doc: &DocId) -> usize {
    let mut a_to_b = SyncPeer::new(format!("peer-{}", b.writer()));
    let mut b_to_a = SyncPeer::new(format!("peer-{}", a.writer()));
    let mut messages = 0;
    for _ in 0..100 {
        let mut quiet = true;
        if let Some(msg) = a_to_b.generate(a, doc).unwrap() {
            b_to_a.receive(b, doc, &msg).unwrap();
            messages += 1;
            quiet = false;
        }
        if let Some(msg) = b_to_a.generate(b, doc).unwrap() {
            a_to_b.receive(a, doc, &msg).unwrap();
            messages += 1;
            quiet = false;
        }
        if quiet {
            a_to_b.save(a).unwrap();
            b_to_a.save(b).unwrap();
            return messages;
        }
    }
    panic!("sync of {doc} did not settle");
}

/// A second replica that starts with copies of `docs` from `source`.
pub fn replica_of(source: &mut Store, path: &Path, seed: u64, docs: &[DocId]) -> Store {
    let mut replica = store_at(path, seed);
    for doc in docs {
        sync_doc(source, &mut replica, doc);
    }
    replica
}
