//! Web shop events posted to a real relay process reach a connected tablet's store and its
//! briefing; replays change nothing; bad batches get a 4xx with a reason and write nothing.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

use aisle_core::DocId;
use aisle_core::model::{CartStatus, CustomerId, Identifier, LoyaltyId, StoreId};
use aisle_tablet::Tablet;
use aisle_tablet::relay_client;
use aisle_tablet::sync_client::{SyncClient, SyncConfig};
use aisle_tests::{Relay, enrolment_code, ingest_secret, sign_events};
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CUSTOMERS: usize = 60;

struct Setup {
    _dir: tempfile::TempDir,
    relay: Relay,
    secret: String,
    tablet: Arc<Mutex<Tablet>>,
    _client: SyncClient,
    http: reqwest::Client,
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
    let code = enrolment_code(&relay_dir, "LDN-CG", "associate", "tablet").unwrap();
    let store = Tablet::open(dir.path().join("tablet.sqlite3")).unwrap();
    let enrolment = relay_client::enrol(&relay.url(""), &code, store.actor())
        .await
        .unwrap();
    let tablet = Arc::new(Mutex::new(store));
    let client = SyncClient::start(
        tablet.clone(),
        SyncConfig::new(relay.url(""), enrolment.token),
    );
    aisle_tests::wait_synced(&mut client.status(), Duration::from_secs(60))
        .await
        .unwrap();
    Setup {
        _dir: dir,
        relay,
        secret,
        tablet,
        _client: client,
        http: reqwest::Client::new(),
    }
}

impl Setup {
    async fn post(&self, body: &[u8], signature: &str) -> (u16, serde_json::Value) {
        let response = self
            .http
            .post(self.relay.url("/v1/events"))
            .header("content-type", "application/json")
            .header("x-aisle-tenant", "demo")
            .header("x-aisle-signature", signature)
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(json!({ "text": text })),
        )
    }

    async fn post_signed(&self, batch: &serde_json::Value) -> (u16, serde_json::Value) {
        let body = serde_json::to_vec(batch).unwrap();
        let signature = sign_events(&self.secret, &body);
        self.post(&body, &signature).await
    }

    fn tablet<T>(&self, f: impl FnOnce(&Tablet) -> T) -> T {
        f(&self.tablet.lock().unwrap())
    }

    /// Polls the tablet until `done` holds.
    async fn on_tablet(&self, what: &str, done: impl Fn(&Tablet) -> bool) -> Duration {
        let started = Instant::now();
        while !self.tablet(&done) {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{what} did not reach the tablet"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        started.elapsed()
    }

    /// The tablet's heads of a document: unchanged means nothing new arrived.
    fn tablet_heads(&self, customer: &CustomerId) -> Vec<aisle_core::automerge::ChangeHash> {
        self.tablet(|s| s.doc_heads(&DocId::Customer(customer.clone())).unwrap())
    }
}

