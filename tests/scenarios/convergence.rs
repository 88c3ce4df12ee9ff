//! Convergence as a property, through the path that ships: three tablet stores, each with a real
//! `SyncClient`, sync with an in-process relay while a seeded random plan makes edits (notes,
//! views, cart lines added and removed, sales of the last unit with and without a customer,
//! holds placed and released), takes tablets offline (shut down or dropped), restarts them from
//! their database files, and stops and restarts the relay on its data directory. Then everyone
//! comes back online, and within a bounded time every client must report nothing pending and
//! every document must have the same heads on every tablet and on the relay, with every edit
//! accounted for exactly once and the projections matching the documents.
//!
//! The relay's demo data and the tablets' enrolment and first full sync are done once; every
//! case starts from a copy of those databases. Plans come from proptest strategies, one fixed
//! seed per case. A failure prints its case seed: replay that case alone with
//! `AISLE_CONVERGENCE_SEED=<seed>`; run more cases with `AISLE_CONVERGENCE_CASES=<n>`. (Timing
//! between the tablets and the relay is real, so a replay runs the same plan, not the same
//! interleaving.)

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

use aisle_core::api::{CodeRequest, CodeResponse};
use aisle_core::automerge::ChangeHash;
use aisle_core::model::Connection;
use aisle_core::model::{AssociateId, CustomerId, ProductSku, Role, StoreId, VariantSku, scope};
use aisle_core::{DocId, Store};
use aisle_relay::config::Transport;
use aisle_relay::domain::RelayDocs;
use aisle_relay::{Config, Relay};
use aisle_tablet::checkout::{HoldRequest, SaleRequest};
use aisle_tablet::relay_client::enrol;
use aisle_tablet::relay_tls::RelayAddress;
use aisle_tablet::sync_client::{RELAY_PEER, SyncClient, SyncConfig};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{RngAlgorithm, TestRng, TestRunner};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

const TABLETS: usize = 3;
const STORE: &str = "LDN-CG";
const DEMO_CUSTOMERS: usize = 12;
const BASE_SEED: u64 = 0xA15E_2026;
const CASES: u64 = 8;
/// How long everyone may take to agree once all are online.
const SETTLE: Duration = Duration::from_secs(60);
const KINDS: [&str; 5] = [
    "catalog",
    "inventory",
    "customer",
    "recommendations",
    "loyalty",
];

#[derive(Clone, Debug)]
enum Op {
    /// Tablet, customer.
    Note(usize, usize),
    /// Tablet, customer, product.
    View(usize, usize, usize),
    /// Tablet, variant: a line added to the shared cart.
    AddLine(usize, usize),
    /// Tablet, which of the lines it sees.
    RemoveLine(usize, usize),
    /// Tablet, variant, buyer (a till sale when none).
    Sell(usize, usize, Option<usize>),
    /// Tablet, variant, customer; skipped when the tablet sees nothing available.
    Hold(usize, usize, usize),
    /// Tablet, which of the active holds it sees.
    Release(usize, usize),
    /// Takes the tablet off the network (shut down gracefully, or dropped), or back on.
    Offline(usize, bool),
    /// Closes the tablet's client and store and reopens both from its file (stays offline if
    /// it was); gracefully or not.
    Restart(usize, bool),
    /// Stops the relay, or starts it again on the same address and data directory.
    Relay,
    /// Lets sync run for this many milliseconds.
    Pause(u64),
}

