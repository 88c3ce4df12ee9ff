//! Convergence as a property: three tablets make random offline edits to one customer and one
//! store's inventory, sync in random pairs with sessions cut short (dropped connections) and
//! restarts, and after a final full exchange all replicas are equal with every note, sale and
//! view accounted for exactly once. Seeded: set `PROPTEST_RNG_SEED` to replay a failure.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod common;

use aisle_core::DocId;
use aisle_core::model::{AssociateId, ProductSku, StoreId, VariantSku};
use aisle_relay::domain::RelayDocs;
use aisle_relay::domain::demo::{DemoConfig, DemoData};
use aisle_tablet::Tablet;
use aisle_tablet::checkout::SaleRequest;
use common::{NOW, store_at};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const REPLICAS: usize = 3;

#[derive(Clone, Debug)]
enum Op {
    Note(usize),
    View(usize, usize),
    AddLine(usize, usize),
    RemoveLine(usize, usize),
    Sell(usize, usize, bool),
    /// Sync one replica with another; the session is cut after this many messages, if set.
    Sync(usize, usize, Option<usize>),
    Restart(usize),
}

fn op() -> impl Strategy<Value = Op> {
    let r = 0..REPLICAS;
    prop_oneof![
        3 => r.clone().prop_map(Op::Note),
        3 => (r.clone(), 0..4usize).prop_map(|(r, p)| Op::View(r, p)),
        2 => (r.clone(), 0..6usize).prop_map(|(r, v)| Op::AddLine(r, v)),
        1 => (r.clone(), 0..8usize).prop_map(|(r, n)| Op::RemoveLine(r, n)),
        2 => (r.clone(), 0..6usize, any::<bool>()).prop_map(|(r, v, c)| Op::Sell(r, v, c)),
        3 => (r.clone(), r.clone(), proptest::option::of(0..4usize))
            .prop_map(|(a, b, cut)| Op::Sync(a, b, cut)),
        1 => r.prop_map(Op::Restart),
    ]
}

struct World {
    dir: tempfile::TempDir,
    stores: Vec<Option<Tablet>>,
    paths: Vec<PathBuf>,
    customer: aisle_core::model::CustomerId,
    store_id: StoreId,
    products: Vec<ProductSku>,
    variants: Vec<VariantSku>,
    initial_stock: BTreeMap<VariantSku, i64>,
    cart: String,
    restarts: u64,
}

fn associate() -> AssociateId {
    AssociateId::parse("prop.tester").unwrap()
}

fn two_mut<T>(v: &mut [T], i: usize, j: usize) -> (&mut T, &mut T) {
    assert_ne!(i, j);
    if i < j {
        let (l, r) = v.split_at_mut(j);
        (&mut l[i], &mut r[0])
    } else {
        let (l, r) = v.split_at_mut(i);
        (&mut r[0], &mut l[j])
    }
}

