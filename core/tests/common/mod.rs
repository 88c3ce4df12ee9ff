//! Helpers shared by the core's scenario tests.
#![allow(dead_code)]

use aisle_core::sync::SyncPeer;
use aisle_core::{Clock, DocId, IdGen, Store, StoreOptions};
use aisle_relay::domain::RelayDocs;
use aisle_relay::domain::demo::{DemoConfig, DemoData};
use aisle_tablet::Tablet;
use std::path::Path;

pub const NOW: i64 = 1_780_000_000_000;

/// A tablet's store with a manual clock and seeded ids. (The relay's operations on a store:
/// [`relay_at`], or `RelayDocs::new(&mut *store)`.)
pub fn store_at(path: &Path, seed: u64) -> Tablet {
    Tablet::new(
        Store::open_with(
            path,
            StoreOptions {
                clock: Clock::manual(NOW),
                ids: IdGen::seeded(seed),
                ..StoreOptions::default()
            },
        )
        .unwrap(),
    )
}

/// The relay's documents in a demo store: the same data, with the relay's operations.
pub fn demo_relay(path: &Path, seed: u64, customers: usize) -> (RelayDocs, DemoData) {
    let (store, data) = demo_store(path, seed, customers);
    (RelayDocs::new(store.into_store()), data)
}

/// A store holding the demo catalog, stock and `customers` customers.
pub fn demo_store(path: &Path, seed: u64, customers: usize) -> (Tablet, DemoData) {
    let mut store = store_at(path, seed);
    let data = DemoData::generate(DemoConfig::new(customers, NOW));
    data.import(&mut store, |_| {}).unwrap();
    (store, data)
}

/// Runs Automerge sync for `docs` between two stores until neither has anything to send, or
/// until `cut` messages were delivered (a dropped connection). Saves both sides' sync states
/// either way, as a session ending does. Returns the number of messages delivered.
pub fn sync_docs(a: &mut Store, b: &mut Store, docs: &[DocId], cut: Option<usize>) -> usize {
    let mut a_side = SyncPeer::new(format!("peer-{}", b.writer()));
    let mut b_side = SyncPeer::new(format!("peer-{}", a.writer()));
    let mut delivered = 0;
    'docs: for doc in docs {
        let mut settled = false;
        for _ in 0..100 {
            if cut == Some(delivered) {
                break 'docs;
            }
            let a_said = deliver(a, &mut a_side, b, &mut b_side, doc);
            delivered += usize::from(a_said);
            if cut == Some(delivered) {
                break 'docs;
            }
            let b_said = deliver(b, &mut b_side, a, &mut a_side, doc);
            delivered += usize::from(b_said);
            if !a_said && !b_said {
                settled = true;
                break;
            }
        }
        assert!(settled, "sync of {doc} did not settle");
    }
    a_side.save(a).unwrap();
    b_side.save(b).unwrap();
    delivered
}

/// Sends one message for `doc` from one side to the other, if it has one.
fn deliver(
    from: &mut Store,
    from_side: &mut SyncPeer,
    to: &mut Store,
    to_side: &mut SyncPeer,
    doc: &DocId,
) -> bool {
    match from_side.generate(from, doc).unwrap() {
        Some(message) => {
            to_side.receive(to, doc, &message).unwrap();
            true
        }
        None => false,
    }
}

/// Syncs one document to completion.
pub fn sync_doc(a: &mut Store, b: &mut Store, doc: &DocId) -> usize {
    sync_docs(a, b, std::slice::from_ref(doc), None)
}

/// A second replica that starts with copies of `docs` from `source`.
pub fn replica_of(source: &mut Store, path: &Path, seed: u64, docs: &[DocId]) -> Tablet {
    let mut replica = store_at(path, seed);
    for doc in docs {
        sync_doc(source, &mut replica, doc);
    }
    replica
}
