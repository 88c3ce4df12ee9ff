//! Identity merges, likely sizes, recommendations and their evaluation.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod common;

use aisle_core::api::EventBatch;
use aisle_core::model::{
    AssociateId, CartStatus, Category, Channel, ConsentPurpose, ConsentRecord, ConsentSource,
    Identifier, LoyaltyId, NewCustomer, Role, SizeBasis, Tier,
};
use aisle_core::{Clock, DocId, IdGen, Store, StoreOptions};
use aisle_relay::domain::RelayDocs;
use aisle_relay::domain::demo::{DemoConfig, DemoData};
use aisle_relay::domain::push::DevicePush;
use aisle_tablet::Tablet;
use common::*;
use std::collections::BTreeMap;

fn batch(events: serde_json::Value) -> EventBatch {
    serde_json::from_value(serde_json::json!({ "events": events })).unwrap()
}

fn consenting(name: &str, loyalty: u32, home: &aisle_core::model::StoreId) -> NewCustomer {
    let mut consent = BTreeMap::new();
    consent.insert(
        ConsentPurpose::InStorePersonalisation,
        ConsentRecord {
            granted: true,
            at: NOW,
            source: ConsentSource::Kiosk,
        },
    );
    NewCustomer {
        loyalty_id: LoyaltyId::from_serial(loyalty),
        name: name.into(),
        email: None,
        phone: None,
        home_store: home.clone(),
        tier: Tier::Member,
        consent,
    }
}

