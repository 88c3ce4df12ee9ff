//! Tablets and relay under a seeded random schedule of edits, disconnects, tablet kill -9 and
//! restarts, and relay kill -9 and restarts. At the end every replica equals the relay, and
//! every acknowledged note, sale, hold and view is there exactly once.
//!
//! Replay a failure with `AISLE_CHAOS_SEED=<seed printed on failure>`.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

use aisle_core::model::{Connection, CustomerId, ProductSku, StoreId, SyncStatus, VariantSku};
use aisle_core::{DocId, Store};
use aisle_relay::domain::demo::{DemoConfig, DemoData};
use aisle_tests::{Lines, Relay, RelayAddress, Signal, enrolment_code, signal};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

const TABLETS: usize = 3;
const STEPS: usize = 140;
const STORE: &str = "LDN-CG";

struct Sim {
    child: Child,
    stdin: ChildStdin,
    lines: Lines,
    db: PathBuf,
    token: String,
    online: bool,
}

impl Sim {
    fn start(db: &Path, relay: &RelayAddress, token: &str) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tablet_sim"));
        if let Some(ca) = relay.ca {
            command.env("AISLE_RELAY_CA", ca.to_hex());
        }
        let mut child = command
            .arg(db)
            .arg(&relay.url)
            .arg(token)
            .arg(STORE)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let lines = Lines::new(child.stdout.take().unwrap());
        assert_eq!(
            lines.next(Duration::from_secs(30)).as_deref(),
            Some("ready")
        );
        Self {
            child,
            stdin,
            lines,
            db: db.to_path_buf(),
            token: token.to_string(),
            online: true,
        }
    }

    fn send(&mut self, command: &str) {
        writeln!(self.stdin, "{command}").unwrap();
        self.stdin.flush().unwrap();
    }

    fn cmd(&mut self, command: &str) -> String {
        self.send(command);
        self.lines
            .next(Duration::from_secs(30))
            .unwrap_or_else(|| panic!("no reply to {command}"))
    }

    /// The tablet's sync status (`None` while it is offline, its client stopped).
    fn status(&mut self) -> Option<SyncStatus> {
        let reply = self.cmd("status");
        let json = reply
            .strip_prefix("status ")
            .unwrap_or_else(|| panic!("not a status: {reply}"));
        serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {reply}"))
    }

    /// SIGKILL, possibly while a command runs; returns what it printed before dying.
    fn kill9(mut self) -> Vec<String> {
        signal(&self.child, Signal::SIGKILL).unwrap();
        self.child.wait().unwrap();
        self.lines.drain()
    }
}

/// What the schedule did and what the tablets acknowledged.
#[derive(Default)]
struct Ledger {
    notes_acked: BTreeMap<String, String>,
    notes_issued: BTreeSet<String>,
    views_acked: BTreeMap<(String, String), i64>,
    views_issued: BTreeMap<(String, String), i64>,
    sales_acked: BTreeSet<String>,
    holds_acked: BTreeSet<String>,
}

impl Ledger {
    fn record(&mut self, line: &str) {
        let words: Vec<&str> = line.splitn(4, ' ').collect();
        match words.as_slice() {
            ["ack", "note", id, text] => {
                self.notes_acked.insert(id.to_string(), text.to_string());
            }
            ["ack", "view", customer, product] => {
                *self
                    .views_acked
                    .entry((customer.to_string(), product.to_string()))
                    .or_default() += 1;
            }
            ["ack", "sale", id, _] => {
                self.sales_acked.insert(id.to_string());
            }
            ["ack", "hold", id] => {
                self.holds_acked.insert(id.to_string());
            }
            _ => {}
        }
    }
}

struct World {
    dir: tempfile::TempDir,
    relay: Option<Relay>,
    addr: SocketAddr,
    trust: Option<aisle_core::enrolment::CertFingerprint>,
    sims: Vec<Option<Sim>>,
    customers: Vec<CustomerId>,
    products: Vec<ProductSku>,
    variants: Vec<VariantSku>,
    ledger: Ledger,
}

impl World {
    fn relay_dir(&self) -> PathBuf {
        self.dir.path().join("relay")
    }

    /// Restarts keep the address and the data directory, so the certificate too.
    fn relay_address(&self) -> RelayAddress {
        RelayAddress::pinned(format!("https://{}", self.addr), self.trust)
    }

    fn sim(&mut self, i: usize) -> &mut Sim {
        self.sims[i].as_mut().unwrap()
    }

