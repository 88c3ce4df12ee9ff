//! A new retailer from nothing to a working store with only the documented commands and its
//! own files: the walk of docs/onboarding.md, on the sample files in `assets/onboarding/`.
//! Stores, products, stock and customers go in with `aisle-relay admin import` before the
//! relay first starts; a tablet of the store enrols and finds the customers and the stock;
//! later files go in through the admin API while the tablet is online (a price change under
//! the retailer's own column names, a new variant, a changed email, a new customer), the same
//! files again change nothing, and a bad stock file is refused whole with its lines.
//! Product images come from the relay's images folder or, for one not there, the retailer's
//! CDN (a loopback server here), fetched once; the tablet keeps them and shows them with the
//! CDN gone. A later catalog file marks a product discontinued.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

use aisle_core::api::{ImportRejected, ImportSummary};
use aisle_core::model::{Identifier, LoyaltyId, ProductSku, StoreId};
use aisle_tests::{Api, Relay, Tablet};
use std::path::{Path, PathBuf};
use std::time::Duration;

fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../assets/onboarding")
        .join(name)
}

/// `aisle-relay admin import <kind> <file>`: what it printed, or why it failed.
fn import_with_cli(relay_dir: &Path, kind: &str, file: &str) -> Result<String, String> {
    let file = sample(file);
    use std::ffi::OsStr;
    aisle_tests::admin(
        relay_dir,
        &[OsStr::new("import"), OsStr::new(kind), file.as_os_str()],
    )
    .unwrap()
}

async fn import_with_api(
    api: &Api,
    kind: &str,
    file: &str,
    query: &[(&str, &str)],
) -> aisle_tests::Answer {
    let body = std::fs::read_to_string(sample(file)).unwrap();
    aisle_tests::Answer::of(
        api.post(&format!("/v1/admin/imports/{kind}"))
            .query(query)
            .body(body),
    )
    .await
    .unwrap()
}

/// The retailer's CDN: serves `tests/fixtures/cdn` under `/cdn`, counting requests.
async fn start_cdn() -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let hits = std::sync::Arc::new(AtomicUsize::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let counted = hits.clone();
    let app = axum::Router::new().route(
        "/cdn/{*path}",
        axum::routing::get(
            move |axum::extract::Path(path): axum::extract::Path<String>| {
                let counted = counted.clone();
                async move {
                    counted.fetch_add(1, Ordering::SeqCst);
                    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
                        .join("fixtures/cdn")
                        .join(path.replace("..", ""));
                    match std::fs::read(file) {
                        Ok(bytes) => (axum::http::StatusCode::OK, bytes),
                        Err(_) => (axum::http::StatusCode::NOT_FOUND, Vec::new()),
                    }
                }
            },
        ),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, hits)
}

fn on_hand(t: &Tablet, store: &StoreId, product: &str, variant: &str) -> Option<i64> {
    t.with(|s| {
        s.stock_for_product(store, &ProductSku::parse(product).unwrap())
            .ok()?
            .levels
            .into_iter()
            .find(|l| l.variant.as_str() == variant)
            .map(|l| l.on_hand)
    })
}

