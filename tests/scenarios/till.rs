//! Sales reach the retailer's till through the relay's outbox: a real HTTP server on loopback
//! plays the till, first not there at all, then failing, then never answering, then
//! acknowledging; in between, the relay is killed. The sale is stored once, delivered until
//! acknowledged, always under the same idempotency key with a valid signature, and the
//! manager's tablet sees each state; a return of part of the sale follows it, as a refund
//! naming the sale. The demo retailer's past sales never reach the till.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

use aisle_core::api::{TillSale, TillStatus};
use aisle_core::model::{AssociateId, StoreId, VariantSku};
use aisle_tablet::checkout::SaleRequest;
use aisle_tests::{Relay, Tablet};
use axum::http::{HeaderMap, StatusCode};
use hmac::Mac;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the till received: (idempotency key, signature header, body).
type Received = Arc<Mutex<Vec<(String, String, Vec<u8>)>>>;

/// How the till answers its n-th request (from 0).
#[derive(Clone, Copy)]
enum Answer {
    Fail,
    Hang,
    Acknowledge,
}

/// A till on `addr`: answers request n as `script[n]` (the last entry ever after).
async fn start_till(addr: SocketAddr, script: Vec<Answer>, received: Received) {
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let app = axum::Router::new().route(
        "/sales",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let (script, received) = (script.clone(), received.clone());
            async move {
                let header = |name: &str| {
                    headers
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string()
                };
                let n = {
                    let mut seen = received.lock().unwrap();
                    seen.push((
                        header("idempotency-key"),
                        header("x-aisle-signature"),
                        body.to_vec(),
                    ));
                    seen.len() - 1
                };
                match script[n.min(script.len() - 1)] {
                    Answer::Fail => (StatusCode::SERVICE_UNAVAILABLE, "till busy".to_string()),
                    Answer::Hang => {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                        (StatusCode::OK, String::new())
                    }
                    Answer::Acknowledge => {
                        (StatusCode::OK, r#"{"reference":"TILL-0001"}"#.to_string())
                    }
                }
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
}

/// A loopback port nothing listens on (yet).
fn free_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

fn verify(secret: &str, signature: &str, body: &[u8]) -> bool {
    let Some((t, v1)) = signature
        .strip_prefix("t=")
        .and_then(|rest| rest.split_once(",v1="))
    else {
        return false;
    };
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    mac.verify_slice(&aisle_tests::hex_decode(v1)).is_ok()
}

async fn till_status(manager: &Tablet) -> TillStatus {
    aisle_tablet::relay_client::till_status(&manager.config)
        .await
        .unwrap()
}

async fn until_status(
    manager: &Tablet,
    what: &str,
    done: impl Fn(&TillStatus) -> bool,
) -> TillStatus {
    let started = std::time::Instant::now();
    loop {
        let status = till_status(manager).await;
        if done(&status) {
            return status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn stocked_variant(t: &Tablet, here: &StoreId) -> VariantSku {
    t.with(|s| {
        for product in s.search_products("a", 20).unwrap() {
            let grid = s.stock_for_product(here, &product.sku).unwrap();
            if let Some(level) = grid.levels.iter().find(|l| l.on_hand > 2) {
                return level.variant.clone();
            }
        }
        panic!("no stocked variant")
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sale_reaches_the_till_once_acknowledged_through_failures_a_timeout_and_a_killed_relay() {
    let dir = tempfile::tempdir().unwrap();
    let relay_dir = dir.path().join("relay");
    let till = free_port();
    let till_url = format!("http://{till}/sales");
    let flags = [
        "--demo",
        "--demo-customers",
        "40",
        "--till-url",
        &till_url,
        "--till-timeout",
        "0.5",
        "--till-retry",
        "0.3",
    ];
    let relay = Relay::start(&relay_dir, &flags).unwrap();
    let secret = std::fs::read_to_string(relay_dir.join("till-secret"))
        .unwrap()
        .trim()
        .to_string();
    let mut manager = Tablet::enrol(&relay, &relay_dir, dir.path(), "m", "manager").await;
    let here = StoreId::parse("LDN-CG").unwrap();

    // Nothing of the demo's past is queued for the till.
    let status = till_status(&manager).await;
    assert!(status.connected);
    assert_eq!(
        (status.waiting, status.deliveries.len()),
        (0, 0),
        "{status:?}"
    );

    // A sale, while no till listens: it waits, with why.
    let variant = stocked_variant(&manager, &here);
    let receipt = manager.with(|t| {
        t.sell(&SaleRequest {
            store: here.clone(),
            lines: vec![(variant.clone(), 2)],
            customer: None,
            associate: AssociateId::parse("sam.k").unwrap(),
            holds: vec![],
            cart: None,
        })
        .unwrap()
    });
    manager.nudge();
    manager.wait_synced().await;
    let status = until_status(&manager, "a failed attempt", |s| {
        s.deliveries.first().is_some_and(|d| d.attempts > 0)
    })
    .await;
    let delivery = &status.deliveries[0];
    assert_eq!(delivery.sale_id, receipt.sale_id);
    assert_eq!(delivery.total_minor, receipt.total_cents);
    assert_eq!(delivery.delivered_at, None);
    assert!(
        delivery
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("could not be reached")),
        "{delivery:?}"
    );
    assert_eq!(status.waiting, 1);

    // The relay is killed with the sale undelivered; started again, it still has it.
    let addr = relay.addr;
    relay.kill9().unwrap();
    let received: Received = Arc::default();
    start_till(
        till,
        vec![Answer::Fail, Answer::Hang, Answer::Acknowledge],
        received.clone(),
    )
    .await;
    let _relay = Relay::start_on(&relay_dir, addr, &flags).unwrap();

    // Failing, then never answering, then acknowledged: three requests for one sale.
    let status = until_status(&manager, "the till's acknowledgement", |s| {
        s.deliveries
            .first()
            .is_some_and(|d| d.delivered_at.is_some())
    })
    .await;
    let delivery = &status.deliveries[0];
    assert_eq!(delivery.reference.as_deref(), Some("TILL-0001"));
    assert_eq!(delivery.last_error, None);
    assert_eq!(status.waiting, 0);
    let seen = received.lock().unwrap().clone();
    assert_eq!(seen.len(), 3, "one request per attempt: {}", seen.len());
    for (key, signature, body) in &seen {
        assert_eq!(key, &receipt.sale_id, "the idempotency key is the sale id");
        assert!(verify(&secret, signature, body), "signed: {signature}");
        assert!(!verify("another secret", signature, body));
        let sale: TillSale = serde_json::from_slice(body).unwrap();
        assert_eq!(sale.sale_id, receipt.sale_id);
        assert_eq!(sale.store, here);
        assert_eq!(sale.currency, "GBP");
        assert_eq!(sale.total_minor, receipt.total_cents);
        assert_eq!(sale.lines.len(), 1);
        assert_eq!(
            (&sale.lines[0].variant, sale.lines[0].quantity),
            (&variant, 2)
        );
    }
    assert!(
        delivery.attempts >= 4,
        "unreachable, failed, timed out, acknowledged: {delivery:?}"
    );

    // Acknowledged stays acknowledged: nothing more is sent for it.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(received.lock().unwrap().len(), 3);

    // One of the two comes back: the till hears of a return of that sale, refunded at its
    // price, and the manager sees it delivered.
    let unit_price = receipt.total_cents / 2;
    manager.with(|t| {
        t.record_return(
            &here,
            &receipt.sale_id,
            &[aisle_tablet::stock::MovementLine {
                variant: variant.clone(),
                quantity: 1,
            }],
            "wrong size",
            &AssociateId::parse("sam.k").unwrap(),
        )
        .unwrap()
    });
    manager.nudge();
    manager.wait_synced().await;
    let status = until_status(&manager, "the return acknowledged", |s| {
        s.deliveries
            .iter()
            .any(|d| d.event == "return" && d.delivered_at.is_some())
    })
    .await;
    let refund = status
        .deliveries
        .iter()
        .find(|d| d.event == "return")
        .unwrap();
    assert_eq!(refund.total_minor, -unit_price);
    let seen = received.lock().unwrap().clone();
    let (key, signature, body) = seen.last().unwrap();
    assert!(verify(&secret, signature, body));
    let returned: TillSale = serde_json::from_slice(body).unwrap();
    assert_eq!(&returned.sale_id, key);
    assert_eq!(returned.event, "return");
    assert_eq!(
        returned.refers_to.as_deref(),
        Some(receipt.sale_id.as_str())
    );
    assert_eq!(returned.total_minor, -unit_price);
    assert_eq!(
        (&returned.lines[0].variant, returned.lines[0].quantity),
        (&variant, 1)
    );

    // The other one is exchanged for another size: the till hears of its return and of the
    // exchange sale, which names the sale and that return.
    let other = manager.with(|t| {
        let product = t.variant_product(&variant).unwrap().0;
        t.stock_for_product(&here, &product)
            .unwrap()
            .levels
            .into_iter()
            .find(|l| l.variant != variant && l.on_hand > 0)
            .map(|l| l.variant)
            .expect("another size here")
    });
    let exchange = manager.with(|t| {
        t.exchange_one(
            &here,
            &receipt.sale_id,
            &variant,
            &other,
            &AssociateId::parse("sam.k").unwrap(),
        )
        .unwrap()
    });
    manager.nudge();
    manager.wait_synced().await;
    until_status(&manager, "the exchange acknowledged", |s| {
        s.deliveries
            .iter()
            .any(|d| d.sale_id == exchange.sale_id && d.delivered_at.is_some())
    })
    .await;
    let seen: Vec<TillSale> = received
        .lock()
        .unwrap()
        .iter()
        .map(|(_, _, body)| serde_json::from_slice(body).unwrap())
        .collect();
    let swapped = seen.iter().find(|m| m.sale_id == exchange.sale_id).unwrap();
    assert_eq!(swapped.event, "exchange");
    assert_eq!(swapped.refers_to.as_deref(), Some(receipt.sale_id.as_str()));
    let back = swapped.exchange_of.clone().unwrap();
    let exchanged_return = seen.iter().find(|m| m.sale_id == back).unwrap();
    assert_eq!(exchanged_return.event, "return");
    assert_eq!(exchanged_return.total_minor, -unit_price);
    assert_eq!(swapped.lines[0].variant, other);
    manager.stop().await;
}
