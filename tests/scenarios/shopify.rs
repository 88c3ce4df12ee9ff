//! Shopify webhooks, in Shopify's own payload shapes (fixtures in `tests/fixtures/shopify`),
//! posted to a real relay: verified, mapped to events, applied once per webhook id, and
//! synced to a connected tablet.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

use aisle_core::Store;
use aisle_core::api::{AuditAction, AuditEntry, IgnoredWebhook, IngestOutcome};
use aisle_core::model::{CartStatus, Channel, ConsentPurpose, CustomerId, ErrorCode, Identifier};
use aisle_tests::{Answer, Relay, Tablet, sign_shopify};
use std::time::Duration;

const CUSTOMERS: usize = 60;

fn fixture(name: &str, fill: &[(&str, &str)]) -> Vec<u8> {
    let path = format!(
        "{}/fixtures/shopify/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut text = std::fs::read_to_string(path).unwrap();
    for (key, value) in fill {
        text = text.replace(&format!("{{{{{key}}}}}"), value);
    }
    text.into_bytes()
}

async fn wait_for(tablet: &Tablet, what: &str, done: impl Fn(&Store) -> bool) {
    aisle_tests::eventually(what, Duration::from_secs(10), || tablet.with(|s| done(s))).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn shopify_webhooks_become_briefing_data_once() {
    let dir = tempfile::tempdir().unwrap();
    let relay_dir = dir.path().join("relay");
    let relay = Relay::start(
        &relay_dir,
        &[
            "--demo",
            "--demo-customers",
            &CUSTOMERS.to_string(),
            "--shopify-home-store",
            "LDN-CG",
            "--shopify-shop-domain",
            "harbour-and-hart.myshopify.com",
        ],
    )
    .unwrap();
    let secret = std::fs::read_to_string(relay_dir.join("shopify-secret"))
        .unwrap()
        .trim()
        .to_string();
    let tablet = Tablet::enrol(&relay, &relay_dir, dir.path(), "tablet", "associate").await;

    let data = aisle_relay::domain::demo::DemoData::generate(
        aisle_relay::domain::demo::DemoConfig::new(CUSTOMERS, 0),
    );
    let shopper = data
        .customers()
        .find(|c| c.customer.home_store.as_str() == "LDN-CG" && c.customer.email.is_some())
        .unwrap();
    let email = shopper.customer.email.clone().unwrap();
    let customer: CustomerId =
        tablet.with(|s| s.identify(&Identifier::Email(email.clone())).unwrap());
    let product = &data.products[5];
    let (first, last) = shopper.customer.name.split_once(' ').unwrap();
    let fill = [
        ("EMAIL", email.as_str()),
        ("FIRST", first),
        ("LAST", last),
        ("SKU1", product.variants[0].sku.as_str()),
        ("SKU2", product.variants[1].sku.as_str()),
        ("TITLE", product.name.as_str()),
        ("VARIANT_TITLE", "M / Navy"),
    ];
    let http = relay.http();
    let post = |topic: &'static str, webhook: &'static str, body: Vec<u8>, signature: String| {
        let request = http
            .post(relay.url("/v1/shopify/webhooks"))
            .header("content-type", "application/json")
            .header("x-shopify-topic", topic)
            .header("x-shopify-webhook-id", webhook)
            .header("x-shopify-shop-domain", "harbour-and-hart.myshopify.com")
            .header("x-shopify-hmac-sha256", signature)
            .body(body);
        async move { Answer::of(request).await.unwrap() }
    };
    let signed = |topic: &'static str, webhook: &'static str, name: &str| {
        let body = fixture(name, &fill);
        let signature = sign_shopify(&secret, &body);
        post(topic, webhook, body, signature)
    };

    // A checkout started, then left: the abandoned cart reaches the tablet.
    let accepted = IngestOutcome {
        accepted: 1,
        ..IngestOutcome::default()
    };
    let answer = signed("checkouts/create", "wh-1", "checkouts-create").await;
    assert_eq!(answer.outcome().unwrap(), accepted);
    let answer = signed("checkouts/update", "wh-2", "checkouts-update").await;
    assert_eq!(answer.outcome().unwrap(), accepted);
    wait_for(&tablet, "the abandoned checkout", |s| {
        s.customer(&customer)
            .unwrap()
            .online_cart()
            .is_some_and(|c| {
                c.status == CartStatus::Abandoned
                    && c.lines.values().map(|l| l.quantity).sum::<u32>() == 3
            })
    })
    .await;

    // Shopify retries a webhook with the same id: applied once.
    let answer = signed("checkouts/update", "wh-2", "checkouts-update").await;
    assert_eq!(
        answer.outcome().unwrap(),
        IngestOutcome {
            duplicates: 1,
            ..IngestOutcome::default()
        }
    );

    // The order: a web purchase, once even if delivered twice.
    for _ in 0..2 {
        signed("orders/create", "wh-3", "orders-create")
            .await
            .outcome()
            .unwrap();
    }
    wait_for(&tablet, "the web order", |s| {
        s.customer(&customer)
            .unwrap()
            .purchases
            .iter()
            .filter(|p| p.id == "shopify-820982911946154500" && p.item.channel == Channel::Web)
            .count()
            == 1
    })
    .await;

    // A cart carries no shopper: accepted and ignored, so Shopify does not retry.
    let answer = signed("carts/update", "wh-4", "carts-update").await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let ignored: IgnoredWebhook = answer.read().unwrap();
    assert!(!ignored.ignored.is_empty());

    // A new Shopify customer becomes a customer of the configured store, with marketing consent.
    let answer = signed("customers/create", "wh-5", "customers-create").await;
    assert_eq!(answer.outcome().unwrap().created, 1, "{}", answer.body);
    wait_for(&tablet, "the new Shopify customer", |s| {
        s.identify(&Identifier::Email("new.shopper@example.com".into()))
            .is_ok_and(|id| {
                s.customer(&id)
                    .unwrap()
                    .has_consent(ConsentPurpose::MarketingEmail)
            })
    })
    .await;

    // Loyalty numbers come from the relay, not from Shopify's ids: a Shopify customer whose id
    // ends in an existing customer's serial is a new customer with a number of their own,
    // never merged into that person.
    let serial: u64 = shopper.customer.loyalty_id.as_str()[2..10].parse().unwrap();
    let mut clash: serde_json::Value =
        serde_json::from_slice(&fixture("customers-create", &fill)).unwrap();
    clash["id"] = (serial + 7 * 100_000_000).into();
    clash["email"] = "someone.else@example.com".into();
    let body = serde_json::to_vec(&clash).unwrap();
    let answer = post(
        "customers/create",
        "wh-8",
        body.clone(),
        sign_shopify(&secret, &body),
    )
    .await;
    assert_eq!(answer.outcome().unwrap().created, 1, "{}", answer.body);
    wait_for(&tablet, "the second Shopify customer", |s| {
        s.identify(&Identifier::Email("someone.else@example.com".into()))
            .is_ok()
    })
    .await;
    let (other, loyalty) = tablet.with(|s| {
        let id = s
            .identify(&Identifier::Email("someone.else@example.com".into()))
            .unwrap();
        (id.clone(), s.customer(&id).unwrap().identity.loyalty_id)
    });
    assert_ne!(other, customer);
    assert_ne!(loyalty, shopper.customer.loyalty_id);
    let allocated: u64 = loyalty.as_str()[2..10].parse().unwrap();
    assert!(
        allocated >= 90_000_000,
        "{loyalty} is not of the relay's range"
    );

    // An order with a tip (no SKU) and a product Aisle does not sell: the rest applies, 200,
    // and what was left out is recorded for the admin.
    let mut order: serde_json::Value =
        serde_json::from_slice(&fixture("orders-create", &fill)).unwrap();
    order["id"] = 4242.into();
    let items = order["line_items"].as_array_mut().unwrap();
    items.push(serde_json::json!({ "title": "Tip", "quantity": 1, "sku": null }));
    items.push(serde_json::json!({ "title": "Gift wrap", "quantity": 1, "sku": "GIFT-WRAP" }));
    let body = serde_json::to_vec(&order).unwrap();
    let answer = post(
        "orders/create",
        "wh-9",
        body.clone(),
        sign_shopify(&secret, &body),
    )
    .await;
    assert_eq!(answer.outcome().unwrap().accepted, 1, "{}", answer.body);
    wait_for(&tablet, "the order without its tip", |s| {
        s.customer(&customer)
            .unwrap()
            .purchases
            .iter()
            .any(|p| p.id.starts_with("shopify-4242"))
    })
    .await;
    let admin = aisle_tests::Api::admin(&relay, &relay_dir).unwrap();
    let trail: Vec<AuditEntry> = aisle_tests::reply(admin.get("/v1/admin/audit"))
        .await
        .unwrap();
    let noted = trail
        .iter()
        .find(|e| e.action == AuditAction::WebhookNotApplied && e.subject.ends_with("wh-9"))
        .expect("the left-out lines are recorded");
    assert!(
        noted.detail.contains("without a SKU") && noted.detail.contains("GIFT-WRAP"),
        "{noted:?}"
    );

    // A webhook of another shop, signed with this app's secret, is refused.
    let body = fixture("orders-create", &fill);
    let other_shop = http
        .post(relay.url("/v1/shopify/webhooks"))
        .header("content-type", "application/json")
        .header("x-shopify-topic", "orders/create")
        .header("x-shopify-webhook-id", "wh-10")
        .header("x-shopify-shop-domain", "someone-else.myshopify.com")
        .header("x-shopify-hmac-sha256", sign_shopify(&secret, &body))
        .body(body.clone());
    let other_shop = Answer::of(other_shop).await.unwrap();
    assert_eq!(
        (other_shop.status, other_shop.refusal().unwrap().code()),
        (401, ErrorCode::Unauthorized)
    );

    // Forged or unsigned webhooks are refused; unknown topics too.
    let body = fixture("orders-create", &fill);
    let forged = post(
        "orders/create",
        "wh-6",
        body.clone(),
        sign_shopify("wrong", &body),
    )
    .await;
    assert_eq!(
        (forged.status, forged.refusal().unwrap().code()),
        (401, ErrorCode::Unauthorized)
    );
    let unsigned = post("orders/create", "wh-6", body.clone(), "not base64!".into()).await;
    assert_eq!(
        (unsigned.status, unsigned.refusal().unwrap().code()),
        (401, ErrorCode::Unauthorized)
    );
    // A topic Aisle does not map: 200 with the reason (so Shopify stops retrying), recorded.
    let unknown = post(
        "themes/publish",
        "wh-7",
        body.clone(),
        sign_shopify(&secret, &body),
    )
    .await;
    assert_eq!(unknown.status, 200, "{}", unknown.body);
    let ignored: IgnoredWebhook = unknown.read().unwrap();
    assert!(ignored.ignored.contains("unsupported"), "{ignored:?}");
}

/// The shop's catalog and a store's stock from Shopify: a product created there is in the
/// catalog (checked as an import is, once however often it is sent), a level at a location
/// that is a store sets that store's stock, a POS order rung up there is the store's sale,
/// and an archived product is discontinued. Items and locations Aisle does not know are
/// answered 200 with the reason and recorded.
#[tokio::test(flavor = "multi_thread")]
async fn shopify_products_levels_and_pos_orders_keep_a_stores_stock() {
    use aisle_core::model::{ProductSku, StoreId, VariantSku};
    let dir = tempfile::tempdir().unwrap();
    let relay_dir = dir.path().join("relay");
    let relay = Relay::start(
        &relay_dir,
        &[
            "--demo",
            "--demo-customers",
            &CUSTOMERS.to_string(),
            "--shopify-location",
            "24826418=LDN-CG",
        ],
    )
    .unwrap();
    let secret = std::fs::read_to_string(relay_dir.join("shopify-secret"))
        .unwrap()
        .trim()
        .to_string();
    let tablet = Tablet::enrol(&relay, &relay_dir, dir.path(), "tablet", "manager").await;
    let http = relay.http();
    let post = |topic: &'static str, webhook: String, body: Vec<u8>| {
        let request = http
            .post(relay.url("/v1/shopify/webhooks"))
            .header("content-type", "application/json")
            .header("x-shopify-topic", topic)
            .header("x-shopify-webhook-id", webhook)
            .header("x-shopify-hmac-sha256", sign_shopify(&secret, &body))
            .body(body);
        async move { Answer::of(request).await.unwrap() }
    };
    // Shopify's times, as it writes them, an hour and minutes ago.
    let ago = |minutes: i64| {
        (time::OffsetDateTime::now_utc() - time::Duration::minutes(minutes))
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let store = StoreId::parse("LDN-CG").unwrap();
    let product = ProductSku::parse("SHOPIFY-7001").unwrap();
    let medium = VariantSku::parse("SHP-TEE-NAV-M").unwrap();

    // Created in Shopify: in the catalog, at Shopify's price, its stock at zero.
    for webhook in ["p-1", "p-1-retry"] {
        let answer = post(
            "products/create",
            webhook.into(),
            fixture("products-create", &[("STATUS", "active")]),
        )
        .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    wait_for(&tablet, "the Shopify product", |s| {
        s.product(&product).is_ok_and(|p| p.price_cents == 2_500)
            && s.on_hand(&store, &medium).ok() == Some(0)
    })
    .await;

    // Its level at the store's location, then a POS sale there at the till's price.
    let level = |item: &str, location: &str, available: &str, at: &str| {
        fixture(
            "inventory-levels-update",
            &[
                ("ITEM", item),
                ("LOCATION", location),
                ("AVAILABLE", available),
                ("UPDATED_AT", at),
            ],
        )
    };
    let answer = post(
        "inventory_levels/update",
        "l-1".into(),
        level("9002", "24826418", "6", &ago(60)),
    )
    .await;
    assert_eq!(answer.outcome().unwrap().accepted, 1, "{}", answer.body);
    wait_for(&tablet, "the Shopify level", |s| {
        s.on_hand(&store, &medium).ok() == Some(6)
    })
    .await;
    let shopper = aisle_tests::demo_customer(CUSTOMERS, |c| {
        c.home_store.as_str() == "LDN-CG" && c.email.is_some()
    });
    let email = shopper.customer.email.clone().unwrap();
    let (first, last) = shopper.customer.name.split_once(' ').unwrap();
    let created_at = ago(30);
    let answer = post(
        "orders/create",
        "o-1".into(),
        fixture(
            "orders-create-pos",
            &[
                ("EMAIL", email.as_str()),
                ("FIRST", first),
                ("LAST", last),
                ("CREATED_AT", created_at.as_str()),
            ],
        ),
    )
    .await;
    assert_eq!(answer.outcome().unwrap().accepted, 1, "{}", answer.body);
    wait_for(&tablet, "the POS sale", |s| {
        s.on_hand(&store, &medium).ok() == Some(5)
    })
    .await;
    let customer = tablet.with(|s| s.identify(&Identifier::Email(email.clone())).unwrap());
    wait_for(&tablet, "the POS sale in the history", |s| {
        s.customer(&customer).unwrap().purchases.iter().any(|p| {
            p.id == "till-shopify-820982911946159001"
                && p.item.channel == Channel::Store
                && p.item.total_cents == 2_000
        })
    })
    .await;

    // Not applied, answered 200 with why: an item no variant has, a location that is no
    // store (ignored), a POS order at such a location.
    let unknown_item = post(
        "inventory_levels/update",
        "l-2".into(),
        level("123", "24826418", "3", &ago(59)),
    )
    .await;
    let ignored: IgnoredWebhook = unknown_item.read().unwrap();
    assert!(ignored.ignored.contains("no variant"), "{ignored:?}");
    let elsewhere = post(
        "inventory_levels/update",
        "l-3".into(),
        level("9002", "555", "40", &ago(58)),
    )
    .await;
    let ignored: IgnoredWebhook = elsewhere.read().unwrap();
    assert!(ignored.ignored.contains("location"), "{ignored:?}");
    assert_eq!(tablet.with(|s| s.on_hand(&store, &medium).ok()), Some(5));

    // Archived in Shopify: discontinued here, and still found.
    let answer = post(
        "products/update",
        "p-2".into(),
        fixture("products-create", &[("STATUS", "archived")]),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    wait_for(&tablet, "the discontinued product", |s| {
        s.product(&product).is_ok_and(|p| p.discontinued)
    })
    .await;
    let admin = aisle_tests::Api::admin(&relay, &relay_dir).unwrap();
    let audit: Vec<AuditEntry> = aisle_tests::reply(admin.get("/v1/admin/audit"))
        .await
        .unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.action == AuditAction::WebhookNotApplied && e.subject.ends_with("l-2")),
        "{audit:?}"
    );
}