    fn command(&mut self, rng: &mut ChaCha8Rng, step: usize) -> String {
        let customer = self.customers[rng.random_range(0..self.customers.len())].to_string();
        match rng.random_range(0..4) {
            0 => {
                let text = format!("note-{step}");
                self.ledger.notes_issued.insert(text.clone());
                format!("note {customer} {text}")
            }
            1 => {
                let product = self.products[rng.random_range(0..self.products.len())].to_string();
                *self
                    .ledger
                    .views_issued
                    .entry((customer.clone(), product.clone()))
                    .or_default() += 1;
                format!("view {customer} {product}")
            }
            2 => {
                let variant = &self.variants[rng.random_range(0..self.variants.len())];
                let buyer = if rng.random_bool(0.5) {
                    customer
                } else {
                    "-".into()
                };
                format!("sell {variant} {buyer}")
            }
            _ => {
                let variant = &self.variants[rng.random_range(0..self.variants.len())];
                format!("hold {variant} {customer}")
            }
        }
    }

    fn restart_sim(&mut self, i: usize, killed: Sim) {
        let (db, token) = (killed.db.clone(), killed.token.clone());
        for line in killed.kill9() {
            self.ledger.record(&line);
        }
        self.sims[i] = Some(Sim::start(&db, &self.relay_address(), &token));
    }
}

