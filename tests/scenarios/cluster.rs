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
        Self::start_with(n, customers, &[])
    }

    /// With `extra` flags for every relay.
    fn start_with(n: usize, customers: usize, extra: &[&str]) -> Self {
        let postgres = Postgres::start().unwrap();
        let url = postgres.database("chain").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut relays = Vec::new();
        let mut dirs = Vec::new();
        for i in 0..n {
            let data_dir = dir.path().join(format!("relay-{i}"));
            let customers = customers.to_string();
            aisle_tests::join_cluster(&data_dir, &url, &dir.path().join("secrets")).unwrap();
            let mut args = extra.to_vec();
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

    fn secrets(&self) -> PathBuf {
        self._dir.path().join("secrets")
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_recount_runs_on_one_relay_and_another_takes_over_when_it_dies() {
    let mut cluster = Cluster::start_with(3, 20, &["--recommend-every", "1"]);
    let runs = |cluster: &Cluster| -> Vec<(String, i64, Option<i64>)> {
        cluster
            .sql(
                "SELECT holder, started_at, COALESCE(ended_at::text, '') FROM job_runs ORDER BY id",
            )
            .lines()
            .map(|line| {
                let mut parts = line.split('|');
                let holder = parts.next().unwrap().to_string();
                let started = parts.next().unwrap().parse().unwrap();
                let ended = parts.next().unwrap().parse().ok();
                (holder, started, ended)
            })
            .collect()
    };
    until("a few recounts", Duration::from_secs(20), || {
        runs(&cluster).len() >= 3
    })
    .await;
    let leader = runs(&cluster).last().unwrap().0.clone();
    let holders: std::collections::BTreeSet<String> =
        runs(&cluster).into_iter().map(|(h, _, _)| h).collect();
    assert_eq!(holders.len(), 1, "one relay runs the recount: {holders:?}");
    let index = cluster
        .relays
        .iter()
        .position(|r| leader.starts_with(&format!("pid {} ", r.pid())))
        .unwrap_or_else(|| panic!("the leader {leader} is one of the relays"));
    cluster.relays.remove(index).kill9().unwrap();
    let killed_at = aisle_core::Clock::System.now();
    until("another relay recounts", Duration::from_secs(20), || {
        runs(&cluster).iter().any(|(h, _, _)| *h != leader)
    })
    .await;
    // Never two at once: runs by different relays do not overlap, and the new leader began
    // after the old one died.
    let all = runs(&cluster);
    for (i, (holder, _, ended)) in all.iter().enumerate() {
        for (other, other_started, _) in &all[i + 1..] {
            if other != holder {
                let ended = ended.unwrap_or(killed_at);
                assert!(
                    *other_started >= ended,
                    "{other} started while {holder} ran"
                );
            }
        }
    }
    let successor = all.iter().find(|(h, _, _)| *h != leader).unwrap();
    assert!(
        successor.1 >= killed_at - 50,
        "took over only after the leader died"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erasure_through_one_relay_purges_the_customer_from_a_tablet_on_another() {
    let cluster = Cluster::start(2, 30);
    let b = cluster.tablet(1, "on-b").await;
    let here = StoreId::parse("LDN-CG").unwrap();
    let customer = a_customer_of(&b, &here);
    let admin = aisle_tests::Api::admin(&cluster.relays[0], &cluster.secrets()).unwrap();
    let erased = admin
        .post(&format!("/v1/customers/{customer}/erase"))
        .send()
        .await
        .unwrap();
    assert!(erased.status().is_success(), "{}", erased.status());
    let took = until(
        "the customer leaves the tablet on B",
        Duration::from_secs(10),
        || {
            b.with(|t| {
                !t.has_doc(&aisle_core::DocId::Customer(customer.clone()))
                    .unwrap()
            })
        },
    )
    .await;
    eprintln!("erased through A, purged on B's tablet in {took:?}");
    // Gone from the shared database and from B's working copy.
    let left = cluster.sql(&format!(
        "SELECT COUNT(*) FROM doc_chunks WHERE doc_id = 'customer/{}'",
        customer.as_str()
    ));
    assert_eq!(left, "0");
    let copy = aisle_core::Store::open(aisle_tests::relay_documents(cluster.dir(1))).unwrap();
    assert!(
        !copy
            .has_doc(&aisle_core::DocId::Customer(customer.clone()))
            .unwrap()
    );
}

/// The cursor-gap case on the relays: a transaction holding a change to one customer stays
/// open while a later change to another commits. A tablet on another relay must not be sent
/// past the open one (a plain sequence cursor would: `changefeed_cursor.rs` shows it on the
/// same PostgreSQL), and gets both once it commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tablet_is_not_sent_past_a_change_whose_transaction_is_still_open() {
    let cluster = Cluster::start(2, 120);
    let a = cluster.tablet(0, "on-a").await;
    let b = cluster.tablet(1, "on-b").await;
    let here = StoreId::parse("LDN-CG").unwrap();
    let customers: Vec<CustomerId> = a.with(|t| {
        t.search_customers("a", 50)
            .unwrap()
            .into_iter()
            .filter(|c| c.home_store == here)
            .map(|c| c.id)
            .take(2)
            .collect()
    });
    let (slow, fast) = (&customers[0], &customers[1]);
    let doc = format!("customer/{}", slow.as_str());

    // The slow writer's change: a note on `slow`, made on a copy of the database's document.
    let version: i64 = cluster
        .sql(&format!("SELECT version FROM docs WHERE doc_id = '{doc}'"))
        .parse()
        .unwrap();
    let chunks = cluster.sql(&format!(
        "SELECT encode(bytes, 'hex') FROM doc_chunks WHERE doc_id = '{doc}' ORDER BY version"
    ));
    let bytes: Vec<u8> = chunks.lines().flat_map(aisle_tests::hex_decode).collect();
    let scratch = tempfile::tempdir().unwrap();
    let mut writer = aisle_core::Store::open(scratch.path().join("writer.sqlite3")).unwrap();
    let id = aisle_core::DocId::Customer(slow.clone());
    writer
        .apply_changes(vec![(id.clone(), bytes)], &aisle_core::replicate::Unchecked)
        .unwrap();
    let before = writer.doc_heads(&id).unwrap();
    let associate = AssociateId::parse("sam.k").unwrap();
    let slow_note = writer
        .add_note(
            slow,
            "Written by a slow transaction",
            &associate,
            Some(&here),
        )
        .unwrap();
    let (heads, change) = writer.changes_since(&id, &before).unwrap().unwrap();
    let heads = aisle_core::store::chunks::encode_heads(&heads);

    // Open, with its transaction id and its feed entry written, and held.
    let mut session = cluster.postgres.session_in("chain").unwrap();
    for statement in [
        "BEGIN;".to_string(),
        format!("SELECT 1 FROM docs WHERE doc_id = '{doc}' FOR UPDATE;"),
        format!(
            "INSERT INTO doc_chunks (doc_id, version, bytes, written_at) VALUES ('{doc}', {}, '\\x{}', 0);",
            version + 1,
            aisle_tests::hex_encode(&change)
        ),
        format!(
            "UPDATE docs SET version = {}, heads = '\\x{}' WHERE doc_id = '{doc}';",
            version + 1,
            aisle_tests::hex_encode(&heads)
        ),
        format!(
            "INSERT INTO feed (doc_id, pos, scope, version) VALUES ('{doc}', pg_current_xact_id()::text::bigint << 20, 'customers:LDN-CG', {v})
             ON CONFLICT (doc_id) DO UPDATE SET pos = excluded.pos, version = excluded.version;",
            v = version + 1
        ),
    ] {
        session.send(&statement).unwrap();
    }
    until("the slow transaction holds its id", Duration::from_secs(10), || {
        cluster.sql("SELECT COUNT(*) FROM pg_stat_activity WHERE state = 'idle in transaction' AND backend_xid IS NOT NULL") == "1"
    })
    .await;

    // A later change commits through relay A while the slow one is open.
    let fast_note = a.with(|t| {
        t.add_note(
            fast,
            "Written after, committed first",
            &associate,
            Some(&here),
        )
        .unwrap()
    });
    a.nudge();
    until(
        "relay A commits the later change",
        Duration::from_secs(10),
        || a.with(|t| t.count_docs_ahead_of("relay").unwrap() == 0),
    )
    .await;
    // Where the open transaction's entry will be once it commits (its id, shifted).
    let held_at: i64 = cluster
        .sql("SELECT backend_xid::text::bigint << 20 FROM pg_stat_activity WHERE state = 'idle in transaction' AND backend_xid IS NOT NULL")
        .parse()
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let cursor = |t: &Tablet| {
        t.with(|s| {
            s.meta("relay_cursor")
                .unwrap()
                .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
                .map_or(0, i64::from_be_bytes)
        })
    };
    assert!(
        cursor(&b) < held_at,
        "b was sent past the open transaction ({} ≥ {held_at})",
        cursor(&b)
    );
    let has_note = |t: &Tablet, customer: &CustomerId, note: &str| {
        t.with(|s| {
            s.customer(customer)
                .unwrap()
                .notes
                .iter()
                .any(|n| n.id == note)
        })
    };
    assert!(!has_note(&b, slow, &slow_note));

    session.send("COMMIT;").unwrap();
    session.finish().unwrap();
    until("both changes on b", Duration::from_secs(10), || {
        has_note(&b, slow, &slow_note) && has_note(&b, fast, &fast_note)
    })
    .await;
    // The cursor is saved as the feed is followed, just after what it covers applies.
    until(
        "b's cursor past the transaction",
        Duration::from_secs(10),
        || cursor(&b) >= held_at,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarting_in_the_middle_of_a_sync_loses_nothing_acknowledged() {
    let mut cluster = Cluster::start(2, 30);
    let a = cluster.tablet(0, "on-a").await;
    let b = cluster.tablet(1, "on-b").await;
    let here = StoreId::parse("LDN-CG").unwrap();
    let customer = a_customer_of(&a, &here);
    let associate = AssociateId::parse("sam.k").unwrap();
    let mut written = Vec::new();
    let write = |t: &Tablet, text: String| {
        t.with(|s| {
            s.add_note(&customer, &text, &associate, Some(&here))
                .unwrap()
        })
    };
    for round in 0..10 {
        written.push(write(&a, format!("a before {round}")));
        written.push(write(&b, format!("b before {round}")));
        a.nudge();
        b.nudge();
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    // Down for a second in the middle of it; the tablets keep writing.
    let restart = {
        let postgres = &mut cluster.postgres;
        std::thread::scope(|scope| {
            let restarting = scope.spawn(|| postgres.restart(Duration::from_secs(1)));
            for round in 0..20 {
                written.push(write(&a, format!("a during {round}")));
                written.push(write(&b, format!("b during {round}")));
                a.nudge();
                b.nudge();
                std::thread::sleep(Duration::from_millis(100));
            }
            restarting.join().unwrap()
        })
    };
    restart.unwrap();
    // The relays find the database again by themselves.
    for (i, relay) in cluster.relays.iter().enumerate() {
        let http = relay.http();
        let started = Instant::now();
        loop {
            let ready = http.get(relay.url("/readyz")).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "relay {i} is not ready again"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    for tablet in [&a, &b] {
        until(
            "every note on both tablets",
            Duration::from_secs(60),
            || {
                tablet.with(|t| {
                    let notes = t.customer(&customer).unwrap().notes;
                    written.iter().all(|id| notes.iter().any(|n| &n.id == id))
                })
            },
        )
        .await;
        tablet.wait_synced().await;
    }
    // Each note once, and all of them in the database: a relay started now has them.
    let dir = cluster._dir.path().join("relay-after");
    aisle_tests::join_cluster(&dir, &cluster.url, &cluster.secrets()).unwrap();
    let late = Relay::start(&dir, &[]).unwrap();
    let c = Tablet::enrol(&late, &dir, cluster._dir.path(), "after", "associate").await;
    let notes = c.with(|t| t.customer(&customer).unwrap().notes);
    for id in &written {
        assert_eq!(notes.iter().filter(|n| &n.id == id).count(), 1, "note {id}");
    }
}

/// What the tablets committed, by kind of record.
#[derive(Default)]
struct Written {
    notes: Vec<(CustomerId, String)>,
    sales: Vec<(String, aisle_core::model::VariantSku)>,
    holds: Vec<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_killed_in_the_middle_of_thirty_tablets_pushing_loses_nothing() {
    use aisle_core::model::VariantSku;
    use aisle_tablet::checkout::{HoldRequest, SaleRequest};
    const TABLETS: usize = 30;
    const ROUNDS: usize = 6;
    let mut cluster = Cluster::start(3, 40);
    let balancer =
        aisle_tests::balancer::Balancer::start(cluster.relays.iter().map(|r| r.addr).collect())
            .await
            .unwrap();
    let address = aisle_tests::RelayAddress::pinned(balancer.url(), cluster.relays[0].trust);
    let mut tablets = Vec::new();
    for i in 0..TABLETS {
        tablets.push(
            Tablet::enrol_at(
                address.clone(),
                cluster.dir(0),
                cluster._dir.path(),
                &format!("t{i}"),
                "associate",
            )
            .await,
        );
    }
    let here = StoreId::parse("LDN-CG").unwrap();
    let customers: Vec<CustomerId> = tablets[0].with(|t| {
        t.search_customers("a", 50)
            .unwrap()
            .into_iter()
            .filter(|c| c.home_store == here)
            .map(|c| c.id)
            .take(5)
            .collect()
    });
    let variants: Vec<VariantSku> = tablets[0].with(|t| {
        t.catalog_variants()
            .unwrap()
            .into_keys()
            .filter(|v| {
                t.on_hand(&here, &VariantSku::parse(v.clone()).unwrap())
                    .unwrap()
                    > 2
            })
            .take(4)
            .map(|v| VariantSku::parse(v).unwrap())
            .collect()
    });
    assert!(!customers.is_empty() && !variants.is_empty());
    let initial: Vec<i64> = variants
        .iter()
        .map(|v| tablets[0].with(|t| t.on_hand(&here, v).unwrap()))
        .collect();
    let associate = AssociateId::parse("sam.k").unwrap();
    let mut written = Written::default();
    let mut killed = false;
    for round in 0..ROUNDS {
        for (i, tablet) in tablets.iter().enumerate() {
            let customer = &customers[(i + round) % customers.len()];
            let variant = &variants[(i * 7 + round) % variants.len()];
            tablet.with(|t| match (i + round) % 3 {
                0 => {
                    let note = t
                        .add_note(
                            customer,
                            &format!("t{i} round {round}"),
                            &associate,
                            Some(&here),
                        )
                        .unwrap();
                    written.notes.push((customer.clone(), note));
                }
                1 => {
                    let receipt = t
                        .sell(&SaleRequest {
                            store: here.clone(),
                            lines: vec![(variant.clone(), 1)],
                            customer: Some(customer.clone()),
                            associate: associate.clone(),
                            holds: vec![],
                            cart: None,
                        })
                        .unwrap();
                    written.sales.push((receipt.sale_id, variant.clone()));
                }
                _ => {
                    // A hold beyond what this tablet sees available is refused on the spot,
                    // and is not written at all.
                    match t.place_hold(&HoldRequest {
                        store: here.clone(),
                        variant: variant.clone(),
                        quantity: 1,
                        customer: customer.clone(),
                        associate: associate.clone(),
                        hours: 24,
                    }) {
                        Ok(hold) => written.holds.push(hold),
                        Err(aisle_core::CoreError::Invalid(_)) => {}
                        Err(e) => panic!("{e}"),
                    }
                }
            });
            tablet.nudge();
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
        if round == ROUNDS / 2 {
            // In the middle of it, one relay dies without a word.
            cluster.relays.remove(1).kill9().unwrap();
            killed = true;
        }
    }
    assert!(killed);
    let started = Instant::now();
    for tablet in &tablets {
        tablet.wait_synced().await;
    }
    eprintln!(
        "{} notes, {} sales, {} holds from {TABLETS} tablets; all synced {:?} after the last",
        written.notes.len(),
        written.sales.len(),
        written.holds.len(),
        started.elapsed()
    );

    // Everywhere exactly once: on the surviving relays' copies and on a relay started from
    // the database now.
    let dir = cluster._dir.path().join("relay-after");
    aisle_tests::join_cluster(&dir, &cluster.url, &cluster.secrets()).unwrap();
    let after = Relay::start(&dir, &[]).unwrap();
    drop(after);
    let mut views: Vec<(String, aisle_core::Store)> =
        [cluster.dir(0), cluster.dir(2), dir.as_path()]
            .iter()
            .map(|d| {
                (
                    d.display().to_string(),
                    aisle_core::Store::open(aisle_tests::relay_documents(d)).unwrap(),
                )
            })
            .collect();
    let survivors = [&cluster.relays[0], &cluster.relays[1]];
    for relay in survivors {
        // Wait until each surviving relay's copy has followed everything.
        let http = relay.http();
        until_ready(&http, relay).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    for (name, view) in &mut views {
        for (customer, note) in &written.notes {
            let notes = view.customer(customer).unwrap().notes;
            assert_eq!(
                notes.iter().filter(|n| &n.id == note).count(),
                1,
                "note {note} once on {name}"
            );
        }
        let sales = view.sales(&here).unwrap();
        for (sale, _) in &written.sales {
            assert!(sales.contains_key(sale), "sale {sale} on {name}");
        }
        let holds: std::collections::BTreeSet<String> = view
            .holds(&here, false)
            .unwrap()
            .into_iter()
            .map(|h| h.id)
            .collect();
        for hold in &written.holds {
            assert!(holds.contains(hold), "hold {hold} on {name}");
        }
        for (variant, initial) in variants.iter().zip(&initial) {
            let sold = written.sales.iter().filter(|(_, v)| v == variant).count() as i64;
            assert_eq!(
                view.on_hand(&here, variant).unwrap(),
                initial - sold,
                "stock of {variant} on {name} equals the sales"
            );
        }
    }
    // And every tablet ends with the same stock.
    for tablet in &tablets {
        for (variant, initial) in variants.iter().zip(&initial) {
            let sold = written.sales.iter().filter(|(_, v)| v == variant).count() as i64;
            assert_eq!(
                tablet.with(|t| t.on_hand(&here, variant).unwrap()),
                initial - sold
            );
        }
    }
}

async fn until_ready(http: &reqwest::Client, relay: &Relay) {
    let started = Instant::now();
    loop {
        let ready = http.get(relay.url("/readyz")).send().await;
        if ready.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "relay not ready"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Customer search answered from PostgreSQL (full-text prefixes, accents folded, trigram
/// near spellings), written by whichever relay wrote the customer, gone with an erasure, and
/// filled from a relay's working copy for a database whose search was never written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customer_search_runs_on_the_shared_database() {
    use aisle_core::api::{Event, EventBatch, EventCustomer, EventKind};
    use aisle_core::model::{CustomerSummary, LoyaltyId};

    let cluster = Cluster::start(2, 20);
    let here = StoreId::parse("LDN-CG").unwrap();
    let loyalty = LoyaltyId::from_serial(99_000_002);
    let secret = aisle_tests::ingest_secret(&cluster.secrets()).unwrap();
    let signup = Event {
        id: "signup-zoe".into(),
        customer: EventCustomer {
            loyalty_id: Some(loyalty.to_string()),
            email: Some("zoe.a@example.com".into()),
            ..EventCustomer::default()
        },
        kind: EventKind::CustomerUpserted {
            name: "Zoë Ångström".into(),
            home_store: here.clone(),
            new_loyalty_id: None,
            in_store_personalisation: Some(true),
            marketing_email: None,
        },
    };
    let outcome = aisle_tests::post_events(
        &cluster.relays[0],
        &secret,
        &EventBatch {
            events: vec![signup],
        },
    )
    .await
    .unwrap();
    assert_eq!(outcome.created, 1);

    // Searched through the other relay, with a tablet's token, the moment it committed.
    let b = cluster.tablet(1, "on-b").await;
    let search = |relay: usize, q: &str| {
        let api = aisle_tests::Api::new(&cluster.relays[relay], &b.config.token);
        let q = q.to_string();
        async move {
            let found: Vec<CustomerSummary> =
                aisle_tests::reply(api.get("/v1/customers/search").query(&[("q", q)]))
                    .await
                    .unwrap();
            found
        }
    };
    for q in [
        "zoe ang",
        "ZOË",
        "zoe.a@ex",
        "Angstrum",
        loyalty.to_string().as_str(),
    ] {
        let found = search(1, q).await;
        assert_eq!(
            found.first().map(|c| c.name.as_str()),
            Some("Zoë Ångström"),
            "searching {q:?}: {found:?}"
        );
    }
    // Only the tablet's own store, and nothing for what no name is near.
    for q in ["a", "e", "o"] {
        assert!(search(1, q).await.iter().all(|c| c.home_store == here));
    }
    assert!(search(1, "qqqxxzz").await.is_empty());
    assert_eq!(
        cluster.sql("SELECT COUNT(*) FROM customer_search WHERE name = 'Zoë Ångström'"),
        "1"
    );

    // A database whose search was never filled (made before it existed) is filled by the
    // next relay that starts, from its working copy.
    let customers = cluster.sql("SELECT COUNT(*) FROM customer_search");
    cluster.sql(
        "DELETE FROM customer_search;
         UPDATE meta SET value = 'no' WHERE key = 'customer_search_filled'",
    );
    assert!(search(1, "zoe").await.is_empty());
    let third = cluster._dir.path().join("relay-2");
    aisle_tests::join_cluster(&third, &cluster.url, &cluster.secrets()).unwrap();
    let relay = Relay::start(&third, &[]).unwrap();
    until_ready(&relay.http(), &relay).await;
    assert_eq!(
        cluster.sql("SELECT COUNT(*) FROM customer_search"),
        customers
    );
    assert_eq!(
        cluster.sql("SELECT value FROM meta WHERE key = 'customer_search_filled'"),
        "yes"
    );
    let zoe = search(1, "zoe").await;
    assert_eq!(zoe.len(), 1, "{zoe:?}");

    // Erased: out of search on every relay.
    let admin = aisle_tests::Api::admin(&cluster.relays[0], &cluster.secrets()).unwrap();
    let erased = admin
        .post(&format!("/v1/customers/{}/erase", zoe[0].id))
        .send()
        .await
        .unwrap();
    assert!(erased.status().is_success(), "{}", erased.status());
    assert!(search(1, "zoe").await.is_empty());
    assert_eq!(
        cluster.sql("SELECT COUNT(*) FROM customer_search WHERE name = 'Zoë Ångström'"),
        "0"
    );
}

/// Compaction folds a much-written customer's chunks into one snapshot; a relay that builds
/// its working copy afterwards has every note, and writes after the snapshot still reach
/// tablets on other relays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_folds_chunks_into_a_snapshot_and_loses_nothing() {
    let cluster = Cluster::start(1, 20);
    let a = cluster.tablet(0, "on-a").await;
    let here = StoreId::parse("LDN-CG").unwrap();
    let customer = a_customer_of(&a, &here);
    let associate = AssociateId::parse("sam.k").unwrap();
    let chunks_of = || {
        cluster
            .sql(&format!(
                "SELECT COUNT(*) FROM doc_chunks WHERE doc_id = 'customer/{}'",
                customer.as_str()
            ))
            .parse::<i64>()
            .unwrap()
    };
    // Each note its own push, so its own chunk.
    let mut notes = Vec::new();
    for i in 0..40 {
        let before = chunks_of();
        notes.push(a.with(|t| {
            t.add_note(&customer, &format!("note {i}"), &associate, Some(&here))
                .unwrap()
        }));
        a.nudge();
        until("the note's chunk", Duration::from_secs(10), || {
            chunks_of() > before
        })
        .await;
    }
    assert!(chunks_of() > 40);

    let compact = aisle_tests::admin_command(cluster.dir(0))
        .unwrap()
        .args(["admin", "compact"])
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&compact.stdout);
    assert!(
        compact.status.success(),
        "{}",
        String::from_utf8_lossy(&compact.stderr)
    );
    assert!(printed.contains("compacted"), "{printed}");
    assert_eq!(chunks_of(), 1);
    assert_eq!(
        cluster.sql(&format!(
            "SELECT snapshot FROM doc_chunks WHERE doc_id = 'customer/{}'",
            customer.as_str()
        )),
        "t"
    );

    // A relay whose working copy is built now reads the snapshot: a tablet on it has every
    // note, and a note after the snapshot reaches it live.
    let second = cluster._dir.path().join("relay-1");
    aisle_tests::join_cluster(&second, &cluster.url, &cluster.secrets()).unwrap();
    let relay = Relay::start(&second, &[]).unwrap();
    let b = Tablet::enrol(&relay, &second, cluster._dir.path(), "on-b", "associate").await;
    let held = b.with(|t| t.customer(&customer).unwrap().notes);
    for note in &notes {
        assert!(held.iter().any(|n| &n.id == note), "note {note:?} missing");
    }
    let after = a.with(|t| {
        t.add_note(&customer, "after the snapshot", &associate, Some(&here))
            .unwrap()
    });
    a.nudge();
    until("the later note on b", Duration::from_secs(10), || {
        b.with(|t| {
            t.customer(&customer)
                .unwrap()
                .notes
                .iter()
                .any(|n| n.id == after)
        })
    })
    .await;
    assert_eq!(chunks_of(), 2);
}

/// Relays reach a PostgreSQL that serves TLS (`sslmode=require`) and verify it: with its CA
/// (`--database-ca`) every relay connection is encrypted; with another CA, or the system's
/// authorities, the relay refuses to connect and says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relays_reach_postgresql_over_verified_tls() {
    let (postgres, ca) = Postgres::start_with_tls().unwrap();
    let url = format!("{}?sslmode=require", postgres.database("chain").unwrap());
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("database-ca.pem");
    std::fs::write(&ca_file, &ca).unwrap();
    let ca_arg = ca_file.to_str().unwrap();
    let data_dir = dir.path().join("relay");
    aisle_tests::join_cluster(&data_dir, &url, &dir.path().join("secrets")).unwrap();
    std::fs::write(data_dir.join(aisle_tests::DATABASE_CA_MARKER), ca_arg).unwrap();
    let relay = Relay::start(&data_dir, &["--demo", "--demo-customers", "10"]).unwrap();
    let tablet = Tablet::enrol(&relay, &data_dir, dir.path(), "t", "associate").await;
    assert!(tablet.with(|t| t.stats().unwrap().customers) > 0);
    let sessions = |encrypted: bool| {
        postgres
            .sql_in(
                "chain",
                &format!(
                    "SELECT COUNT(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
                     WHERE a.application_name = 'aisle-relay' AND s.ssl = {encrypted}"
                ),
            )
            .unwrap()
    };
    assert_ne!(sessions(true), "0");
    assert_eq!(sessions(false), "0");

    // Another CA, or none (the system's authorities): refused, with the reason.
    let (other_chain, _) = aisle_relay::tls::generate(&["127.0.0.1".into()]).unwrap();
    let other_ca = dir.path().join("other-ca.pem");
    std::fs::write(&other_ca, other_chain).unwrap();
    std::fs::remove_file(data_dir.join(aisle_tests::DATABASE_CA_MARKER)).unwrap();
    for ca in [Some(other_ca.to_str().unwrap()), None] {
        let mut migrate = aisle_tests::admin_command(&data_dir).unwrap();
        if let Some(ca) = ca {
            migrate.args(["--database-ca", ca]);
        }
        let out = migrate.arg("migrate").output().unwrap();
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "connected with {ca:?}");
        assert!(said.contains("certificate"), "{said}");
    }
}