fn op() -> impl Strategy<Value = Op> {
    let t = 0..TABLETS;
    prop_oneof![
        3 => (t.clone(), 0..3usize).prop_map(|(t, c)| Op::Note(t, c)),
        3 => (t.clone(), 0..3usize, 0..4usize).prop_map(|(t, c, p)| Op::View(t, c, p)),
        2 => (t.clone(), 0..4usize).prop_map(|(t, v)| Op::AddLine(t, v)),
        1 => (t.clone(), 0..8usize).prop_map(|(t, n)| Op::RemoveLine(t, n)),
        3 => (t.clone(), 0..4usize, proptest::option::of(0..3usize))
            .prop_map(|(t, v, c)| Op::Sell(t, v, c)),
        2 => (t.clone(), 0..4usize, 0..3usize).prop_map(|(t, v, c)| Op::Hold(t, v, c)),
        1 => (t.clone(), 0..8usize).prop_map(|(t, n)| Op::Release(t, n)),
        2 => (t.clone(), any::<bool>()).prop_map(|(t, g)| Op::Offline(t, g)),
        1 => (t.clone(), any::<bool>()).prop_map(|(t, g)| Op::Restart(t, g)),
        1 => Just(Op::Relay),
        2 => (0..150u64).prop_map(Op::Pause),
    ]
}

/// The plan of one case: the same seed always gives the same plan.
fn plan(seed: u64) -> Vec<Op> {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &bytes);
    let mut runner = TestRunner::new_with_rng(proptest::test_runner::Config::default(), rng);
    proptest::collection::vec(op(), 1..40)
        .new_tree(&mut runner)
        .unwrap()
        .current()
}

fn associate() -> AssociateId {
    AssociateId::parse("prop.tester").unwrap()
}

struct Tablet {
    path: PathBuf,
    sync: SyncConfig,
    store: Arc<Mutex<aisle_tablet::Tablet>>,
    client: Option<SyncClient>,
}

impl Tablet {
    fn lock(&self) -> MutexGuard<'_, aisle_tablet::Tablet> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs a local write, then tells the client, as the app's commands do.
    fn write<T>(&self, f: impl FnOnce(&mut aisle_tablet::Tablet) -> T) -> T {
        let mut store = self.lock();
        let out = f(&mut store);
        if let Some(client) = &self.client {
            client.local_change(&store);
        }
        out
    }

    fn go_online(&mut self) {
        if self.client.is_none() {
            self.client = Some(SyncClient::start(self.store.clone(), self.sync.clone()));
        }
    }

    async fn go_offline(&mut self, graceful: bool) {
        if let Some(client) = self.client.take() {
            if graceful {
                client.shutdown().await;
            } else {
                drop(client);
            }
        }
    }
}

struct World {
    dir: tempfile::TempDir,
    config: Config,
    relay: Option<Relay>,
    /// The relay's database, opened beside it to read what it holds.
    relay_view: RelayDocs,
    tablets: Vec<Tablet>,
    here: StoreId,
    customers: Vec<CustomerId>,
    products: Vec<ProductSku>,
    variants: Vec<VariantSku>,
    /// The customer and cart every tablet edits.
    cart: Option<(CustomerId, String)>,
}

#[derive(Default)]
struct Expected {
    notes: BTreeSet<(CustomerId, String)>,
    views: BTreeMap<(CustomerId, ProductSku), i64>,
    lines_added: BTreeSet<String>,
    lines_removed: BTreeSet<String>,
    sales: BTreeSet<String>,
    purchases: BTreeMap<CustomerId, BTreeSet<String>>,
    sold: BTreeMap<VariantSku, i64>,
    initial_stock: BTreeMap<VariantSku, i64>,
    holds: BTreeSet<String>,
    released: BTreeSet<String>,
}