fn run(seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (dir, relay_dir, relay) = aisle_tests::demo_relay(60);
    let addr = relay.addr;
    let data = DemoData::generate(DemoConfig::new(60, 0));
    let here = StoreId::parse(STORE).unwrap();
    let customers: Vec<CustomerId> = data
        .customers()
        .filter(|c| c.customer.home_store == here)
        .filter_map(|c| c.id)
        .take(4)
        .collect();
    let variants: Vec<VariantSku> = data.stock[&here]
        .iter()
        .filter(|(_, n)| **n >= 1)
        .take(4)
        .map(|(v, _)| VariantSku::parse(v.clone()).unwrap())
        .collect();
    let products: Vec<ProductSku> = data
        .products
        .iter()
        .step_by(150)
        .map(|p| p.sku.clone())
        .collect();
    let mut world = World {
        trust: relay.trust,
        relay: Some(relay),
        addr,
        sims: Vec::new(),
        customers,
        products,
        variants,
        ledger: Ledger::default(),
        dir,
    };
    for i in 0..TABLETS {
        let code = enrolment_code(&relay_dir, STORE, "associate", &format!("t{i}")).unwrap();
        let db = world.dir.path().join(format!("t{i}.sqlite3"));
        let store = Store::open(&db).unwrap();
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let token = runtime
            .block_on(aisle_tablet::relay_client::enrol(
                &world.relay_address(),
                &code,
                store.actor(),
            ))
            .unwrap()
            .token;
        drop(store);
        world
            .sims
            .push(Some(Sim::start(&db, &world.relay_address(), &token)));
    }
    let baseline_views = views_on(&relay_db(&world.relay_dir()), &world.customers);
    let initial_stock: BTreeMap<VariantSku, i64> = world
        .variants
        .iter()
        .map(|v| (v.clone(), data.stock[&here][v.as_str()]))
        .collect();

    for step in 0..STEPS {
        let i = rng.random_range(0..TABLETS);
        match rng.random_range(0..100) {
            0..55 => {
                let command = world.command(&mut rng, step);
                let reply = world.sim(i).cmd(&command);
                world.ledger.record(&reply);
            }
            55..65 => {
                let sim = world.sim(i);
                let going = if sim.online { "offline" } else { "online" };
                assert!(sim.cmd(going).starts_with("ok"));
                sim.online = !sim.online;
            }
            65..71 => {
                // Kill -9 right after sending a write, before its reply.
                let command = world.command(&mut rng, step);
                world.sim(i).send(&command);
                std::thread::sleep(Duration::from_millis(rng.random_range(0..20)));
                let sim = world.sims[i].take().unwrap();
                world.restart_sim(i, sim);
            }
            71..76 => {
                let relay = world.relay.take().unwrap();
                relay.kill9().unwrap();
                std::thread::sleep(Duration::from_millis(rng.random_range(0..500)));
                world.relay = Some(Relay::start_on(&world.relay_dir(), world.addr, &[]).unwrap());
            }
            _ => std::thread::sleep(Duration::from_millis(rng.random_range(5..80))),
        }
    }

    // Everyone back online; wait for every tablet to have nothing pending.
    for i in 0..TABLETS {
        let sim = world.sim(i);
        if !sim.online {
            assert!(sim.cmd("online").starts_with("ok"));
            sim.online = true;
        }
    }
    let started = Instant::now();
    loop {
        let settled = (0..TABLETS).all(|i| {
            world.sim(i).status().is_some_and(|s| {
                s.connection == Connection::Online && s.pending == 0 && s.catch_up.is_none()
            })
        });
        if settled && replicas_equal(&world) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "tablets did not converge"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    for i in 0..TABLETS {
        let sim = world.sims[i].take().unwrap();
        let mut sim = sim;
        assert_eq!(sim.cmd("quit"), "bye");
        sim.child.wait().unwrap();
    }
    let relay = world.relay.take().unwrap();
    assert!(relay.terminate().unwrap().success());

    // Nothing acknowledged was lost, nothing was duplicated.
    let mut relay_store = relay_db(&world.relay_dir());
    let ledger = &world.ledger;
    let mut notes_by_text: BTreeMap<String, usize> = BTreeMap::new();
    let mut note_ids = BTreeSet::new();
    for customer in &world.customers {
        for note in relay_store.customer(customer).unwrap().notes {
            *notes_by_text.entry(note.item.text.clone()).or_default() += 1;
            note_ids.insert(note.id);
        }
    }
    for (id, text) in &ledger.notes_acked {
        assert!(note_ids.contains(id), "acknowledged note {id} lost");
        assert_eq!(
            notes_by_text.get(text),
            Some(&1),
            "note {text} present exactly once"
        );
    }
    for text in &ledger.notes_issued {
        assert!(
            notes_by_text.get(text).copied().unwrap_or(0) <= 1,
            "note {text} duplicated"
        );
    }
    let views = views_on(&relay_store, &world.customers);
    for (key, issued) in &ledger.views_issued {
        let base = baseline_views.get(key).copied().unwrap_or(0);
        let acked = ledger.views_acked.get(key).copied().unwrap_or(0);
        let seen = views.get(key).copied().unwrap_or(0);
        assert!(
            seen >= base + acked && seen <= base + issued,
            "views of {key:?}: {seen}, base {base}, acked {acked}, issued {issued}"
        );
    }
    let sales = relay_store.sales(&here).unwrap();
    for sale in &ledger.sales_acked {
        assert!(sales.contains_key(sale), "acknowledged sale {sale} lost");
    }
    for (variant, initial) in &initial_stock {
        let sold: i64 = sales
            .values()
            .flat_map(|s| &s.lines)
            .filter(|l| &l.variant == variant)
            .map(|l| i64::from(l.quantity))
            .sum();
        assert_eq!(
            relay_store.on_hand(&here, variant).unwrap(),
            initial - sold,
            "stock of {variant}"
        );
        let oversold = relay_store
            .conflicts()
            .unwrap()
            .iter()
            .any(|c| &c.variant == variant);
        assert_eq!(
            oversold,
            initial - sold < 0,
            "oversell conflict for {variant}"
        );
    }
    let holds: BTreeSet<String> = relay_store
        .holds(&here, false)
        .unwrap()
        .into_iter()
        .map(|h| h.id)
        .collect();
    for hold in &ledger.holds_acked {
        assert!(holds.contains(hold), "acknowledged hold {hold} lost");
    }
    for customer in &world.customers {
        let purchases = relay_store.customer(customer).unwrap().purchases;
        for p in &purchases {
            if sales.contains_key(&p.id) {
                assert_eq!(purchases.iter().filter(|q| q.id == p.id).count(), 1);
            }
        }
    }
    eprintln!(
        "seed {seed}: {} notes, {} views, {} sales, {} holds acknowledged; all present once",
        ledger.notes_acked.len(),
        ledger.views_acked.values().sum::<i64>(),
        ledger.sales_acked.len(),
        ledger.holds_acked.len()
    );
}

fn relay_db(dir: &Path) -> Store {
    Store::open(aisle_tests::relay_documents(dir)).unwrap()
}

fn views_on(store: &Store, customers: &[CustomerId]) -> BTreeMap<(String, String), i64> {
    let mut out = BTreeMap::new();
    for c in customers {
        for v in store.customer(c).unwrap().views {
            out.insert((c.to_string(), v.product.to_string()), v.count);
        }
    }
    out
}

/// Every tablet's copy of the shared documents equals the relay's.
fn replicas_equal(world: &World) -> bool {
    let relay = relay_db(&world.relay_dir());
    let here = StoreId::parse(STORE).unwrap();
    let docs: Vec<DocId> = world
        .customers
        .iter()
        .map(|c| DocId::Customer(c.clone()))
        .chain([DocId::Inventory(here), DocId::Catalog])
        .collect();
    world.sims.iter().flatten().all(|sim| {
        let tablet = Store::open(&sim.db).unwrap();
        docs.iter()
            .all(|d| tablet.doc_heads(d).unwrap() == relay.doc_heads(d).unwrap())
    })
}

#[test]
fn tablets_and_relay_survive_chaos() {
    let seed = std::env::var("AISLE_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_261_126);
    eprintln!("chaos seed {seed} (replay with AISLE_CHAOS_SEED={seed})");
    let outcome = std::panic::catch_unwind(|| run(seed));
    if let Err(panic) = outcome {
        eprintln!("chaos failed with seed {seed}; replay with AISLE_CHAOS_SEED={seed}");
        std::panic::resume_unwind(panic);
    }
}