/// A demo customer of the tablet's store, and two variants and a product from the catalog.
fn fixtures() -> (String, String, String, String) {
    let data = aisle_relay::domain::demo::DemoData::generate(
        aisle_relay::domain::demo::DemoConfig::new(CUSTOMERS, 0),
    );
    let customer = data
        .customers()
        .find(|c| c.customer.home_store.as_str() == "LDN-CG")
        .unwrap();
    let product = &data.products[3];
    (
        customer.customer.loyalty_id.to_string(),
        product.sku.to_string(),
        product.variants[0].sku.to_string(),
        product.variants[1].sku.to_string(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn web_events_reach_the_tablet_once_and_bad_batches_write_nothing() {
    let setup = setup().await;
    let (loyalty, product, v1, v2) = fixtures();
    let customer = setup.tablet(|s| {
        s.identify(&Identifier::Loyalty(LoyaltyId::parse(&loyalty).unwrap()))
            .unwrap()
    });
    let views_of = |s: &Tablet| {
        s.customer(&customer)
            .unwrap()
            .views
            .iter()
            .find(|v| v.product.as_str() == product)
            .map_or(0, |v| v.count)
    };
    let views_before = setup.tablet(views_of);
    let size = v1.rsplit('-').next().unwrap().to_string();

    let batch = json!({ "events": [
        { "id": "evt-1", "type": "product_viewed", "customer": { "loyalty_id": loyalty },
          "product": product, "size": size },
        { "id": "evt-2", "type": "cart_updated", "customer": { "loyalty_id": loyalty },
          "lines": [ { "variant": v1, "quantity": 1 }, { "variant": v2, "quantity": 2 } ] },
        { "id": "evt-3", "type": "checkout_abandoned", "customer": { "loyalty_id": loyalty } },
        { "id": "evt-4", "type": "chat_handoff", "customer": { "loyalty_id": loyalty },
          "summary": "Asked whether the jacket runs small; wants to try it in store." }
    ]});
    let (status, body) = setup.post_signed(&batch).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["accepted"], 4);
    assert_eq!(body["duplicates"], 0);

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
    let (status, body) = setup.post_signed(&batch).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["accepted"].clone(), body["duplicates"].clone()),
        (json!(0), json!(4))
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        setup.tablet_heads(&customer),
        heads,
        "nothing new reached the tablet"
    );
    assert_eq!(setup.tablet(views_of), views_before + 1);

    // Bad batches: a 4xx with a reason, and nothing written.
    let fresh_view = json!({ "id": "evt-5", "type": "product_viewed",
        "customer": { "loyalty_id": loyalty }, "product": product });
    let body = serde_json::to_vec(&json!({ "events": [fresh_view] })).unwrap();
    let (status, reply) = setup.post(&body, "sha256=00").await;
    assert_eq!(status, 401, "{reply}");
    let forged = sign_events("not-the-secret", &body);
    assert_eq!(setup.post(&body, &forged).await.0, 401);
    let (status, reply) = setup
        .post_signed(&json!({ "events": [ { "id": "x", "type": "teleported",
            "customer": { "loyalty_id": loyalty } } ] }))
        .await;
    assert_eq!(status, 400, "{reply}");
    assert!(
        reply["message"].as_str().unwrap().contains("teleported"),
        "{reply}"
    );
    let garbage = b"{\"events\": [ {\"id\": ";
    assert_eq!(
        setup
            .post(garbage, &sign_events(&setup.secret, garbage))
            .await
            .0,
        400
    );
    let too_many: Vec<_> = (0..501)
        .map(|i| {
            json!({ "id": format!("many-{i}"), "type": "product_viewed",
            "customer": { "loyalty_id": loyalty }, "product": product })
        })
        .collect();
    let (status, reply) = setup.post_signed(&json!({ "events": too_many })).await;
    assert_eq!(status, 422, "{reply}");
    let (status, reply) = setup
        .post_signed(&json!({ "events": [
            fresh_view,
            { "id": "evt-6", "type": "wishlist_added", "customer": { "loyalty_id": loyalty },
              "product": "NO-SUCH-PRODUCT" }
        ]}))
        .await;
    assert_eq!(status, 422, "{reply}");
    assert_eq!(reply["index"], 1, "{reply}");
    let huge = vec![b' '; 1024 * 1024 + 1];
    assert_eq!(
        setup
            .post(&huge, &sign_events(&setup.secret, &huge))
            .await
            .0,
        413
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        setup.tablet_heads(&customer),
        heads,
        "refused batches wrote nothing"
    );

    // The valid event of the refused batch was not recorded as seen: sent alone, it applies.
    let (status, reply) = setup.post_signed(&json!({ "events": [fresh_view] })).await;
    assert_eq!(
        (status, reply["accepted"].clone()),
        (200, json!(1)),
        "{reply}"
    );
    setup
        .on_tablet("the later view", |s| views_of(s) == views_before + 2)
        .await;

    // A new web customer of this store arrives on the tablet.
    let new_loyalty = LoyaltyId::from_serial(99_000_001).to_string();
    let (status, reply) = setup
        .post_signed(
            &json!({ "events": [ { "id": "evt-7", "type": "customer_upserted",
            "customer": { "loyalty_id": new_loyalty, "email": "Robin.Web@Example.com" },
            "name": "Robin Web", "home_store": "LDN-CG", "in_store_personalisation": true } ] }),
        )
        .await;
    assert_eq!(
        (status, reply["created"].clone()),
        (200, json!(1)),
        "{reply}"
    );
    setup
        .on_tablet("the new customer", |s| {
            s.identify(&Identifier::Email("robin.web@example.com".into()))
                .is_ok()
        })
        .await;
}
