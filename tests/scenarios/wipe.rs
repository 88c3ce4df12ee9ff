//! A tablet revoked while it is offline forgets the people it held the moment it next reaches
//! the relay: no customer document, no projection row, no queued check-in, and none of their
//! names left in its SQLite files; and it says why.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

use aisle_core::DocId;
use aisle_core::api::EnrolledDevice;
use aisle_core::model::{Connection, SyncStatus};
use aisle_tests::{Api, Tablet, demo_relay, eventually, reply};
use std::time::Duration;

fn status(tablet: &Tablet) -> SyncStatus {
    tablet.client.as_ref().unwrap().status().borrow().clone()
}

/// Every byte of the store's files: the database and its write-ahead log.
fn file_bytes(path: &std::path::Path) -> Vec<u8> {
    let mut bytes = std::fs::read(path).unwrap();
    let wal = path.with_extension("sqlite3-wal");
    if wal.exists() {
        bytes.extend(std::fs::read(wal).unwrap());
    }
    bytes
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tablet_revoked_while_offline_deletes_its_customer_data_on_reconnect() {
    let (dir, relay_dir, relay) = demo_relay(40);
    let mut tablet = Tablet::enrol(&relay, &relay_dir, dir.path(), "lost", "associate").await;
    let path = dir.path().join("lost.sqlite3");
    let (customers, names, emails) = tablet.with(|s| {
        let ids = s.doc_ids("customer").unwrap();
        let profiles: Vec<_> = ids
            .iter()
            .map(|id| match id {
                DocId::Customer(id) => s.customer(id).unwrap(),
                other => panic!("{other}"),
            })
            .collect();
        (
            ids.len(),
            profiles
                .iter()
                .map(|p| p.identity.name.clone())
                .collect::<Vec<_>>(),
            profiles
                .iter()
                .filter_map(|p| p.identity.email.clone())
                .collect::<Vec<_>>(),
        )
    });
    assert!(customers > 0, "the tablet synced its store's customers");
    assert!(names.iter().any(|n| contains(&file_bytes(&path), n)));

    // Lost while offline; the admin reports it lost, on the command line beside the running
    // relay.
    tablet.stop().await;
    let admin = Api::admin(&relay, &relay_dir).unwrap();
    let devices: Vec<EnrolledDevice> = reply(admin.get("/v1/admin/devices")).await.unwrap();
    let lost = devices.iter().find(|d| d.name == "lost").unwrap();
    let wiped = aisle_tests::admin_command(&relay_dir)
        .unwrap()
        .args([
            "admin",
            "wipe",
            &lost.id,
            "--reason",
            "stolen from the stockroom",
        ])
        .output()
        .unwrap();
    assert!(
        wiped.status.success(),
        "{}",
        String::from_utf8_lossy(&wiped.stderr)
    );
    let trail: Vec<aisle_core::api::AuditEntry> =
        reply(admin.get("/v1/admin/audit")).await.unwrap();
    assert!(
        trail
            .iter()
            .any(|e| e.action == aisle_core::api::AuditAction::DeviceWiped
                && e.subject == lost.id
                && e.detail == "stolen from the stockroom"),
        "the loss is in the audit trail"
    );

    // It comes back into range.
    tablet.start();
    eventually(
        "the tablet learns it was removed",
        Duration::from_secs(20),
        || status(&tablet).removed_at.is_some(),
    )
    .await;
    let shown = status(&tablet);
    assert_eq!(shown.connection, Connection::Refused);
    let reason = shown.reason.unwrap_or_default();
    assert!(reason.contains("removed from the store"), "{reason}");
    assert!(
        reason.contains("customer data it held was deleted"),
        "{reason}"
    );
    tablet.stop().await;
    drop(tablet);

    // Opened as a thief would: no customer anywhere in the database.
    let conn = rusqlite::Connection::open(&path).unwrap();
    for table in [
        "customers",
        "customer_identifiers",
        "customer_search",
        "visits",
        "customer_lines",
        "kiosk_queue",
    ] {
        let rows: i64 = conn
            .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 0, "{table} still has rows");
    }
    let docs: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM docs WHERE kind = 'customer'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(docs, 0);
    drop(conn);
    let bytes = file_bytes(&path);
    for needle in names.iter().chain(emails.iter()) {
        assert!(
            !contains(&bytes, needle),
            "'{needle}' is still in the tablet's files"
        );
    }
}
