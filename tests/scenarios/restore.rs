//! The relay backed up while it serves (`admin backup`) and restored from it (`admin
//! restore`): its changefeed is behind the cursors tablets hold. The relay must tell them to
//! follow the feed from its start again, or every change it numbers below their old cursors
//! would never reach them; and what the backup lacks, the tablets still hold and send back.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

use aisle_core::model::{AssociateId, CustomerId, StoreId};
use aisle_tests::{Relay, Tablet};
use std::time::{Duration, Instant};

/// `aisle-relay admin <command> <folder>` on `relay_dir`.
fn admin(
    relay_dir: &std::path::Path,
    command: &str,
    folder: &std::path::Path,
) -> Result<String, String> {
    aisle_tests::admin(
        relay_dir,
        &[std::ffi::OsStr::new(command), folder.as_os_str()],
    )
    .unwrap()
}

async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn has_note(t: &Tablet, customer: &CustomerId, note: &str) -> bool {
    t.with(|s| {
        s.customer(customer)
            .unwrap()
            .notes
            .iter()
            .any(|n| n.id == note)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tablets_follow_a_restored_relay_from_the_start_and_give_back_what_it_lost() {
    let (dir, relay_dir, relay) = aisle_tests::demo_relay(120);
    let mut a = Tablet::enrol(&relay, &relay_dir, dir.path(), "a", "associate").await;
    let mut b = Tablet::enrol(&relay, &relay_dir, dir.path(), "b", "associate").await;
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
    // a writes to one customer after the backup; b, after the restore, to another (a device
    // may push only its own changes, so what a wrote comes back from a, not from b).
    let (customer, other) = (&customers[0], &customers[1]);
    let associate = AssociateId::parse("sam.k").unwrap();

    // The backup, taken while the relay serves.
    let addr = relay.addr;
    let backup = dir.path().join("backup");
    let taken = admin(&relay_dir, "backup", &backup);
    assert!(taken.is_ok(), "{taken:?}");
    // A second backup into the same folder would mix two: refused.
    let again = admin(&relay_dir, "backup", &backup);
    assert!(again.unwrap_err().contains("is not empty"));

    // After the backup: a writes notes, and its cursor moves past what the backup holds.
    let mut lost = Vec::new();
    for i in 0..5 {
        lost.push(a.with(|t| {
            t.add_note(
                customer,
                &format!("after the backup {i}"),
                &associate,
                Some(&here),
            )
            .unwrap()
        }));
        a.nudge();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    a.wait_synced().await;
    until("b has a's notes", || {
        lost.iter().all(|n| has_note(&b, customer, n))
    })
    .await;

    // The relay is lost and restored from the backup.
    a.stop().await;
    relay.terminate().unwrap();
    std::fs::remove_dir_all(&relay_dir).unwrap();
    // Into an empty data directory; the changefeed is named anew (docs/deploy.md).
    let restored = admin(&relay_dir, "restore", &backup);
    assert!(restored.is_ok(), "{restored:?}");
    let twice = admin(&relay_dir, "restore", &backup);
    assert!(twice.unwrap_err().contains("already holds a relay's data"));
    let relay = Relay::start_on(&relay_dir, addr, &[]).unwrap();
    let feed_of = |t: &Tablet| t.with(|s| s.meta("relay_feed").unwrap());
    let before = feed_of(&a);
    until("b is back on the restored relay", || feed_of(&b) != before).await;

    // Through the restored relay, b writes: numbered below a's old cursor.
    let fresh = b.with(|t| {
        t.add_note(other, "after the restore", &associate, Some(&here))
            .unwrap()
    });
    b.nudge();
    let relay_view = aisle_core::Store::open(aisle_tests::relay_documents(&relay_dir)).unwrap();
    let on_relay = |customer: &CustomerId, note: &str| {
        relay_view
            .customer(customer)
            .unwrap()
            .notes
            .iter()
            .filter(|n| n.id == note)
            .count()
    };
    until("the relay has b's new note", || {
        on_relay(other, &fresh) == 1
    })
    .await;

    // a comes back: it gets b's new note, and the relay gets a's notes back from it.
    a.start();
    until("a has the note written after the restore", || {
        has_note(&a, other, &fresh)
    })
    .await;
    until("the relay has a's notes back", || {
        lost.iter().all(|note| on_relay(customer, note) == 1)
    })
    .await;
    a.wait_synced().await;
    b.wait_synced().await;
    for note in &lost {
        assert_eq!(
            on_relay(customer, note),
            1,
            "note {note} on the restored relay once"
        );
        assert!(has_note(&b, customer, note));
    }
    assert_eq!(on_relay(other, &fresh), 1);
    drop(relay);
    b.stop().await;
}
