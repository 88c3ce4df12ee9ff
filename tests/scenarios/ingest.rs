//! Web shop events posted to a real relay process reach a connected tablet's store and its
//! briefing; replays change nothing; bad batches get a 4xx with a reason and write nothing.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

use aisle_core::DocId;
use aisle_core::api::{Event, EventBatch, EventCustomer, EventKind, EventLine, IngestOutcome};
use aisle_core::model::{
    CartStatus, CustomerId, ErrorCode, Identifier, LoyaltyId, ProductSku, StoreId, VariantSku,
};
use aisle_tablet::Tablet;
use aisle_tests::{Answer, Relay, events_request, ingest_secret, sign_events};
use serde_json::json;
use std::time::Duration;

const CUSTOMERS: usize = 60;

struct Setup {
    _dir: tempfile::TempDir,
    relay: Relay,
    secret: String,
    tablet: aisle_tests::Tablet,
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let relay_dir = dir.path().join("relay");
    let relay = Relay::start(
        &relay_dir,
        &["--demo", "--demo-customers", &CUSTOMERS.to_string()],
    )
    .unwrap();
    let secret = ingest_secret(&relay_dir).unwrap();
    let tablet =
        aisle_tests::Tablet::enrol(&relay, &relay_dir, dir.path(), "tablet", "associate").await;
    Setup {
        _dir: dir,
        relay,
        secret,
        tablet,
    }
}

impl Setup {
    /// Posts a body as it is, with this signature.
    async fn post(&self, body: &[u8], signature: &str) -> Answer {
        Answer::of(events_request(&self.relay, body.to_vec(), signature))
            .await
            .unwrap()
    }

    /// Posts a body signed with the relay's secret: JSON that need not be a valid batch.
    async fn post_json(&self, batch: &serde_json::Value) -> Answer {
        let body = serde_json::to_vec(batch).unwrap();
        let signature = sign_events(&self.secret, &body);
        self.post(&body, &signature).await
    }

    async fn post_signed(&self, events: Vec<Event>) -> Answer {
        let body = serde_json::to_vec(&EventBatch { events }).unwrap();
        let signature = sign_events(&self.secret, &body);
        self.post(&body, &signature).await
    }

    fn tablet<T>(&self, f: impl FnOnce(&Tablet) -> T) -> T {
        self.tablet.with(|s| f(s))
    }

    /// Polls the tablet until `done` holds.
    async fn on_tablet(&self, what: &str, done: impl Fn(&Tablet) -> bool) -> Duration {
        aisle_tests::eventually(what, Duration::from_secs(10), || self.tablet(&done)).await
    }

    /// The tablet's heads of a document: unchanged means nothing new arrived.
    fn tablet_heads(&self, customer: &CustomerId) -> Vec<aisle_core::automerge::ChangeHash> {
        self.tablet(|s| s.doc_heads(&DocId::Customer(customer.clone())).unwrap())
    }
}

/// A demo customer of the tablet's store, and two variants and a product from the catalog.
fn fixtures() -> (LoyaltyId, ProductSku, VariantSku, VariantSku) {
    let data = aisle_relay::domain::demo::DemoData::generate(
        aisle_relay::domain::demo::DemoConfig::new(CUSTOMERS, 0),
    );
    let customer = aisle_tests::demo_customer(CUSTOMERS, |c| c.home_store.as_str() == "LDN-CG");
    let product = &data.products[3];
    (
        customer.customer.loyalty_id.clone(),
        product.sku.clone(),
        product.variants[0].sku.clone(),
        product.variants[1].sku.clone(),
    )
}

