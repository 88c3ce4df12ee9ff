//! Golden tests of the briefing's "what to do" list for demo customers: the exact words an
//! associate reads. Review changes with `cargo insta review` (or `INSTA_UPDATE=always`).

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod common;

use aisle_core::api::EventBatch;
use aisle_core::model::{ConsentPurpose, Identifier};
use aisle_relay::domain::RelayDocs;
use common::*;

#[test]
fn what_to_do_for_demo_customers() {
    let dir = tempfile::tempdir().unwrap();
    // The relay's recommendations below count every basket: a store that serves peers.
    let (mut store, data) = demo_store_serving_peers(&dir.path().join("s.sqlite3"), 21, 80);

    // One customer also chatted on the web and left a cart just now.
    let chatty = data
        .customers()
        .find(|c| {
            c.customer
                .consent
                .get(&ConsentPurpose::InStorePersonalisation)
                .is_some_and(|r| r.granted)
        })
        .unwrap();
    let product = &data.products[10];
    let batch: EventBatch = serde_json::from_value(serde_json::json!({ "events": [
        { "id": "g-1", "type": "chat_handoff", "customer": { "loyalty_id": chatty.customer.loyalty_id },
          "summary": "Wants the same coat in a darker colour for a wedding on Saturday." },
        { "id": "g-2", "type": "cart_updated", "customer": { "loyalty_id": chatty.customer.loyalty_id },
          "lines": [ { "variant": product.variants[0].sku, "quantity": 1 } ] }
    ]}))
    .unwrap();
    RelayDocs::new(&mut *store)
        .expect("a relay store")
        .ingest(&batch)
        .unwrap();
    RelayDocs::new(&mut *store)
        .expect("a relay store")
        .publish_recommendations()
        .unwrap();

    let mut golden = String::new();
    let mut shown = 0;
    for record in data.customers() {
        if shown == 6 {
            break;
        }
        let id = store
            .identify(&Identifier::Loyalty(record.customer.loyalty_id.clone()))
            .unwrap();
        let briefing = store.briefing(&record.customer.home_store, &id, 0).unwrap();
        if briefing.suggestions.is_empty()
            && record.customer.loyalty_id != chatty.customer.loyalty_id
        {
            continue;
        }
        shown += 1;
        golden.push_str(&format!(
            "## {} ({}, {})\n",
            record.customer.name, record.customer.loyalty_id, record.customer.home_store
        ));
        for s in &briefing.suggestions {
            golden.push_str(&format!("- [{:?}] {}\n", s.kind, s.text));
        }
        let sizes: Vec<String> = briefing
            .likely_sizes
            .iter()
            .map(|l| format!("{} {} ({:?})", l.category.label(), l.size, l.basis))
            .collect();
        golden.push_str(&format!("Sizes: {}\n", sizes.join(", ")));
        for r in &briefing.recommendations {
            golden.push_str(&format!(
                "Also show: {} ({} here{}), goes with the {}\n",
                r.product.name,
                r.available,
                r.size
                    .as_ref()
                    .map(|s| format!(" in {s}"))
                    .unwrap_or_default(),
                r.because_name
            ));
        }
        golden.push('\n');
    }
    insta::assert_snapshot!(golden);
}

#[test]
fn no_consent_means_no_suggestions() {
    let dir = tempfile::tempdir().unwrap();
    let (store, data) = demo_store(&dir.path().join("s.sqlite3"), 22, 80);
    let without = data
        .customers()
        .find(|c| {
            !c.customer
                .consent
                .get(&ConsentPurpose::InStorePersonalisation)
                .is_some_and(|r| r.granted)
                && c.online_cart.is_some()
        })
        .expect("a demo customer without consent but with a cart");
    let id = store
        .identify(&Identifier::Loyalty(without.customer.loyalty_id.clone()))
        .unwrap();
    let briefing = store
        .briefing(&without.customer.home_store, &id, 0)
        .unwrap();
    assert!(briefing.suggestions.is_empty());
}

/// A product the retailer no longer buys in is still sold from the shelf but never suggested.
#[test]
fn discontinued_products_are_not_suggested() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, data) = demo_store_serving_peers(&dir.path().join("s.sqlite3"), 21, 80);
    RelayDocs::new(&mut *store)
        .expect("a relay store")
        .publish_recommendations()
        .unwrap();
    let (record, suggested) = data
        .customers()
        .find_map(|record| {
            let id = store
                .identify(&Identifier::Loyalty(record.customer.loyalty_id.clone()))
                .unwrap();
            let briefing = store.briefing(&record.customer.home_store, &id, 0).unwrap();
            let first = briefing.recommendations.first()?.product.sku.clone();
            Some((record, first))
        })
        .expect("someone is shown a product");
    let product = data.products.iter().find(|p| p.sku == suggested).unwrap();
    discontinue(&mut store, product);
    assert!(store.product(&suggested).unwrap().discontinued);
    let id = store
        .identify(&Identifier::Loyalty(record.customer.loyalty_id.clone()))
        .unwrap();
    let briefing = store.briefing(&record.customer.home_store, &id, 0).unwrap();
    assert!(
        briefing
            .recommendations
            .iter()
            .all(|r| r.product.sku != suggested),
        "{:?}",
        briefing.recommendations
    );
}
