//! Helpers shared by the core's scenario tests.
#![allow(dead_code)]

use aisle_core::replicate::Unchecked;
use aisle_core::{Clock, DocId, IdGen, Store, StoreOptions};
use aisle_relay::domain::RelayDocs;
use aisle_relay::domain::demo::{DemoConfig, DemoData};
use aisle_tablet::Tablet;
use std::path::Path;

pub const NOW: i64 = 1_780_000_000_000;

/// A tablet's store with a manual clock and seeded ids. (The relay's operations on a store:
/// [`relay_at`], or `RelayDocs::new(&mut *store).expect("a relay store")`.)
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
    .expect("a tablet store")
}

/// The relay's documents in a demo store: the same data, with the relay's operations.
pub fn demo_relay(path: &Path, seed: u64, customers: usize) -> (RelayDocs, DemoData) {
    let (store, data) = demo_store_serving_peers(path, seed, customers);
    (
        RelayDocs::new(store.into_store()).expect("a relay store"),
        data,
    )
}

/// A store holding the demo catalog, stock and `customers` customers.
pub fn demo_store(path: &Path, seed: u64, customers: usize) -> (Tablet, DemoData) {
    demo_store_with(store_at(path, seed), customers)
}

/// [`demo_store`] as the relay keeps it: every purchase line a row, for recommendations
/// (a device keeps only its recent in-store ones).
pub fn demo_store_serving_peers(path: &Path, seed: u64, customers: usize) -> (Tablet, DemoData) {
    let mut store = store_at(path, seed);
    store.serve_peers();
    demo_store_with(store, customers)
}

fn demo_store_with(mut store: Tablet, customers: usize) -> (Tablet, DemoData) {
    let data = DemoData::generate(DemoConfig::new(customers, NOW));
    data.import(&mut store, |_| {}).unwrap();
    (store, data)
}

/// Exchanges `docs` between two stores the way the relay protocol moves changes: each side
/// sends what the other lacks (`changes_since` the other's heads) and the other applies it
/// (`apply_changes`), both ways, until their heads agree. Returns the number of transfers.
pub fn sync_docs(a: &mut Store, b: &mut Store, docs: &[DocId]) -> usize {
    let mut transfers = 0;
    for doc in docs {
        for _ in 0..4 {
            transfers += usize::from(send(a, b, doc)) + usize::from(send(b, a, doc));
            if a.doc_heads(doc).unwrap() == b.doc_heads(doc).unwrap() {
                break;
            }
        }
        assert_eq!(
            sorted(a.doc_heads(doc).unwrap()),
            sorted(b.doc_heads(doc).unwrap()),
            "sync of {doc} did not settle"
        );
    }
    transfers
}

fn sorted(
    mut heads: Vec<aisle_core::automerge::ChangeHash>,
) -> Vec<aisle_core::automerge::ChangeHash> {
    heads.sort();
    heads
}

/// Sends `to` the changes of `doc` it lacks, if there are any.
fn send(from: &mut Store, to: &mut Store, doc: &DocId) -> bool {
    let have = if to.has_doc(doc).unwrap() {
        to.doc_heads(doc).unwrap()
    } else {
        Vec::new()
    };
    match from.changes_since(doc, &have).unwrap() {
        Some((_, changes)) if !changes.is_empty() => {
            to.apply_changes(vec![(doc.clone(), changes)], &Unchecked)
                .unwrap();
            true
        }
        _ => false,
    }
}

/// Syncs one document to completion.
pub fn sync_doc(a: &mut Store, b: &mut Store, doc: &DocId) -> usize {
    sync_docs(a, b, std::slice::from_ref(doc))
}

/// A second replica that starts with copies of `docs` from `source`.
pub fn replica_of(source: &mut Store, path: &Path, seed: u64, docs: &[DocId]) -> Tablet {
    let mut replica = store_at(path, seed);
    for doc in docs {
        sync_doc(source, &mut replica, doc);
    }
    replica
}

/// Marks `product` discontinued the way a retailer does: its rows again in a products import,
/// with `discontinued` set.
pub fn discontinue(store: &mut Tablet, product: &aisle_core::model::Product) {
    use aisle_core::api::{ImportFormat, ImportKind};
    use aisle_relay::domain::import::ImportFile;
    let mut rows = String::new();
    for v in &product.variants {
        let complements: Vec<String> = product.complements.iter().map(|c| c.to_string()).collect();
        rows.push_str(
            &serde_json::json!({
                "product_sku": product.sku, "name": product.name, "brand": product.brand,
                "category": product.category.as_key(), "style": product.style,
                "price": format!("{}.{:02}", product.price_cents / 100, product.price_cents % 100),
                "image_url": product.image, "discontinued": "yes",
                "complements": complements.join(";"),
                "variant_sku": v.sku, "size": v.size, "colour": v.colour, "ean": v.ean,
            })
            .to_string(),
        );
        rows.push('\n');
    }
    let summary = RelayDocs::new(&mut **store)
        .expect("a relay store")
        .import(&ImportFile {
            kind: ImportKind::Products,
            format: ImportFormat::Jsonl,
            rename: Default::default(),
            text: rows,
        })
        .unwrap();
    assert_eq!(summary.updated, 1, "{summary:?}");
}