#[test]
fn duplicate_profiles_merge_on_every_replica_and_keep_both_histories() {
    let dir = tempfile::tempdir().unwrap();
    let (mut relay, data) = demo_relay(&dir.path().join("relay.sqlite3"), 31, 30);
    let member = data.customer(0);
    let home = member.customer.home_store.clone();
    let member_id = relay
        .identify(&Identifier::Loyalty(member.customer.loyalty_id.clone()))
        .unwrap();
    let before = relay.customer(&member_id).unwrap();
    let product = &data.products[40];

    // The same person signs up on the web shop with another email: a second profile.
    let web_loyalty = LoyaltyId::from_serial(990_001);
    let outcome = relay
        .ingest(&batch(serde_json::json!([
            { "id": "m-1", "type": "customer_upserted",
              "customer": { "email": "sam.web@example.com", "shop_customer_id": "shopify:42" },
              "name": "Sam Web", "home_store": home, "new_loyalty_id": web_loyalty,
              "in_store_personalisation": true },
            { "id": "m-2", "type": "product_viewed", "customer": { "shop_customer_id": "shopify:42" },
              "product": product.sku, "size": product.sizes[0] },
            { "id": "m-3", "type": "checkout_abandoned", "customer": { "email": "sam.web@example.com" },
              "lines": [ { "variant": product.variants[0].sku, "quantity": 1 } ] },
            { "id": "m-4", "type": "chat_handoff", "customer": { "email": "sam.web@example.com" },
              "summary": "Asked about the fit of the boots." }
        ])))
        .unwrap();
    assert_eq!((outcome.created, outcome.merged), (1, 0));
    let web_id = relay
        .identify(&Identifier::Shop("shopify:42".into()))
        .unwrap();
    assert_ne!(web_id, member_id);

    // A tablet holds both and, offline, writes a note on the web profile.
    let mut docs = vec![
        DocId::Catalog,
        DocId::Customer(member_id.clone()),
        DocId::Customer(web_id.clone()),
    ];
    let mut tablet = replica_of(&mut relay, &dir.path().join("tablet.sqlite3"), 32, &docs);
    let associate = AssociateId::parse("kim.a").unwrap();
    tablet
        .add_note(&web_id, "Prefers a wide fit.", &associate, Some(&home))
        .unwrap();

    // An order that names the member's card with the web email typed at checkout: not proof
    // of one person (anyone can type an email), so nothing is merged and the card wins.
    let unverified = relay
        .ingest(&batch(serde_json::json!([
            { "id": "m-4b", "type": "product_viewed",
              "customer": { "loyalty_id": member.customer.loyalty_id, "email": "sam.web@example.com" },
              "product": product.sku }
        ])))
        .unwrap();
    assert_eq!((unverified.accepted, unverified.merged), (1, 0));
    assert_ne!(relay.current_id(&web_id).unwrap(), member_id);

    // The shop links the loyalty card to the web account: the same person, merged.
    let same_person = batch(serde_json::json!([
        { "id": "m-5", "type": "customer_upserted",
          "customer": { "loyalty_id": member.customer.loyalty_id, "email": "sam.web@example.com" },
          "name": member.customer.name, "home_store": home }
    ]));
    let outcome = relay.ingest(&same_person).unwrap();
    assert_eq!((outcome.accepted, outcome.merged), (1, 1));
    let replay = relay.ingest(&same_person).unwrap();
    assert_eq!((replay.duplicates, replay.merged), (1, 0));

    // The tablet's offline note reaches the relay on the old profile; the relay folds it in.
    docs.remove(0);
    sync_docs(&mut relay, &mut tablet, &docs);
    assert!(relay.carry_merged(&web_id).unwrap());
    let heads = relay
        .doc_heads(&DocId::Customer(member_id.clone()))
        .unwrap();
    assert!(relay.carry_merged(&web_id).unwrap());
    assert_eq!(
        relay
            .doc_heads(&DocId::Customer(member_id.clone()))
            .unwrap(),
        heads,
        "folding again changes nothing"
    );
    sync_docs(&mut relay, &mut tablet, &docs);

    for (name, store) in [("relay", &*relay), ("tablet", &*tablet)] {
        let profile = store.customer(&web_id).unwrap();
        assert_eq!(
            profile.id, member_id,
            "{name}: the old id opens the survivor"
        );
        assert_eq!(profile.identity.name, member.customer.name);
        let notes: Vec<&str> = profile.notes.iter().map(|n| n.item.text.as_str()).collect();
        assert_eq!(
            notes
                .iter()
                .filter(|n| **n == "Prefers a wide fit.")
                .count(),
            1,
            "{name}: {notes:?}"
        );
        assert_eq!(
            notes
                .iter()
                .filter(|n| n.starts_with("Web chat: Asked about the fit"))
                .count(),
            1
        );
        assert_eq!(notes.len(), before.notes.len() + 2, "{name}");
        assert_eq!(profile.purchases.len(), before.purchases.len());
        let cart = profile.online_cart().unwrap();
        assert_eq!(cart.status, CartStatus::Abandoned);
        assert!(
            cart.lines
                .values()
                .any(|l| l.variant == product.variants[0].sku)
        );
        let viewed = profile
            .views
            .iter()
            .find(|v| v.product == product.sku)
            .unwrap();
        assert!(
            viewed.count >= 2,
            "views from both profiles add up: {}",
            viewed.count
        );
        assert_eq!(profile.shop_customer_id.as_deref(), Some("shopify:42"));
        assert_eq!(profile.merged_from.len(), 1);
        assert_eq!(profile.merged_from[0].customer, web_id);
        for identifier in [
            Identifier::Email("SAM.WEB@example.com".into()),
            Identifier::Shop("shopify:42".into()),
            Identifier::Loyalty(web_loyalty.clone()),
            Identifier::Loyalty(member.customer.loyalty_id.clone()),
        ] {
            assert_eq!(store.identify(&identifier).unwrap(), member_id, "{name}");
        }
        let found = store.search_customers("Sam Web", 10).unwrap();
        assert!(
            found.iter().all(|c| c.id != web_id),
            "{name}: duplicate left search"
        );
        assert_eq!(
            store.same_person(&web_id).unwrap(),
            vec![member_id.clone(), web_id.clone()]
        );
    }
    assert_eq!(tablet.check_projections().unwrap(), Vec::<String>::new());
    assert_eq!(relay.check_projections().unwrap(), Vec::<String>::new());

    // A write through the old id on a screen opened before the merge lands on the survivor.
    tablet
        .add_note(&web_id, "Came back for the boots.", &associate, Some(&home))
        .unwrap();
    assert!(
        tablet
            .customer(&member_id)
            .unwrap()
            .notes
            .iter()
            .any(|n| n.item.text == "Came back for the boots.")
    );
    assert!(relay.merge_customers(&member_id, &member_id).is_err());
}

