//! Tablets syncing through a real relay process on loopback: enrolment, first sync, live
//! changes between tablets, offline edits that arrive after reconnecting, and refusals.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

use aisle_core::model::{AssociateId, CustomerId, Identifier, StoreId};
use aisle_core::model::{Connection, SyncStatus};
use aisle_core::{DocId, Store};
use aisle_tablet::relay_client;
use aisle_tablet::sync_client::{SyncClient, SyncConfig};
use aisle_tests::Relay;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Tablet {
    store: Arc<Mutex<aisle_tablet::Tablet>>,
    client: Option<SyncClient>,
    config: SyncConfig,
}

impl Tablet {
    async fn enrol(
        relay: &Relay,
        relay_dir: &Path,
        dir: &Path,
        name: &str,
        store: &str,
        role: &str,
    ) -> Self {
        let db = aisle_tablet::Tablet::open(dir.join(format!("{name}.sqlite3"))).unwrap();
        let token =
            aisle_tests::enrol_device(relay, relay_dir, (store, role, name), db.actor()).await;
        let config = SyncConfig::new(relay.address(), token);
        let store = Arc::new(Mutex::new(db));
        let client = Some(SyncClient::start(store.clone(), config.clone()));
        Self {
            store,
            client,
            config,
        }
    }

    fn status(&self) -> SyncStatus {
        self.client.as_ref().unwrap().status().borrow().clone()
    }

    async fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        done: impl Fn(&Store, &SyncStatus) -> bool,
    ) {
        let started = Instant::now();
        loop {
            let status = self.status();
            if done(&self.store.lock().unwrap(), &status) {
                return;
            }
            assert!(
                started.elapsed() < timeout,
                "timed out waiting for {what}; status {status:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn nudge(&self) {
        self.client.as_ref().unwrap().nudge();
    }
}

fn synced(_: &Store, status: &SyncStatus) -> bool {
    status.connection == Connection::Online && status.pending == 0 && status.catch_up.is_none()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tablets_sync_through_the_relay() {
    let (dir, relay_dir, relay) = aisle_tests::demo_relay(120);
    let a = Tablet::enrol(&relay, &relay_dir, dir.path(), "a", "LDN-CG", "associate").await;
    let b = Tablet::enrol(&relay, &relay_dir, dir.path(), "b", "LDN-CG", "associate").await;
    let m = Tablet::enrol(&relay, &relay_dir, dir.path(), "m", "MAN-AR", "associate").await;

    // First sync: each tablet gets the catalog, its store's inventory and its store's customers.
    for t in [&a, &b, &m] {
        t.wait_until("first sync", Duration::from_secs(60), |s, st| {
            synced(s, st) && s.stats().unwrap().products > 0
        })
        .await;
    }
    let here = StoreId::parse("LDN-CG").unwrap();
    let a_stats = a.store.lock().unwrap().stats().unwrap();
    assert_eq!(a_stats.stores, 5);
    assert!(
        a_stats.customers > 10 && a_stats.customers < 120,
        "only LDN-CG customers: {a_stats:?}"
    );
    assert!(
        a.store
            .lock()
            .unwrap()
            .has_doc(&DocId::Inventory(here.clone()))
            .unwrap()
    );
    assert!(
        !a.store
            .lock()
            .unwrap()
            .has_doc(&DocId::Inventory(StoreId::parse("MAN-AR").unwrap()))
            .unwrap()
    );

    // A note on tablet a reaches tablet b live.
    let customer: CustomerId = a
        .store
        .lock()
        .unwrap()
        .search_customers("a", 50)
        .unwrap()
        .iter()
        .find(|c| c.home_store == here)
        .unwrap()
        .id
        .clone();
    let associate = AssociateId::parse("sam.k").unwrap();
    let note = a
        .store
        .lock()
        .unwrap()
        .add_note(&customer, "Wants the navy parka", &associate, Some(&here))
        .unwrap();
    a.nudge();
    let sent = Instant::now();
    b.wait_until("the note on b", Duration::from_secs(10), |s, _| {
        s.customer(&customer)
            .unwrap()
            .notes
            .iter()
            .any(|n| n.id == note)
    })
    .await;
    eprintln!("note from a visible on b after {:?}", sent.elapsed());
    a.wait_until("a synced", Duration::from_secs(10), synced)
        .await;

    // The Manchester tablet never received it (not its store's customer) ...
    assert!(
        !m.store
            .lock()
            .unwrap()
            .has_doc(&DocId::Customer(customer.clone()))
            .unwrap()
    );
    // ... until it fetches the customer on demand; then it gets the note and later changes.
    let loyalty = a
        .store
        .lock()
        .unwrap()
        .customer(&customer)
        .unwrap()
        .identity
        .loyalty_id;
    let fetched = relay_client::fetch_customer(&m.config, &m.store, &Identifier::Loyalty(loyalty))
        .await
        .unwrap();
    assert_eq!(fetched, customer);
    assert!(
        m.store
            .lock()
            .unwrap()
            .customer(&customer)
            .unwrap()
            .notes
            .iter()
            .any(|n| n.id == note)
    );
    let later = b
        .store
        .lock()
        .unwrap()
        .add_note(&customer, "Bought the parka", &associate, Some(&here))
        .unwrap();
    b.nudge();
    m.wait_until("the later note on m", Duration::from_secs(10), |s, _| {
        s.customer(&customer)
            .unwrap()
            .notes
            .iter()
            .any(|n| n.id == later)
    })
    .await;

    // Offline edits: stop a's client, edit, restart it; the edit arrives once.
    let mut a = a;
    a.client.take().unwrap().shutdown().await;
    let offline = a
        .store
        .lock()
        .unwrap()
        .add_note(&customer, "Written offline", &associate, Some(&here))
        .unwrap();
    assert_eq!(
        a.store
            .lock()
            .unwrap()
            .count_docs_ahead_of("relay")
            .unwrap(),
        1
    );
    a.client = Some(SyncClient::start(a.store.clone(), a.config.clone()));
    b.wait_until("the offline note on b", Duration::from_secs(20), |s, _| {
        s.customer(&customer)
            .unwrap()
            .notes
            .iter()
            .filter(|n| n.id == offline)
            .count()
            == 1
    })
    .await;
    a.wait_until("a synced again", Duration::from_secs(10), synced)
        .await;
    drop(relay);
}
