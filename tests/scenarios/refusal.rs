//! A pushed document the relay refuses is refused on its own: the rest of the push syncs, the
//! tablet keeps the refused document as it is, says why, and does not offer it again until it
//! changes. Here a modified app gives one of its customers the email of another store's
//! customer (taking their identity), and makes an ordinary edit to another customer.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

use aisle_core::model::{AssociateId, Connection, Identifier, SyncStatus};
use aisle_core::{DocId, Store};
use aisle_tablet::sync_client::RELAY_PEER;
use aisle_tests::{Tablet, demo_relay, eventually};
use std::time::Duration;

fn status(tablet: &Tablet) -> SyncStatus {
    tablet.client.as_ref().unwrap().status().borrow().clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_document_is_reported_and_the_rest_of_the_push_syncs() {
    let (dir, relay_dir, relay) = demo_relay(40);
    let mut tablet = Tablet::enrol(&relay, &relay_dir, dir.path(), "tablet", "associate").await;
    let victim = aisle_tests::demo_customer(40, |c| {
        c.home_store.as_str() != "LDN-CG" && c.email.is_some()
    });
    let victim_email = victim.customer.email.clone().unwrap();
    let [taker, noted] = tablet.with(|s| {
        let ids = s.doc_ids("customer").unwrap();
        [0, 1].map(|i| match &ids[i] {
            DocId::Customer(id) => id.clone(),
            other => panic!("{other} is not a customer"),
        })
    });

    // Offline: one tampered profile, one ordinary note.
    tablet.stop().await;
    tablet.with(|s| {
        s.update_customer(&taker, |c| {
            c.identity.email = Some(victim_email.clone());
            Ok(())
        })
        .unwrap();
        let associate = AssociateId::parse("sam.a").unwrap();
        s.add_note(&noted, "Prefers the linen range.", &associate, None)
            .unwrap();
    });
    tablet.start();

    eventually(
        "the relay's refusal reaches the tablet",
        Duration::from_secs(20),
        || !status(&tablet).refused.is_empty(),
    )
    .await;
    // The note went through; only the tampered profile is left unsynced.
    eventually("the note is acknowledged", Duration::from_secs(20), || {
        tablet.with(|s| s.count_docs_ahead_of(RELAY_PEER).unwrap()) == 1
    })
    .await;
    let refused = status(&tablet).refused;
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].doc, DocId::Customer(taker.clone()).to_string());
    assert!(
        refused[0].message.contains("email of another customer"),
        "{}",
        refused[0].message
    );
    // The tablet keeps its own copy as it is: nothing is lost.
    assert_eq!(
        tablet.with(|s| s.customer(&taker).unwrap().identity.email),
        Some(victim_email.clone())
    );

    // On the relay, the victim's email still finds the victim, and the note arrived.
    let relay_view = Store::open(aisle_tests::relay_documents(&relay_dir)).unwrap();
    let victim_id = relay_view
        .identify(&Identifier::Loyalty(victim.customer.loyalty_id.clone()))
        .unwrap();
    assert_eq!(
        relay_view
            .identify(&Identifier::Email(victim_email.clone()))
            .unwrap(),
        victim_id
    );
    assert!(
        relay_view
            .customer(&noted)
            .unwrap()
            .notes
            .iter()
            .any(|n| n.item.text == "Prefers the linen range.")
    );

    // After a restart the refusal is still shown, read from the tablet's store.
    tablet.stop().await;
    tablet.start();
    assert_eq!(status(&tablet).refused, refused);
    eventually("the tablet is back online", Duration::from_secs(20), || {
        status(&tablet).connection == Connection::Online
    })
    .await;
    assert_eq!(status(&tablet).refused, refused);
}
