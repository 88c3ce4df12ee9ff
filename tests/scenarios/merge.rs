//! Duplicate profiles over a real relay: one web event names a loyalty member and a web-only
//! profile, the relay merges them, a connected tablet follows at once, and a tablet that was
//! offline and wrote a note on the old profile keeps that note, once, on the merged customer.

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

async fn until(tablet: &Tablet, what: &str, done: impl Fn(&mut aisle_core::Store) -> bool) {
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

    let data = aisle_core::demo::DemoData::generate(aisle_core::demo::DemoConfig::new(40, 0));
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
