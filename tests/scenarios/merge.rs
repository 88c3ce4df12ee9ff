//! Duplicate profiles over a real relay: one web event names a loyalty member and a web-only
//! profile, the relay merges them, a connected tablet follows at once, and a tablet that was
//! offline and wrote a note on the old profile keeps that note, once, on the merged customer.
//! A store manager merges two profiles of one person found in store; nobody else can.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

use aisle_core::model::{AssociateId, CustomerId, Identifier, LoyaltyId, StoreId};
use aisle_tests::{Relay, Tablet, ingest_secret, sign_events};
use serde_json::json;
use std::time::{Duration, Instant};

async fn post(relay: &Relay, secret: &str, events: serde_json::Value) -> serde_json::Value {
    let body = serde_json::to_vec(&json!({ "events": events })).unwrap();
    let response = reqwest::Client::new()
        .post(relay.url("/v1/events"))
        .header("content-type", "application/json")
        .header("x-aisle-tenant", "demo")
        .header("x-aisle-signature", sign_events(secret, &body))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    response.json().await.unwrap()
}

async fn until(tablet: &Tablet, what: &str, done: impl Fn(&mut aisle_tablet::Tablet) -> bool) {
    let started = Instant::now();
    while !tablet.with(&done) {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{what} did not happen on the tablet"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn merged_profiles_redirect_on_every_tablet_and_keep_offline_notes() {
    let dir = tempfile::tempdir().unwrap();
    let relay_dir = dir.path().join("relay");
    let relay = Relay::start(&relay_dir, &["--demo", "--demo-customers", "40"]).unwrap();
    let secret = ingest_secret(&relay_dir).unwrap();
    let online = Tablet::enrol(&relay, &relay_dir, dir.path(), "online", "associate").await;
    let mut offline = Tablet::enrol(&relay, &relay_dir, dir.path(), "offline", "associate").await;

    let data = aisle_relay::domain::demo::DemoData::generate(
        aisle_relay::domain::demo::DemoConfig::new(40, 0),
    );
    let member = data
        .customers()
        .find(|c| c.customer.home_store.as_str() == "LDN-CG")
        .unwrap();
    let member_loyalty = member.customer.loyalty_id.to_string();
    let web_loyalty = LoyaltyId::from_serial(990_777).to_string();
    let product = &data.products[7];

    // The shopper signs up online with another email, and leaves a cart.
    let created = post(
        &relay,
        &secret,
        json!([
            { "id": "s-1", "type": "customer_upserted",
              "customer": { "email": "pat.web@example.com", "shop_customer_id": "shopify:9001" },
              "name": "Pat Web", "home_store": "LDN-CG", "new_loyalty_id": web_loyalty,
              "in_store_personalisation": true },
            { "id": "s-2", "type": "checkout_abandoned", "customer": { "shop_customer_id": "shopify:9001" },
              "lines": [ { "variant": product.variants[0].sku, "quantity": 1 } ] }
        ]),
    )
    .await;
    assert_eq!(created["created"], 1);
    let find = |s: &mut aisle_core::Store, loyalty: &str| {
        s.identify(&Identifier::Loyalty(LoyaltyId::parse(loyalty).unwrap()))
            .ok()
    };
    until(&offline, "the web profile", |s| {
        find(s, &web_loyalty).is_some()
    })
    .await;
    let web_id: CustomerId = offline.with(|s| find(s, &web_loyalty)).unwrap();
    let member_id: CustomerId = offline.with(|s| find(s, &member_loyalty)).unwrap();
    assert_ne!(web_id, member_id);

    // Offline, an associate writes a note on the web profile.
    offline.stop().await;
    let associate = AssociateId::parse("sam.a").unwrap();
    let here = StoreId::parse("LDN-CG").unwrap();
    offline.with(|s| {
        s.add_note(
            &web_id,
            "Wants the boots in wide fit.",
            &associate,
            Some(&here),
        )
        .unwrap();
    });

    // Meanwhile the shop links the loyalty card to the web account: the relay merges them.
    let merged = post(
        &relay,
        &secret,
        json!([
            { "id": "s-3", "type": "customer_upserted",
              "customer": { "loyalty_id": member_loyalty, "email": "pat.web@example.com" },
              "name": member.customer.name, "home_store": "LDN-CG" }
        ]),
    )
    .await;
    assert_eq!(merged["merged"], 1);
    until(&online, "the merge", |s| {
        s.current_id(&web_id).ok().as_ref() == Some(&member_id)
    })
    .await;

    offline.start();
    offline.wait_synced().await;
    let note_on = |s: &mut aisle_core::Store| {
        s.customer(&member_id)
            .unwrap()
            .notes
            .iter()
            .filter(|n| n.item.text == "Wants the boots in wide fit.")
            .count()
    };
    for tablet in [&online, &offline] {
        until(tablet, "the carried note", |s| note_on(s) == 1).await;
    }
    // Settled: still exactly once, and the old identifiers open the member everywhere.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for tablet in [&online, &offline] {
        tablet.with(|s| {
            assert_eq!(note_on(s), 1);
            let profile = s.customer(&web_id).unwrap();
            assert_eq!(profile.id, member_id);
            assert!(
                profile
                    .online_cart()
                    .unwrap()
                    .lines
                    .values()
                    .any(|l| l.variant == product.variants[0].sku)
            );
            for identifier in [
                Identifier::Email("pat.web@example.com".into()),
                Identifier::Shop("shopify:9001".into()),
                Identifier::Loyalty(LoyaltyId::parse(&web_loyalty).unwrap()),
            ] {
                assert_eq!(s.identify(&identifier).unwrap(), member_id);
            }
            assert!(
                s.search_customers("Pat Web", 5)
                    .unwrap()
                    .iter()
                    .all(|c| c.id != web_id)
            );
            assert_eq!(s.check_projections().unwrap(), Vec::<String>::new());
        });
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_manager_merges_a_person_found_twice_and_every_tablet_follows() {
    let dir = tempfile::tempdir().unwrap();
    let relay_dir = dir.path().join("relay");
    let relay = Relay::start(&relay_dir, &["--demo", "--demo-customers", "40"]).unwrap();
    let manager = Tablet::enrol(&relay, &relay_dir, dir.path(), "manager", "manager").await;
    let associate = Tablet::enrol(&relay, &relay_dir, dir.path(), "floor", "associate").await;
    let data = aisle_relay::domain::demo::DemoData::generate(
        aisle_relay::domain::demo::DemoConfig::new(40, 0),
    );
    let mut here = data
        .customers()
        .filter(|c| c.customer.home_store.as_str() == "LDN-CG");
    let (keep, twice) = (here.next().unwrap(), here.next().unwrap());
    let elsewhere = data
        .customers()
        .find(|c| c.customer.home_store.as_str() != "LDN-CG")
        .unwrap();
    let id_of = |s: &mut aisle_core::Store, loyalty: &LoyaltyId| {
        s.identify(&Identifier::Loyalty(loyalty.clone())).ok()
    };
    until(&associate, "the store's customers", |s| {
        id_of(s, &twice.customer.loyalty_id).is_some()
    })
    .await;
    let keep_id = associate
        .with(|s| id_of(s, &keep.customer.loyalty_id))
        .unwrap();
    let twice_id = associate
        .with(|s| id_of(s, &twice.customer.loyalty_id))
        .unwrap();
    let elsewhere_id = elsewhere.id.clone().unwrap();

    // Only a manager merges, only profiles of their store, never a profile into itself.
    let refused = |e: aisle_tablet::sync_client::SyncError| e.to_string();
    let by_associate =
        aisle_tablet::relay_client::merge_customers(&associate.config, &keep_id, &twice_id).await;
    assert!(refused(by_associate.unwrap_err()).contains("only a manager"));
    let across =
        aisle_tablet::relay_client::merge_customers(&manager.config, &keep_id, &elsewhere_id).await;
    assert!(refused(across.unwrap_err()).contains("another store"));
    let itself =
        aisle_tablet::relay_client::merge_customers(&manager.config, &keep_id, &keep_id).await;
    assert!(refused(itself.unwrap_err()).contains("already this customer"));
    associate.with(|s| assert_eq!(s.current_id(&twice_id).unwrap(), twice_id));

    aisle_tablet::relay_client::merge_customers(&manager.config, &keep_id, &twice_id)
        .await
        .unwrap();
    for tablet in [&manager, &associate] {
        // Two documents change (the survivor and the folded profile); they may arrive apart.
        until(tablet, "the manager's merge", |s| {
            s.current_id(&twice_id).ok().as_ref() == Some(&keep_id)
                && id_of(s, &twice.customer.loyalty_id).as_ref() == Some(&keep_id)
        })
        .await;
        tablet.with(|s| {
            let profile = s.customer(&twice_id).unwrap();
            assert_eq!(profile.id, keep_id);
            assert!(profile.merged_from.iter().any(|m| m.customer == twice_id));
            assert_eq!(s.check_projections().unwrap(), Vec::<String>::new());
        });
    }
    // Asking again changes nothing: it is the same profile now.
    let again =
        aisle_tablet::relay_client::merge_customers(&manager.config, &keep_id, &twice_id).await;
    assert!(refused(again.unwrap_err()).contains("already this customer"));
}
