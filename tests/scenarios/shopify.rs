//! Shopify webhooks, in Shopify's own payload shapes (fixtures in `tests/fixtures/shopify`),
//! posted to a real relay: verified, mapped to events, applied once per webhook id, and
//! synced to a connected tablet.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

use aisle_core::Store;
use aisle_core::api::{IgnoredWebhook, IngestOutcome};
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
    let http = reqwest::Client::new();
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

    // A Shopify customer whose derived loyalty number is already someone else's is refused,
    // never merged into that person.
    let serial: u64 = shopper.customer.loyalty_id.as_str()[2..10].parse().unwrap();
    let mut clash: serde_json::Value =
        serde_json::from_slice(&fixture("customers-create", &fill)).unwrap();
    clash["id"] = serial.into();
    clash["email"] = "someone.else@example.com".into();
    let body = serde_json::to_vec(&clash).unwrap();
    let answer = post(
        "customers/create",
        "wh-8",
        body.clone(),
        sign_shopify(&secret, &body),
    )
    .await;
    let rejection = answer.rejection().unwrap();
    assert_eq!(
        (rejection.code, rejection.id.as_str()),
        (ErrorCode::InvalidInput, "shopify-wh-8")
    );
    assert!(
        tablet
            .with(|s| s.identify(&Identifier::Email("someone.else@example.com".into())))
            .is_err()
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
    let unknown = post(
        "products/create",
        "wh-7",
        body.clone(),
        sign_shopify(&secret, &body),
    )
    .await;
    assert_eq!(
        (unknown.status, unknown.refusal().unwrap().code()),
        (400, ErrorCode::InvalidInput)
    );
}