#[test]
fn likely_size_comes_from_purchases_then_carts_then_views() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::manual(NOW);
    let mut store = Tablet::new(
        Store::open_with(
            dir.path().join("s.sqlite3"),
            StoreOptions {
                clock: clock.clone(),
                ids: IdGen::seeded(5),
                ..StoreOptions::default()
            },
        )
        .unwrap(),
    )
    .expect("a tablet store");
    let data = DemoData::generate(DemoConfig::new(0, NOW));
    data.import(&mut store, |_| {}).unwrap();
    let here = data.stores[0].id.clone();
    let id = store
        .create_customer(consenting("Ada Size", 990_100, &here))
        .unwrap();
    let tee = data
        .products
        .iter()
        .find(|p| p.category == Category::Tops && p.sizes.len() >= 4)
        .unwrap();
    let variant_in = |size: &str| tee.variants.iter().find(|v| v.size == size).unwrap();
    let tops = |store: &Tablet| {
        let profile = store.customer(&id).unwrap();
        store
            .likely_sizes(&profile)
            .unwrap()
            .into_iter()
            .find(|l| l.category == Category::Tops)
            .map(|l| (l.size, l.basis))
    };
    assert_eq!(tops(&store), None);

    for _ in 0..3 {
        store
            .record_view(&id, &tee.sku, Some(&tee.sizes[0]))
            .unwrap();
    }
    assert_eq!(tops(&store), Some((tee.sizes[0].clone(), SizeBasis::Views)));

    store
        .set_online_cart(
            &id,
            vec![("web-1".into(), variant_in(&tee.sizes[1]).sku.clone(), 1)],
            CartStatus::Open,
            Channel::Web,
        )
        .unwrap();
    assert_eq!(tops(&store), Some((tee.sizes[1].clone(), SizeBasis::Cart)));

    clock.advance(60_000);
    store
        .sell(&aisle_tablet::checkout::SaleRequest {
            store: here.clone(),
            lines: vec![(variant_in(&tee.sizes[2]).sku.clone(), 1)],
            customer: Some(id.clone()),
            associate: AssociateId::parse("kim.a").unwrap(),
            holds: vec![],
            cart: None,
        })
        .unwrap();
    assert_eq!(
        tops(&store),
        Some((tee.sizes[2].clone(), SizeBasis::Purchases))
    );

    // An associate hears they have changed size since: that wins until the next purchase.
    clock.advance(60_000);
    store
        .set_size_preference(&id, Category::Tops, &tee.sizes[3])
        .unwrap();
    assert_eq!(
        tops(&store),
        Some((tee.sizes[3].clone(), SizeBasis::Recorded))
    );
}

#[test]
fn recommendations_are_published_once_and_rank_what_goes_with_the_cart() {
    let dir = tempfile::tempdir().unwrap();
    let (mut relay, data) = demo_relay(&dir.path().join("relay.sqlite3"), 41, 1_500);
    let published = relay.publish_recommendations().unwrap();
    assert!(published.changed);
    assert!(published.products > 200, "{published:?}");
    let again = relay.publish_recommendations().unwrap();
    assert!(!again.changed, "the same baskets publish nothing new");

    let here = data.stores[0].id.clone();
    let shopper = relay
        .create_customer(consenting("Rec Shopper", 990_200, &here))
        .unwrap();
    let quiet = relay
        .create_customer(NewCustomer {
            consent: BTreeMap::new(),
            ..consenting("No Consent", 990_201, &here)
        })
        .unwrap();
    // The product with the strongest related list.
    let baskets: Vec<_> = data.baskets().into_iter().map(|(_, b)| b).collect();
    let table = aisle_relay::domain::recommend::co_occurrence(&baskets);
    let (seed, related) = table
        .iter()
        .max_by(|a, b| a.1[0].score.total_cmp(&b.1[0].score))
        .unwrap();
    let seed_product = data.products.iter().find(|p| &p.sku == seed).unwrap();
    for customer in [&shopper, &quiet] {
        relay
            .set_online_cart(
                customer,
                vec![("web-1".into(), seed_product.variants[0].sku.clone(), 1)],
                CartStatus::Abandoned,
                Channel::Web,
            )
            .unwrap();
    }

    let docs = [
        DocId::Catalog,
        DocId::Recommendations,
        DocId::Inventory(here.clone()),
        DocId::Customer(shopper.clone()),
        DocId::Customer(quiet.clone()),
    ];
    let tablet = replica_of(&mut relay, &dir.path().join("tablet.sqlite3"), 42, &docs);
    let briefing = tablet.briefing(&here, &shopper, 0).unwrap();
    assert!(!briefing.recommendations.is_empty());
    for pick in &briefing.recommendations {
        assert_eq!(&pick.because, seed);
        assert_ne!(&pick.product.sku, seed);
        assert!(related.iter().any(|r| r.product == pick.product.sku));
        assert!(pick.available > 0, "only what is on the shelf here");
    }
    assert!(
        briefing
            .suggestions
            .iter()
            .any(|s| s.text.starts_with("Also show the ")),
        "{:?}",
        briefing.suggestions
    );
    let quiet_briefing = tablet.briefing(&here, &quiet, 0).unwrap();
    assert!(quiet_briefing.recommendations.is_empty());
    assert!(quiet_briefing.likely_sizes.is_empty());
}