/// An event about the member with this loyalty number.
fn about(loyalty: &LoyaltyId, id: &str, kind: EventKind) -> Event {
    Event {
        id: id.into(),
        customer: EventCustomer {
            loyalty_id: Some(loyalty.to_string()),
            ..EventCustomer::default()
        },
        kind,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn web_events_reach_the_tablet_once_and_bad_batches_write_nothing() {
    let setup = setup().await;
    let (loyalty, product, v1, v2) = fixtures();
    let customer = setup.tablet(|s| s.identify(&Identifier::Loyalty(loyalty.clone())).unwrap());
    let views_of = |s: &Tablet| {
        s.customer(&customer)
            .unwrap()
            .views
            .iter()
            .find(|v| v.product == product)
            .map_or(0, |v| v.count)
    };
    let views_before = setup.tablet(views_of);
    let size = v1.as_str().rsplit('-').next().unwrap().to_string();

    let line = |variant: &VariantSku, quantity| EventLine {
        variant: variant.clone(),
        quantity,
    };
    let batch = vec![
        about(
            &loyalty,
            "evt-1",
            EventKind::ProductViewed {
                product: product.clone(),
                size: Some(size),
            },
        ),
        about(
            &loyalty,
            "evt-2",
            EventKind::CartUpdated {
                lines: vec![line(&v1, 1), line(&v2, 2)],
            },
        ),
        about(
            &loyalty,
            "evt-3",
            EventKind::CheckoutAbandoned { lines: None },
        ),
        about(
            &loyalty,
            "evt-4",
            EventKind::ChatHandoff {
                summary: "Asked whether the jacket runs small; wants to try it in store.".into(),
            },
        ),
    ];
    assert_eq!(
        setup.post_signed(batch.clone()).await.outcome().unwrap(),
        IngestOutcome {
            accepted: 4,
            ..IngestOutcome::default()
        }
    );

    let latency = setup
        .on_tablet("the abandoned cart and the chat", |s| {
            let profile = s.customer(&customer).unwrap();
            profile
                .online_cart()
                .is_some_and(|c| c.status == CartStatus::Abandoned && c.lines.len() == 2)
                && profile
                    .notes
                    .iter()
                    .any(|n| n.item.text.contains("runs small"))
        })
        .await;
    eprintln!("events at the relay → on the tablet: {latency:?}");
    assert_eq!(setup.tablet(views_of), views_before + 1);
    // The briefing shows it, with stock here for the cart's lines.
    let day_start = 0;
    let briefing = setup.tablet(|s| {
        s.briefing(&StoreId::parse("LDN-CG").unwrap(), &customer, day_start)
            .unwrap()
    });
    let cart = briefing.profile.online_cart().unwrap();
    for line in cart.lines.values() {
        assert!(briefing.variant(&line.product, &line.variant).is_some());
    }

    // The same batch again (a retry): counted once.
    let heads = setup.tablet_heads(&customer);
    assert_eq!(
        setup.post_signed(batch).await.outcome().unwrap(),
        IngestOutcome {
            duplicates: 4,
            ..IngestOutcome::default()
        }
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        setup.tablet_heads(&customer),
        heads,
        "nothing new reached the tablet"
    );
    assert_eq!(setup.tablet(views_of), views_before + 1);

    // Bad batches: a 4xx with a reason, and nothing written.
    let viewed = |id: &str| {
        about(
            &loyalty,
            id,
            EventKind::ProductViewed {
                product: product.clone(),
                size: None,
            },
        )
    };
    let fresh_view = viewed("evt-5");
    let body = serde_json::to_vec(&EventBatch {
        events: vec![fresh_view.clone()],
    })
    .unwrap();
    let unsigned = setup.post(&body, "sha256=00").await;
    assert_eq!(
        (unsigned.status, unsigned.refusal().unwrap().code()),
        (401, ErrorCode::Unauthorized)
    );
    let forged = setup
        .post(&body, &sign_events("not-the-secret", &body))
        .await;
    assert_eq!(
        (forged.status, forged.refusal().unwrap().code()),
        (401, ErrorCode::Unauthorized)
    );
    // An event type nobody declared: raw JSON, since `EventKind` cannot say it.
    let unknown = setup
        .post_json(&json!({ "events": [ { "id": "x", "type": "teleported",
            "customer": { "loyalty_id": loyalty } } ] }))
        .await;
    let refused = unknown.refusal().unwrap();
    assert_eq!(
        (refused.status, refused.code()),
        (400, ErrorCode::InvalidInput)
    );
    assert!(refused.error.message.contains("teleported"), "{refused}");
    let garbage = b"{\"events\": [ {\"id\": ";
    let cut_off = setup
        .post(garbage, &sign_events(&setup.secret, garbage))
        .await;
    assert_eq!(
        (cut_off.status, cut_off.refusal().unwrap().code()),
        (400, ErrorCode::InvalidInput)
    );
    let too_many = (0..=aisle_core::api::MAX_EVENTS)
        .map(|i| viewed(&format!("many-{i}")))
        .collect();
    let rejection = setup.post_signed(too_many).await.rejection().unwrap();
    assert_eq!(rejection.code, ErrorCode::InvalidInput);
    let unknown_product = about(
        &loyalty,
        "evt-6",
        EventKind::WishlistAdded {
            product: ProductSku::parse("NO-SUCH-PRODUCT").unwrap(),
        },
    );
    let rejection = setup
        .post_signed(vec![fresh_view.clone(), unknown_product])
        .await
        .rejection()
        .unwrap();
    assert_eq!(
        (rejection.code, rejection.index, rejection.id.as_str()),
        (ErrorCode::InvalidInput, 1, "evt-6")
    );
    // Over the size limit: refused before it is read (axum's own plain-text 413).
    let huge = vec![b' '; 1024 * 1024 + 1];
    assert_eq!(
        setup
            .post(&huge, &sign_events(&setup.secret, &huge))
            .await
            .status,
        413
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        setup.tablet_heads(&customer),
        heads,
        "refused batches wrote nothing"
    );

    // The valid event of the refused batch was not recorded as seen: sent alone, it applies.
    assert_eq!(
        setup
            .post_signed(vec![fresh_view])
            .await
            .outcome()
            .unwrap()
            .accepted,
        1
    );
    setup
        .on_tablet("the later view", |s| views_of(s) == views_before + 2)
        .await;

    // A new web customer of this store arrives on the tablet.
    let new_loyalty = LoyaltyId::from_serial(99_000_001);
    let mut signup = about(
        &new_loyalty,
        "evt-7",
        EventKind::CustomerUpserted {
            name: "Robin Web".into(),
            home_store: StoreId::parse("LDN-CG").unwrap(),
            new_loyalty_id: None,
            in_store_personalisation: Some(true),
            marketing_email: None,
        },
    );
    signup.customer.email = Some("Robin.Web@Example.com".into());
    assert_eq!(
        setup
            .post_signed(vec![signup])
            .await
            .outcome()
            .unwrap()
            .created,
        1
    );
    setup
        .on_tablet("the new customer", |s| {
            s.identify(&Identifier::Email("robin.web@example.com".into()))
                .is_ok()
        })
        .await;
}

fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

fn stock_event(id: &str, kind: EventKind) -> Event {
    Event {
        id: id.into(),
        customer: EventCustomer::default(),
        kind,
    }
}

/// The retailer's own systems move a store's stock: a delivery booked at the warehouse, a sale
/// rung up at another till (counted once under two event ids, in the customer's history, never
/// sent back to the till, not in Aisle's KPIs), and the stock system's level, reconciled with
/// the sales Aisle made since without counting any twice; a stale level changes nothing, and
/// a batch with one wrong movement writes none of them.
#[tokio::test(flavor = "multi_thread")]
async fn the_retailers_stock_events_move_stock_once_and_levels_reconcile_with_later_sales() {
    use aisle_core::api::{OutsideMovement, StockSystemLevel, StoreSaleLine};
    let dir = tempfile::tempdir().unwrap();
    let relay_dir = dir.path().join("relay");
    let relay = Relay::start(
        &relay_dir,
        &["--demo", "--demo-customers", &CUSTOMERS.to_string()],
    )
    .unwrap();
    let secret = ingest_secret(&relay_dir).unwrap();
    let manager =
        aisle_tests::Tablet::enrol(&relay, &relay_dir, dir.path(), "manager", "manager").await;
    let post = |events: Vec<Event>| {
        let body = serde_json::to_vec(&EventBatch { events }).unwrap();
        let signature = sign_events(&secret, &body);
        Answer::of(events_request(&relay, body, &signature))
    };
    let store = StoreId::parse("LDN-CG").unwrap();
    let (loyalty, _, variant, _) = fixtures();
    let on_hand = || manager.with(|t| t.on_hand(&store, &variant).unwrap());
    let wait_for = |what: &'static str, want: i64| {
        let on_hand = &on_hand;
        async move {
            aisle_tests::eventually(what, Duration::from_secs(10), || on_hand() == want).await;
        }
    };
    let start = on_hand();
    let as_of = now_ms() - 60_000;

    // Refused whole: a damage that adds units, after a valid delivery.
    let delivery = stock_event(
        "wms-1",
        EventKind::StockAdjusted {
            store: store.clone(),
            variant: variant.clone(),
            delta: 5,
            movement: OutsideMovement::Delivery,
            reason: Some("ASN 4471".into()),
            at: None,
        },
    );
    let bad_damage = stock_event(
        "wms-2",
        EventKind::StockAdjusted {
            store: store.clone(),
            variant: variant.clone(),
            delta: 3,
            movement: OutsideMovement::Damage,
            reason: None,
            at: None,
        },
    );
    let refused = post(vec![delivery.clone(), bad_damage])
        .await
        .unwrap()
        .rejection()
        .unwrap();
    assert_eq!(refused.index, 1, "{}", refused.message);
    for (what, kind) in [
        (
            "a store that does not exist",
            EventKind::StockAdjusted {
                store: StoreId::parse("NOPE-1").unwrap(),
                variant: variant.clone(),
                delta: 1,
                movement: OutsideMovement::Delivery,
                reason: None,
                at: None,
            },
        ),
        (
            "a level below zero",
            EventKind::StockLevel {
                store: store.clone(),
                as_of,
                levels: vec![StockSystemLevel {
                    variant: variant.clone(),
                    on_hand: -1,
                }],
            },
        ),
        (
            "a level from the future",
            EventKind::StockLevel {
                store: store.clone(),
                as_of: now_ms() + 3_600_000,
                levels: vec![StockSystemLevel {
                    variant: variant.clone(),
                    on_hand: 4,
                }],
            },
        ),
        (
            "a sale of nothing",
            EventKind::StoreSale {
                store: store.clone(),
                sale_id: "T-0".into(),
                lines: Vec::new(),
                at: None,
            },
        ),
    ] {
        let answer = post(vec![stock_event("bad", kind)]).await.unwrap();
        assert_eq!(answer.status, 422, "{what}: {}", answer.body);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(on_hand(), start, "nothing of a refused batch is written");

    // The delivery alone: five in.
    let outcome: IngestOutcome = post(vec![delivery]).await.unwrap().outcome().unwrap();
    assert_eq!(outcome.accepted, 1);
    wait_for("the delivery", start + 5).await;
    let movements = manager.with(|t| {
        let product = t.variant_product(&variant).unwrap().0;
        t.product_movements(&store, &product).unwrap()
    });
    assert!(
        movements
            .iter()
            .any(|m| m.delta == 5 && m.by.as_str() == "stock-system"),
        "{movements:?}"
    );

    // A till sale, sent twice under two event ids: two units out once, in the customer's
    // history.
    let sale = |id: &str| Event {
        id: id.into(),
        customer: EventCustomer {
            loyalty_id: Some(loyalty.to_string()),
            ..EventCustomer::default()
        },
        kind: EventKind::StoreSale {
            store: store.clone(),
            sale_id: "T-1001".into(),
            lines: vec![StoreSaleLine {
                variant: variant.clone(),
                quantity: 2,
                unit_price_minor: Some(1_500),
            }],
            at: Some(now_ms() - 30_000),
        },
    };
    let outcome: IngestOutcome = post(vec![sale("pos-1"), sale("pos-1-again")])
        .await
        .unwrap()
        .outcome()
        .unwrap();
    assert_eq!(outcome.accepted, 2);
    assert!(outcome.unmatched_customers.is_empty());
    wait_for("the till sale", start + 3).await;
    let customer = manager.with(|t| t.identify(&Identifier::Loyalty(loyalty.clone())).unwrap());
    let till_sale = || {
        manager.with(|t| {
            let history = t.customer(&customer).unwrap().purchases;
            history.into_iter().find(|p| p.id == "till-T-1001")
        })
    };
    aisle_tests::eventually(
        "the till sale in the history",
        Duration::from_secs(10),
        || till_sale().is_some(),
    )
    .await;
    assert_eq!(till_sale().unwrap().item.total_cents, 3_000);
    // Not sent back to the till, nor counted as Aisle's sale.
    let till = aisle_tablet::relay_client::till_status(&manager.config)
        .await
        .unwrap();
    assert!(
        till.deliveries.iter().all(|d| d.sale_id != "till-T-1001"),
        "{till:?}"
    );
    let kpis = manager.with(|t| t.store_kpis(&store, now_ms() - 3_600_000, 1).unwrap());
    assert!(
        kpis.by_associate
            .iter()
            .all(|a| a.associate.as_str() != "outside-till"),
        "{kpis:?}"
    );

    // An associate sells one here after the stock system's count was taken.
    let by = aisle_core::model::AssociateId::parse("sam.floor").unwrap();
    manager.with(|t| {
        t.sell(&aisle_tablet::checkout::SaleRequest {
            store: store.clone(),
            lines: vec![(variant.clone(), 1)],
            customer: None,
            associate: by.clone(),
            holds: Vec::new(),
            cart: None,
        })
        .unwrap()
    });
    manager.nudge();
    manager.wait_synced().await;
    // The stock system counted 20 a minute ago: the delivery, the till sale and the sale here
    // came after, so 20 + 5 − 2 − 1.
    let level = |id: &str, as_of: i64, on_hand: i64| {
        stock_event(
            id,
            EventKind::StockLevel {
                store: store.clone(),
                as_of,
                levels: vec![StockSystemLevel {
                    variant: variant.clone(),
                    on_hand,
                }],
            },
        )
    };
    let outcome: IngestOutcome = post(vec![level("level-1", as_of, 20)])
        .await
        .unwrap()
        .outcome()
        .unwrap();
    assert_eq!(outcome.stale_levels, 0);
    wait_for("the reconciled level", 22).await;
    // An older level, arriving late, changes nothing.
    let outcome: IngestOutcome = post(vec![level("level-0", as_of - 1_000, 50)])
        .await
        .unwrap()
        .outcome()
        .unwrap();
    assert_eq!(outcome.stale_levels, 1);
    // A newer one, after everything: exactly what it says (the earlier count is before it).
    let level_2_at = now_ms();
    let outcome: IngestOutcome = post(vec![level("level-2", level_2_at, 7)])
        .await
        .unwrap()
        .outcome()
        .unwrap();
    assert_eq!(outcome.stale_levels, 0);
    wait_for("the newest level", 7).await;

    // A till sale and a write-off from before that level, arriving after it: the level held
    // them already, so they are on record and move nothing.
    let late_sale = Event {
        id: "pos-late".into(),
        customer: EventCustomer::default(),
        kind: EventKind::StoreSale {
            store: store.clone(),
            sale_id: "T-1002".into(),
            lines: vec![StoreSaleLine {
                variant: variant.clone(),
                quantity: 1,
                unit_price_minor: None,
            }],
            at: Some(level_2_at - 10_000),
        },
    };
    let late_damage = stock_event(
        "wms-late",
        EventKind::StockAdjusted {
            store: store.clone(),
            variant: variant.clone(),
            delta: -2,
            movement: OutsideMovement::Damage,
            reason: Some("water damage".into()),
            at: Some(level_2_at - 5_000),
        },
    );
    let outcome: IngestOutcome = post(vec![late_sale, late_damage])
        .await
        .unwrap()
        .outcome()
        .unwrap();
    assert_eq!(outcome.accepted, 2);
    aisle_tests::eventually("the late damage on record", Duration::from_secs(10), || {
        manager.with(|t| {
            let product = t.variant_product(&variant).unwrap().0;
            t.product_movements(&store, &product)
                .unwrap()
                .iter()
                .any(|m| m.delta == -2 && m.note.contains("already in the stock system's level"))
        })
    })
    .await;
    assert_eq!(on_hand(), 7, "held by the level already");
}