async fn start_relay(config: &Config) -> Relay {
    // A restart binds the port the tablets know; give the old socket a moment if it lingers.
    let mut last = None;
    for _ in 0..50 {
        match Relay::start(config.clone()).await {
            Ok(relay) => return relay,
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the relay did not start again: {last:?}");
}

/// A relay with the demo retailer and three enrolled tablets that have synced once, all
/// stopped: built once and copied for every case, because seeding and the first full sync are
/// most of a case's time.
struct Template {
    dir: tempfile::TempDir,
    tokens: Vec<String>,
}

impl Template {
    async fn build() -> Self {
        let mut world = World::open(tempfile::tempdir().unwrap(), None).await;
        world.settle("the first sync").await;
        let tokens = world.tablets.iter().map(|t| t.sync.token.clone()).collect();
        let dir = world.shut_down().await;
        Self { dir, tokens }
    }

    fn copy(&self) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        aisle_tests::copy_dir(self.dir.path(), dir.path()).unwrap();
        dir
    }
}

impl World {
    /// Starts the relay on `dir/relay` and a client for each tablet `dir/tablet<i>.sqlite3`,
    /// enrolling the tablets first unless their tokens are given.
    async fn open(dir: tempfile::TempDir, tokens: Option<&[String]>) -> Self {
        let mut config = Config {
            demo: true,
            demo_customers: DEMO_CUSTOMERS,
            transport: Transport::SelfSigned,
            database: aisle_tests::test_database(&dir.path().join("relay")).unwrap(),
            ..Config::local(dir.path().join("relay"))
        };
        let relay = start_relay(&config).await;
        // Restarts come back where the tablets look for it.
        config.listen = relay.addr();
        let relay_view = RelayDocs::open(aisle_tests::relay_documents(&config.data_dir)).unwrap();
        let address = RelayAddress::pinned(relay.url(), relay.trust());
        let http = address.http(Duration::from_secs(30)).unwrap();
        let mut tablets = Vec::new();
        for i in 0..TABLETS {
            let path = dir.path().join(format!("tablet{i}.sqlite3"));
            let store = aisle_tablet::Tablet::open(&path).unwrap();
            let token = match tokens {
                Some(tokens) => tokens[i].clone(),
                None => {
                    let code: CodeResponse = http
                        .post(format!("{}/v1/admin/codes", relay.url()))
                        .bearer_auth(relay.admin_token())
                        .json(&CodeRequest {
                            store: STORE.into(),
                            role: Role::Associate,
                            name: format!("tablet {i}"),
                        })
                        .send()
                        .await
                        .unwrap()
                        .error_for_status()
                        .unwrap()
                        .json()
                        .await
                        .unwrap();
                    enrol(&address, &code.code, store.actor())
                        .await
                        .unwrap()
                        .token
                }
            };
            let mut sync = SyncConfig::new(address.clone(), token);
            // Quick reconnects after the relay comes back keep a case short.
            sync.max_backoff_ms = 1_000;
            let mut tablet = Tablet {
                path,
                sync,
                store: Arc::new(Mutex::new(store)),
                client: None,
            };
            tablet.go_online();
            tablets.push(tablet);
        }
        World {
            dir,
            config,
            relay: Some(relay),
            relay_view,
            tablets,
            here: StoreId::parse(STORE).unwrap(),
            customers: Vec::new(),
            products: Vec::new(),
            variants: Vec::new(),
            cart: None,
        }
    }

    /// A case's world: a copy of the template, back online, with the edited customers,
    /// products and variants chosen and a shared cart every tablet edits.
    async fn new(template: &Template) -> Self {
        let mut world = World::open(template.copy(), Some(template.tokens.as_slice())).await;
        world.settle("reconnecting").await;
        let here = world.here.clone();

        // What to edit, chosen from what the tablets received (sorted, so a seed picks the same).
        let (customers, products, variants) = {
            let store = world.tablets[0].lock();
            let customers: Vec<CustomerId> = store
                .doc_ids("customer")
                .unwrap()
                .into_iter()
                .filter_map(|d| match d {
                    DocId::Customer(c) => Some(c),
                    _ => None,
                })
                .take(3)
                .collect();
            let catalog = store.catalog_variants().unwrap();
            let products: Vec<ProductSku> = catalog
                .values()
                .collect::<BTreeSet<_>>()
                .into_iter()
                .step_by(37)
                .take(4)
                .cloned()
                .collect();
            // Variants with one or two units: sales of the last unit, and oversells.
            let variants: Vec<VariantSku> = catalog
                .keys()
                .filter_map(|v| VariantSku::parse(v.clone()).ok())
                .filter(|v| matches!(store.on_hand(&here, v), Ok(1..=2)))
                .step_by(5)
                .take(4)
                .collect();
            (customers, products, variants)
        };
        assert!(!customers.is_empty(), "the demo has customers of {STORE}");
        assert_eq!(products.len(), 4, "products to view");
        assert_eq!(variants.len(), 4, "variants with one or two units");
        world.customers = customers;
        world.products = products;
        world.variants = variants;
        let buyer = world.customers[0].clone();
        let (cart, _) = world.tablets[0].write(|s| {
            s.add_cart_line(&buyer, None, &here, &world.variants[0], 1)
                .unwrap()
        });
        world.cart = Some((buyer, cart));
        world.settle("the shared cart").await;
        world
    }

    fn customer(&self, n: usize) -> CustomerId {
        self.customers[n % self.customers.len()].clone()
    }

    fn variant(&self, n: usize) -> VariantSku {
        self.variants[n % self.variants.len()].clone()
    }

    async fn apply(&mut self, op: Op, expected: &mut Expected) {
        let here = self.here.clone();
        match op {
            Op::Note(t, c) => {
                let customer = self.customer(c);
                let text = format!("note from tablet {t}");
                let id = self.tablets[t].write(|s| {
                    s.add_note(&customer, &text, &associate(), Some(&here))
                        .unwrap()
                });
                expected.notes.insert((customer, id));
            }
            Op::View(t, c, p) => {
                let customer = self.customer(c);
                let product = self.products[p % self.products.len()].clone();
                self.tablets[t].write(|s| s.record_view(&customer, &product, None).unwrap());
                *expected.views.entry((customer, product)).or_default() += 1;
            }
            Op::AddLine(t, v) => {
                let (customer, cart) = self.cart.clone().unwrap();
                let variant = self.variant(v);
                let (_, line) = self.tablets[t].write(|s| {
                    s.add_cart_line(&customer, Some(&cart), &here, &variant, 1)
                        .unwrap()
                });
                expected.lines_added.insert(line);
            }
            Op::RemoveLine(t, n) => {
                let (customer, cart) = self.cart.clone().unwrap();
                let removed = self.tablets[t].write(|s| {
                    let profile = s.customer(&customer).unwrap();
                    let lines = &profile.carts.iter().find(|c| c.id == cart)?.item.lines;
                    let line = lines.keys().nth(n % lines.len().max(1))?.clone();
                    s.remove_cart_line(&customer, &cart, &line).unwrap();
                    Some(line)
                });
                expected.lines_removed.extend(removed);
            }
            Op::Sell(t, v, buyer) => {
                let variant = self.variant(v);
                let customer = buyer.map(|c| self.customer(c));
                let receipt = self.tablets[t].write(|s| {
                    s.sell(&SaleRequest {
                        store: here.clone(),
                        lines: vec![(variant.clone(), 1)],
                        customer: customer.clone(),
                        associate: associate(),
                        holds: vec![],
                        cart: None,
                    })
                    .unwrap()
                });
                expected.sales.insert(receipt.sale_id.clone());
                if let Some(customer) = customer {
                    expected
                        .purchases
                        .entry(customer)
                        .or_default()
                        .insert(receipt.sale_id);
                }
                *expected.sold.entry(variant).or_default() += 1;
            }
            Op::Hold(t, v, c) => {
                let request = HoldRequest {
                    store: here.clone(),
                    variant: self.variant(v),
                    quantity: 1,
                    customer: self.customer(c),
                    associate: associate(),
                    hours: 4,
                };
                // Refused when this tablet sees nothing left to hold.
                if let Ok(hold) = self.tablets[t].write(|s| s.place_hold(&request)) {
                    expected.holds.insert(hold);
                }
            }
            Op::Release(t, n) => {
                let released = self.tablets[t].write(|s| {
                    let active: Vec<String> = s
                        .holds(&here, true)
                        .unwrap()
                        .into_iter()
                        .map(|h| h.id)
                        .filter(|h| expected.holds.contains(h))
                        .collect();
                    let hold = active.get(n % active.len().max(1))?.clone();
                    s.release_hold(&here, &hold, &associate()).unwrap();
                    Some(hold)
                });
                expected.released.extend(released);
            }
            Op::Offline(t, graceful) => {
                let tablet = &mut self.tablets[t];
                if tablet.client.is_some() {
                    tablet.go_offline(graceful).await;
                } else {
                    tablet.go_online();
                }
            }
            Op::Restart(t, graceful) => {
                let tablet = &mut self.tablets[t];
                let online = tablet.client.is_some();
                tablet.go_offline(graceful).await;
                // A relaunched app opens its file once the old process is gone: wait for a
                // dropped client's task to let go of the store. (Two stores writing one file
                // at once is not a tablet's life; SQLite can refuse one with `Busy`.)
                let started = Instant::now();
                while Arc::strong_count(&tablet.store) > 1 {
                    assert!(
                        started.elapsed() < SETTLE,
                        "tablet {t}'s old client never ended"
                    );
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                tablet.store = Arc::new(Mutex::new(
                    aisle_tablet::Tablet::open(&tablet.path).unwrap(),
                ));
                if online {
                    tablet.go_online();
                }
            }
            Op::Relay => match self.relay.take() {
                Some(relay) => relay.stop().await.unwrap(),
                None => self.relay = Some(start_relay(&self.config).await),
            },
            Op::Pause(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
        }
    }

    async fn all_online(&mut self) {
        if self.relay.is_none() {
            self.relay = Some(start_relay(&self.config).await);
        }
        for tablet in &mut self.tablets {
            tablet.go_online();
        }
    }

    /// Every document in the tablets' scopes on the relay, with its heads.
    fn relay_heads(&self) -> BTreeMap<DocId, Vec<ChangeHash>> {
        let scopes = [
            scope::CATALOG.to_string(),
            scope::inventory(&self.here),
            scope::customers(self.here.as_str()),
        ];
        let mut out = BTreeMap::new();
        // The scope as the relay's projection says, on either backend (a shared database's
        // working copy keeps no changefeed of its own).
        let tx = self.relay_view.conn().unchecked_transaction().unwrap();
        for kind in KINDS {
            for doc in self.relay_view.doc_ids(kind).unwrap() {
                let scope = aisle_core::store::projection::scope_of(&tx, &doc).unwrap();
                let in_scope = scopes.contains(&scope);
                if in_scope {
                    let heads = sorted(self.relay_view.doc_heads(&doc).unwrap());
                    out.insert(doc, heads);
                }
            }
        }
        out
    }

    /// What keeps the replicas from being equal; empty once they are.
    fn differences(&mut self) -> Vec<String> {
        let relay = self.relay_heads();
        let mut out = Vec::new();
        for (i, tablet) in self.tablets.iter().enumerate() {
            let mut store = tablet.lock();
            if let Some(client) = &tablet.client {
                let status = client.status().borrow().clone();
                if status.connection != Connection::Online
                    || status.pending != 0
                    || status.catch_up.is_some()
                {
                    out.push(format!(
                        "tablet {i}: {:?}, {} pending, catch-up {:?}",
                        status.connection, status.pending, status.catch_up
                    ));
                }
            }
            let ahead = store.count_docs_ahead_of(RELAY_PEER).unwrap();
            if ahead != 0 {
                out.push(format!("tablet {i}: {ahead} documents ahead of the relay"));
            }
            let mut held = BTreeSet::new();
            for kind in KINDS {
                for doc in store.doc_ids(kind).unwrap() {
                    let heads = sorted(store.doc_heads(&doc).unwrap());
                    if let Some(relay_heads) = relay.get(&doc)
                        && *relay_heads != heads
                    {
                        let relay_has_these = self.relay_view.has_heads(&doc, &heads).unwrap();
                        let has_relays = store.has_heads(&doc, relay_heads).unwrap();
                        let how = match (relay_has_these, has_relays) {
                            (true, false) => "behind",
                            (false, true) => "ahead of",
                            (false, false) => "diverged from",
                            (true, true) => "differs from",
                        };
                        let believed = sorted(store.peer_heads(RELAY_PEER, &doc).unwrap());
                        out.push(format!(
                            "tablet {i}: {doc} {how} the relay (it believes the relay has {})",
                            if believed == heads {
                                "its heads"
                            } else if believed == *relay_heads {
                                "the relay's heads"
                            } else {
                                "other heads"
                            }
                        ));
                    } else if !relay.contains_key(&doc) {
                        out.push(format!("tablet {i}: {doc} not on the relay"));
                    }
                    held.insert(doc);
                }
            }
            for doc in relay.keys().filter(|d| !held.contains(*d)) {
                out.push(format!("tablet {i}: {doc} missing"));
            }
        }
        out
    }

    /// Each tablet's changefeed cursor against the relay's latest sequence number, for a
    /// failure report.
    fn cursors(&self) -> String {
        let scopes = [
            scope::CATALOG.to_string(),
            scope::inventory(&self.here),
            scope::customers(self.here.as_str()),
        ];
        let latest = self
            .relay_view
            .feed_since(0, &scopes, None, 100_000)
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .max()
            .unwrap_or(0);
        let tablets: Vec<String> = self
            .tablets
            .iter()
            .map(|t| {
                let cursor = t.lock().meta("relay_cursor").unwrap();
                let cursor = cursor
                    .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
                    .map_or(0, i64::from_be_bytes);
                cursor.to_string()
            })
            .collect();
        format!("relay at {latest}, tablets' cursors {}", tablets.join(", "))
    }

    /// Waits until every client is online with nothing pending and every document is equal
    /// everywhere; fails with what still differs after [`SETTLE`].
    async fn settle(&mut self, what: &str) {
        let started = Instant::now();
        loop {
            let differences = self.differences();
            if differences.is_empty() {
                return;
            }
            assert!(
                started.elapsed() < SETTLE,
                "not converged {:?} after {what} ({}):\n  {}",
                SETTLE,
                self.cursors(),
                differences
                    .iter()
                    .take(20)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("\n  ")
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops every client and the relay; returns the directory holding their databases.
    async fn shut_down(mut self) -> tempfile::TempDir {
        for tablet in &mut self.tablets {
            tablet.go_offline(true).await;
        }
        if let Some(relay) = self.relay.take() {
            relay.stop().await.unwrap();
        }
        self.dir
    }
}

fn sorted(mut heads: Vec<ChangeHash>) -> Vec<ChangeHash> {
    heads.sort();
    heads
}

/// Every edit is on `store` exactly once, and its projections match its documents.
fn check_replica(world: &World, name: &str, store: &mut Store, expected: &Expected) {
    let here = &world.here;
    let (cart_owner, cart) = world.cart.as_ref().unwrap();
    for customer in &world.customers {
        let profile = store.customer(customer).unwrap();
        for (c, note) in expected.notes.iter().filter(|(c, _)| c == customer) {
            let count = profile.notes.iter().filter(|n| &n.id == note).count();
            assert_eq!(count, 1, "{name}: note {note} of {c} present once");
        }
        let purchases = expected.purchases.get(customer);
        for sale in purchases.into_iter().flatten() {
            let count = profile.purchases.iter().filter(|p| &p.id == sale).count();
            assert_eq!(
                count, 1,
                "{name}: purchase {sale} of {customer} present once"
            );
        }
        if customer == cart_owner {
            let lines = &profile
                .carts
                .iter()
                .find(|c| &c.id == cart)
                .unwrap()
                .item
                .lines;
            for line in &expected.lines_added {
                assert_eq!(
                    lines.contains_key(line),
                    !expected.lines_removed.contains(line),
                    "{name}: cart line {line}"
                );
            }
        }
    }
    let sales = store.sales(here).unwrap();
    for sale in &expected.sales {
        assert!(sales.contains_key(sale), "{name}: sale {sale}");
    }
    let conflicts = store.conflicts().unwrap();
    for (variant, initial) in &expected.initial_stock {
        let sold = expected.sold.get(variant).copied().unwrap_or(0);
        let on_hand = store.on_hand(here, variant).unwrap();
        assert_eq!(on_hand, initial - sold, "{name}: stock of {variant}");
        let conflict = conflicts
            .iter()
            .any(|c| &c.variant == variant && c.resolved_at.is_none());
        assert_eq!(
            conflict,
            initial - sold < 0,
            "{name}: oversell conflict for {variant}"
        );
    }
    let holds: BTreeMap<String, bool> = store
        .holds(here, false)
        .unwrap()
        .into_iter()
        .map(|h| (h.id, h.hold.ended.is_some()))
        .collect();
    for hold in &expected.holds {
        assert_eq!(
            holds.get(hold),
            Some(&expected.released.contains(hold)),
            "{name}: hold {hold} (present, ended if released)"
        );
    }
    assert_eq!(
        store.check_projections().unwrap(),
        Vec::<String>::new(),
        "{name}: projections"
    );
}

async fn run(template: &Template, ops: Vec<Op>) {
    let started = Instant::now();
    let mut world = World::new(template).await;
    let set_up = started.elapsed();
    let mut expected = Expected::default();
    {
        let store = world.tablets[0].lock();
        for customer in &world.customers {
            for view in store.customer(customer).unwrap().views {
                expected
                    .views
                    .insert((customer.clone(), view.product), view.count);
            }
        }
        for variant in &world.variants {
            let on_hand = store.on_hand(&world.here, variant).unwrap();
            expected.initial_stock.insert(variant.clone(), on_hand);
        }
    }
    for op in ops {
        world.apply(op, &mut expected).await;
    }
    world.all_online().await;
    world.settle("the plan").await;

    // Equal heads mean equal documents; the hydrated reads check every edit arrived once.
    let reference: Vec<_> = {
        let store = world.tablets[0].lock();
        world
            .customers
            .iter()
            .map(|c| store.customer(c).unwrap())
            .collect()
    };
    for ((customer, product), count) in &expected.views {
        let profile = reference.iter().find(|p| &p.id == customer).unwrap();
        let seen = profile
            .views
            .iter()
            .find(|v| &v.product == product)
            .map_or(0, |v| v.count);
        assert_eq!(seen, *count, "views of {product} by {customer}");
    }
    for i in 0..TABLETS {
        let store = world.tablets[i].store.clone();
        let mut store = store.lock().unwrap_or_else(|e| e.into_inner());
        for profile in &reference {
            assert_eq!(&store.customer(&profile.id).unwrap(), profile, "tablet {i}");
        }
        check_replica(&world, &format!("tablet {i}"), &mut store, &expected);
    }
    let mut relay = Store::open(aisle_tests::relay_documents(&world.config.data_dir)).unwrap();
    for profile in &reference {
        assert_eq!(&relay.customer(&profile.id).unwrap(), profile, "relay");
    }
    check_replica(&world, "relay", &mut relay, &expected);
    drop(relay);
    drop(world.shut_down().await);
    eprintln!(
        "  converged: {} notes, {} sales, {} holds; set-up {:.1?}, total {:.1?}",
        expected.notes.len(),
        expected.sales.len(),
        expected.holds.len(),
        set_up,
        started.elapsed()
    );
}

fn env_u64(name: &str) -> Option<u64> {
    let text = std::env::var(name).ok()?;
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

#[test]
fn tablets_and_relay_converge_with_nothing_lost() {
    let seeds: Vec<u64> = match env_u64("AISLE_CONVERGENCE_SEED") {
        Some(seed) => vec![seed],
        None => {
            let cases = env_u64("AISLE_CONVERGENCE_CASES").unwrap_or(CASES);
            (0..cases).map(|k| BASE_SEED + k).collect()
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    let template = runtime.block_on(Template::build());
    eprintln!(
        "template: relay seeded, {TABLETS} tablets enrolled and synced in {:.1?}",
        started.elapsed()
    );
    for (k, seed) in seeds.iter().enumerate() {
        let ops = plan(*seed);
        // Shown with the failure (the harness prints a failing test's output).
        eprintln!(
            "case {k}: replay with AISLE_CONVERGENCE_SEED={seed} ({} ops)\n  plan: {ops:?}",
            ops.len()
        );
        runtime.block_on(run(&template, ops));
    }
}
