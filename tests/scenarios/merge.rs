//! Duplicate profiles over a real relay: one web event names a loyalty member and a web-only
//! profile, the relay merges them, a connected tablet follows at once, and a tablet that was
//! offline and wrote a note on the old profile keeps that note, once, on the merged customer.
//! A store manager merges two profiles of one person found in store; nobody else can.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

use aisle_core::api::{Event, EventBatch, EventCustomer, EventKind, EventLine, MergeRequest};
use aisle_core::model::{AssociateId, CustomerId, ErrorCode, Identifier, LoyaltyId, StoreId};
use aisle_tests::{Api, Tablet, eventually, ingest_secret, post_events, refusal};
use std::time::Duration;

fn event(id: &str, customer: EventCustomer, kind: EventKind) -> Event {
    Event {
        id: id.into(),
        customer,
        kind,
    }
}

async fn until(tablet: &Tablet, what: &str, done: impl Fn(&mut aisle_tablet::Tablet) -> bool) {
    eventually(what, Duration::from_secs(20), || tablet.with(&done)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn merged_profiles_redirect_on_every_tablet_and_keep_offline_notes() {
    let (dir, relay_dir, relay) = aisle_tests::demo_relay(40);
    let secret = ingest_secret(&relay_dir).unwrap();
    let online = Tablet::enrol(&relay, &relay_dir, dir.path(), "online", "associate").await;
    let mut offline = Tablet::enrol(&relay, &relay_dir, dir.path(), "offline", "associate").await;

    let data = aisle_relay::domain::demo::DemoData::generate(
        aisle_relay::domain::demo::DemoConfig::new(40, 0),
    );
    let member = aisle_tests::demo_customer(40, |c| c.home_store.as_str() == "LDN-CG");
    let member_loyalty = member.customer.loyalty_id.to_string();
    let web_loyalty = LoyaltyId::from_serial(990_777).to_string();
    let product = &data.products[7];

    // The shopper signs up online with another email, and leaves a cart.
    let here = StoreId::parse("LDN-CG").unwrap();
    let shop_account = EventCustomer {
        shop_customer_id: Some("shopify:9001".into()),
        ..EventCustomer::default()
    };
    let signup = EventBatch {
        events: vec![
            event(
                "s-1",
                EventCustomer {
                    email: Some("pat.web@example.com".into()),
                    ..shop_account.clone()
                },
                EventKind::CustomerUpserted {
                    name: "Pat Web".into(),
                    home_store: here.clone(),
                    new_loyalty_id: Some(web_loyalty.clone()),
                    in_store_personalisation: Some(true),
                    marketing_email: None,
                },
            ),
            event(
                "s-2",
                shop_account,
                EventKind::CheckoutAbandoned {
                    lines: Some(vec![EventLine {
                        variant: product.variants[0].sku.clone(),
                        quantity: 1,
                    }]),
                },
            ),
        ],
    };
    let created = post_events(&relay, &secret, &signup).await.unwrap();
    assert_eq!(created.created, 1, "{created:?}");
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
    let link = EventBatch {
        events: vec![event(
            "s-3",
            EventCustomer {
                loyalty_id: Some(member_loyalty.clone()),
                email: Some("pat.web@example.com".into()),
                ..EventCustomer::default()
            },
            EventKind::CustomerUpserted {
                name: member.customer.name.clone(),
                home_store: here.clone(),
                new_loyalty_id: None,
                in_store_personalisation: None,
                marketing_email: None,
            },
        )],
    };
    let merged = post_events(&relay, &secret, &link).await.unwrap();
    assert_eq!(merged.merged, 1, "{merged:?}");
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
    let (dir, relay_dir, relay) = aisle_tests::demo_relay(40);
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
    let merge = |tablet: &Tablet, duplicate: &CustomerId| {
        Api::new(&relay, &tablet.config.token)
            .post(&format!("/v1/customers/{keep_id}/merge"))
            .json(&MergeRequest {
                duplicate: duplicate.clone(),
            })
    };
    let by_associate = refusal(merge(&associate, &twice_id)).await.unwrap();
    assert_eq!(by_associate.code(), ErrorCode::Forbidden, "{by_associate}");
    let across = refusal(merge(&manager, &elsewhere_id)).await.unwrap();
    assert_eq!(across.code(), ErrorCode::Forbidden, "{across}");
    let itself = refusal(merge(&manager, &keep_id)).await.unwrap();
    assert_eq!(itself.code(), ErrorCode::InvalidInput);
    assert!(
        itself.error.message.contains("already this customer"),
        "{itself}"
    );
    // The tablet's relay client hands the app the relay's code, not only its words.
    match aisle_tablet::relay_client::merge_customers(&associate.config, &keep_id, &twice_id).await
    {
        Err(aisle_tablet::SyncError::Relay(e)) => assert_eq!(e.code, ErrorCode::Forbidden, "{e}"),
        other => panic!("an associate's merge through the client: {other:?}"),
    }
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
    let again = refusal(merge(&manager, &twice_id)).await.unwrap();
    assert_eq!(again.code(), ErrorCode::InvalidInput);
    assert!(
        again.error.message.contains("already this customer"),
        "{again}"
    );
}