impl World {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data = DemoData::generate(DemoConfig::new(1, NOW));
        // A small catalog keeps each case fast: a few products, one store.
        let products: Vec<_> = data.products.iter().step_by(97).take(4).cloned().collect();
        let store_id = data.stores[0].id.clone();
        let paths: Vec<PathBuf> = (0..REPLICAS)
            .map(|i| dir.path().join(format!("r{i}.sqlite3")))
            .collect();
        let mut first = store_at(&paths[0], 100);
        RelayDocs::new(&mut *first)
            .import_catalog(products.clone(), data.stores.clone())
            .unwrap();
        let variants: Vec<VariantSku> = products
            .iter()
            .flat_map(|p| p.variants.iter().take(2).map(|v| v.sku.clone()))
            .take(6)
            .collect();
        let initial_stock: BTreeMap<VariantSku, i64> = variants
            .iter()
            .enumerate()
            .map(|(i, v)| (v.clone(), (i % 3) as i64))
            .collect();
        RelayDocs::new(&mut *first)
            .import_inventory(
                &store_id,
                initial_stock
                    .iter()
                    .map(|(v, n)| (v.to_string(), *n))
                    .collect(),
            )
            .unwrap();
        let mut record = data.customer(0);
        record
            .views
            .retain(|v| products.iter().any(|p| p.sku == v.product));
        record.online_cart = None;
        record.wishlist.clear();
        record.purchases.clear();
        let customer = first.import_customers([record], |_| {}).unwrap().remove(0);
        let (cart, _) = first
            .add_cart_line(&customer, None, &store_id, &variants[0], 1)
            .unwrap();
        let mut stores = vec![Some(first)];
        for (i, path) in paths.iter().enumerate().skip(1) {
            stores.push(Some(store_at(path, 100 + i as u64)));
        }
        let mut world = World {
            dir,
            stores,
            paths,
            customer,
            store_id,
            products: products.iter().map(|p| p.sku.clone()).collect(),
            variants,
            initial_stock,
            cart,
            restarts: 0,
        };
        for i in 1..REPLICAS {
            world.sync(0, i, None);
        }
        world
    }

    fn docs(&self) -> Vec<DocId> {
        vec![
            DocId::Catalog,
            DocId::Inventory(self.store_id.clone()),
            DocId::Customer(self.customer.clone()),
        ]
    }

    fn store(&mut self, i: usize) -> &mut Tablet {
        self.stores[i].as_mut().unwrap()
    }

    fn sync(&mut self, a: usize, b: usize, cut: Option<usize>) {
        if a == b {
            return;
        }
        let docs = self.docs();
        let (sa, sb) = two_mut(&mut self.stores, a, b);
        common::sync_docs(sa.as_mut().unwrap(), sb.as_mut().unwrap(), &docs, cut);
    }

    fn restart(&mut self, i: usize) {
        self.stores[i] = None;
        // A new seed per restart: a restarted tablet must not mint the ids it minted before.
        self.restarts += 1;
        self.stores[i] = Some(store_at(&self.paths[i], 1_000 + self.restarts));
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

#[derive(Default)]
struct Expected {
    notes: BTreeSet<String>,
    views: BTreeMap<ProductSku, i64>,
    lines_added: BTreeSet<String>,
    lines_removed: BTreeSet<String>,
    sales: BTreeSet<String>,
    sold: BTreeMap<VariantSku, i64>,
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut w = World::new();
    let mut expected = Expected::default();
    let customer = w.customer.clone();
    let start = w.store(0).customer(&customer).unwrap();
    for view in &start.views {
        expected.views.insert(view.product.clone(), view.count);
    }
    let cart = w.cart.clone();
    let here = w.store_id.clone();
    for op in ops {
        match op {
            Op::Note(r) => {
                let id = w
                    .store(r)
                    .add_note(&customer, &format!("note by {r}"), &associate(), None)
                    .unwrap();
                expected.notes.insert(id);
            }
            Op::View(r, p) => {
                let product = w.products[p % w.products.len()].clone();
                w.store(r).record_view(&customer, &product, None).unwrap();
                *expected.views.entry(product).or_default() += 1;
            }
            Op::AddLine(r, v) => {
                let variant = w.variants[v % w.variants.len()].clone();
                let (_, line) = w
                    .store(r)
                    .add_cart_line(&customer, Some(&cart), &here, &variant, 1)
                    .unwrap();
                expected.lines_added.insert(line);
            }
            Op::RemoveLine(r, n) => {
                let profile = w.store(r).customer(&customer).unwrap();
                let lines = &profile
                    .carts
                    .iter()
                    .find(|c| c.id == cart)
                    .unwrap()
                    .item
                    .lines;
                if let Some(line) = lines.keys().nth(n % lines.len().max(1)).cloned() {
                    w.store(r)
                        .remove_cart_line(&customer, &cart, &line)
                        .unwrap();
                    expected.lines_removed.insert(line);
                }
            }
            Op::Sell(r, v, with_customer) => {
                let variant = w.variants[v % w.variants.len()].clone();
                let receipt = w
                    .store(r)
                    .sell(&SaleRequest {
                        store: here.clone(),
                        lines: vec![(variant.clone(), 1)],
                        customer: with_customer.then(|| customer.clone()),
                        associate: associate(),
                        holds: vec![],
                        cart: None,
                    })
                    .unwrap();
                if with_customer {
                    expected.sales.insert(receipt.sale_id);
                }
                *expected.sold.entry(variant).or_default() += 1;
            }
            Op::Sync(a, b, cut) => w.sync(a, b, cut),
            Op::Restart(r) => w.restart(r),
        }
    }
    // Reconnect everyone: two full rounds reach every replica.
    for _ in 0..2 {
        for a in 0..REPLICAS {
            for b in 0..REPLICAS {
                if a < b {
                    w.sync(a, b, None);
                }
            }
        }
    }

    let profiles: Vec<_> = (0..REPLICAS)
        .map(|i| w.store(i).customer(&customer).unwrap())
        .collect();
    for p in &profiles[1..] {
        prop_assert_eq!(p, &profiles[0]);
    }
    let profile = &profiles[0];
    let notes: Vec<&String> = profile.notes.iter().map(|n| &n.id).collect();
    for note in &expected.notes {
        prop_assert_eq!(
            notes.iter().filter(|n| **n == note).count(),
            1,
            "note {} once",
            note
        );
    }
    for (product, count) in &expected.views {
        let seen = profile
            .views
            .iter()
            .find(|v| &v.product == product)
            .map_or(0, |v| v.count);
        prop_assert_eq!(seen, *count, "views of {}", product);
    }
    let lines = &profile
        .carts
        .iter()
        .find(|c| c.id == cart)
        .unwrap()
        .item
        .lines;
    for line in &expected.lines_added {
        prop_assert_eq!(
            lines.contains_key(line),
            !expected.lines_removed.contains(line),
            "line {}",
            line
        );
    }
    for sale in &expected.sales {
        prop_assert_eq!(
            profile.purchases.iter().filter(|p| &p.id == sale).count(),
            1
        );
    }
    prop_assert_eq!(
        profile.purchases.len(),
        expected.sales.len(),
        "no purchase duplicated or invented"
    );
    for i in 0..REPLICAS {
        for (variant, initial) in w.initial_stock.clone() {
            let sold = expected.sold.get(&variant).copied().unwrap_or(0);
            let on_hand = w.store(i).on_hand(&here, &variant).unwrap();
            prop_assert_eq!(
                on_hand,
                initial - sold,
                "stock of {} on replica {}",
                variant,
                i
            );
            let conflict = w
                .store(i)
                .conflicts()
                .unwrap()
                .iter()
                .any(|c| c.variant == variant);
            prop_assert_eq!(
                conflict,
                initial - sold < 0,
                "oversell conflict for {}",
                variant
            );
        }
        prop_assert_eq!(
            w.store(i).check_projections().unwrap(),
            Vec::<String>::new()
        );
    }
    let _ = w.path();
    Ok(())
}

fn config() -> Config {
    let seed = std::env::var("PROPTEST_RNG_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0xA15E_2026);
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(24);
    Config {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        ..Config::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn replicas_converge_with_nothing_lost(ops in proptest::collection::vec(op(), 1..60)) {
        run(ops)?;
    }
}
