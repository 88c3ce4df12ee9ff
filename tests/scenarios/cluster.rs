//! Several relay processes on one PostgreSQL database (`--database`), as a chain runs them
//! behind a load balancer: a change through one relay reaches tablets on the others, writes
//! of the same document through two relays at once lose nothing, and revocations made
//! through one relay close connections held by another.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

use aisle_core::model::{AssociateId, CustomerId, StoreId};
use aisle_tests::postgres::Postgres;
use aisle_tests::{Relay, Tablet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A PostgreSQL of the test's own and `n` relays on one database of it; the first loads the
/// demo retailer.
struct Cluster {
    relays: Vec<Relay>,
    dirs: Vec<PathBuf>,
    url: String,
    postgres: Postgres,
    _dir: tempfile::TempDir,
}

impl Cluster {
    fn start(n: usize, customers: usize) -> Self {
        let postgres = Postgres::start().unwrap();
        let url = postgres.database("chain").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut relays = Vec::new();
        let mut dirs = Vec::new();
        for i in 0..n {
            let data_dir = dir.path().join(format!("relay-{i}"));
            let customers = customers.to_string();
            aisle_tests::join_cluster(&data_dir, &url, &dir.path().join("secrets")).unwrap();
            let mut args = Vec::new();
            if i == 0 {
                args.extend(["--demo", "--demo-customers", customers.as_str()]);
            }
            relays.push(Relay::start(&data_dir, &args).unwrap());
            dirs.push(data_dir);
        }
        Self {
            relays,
            dirs,
            url,
            postgres,
            _dir: dir,
        }
    }

    fn dir(&self, i: usize) -> &Path {
        &self.dirs[i]
    }

    /// A tablet of LDN-CG enrolled through relay `i`.
    async fn tablet(&self, i: usize, name: &str) -> Tablet {
        Tablet::enrol(
            &self.relays[i],
            self.dir(i),
            self._dir.path(),
            name,
            "associate",
        )
        .await
    }

    fn sql(&self, sql: &str) -> String {
        self.postgres.sql_in("chain", sql).unwrap()
    }
}

fn a_customer_of(tablet: &Tablet, here: &StoreId) -> CustomerId {
    tablet.with(|t| {
        t.search_customers("a", 50)
            .unwrap()
            .into_iter()
            .find(|c| &c.home_store == here)
            .unwrap()
            .id
    })
}

async fn until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_note_written_through_one_relay_reaches_a_tablet_on_another_live() {
    let cluster = Cluster::start(2, 40);
    let a = cluster.tablet(0, "on-a").await;
    let b = cluster.tablet(1, "on-b").await;
    let here = StoreId::parse("LDN-CG").unwrap();
    // The second relay's copy was built from the database: b has the same store as a.
    let (stats_a, stats_b) = (
        a.with(|t| t.stats().unwrap()),
        b.with(|t| t.stats().unwrap()),
    );
    assert!(stats_a.customers > 0);
    assert_eq!(stats_a.customers, stats_b.customers);
    assert_eq!(stats_a.products, stats_b.products);

    let customer = a_customer_of(&a, &here);
    let associate = AssociateId::parse("sam.k").unwrap();
    let note = a.with(|t| {
        t.add_note(&customer, "Wants the navy parka", &associate, Some(&here))
            .unwrap()
    });
    a.nudge();
    let took = until("the note on b", Duration::from_secs(10), || {
        b.with(|t| {
            t.customer(&customer)
                .unwrap()
                .notes
                .iter()
                .any(|n| n.id == note)
        })
    })
    .await;
    eprintln!("relay A → relay B → tablet: {took:?}");

    // And back: b's answer through relay B reaches a on relay A.
    let reply = b.with(|t| {
        t.add_note(&customer, "Tried the medium", &associate, Some(&here))
            .unwrap()
    });
    b.nudge();
    until("b's note on a", Duration::from_secs(10), || {
        a.with(|t| {
            t.customer(&customer)
                .unwrap()
                .notes
                .iter()
                .any(|n| n.id == reply)
        })
    })
    .await;
    // Each write is one chunk in the shared database, once.
    let chunks = cluster.sql(&format!(
        "SELECT COUNT(*) FROM doc_chunks WHERE doc_id = 'customer/{}'",
        customer.as_str()
    ));
    assert!(chunks.parse::<i64>().unwrap() >= 3, "{chunks} chunks");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_customer_written_through_two_relays_at_once_loses_nothing() {
    let cluster = Cluster::start(2, 30);
    let a = cluster.tablet(0, "on-a").await;
    let b = cluster.tablet(1, "on-b").await;
    let here = StoreId::parse("LDN-CG").unwrap();
    let customer = a_customer_of(&a, &here);
    let associate = AssociateId::parse("sam.k").unwrap();
    let mut written = Vec::new();
    // Both tablets write to the same profile in bursts, each push racing the other relay's.
    for round in 0..15 {
        written.push(a.with(|t| {
            t.add_note(&customer, &format!("a {round}"), &associate, Some(&here))
                .unwrap()
        }));
        written.push(b.with(|t| {
            t.add_note(&customer, &format!("b {round}"), &associate, Some(&here))
                .unwrap()
        }));
        a.nudge();
        b.nudge();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for tablet in [&a, &b] {
        until(
            "every note on both tablets",
            Duration::from_secs(30),
            || {
                tablet.with(|t| {
                    let notes = t.customer(&customer).unwrap().notes;
                    written.iter().all(|id| notes.iter().any(|n| &n.id == id))
                })
            },
        )
        .await;
        tablet.wait_synced().await;
        let count = tablet.with(|t| t.customer(&customer).unwrap().notes.len());
        assert!(count >= written.len(), "{count} notes");
    }
    // A third relay started now builds its copy from the database and has all of them too.
    let dir = cluster._dir.path().join("relay-late");
    aisle_tests::join_cluster(&dir, &cluster.url, &cluster._dir.path().join("secrets")).unwrap();
    let late = Relay::start(&dir, &[]).unwrap();
    let c = Tablet::enrol(&late, &dir, cluster._dir.path(), "late", "associate").await;
    let notes = c.with(|t| t.customer(&customer).unwrap().notes);
    for id in &written {
        assert!(notes.iter().any(|n| &n.id == id), "note {id} missing");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_revoked_through_one_relay_is_cut_off_on_another() {
    let cluster = Cluster::start(2, 10);
    let b = cluster.tablet(1, "on-b").await;
    let device = b.with(|t| t.stats().unwrap());
    assert!(device.products > 0);
    let devices = cluster.sql("SELECT device_id FROM devices WHERE name = 'on-b'");
    let revoke = aisle_tests::admin_command(cluster.dir(0))
        .unwrap()
        .args(["admin", "revoke", devices.trim()])
        .output()
        .unwrap();
    assert!(
        revoke.status.success(),
        "{}",
        String::from_utf8_lossy(&revoke.stderr)
    );
    // The tablet connected to relay B learns it within the watcher's period and forgets.
    until(
        "the tablet on B forgets its customers",
        Duration::from_secs(15),
        || b.with(|t| t.stats().unwrap().customers == 0),
    )
    .await;
}