#[test]
fn co_occurrence_beats_popularity_on_held_out_demo_baskets() {
    let data = DemoData::generate(DemoConfig::new(3_000, NOW));
    let (test, train): (Vec<_>, Vec<_>) = data.baskets().into_iter().partition(|(i, _)| i % 5 == 0);
    let train: Vec<_> = train.into_iter().map(|(_, b)| b).collect();
    let test: Vec<_> = test.into_iter().map(|(_, b)| b).collect();
    let e = aisle_relay::domain::recommend::evaluate(&train, &test, 5);
    assert!(e.test_cases > 500, "{e:?}");
    assert!(
        e.co_occurrence_hit_rate > 2.0 * e.popularity_hit_rate,
        "co-occurrence should beat popularity clearly: {e:?}"
    );
}

#[test]
fn only_the_relay_merges_a_device_push_recording_a_merge_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (mut relay, data) = demo_relay(&dir.path().join("relay.sqlite3"), 31, 30);
    let home = data.customer(0).customer.home_store.clone();
    let [keep, other] = [0, 1].map(|i| {
        relay
            .identify(&Identifier::Loyalty(
                data.customer(i).customer.loyalty_id.clone(),
            ))
            .unwrap()
    });
    let [keep_doc, other_doc] = [&keep, &other].map(|id| DocId::Customer(id.clone()));
    let mut tablet = replica_of(
        &mut relay,
        &dir.path().join("tablet.sqlite3"),
        32,
        &[DocId::Catalog, keep_doc.clone(), other_doc.clone()],
    );
    let actor = tablet.actor().clone();
    let push_from = |tablet: &mut Store, relay: &Store, docs: &[&DocId]| {
        docs.iter()
            .map(|doc| {
                let since = relay.doc_heads(doc).unwrap();
                let (_, changes) = tablet.changes_since(doc, &since).unwrap().unwrap();
                ((*doc).clone(), changes)
            })
            .collect::<Vec<_>>()
    };

    // An ordinary offline edit goes through.
    let associate = AssociateId::parse("sam.a").unwrap();
    tablet
        .add_note(&other, "Likes linen.", &associate, Some(&home))
        .unwrap();
    let note = push_from(&mut tablet, &relay, &[&other_doc]);
    relay
        .apply_changes(
            note,
            &DevicePush {
                author: &actor,
                role: Role::Associate,
            },
        )
        .unwrap();

    // A device that merges on its own (a modified app, say) is refused, and nothing of it
    // lands: no redirect, nothing folded, the note still on its own profile.
    RelayDocs::new(&mut *tablet)
        .expect("a relay store")
        .merge_customers(&keep, &other)
        .unwrap();
    let merge = push_from(&mut tablet, &relay, &[&keep_doc, &other_doc]);
    let refused = relay
        .apply_changes(
            merge,
            &DevicePush {
                author: &actor,
                role: Role::Associate,
            },
        )
        .unwrap_err();
    assert!(
        refused.to_string().contains("only the relay makes"),
        "{refused}"
    );
    assert_eq!(relay.current_id(&other).unwrap(), other);
    assert!(relay.customer(&keep).unwrap().merged_from.is_empty());
    let linen = |s: &Store, id| {
        s.customer(id)
            .unwrap()
            .notes
            .iter()
            .filter(|n| n.item.text == "Likes linen.")
            .count()
    };
    assert_eq!((linen(&relay, &other), linen(&relay, &keep)), (1, 0));
    assert_eq!(relay.check_projections().unwrap(), Vec::<String>::new());
}