fn email_of(t: &Tablet, loyalty: &str) -> Option<String> {
    t.with(|s| {
        let id = s
            .identify(&Identifier::Loyalty(LoyaltyId::parse(loyalty).unwrap()))
            .ok()?;
        s.customer(&id).ok()?.identity.email
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_retailer_imports_its_files_and_runs_a_store_on_them() {
    let dir = tempfile::tempdir().unwrap();
    let relay_dir = dir.path().join("relay");
    std::fs::create_dir_all(&relay_dir).unwrap();

    // Before the relay first starts: the retailer's own files, in order.
    for (kind, file, summary) in [
        ("stores", "stores.csv", "2 record(s): 2 new"),
        ("products", "products.csv", "11 record(s): 4 new"),
        (
            "stock",
            "stock.csv",
            "14 record(s): 0 new, 13 updated, 1 unchanged",
        ),
        ("customers", "customers.csv", "4 record(s): 4 new"),
    ] {
        let printed = import_with_cli(&relay_dir, kind, file).unwrap();
        assert!(printed.contains(summary), "{kind}: {printed}");
    }
    // A bad stock file is refused whole, each bad line named, and nothing of it written.
    let refused = import_with_cli(&relay_dir, "stock", "stock-bad.csv").unwrap_err();
    assert!(
        refused.contains("stock-bad.csv:3: variant HP-NOPE-99-RED-M is not in the catalog"),
        "{refused}"
    );
    assert!(
        refused.contains("stock-bad.csv:4: on_hand of HP-TEE-07-WHITE-S must be between 0"),
        "{refused}"
    );
    assert!(
        refused.contains("stock-bad.csv:5: store LDS-XX is not in the catalog"),
        "{refused}"
    );
    assert!(
        refused.contains("stock-bad.csv:6: HP-PARKA-01-NAVY-S in BRS-CB is also on line 2"),
        "{refused}"
    );
    assert!(refused.contains("4 bad record(s)"), "{refused}");

    // The product photos the retailer has at hand go in the relay's images folder; the rest
    // are on its CDN.
    let images = relay_dir.join("images");
    std::fs::create_dir_all(&images).unwrap();
    std::fs::copy(
        sample("images/hp-parka-01.png"),
        images.join("hp-parka-01.png"),
    )
    .unwrap();
    let (cdn, cdn_hits) = start_cdn().await;
    let cdn_url = format!("http://{cdn}/cdn");
    let relay = Relay::start(&relay_dir, &["--images-url", &cdn_url]).unwrap();
    let admin = Api::admin(&relay, &relay_dir).unwrap();
    let bristol = StoreId::parse("BRS-CB").unwrap();
    let tablet = Tablet::enrol_in_store(
        relay.address(),
        &relay_dir,
        dir.path(),
        "bristol-1",
        "associate",
        "BRS-CB",
    )
    .await;
    // The associate finds an imported customer by their card and the stock by size.
    assert_eq!(
        email_of(&tablet, "AL700000011").as_deref(),
        Some("imogen.hart@example.org")
    );
    assert_eq!(
        on_hand(&tablet, &bristol, "HP-PARKA-01", "HP-PARKA-01-NAVY-M"),
        Some(5)
    );
    assert_eq!(
        on_hand(&tablet, &bristol, "HP-TRAIL-03", "HP-TRAIL-03-GREY-43"),
        Some(0)
    );
    // Nothing half-written by the refused file.
    assert_eq!(
        on_hand(&tablet, &bristol, "HP-PARKA-01", "HP-PARKA-01-NAVY-S"),
        Some(3)
    );

    // The same files again, through the API: nothing changes.
    for (kind, file, records) in [
        ("stores", "stores.csv", 2),
        ("products", "products.csv", 4),
        ("stock", "stock.csv", 14),
        ("customers", "customers.csv", 4),
    ] {
        let answer = import_with_api(&admin, kind, file, &[]).await;
        assert_eq!(answer.status, 200, "{kind}: {}", answer.body);
        let summary: ImportSummary = answer.read().unwrap();
        assert_eq!(
            (summary.created, summary.updated, summary.unchanged),
            (0, 0, records),
            "{kind}"
        );
    }

    // The retailer's ERP export, under its own column names: a new price and a new variant.
    let map = "Article=product_sku,Description=name,Brand=brand,Group=category,Style=style,\
               Retail price=price,Option=variant_sku,Size=size,Colour=colour,Barcode=ean";
    let answer = import_with_api(
        &admin,
        "products",
        "products-erp-prices.csv",
        &[("map", map)],
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let summary: ImportSummary = answer.read().unwrap();
    assert_eq!((summary.created, summary.updated), (0, 1));
    // Customers as JSON lines: one changed email, one new customer of the other store.
    let answer = import_with_api(
        &admin,
        "customers",
        "customers-update.jsonl",
        &[("format", "jsonl")],
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let summary: ImportSummary = answer.read().unwrap();
    assert_eq!((summary.created, summary.updated), (1, 1));

    // The online tablet gets all of it without reconnecting.
    aisle_tests::eventually(
        "the tablet has the new price, variant and email",
        Duration::from_secs(20),
        || {
            let price = tablet.with(|s| {
                s.product(&ProductSku::parse("HP-TEE-07").unwrap())
                    .map(|p| p.price_cents)
                    .ok()
            });
            price == Some(2200)
                && on_hand(&tablet, &bristol, "HP-TEE-07", "HP-TEE-07-BLACK-L") == Some(0)
                && email_of(&tablet, "AL700000029").as_deref() == Some("t.reyes@example.net")
        },
    )
    .await;

    // A bad file through the API: 422 with every bad line, and nothing written.
    let answer = import_with_api(&admin, "stock", "stock-bad.csv", &[]).await;
    assert_eq!(answer.status, 422, "{}", answer.body);
    let rejected: ImportRejected = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(rejected.bad_records, 4);
    assert_eq!(
        rejected.errors.iter().map(|e| e.line).collect::<Vec<_>>(),
        [3, 4, 5, 6]
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        on_hand(&tablet, &bristol, "HP-PARKA-01", "HP-PARKA-01-NAVY-S"),
        Some(3)
    );

    // Product images: the tablet keeps the two products that have one (the others show
    // their category's outline), one from the relay's folder, one fetched from the CDN.
    let cache = aisle_tablet::images::ImageCache::beside(&tablet.with(|s| s.path().to_path_buf()));
    let wanted = tablet.with(|s| s.product_images().unwrap());
    assert_eq!(wanted.len(), 2, "{wanted:?}");
    let fetched = cache
        .fetch_missing(&tablet.config, wanted.clone())
        .await
        .unwrap();
    assert_eq!(
        (fetched.fetched, fetched.unavailable),
        (2, 0),
        "{fetched:?}"
    );
    for (_, image) in &wanted {
        let shown = cache.data_url(image).unwrap();
        assert!(shown.starts_with("data:image/png;base64,"), "{image}");
    }
    let from_cdn = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/cdn/tees/hp-tee-07.png"),
    )
    .unwrap();
    let kept_tee = cache.data_url("tees/hp-tee-07.png").unwrap();
    use base64::Engine;
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(kept_tee.trim_start_matches("data:image/png;base64,"))
            .unwrap(),
        from_cdn
    );
    assert_eq!(cdn_hits.load(std::sync::atomic::Ordering::SeqCst), 1);
    // Kept: a second round fetches nothing, and another tablet is served from the relay's
    // copy, not the CDN again.
    let again = cache.fetch_missing(&tablet.config, wanted).await.unwrap();
    assert_eq!(again.already_kept, 2);
    let tee = ProductSku::parse("HP-TEE-07").unwrap();
    let served = aisle_tablet::relay_client::product_image(&tablet.config, &tee)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(served, from_cdn);
    assert_eq!(cdn_hits.load(std::sync::atomic::Ordering::SeqCst), 1);
    // A product with only its outline has nothing to fetch; without a token, nothing at all.
    let socks = ProductSku::parse("HP-SOCK-02").unwrap();
    assert_eq!(
        aisle_tablet::relay_client::product_image(&tablet.config, &socks)
            .await
            .unwrap(),
        None
    );
    let anonymous = relay
        .http()
        .get(relay.url("/v1/products/HP-TEE-07/image"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);

    // A later catalog file: the socks are no longer bought in. Still found and in stock here,
    // no longer suggested.
    let answer = import_with_api(&admin, "products", "products-discontinued.csv", &[]).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let summary: ImportSummary = answer.read().unwrap();
    assert_eq!(summary.updated, 1);
    aisle_tests::eventually(
        "the socks are discontinued",
        Duration::from_secs(20),
        || tablet.with(|s| s.product(&socks).is_ok_and(|p| p.discontinued)),
    )
    .await;
    // The parka keeps the image the first file gave it (this file leaves image_url empty
    // for the socks only).
    let parka = ProductSku::parse("HP-PARKA-01").unwrap();
    assert_eq!(
        tablet.with(|s| s.product(&parka).unwrap().image),
        "hp-parka-01.png"
    );
    relay.terminate().unwrap();
}
