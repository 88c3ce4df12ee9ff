//! End-to-end: the built app in a real WebKit window, driven over WebDriver (tauri-driver +
//! WebKitWebDriver) under Xvfb. Run by `cargo xtask e2e`, which builds the app with the UI
//! embedded and passes its path in `AISLE_APP_BIN`.
//!
//! Screenshots of each screen at two tablet sizes go to `test-output/e2e/`.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

use aisle_core::api::{Event, EventBatch, EventCustomer, EventKind, EventLine};
use anyhow::{Context, bail};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aisle_tests::{Relay, enrolment_code};

/// The demo command's data set: the tablet of Covent Garden holds about 4,000 of them.
const DEMO_CUSTOMERS: usize = 10_000;

/// A child process killed (with its whole process group) when dropped: tauri-driver starts
/// WebKitWebDriver and the app, which would otherwise outlive it.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = aisle_tests::kill_group(&self.0);
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// An X display for the window: the caller's, or a fresh Xvfb that reports its display
/// number once it accepts connections (`-displayfd`), so no stale socket can fool the wait.
fn display() -> anyhow::Result<(String, Option<Killed>)> {
    if let Ok(display) = std::env::var("DISPLAY") {
        return Ok((display, None));
    }
    let mut xvfb = Command::new("Xvfb")
        .args([
            "-displayfd",
            "1",
            "-screen",
            "0",
            "2048x1536x24",
            "-nolisten",
            "tcp",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .context("starting Xvfb (apt install xvfb)")?;
    let stdout = xvfb.stdout.take().context("Xvfb stdout")?;
    let xvfb = Killed(xvfb);
    let mut number = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut number)?;
    let number = number.trim();
    if number.is_empty() {
        bail!("Xvfb did not report a display");
    }
    Ok((format!(":{number}"), Some(xvfb)))
}

/// tauri-driver on a free port, launching the app with `data_dir`. One session per driver.
fn driver(display: &str, data_dir: &Path) -> anyhow::Result<(Killed, u16)> {
    let port = free_port()?;
    let native_port = free_port()?;
    let child = Command::new("tauri-driver")
        .args([
            "--port",
            &port.to_string(),
            "--native-port",
            &native_port.to_string(),
        ])
        .env("DISPLAY", display)
        .env("AISLE_DATA_DIR", data_dir)
        .process_group(0)
        .spawn()
        .context("starting tauri-driver (cargo install tauri-driver)")?;
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if started.elapsed() > Duration::from_secs(20) {
            bail!("tauri-driver did not listen on {port}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok((Killed(child), port))
}

async fn session(port: u16) -> anyhow::Result<Client> {
    let app = std::env::var("AISLE_APP_BIN").context("set AISLE_APP_BIN (cargo xtask e2e does)")?;
    let caps = json!({
        "browserName": "wry",
        "tauri:options": { "application": app },
    });
    let serde_json::Value::Object(caps) = caps else {
        unreachable!()
    };
    // tauri-driver listens before its WebKitWebDriver does; the first request can find
    // nothing behind it.
    let mut attempt = 0;
    loop {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector)
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(client) => return Ok(client),
            Err(e) if attempt < 10 => {
                attempt += 1;
                eprintln!("no WebDriver session yet ({e}); retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// The text of the first element matching `css`. A re-render between finding the element
/// and reading it (a sync landing) makes the element stale: found again, a few times, before
/// the error counts.
async fn text_of(client: &Client, css: &str) -> anyhow::Result<String> {
    let mut attempt = 0;
    loop {
        let read = async { client.find(Locator::Css(css)).await?.text().await };
        match read.await {
            Ok(text) => return Ok(text),
            Err(e) if attempt < 5 => {
                attempt += 1;
                eprintln!("reading {css} again after: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Polls until the element's text satisfies `done`, returning it.
async fn wait_for_text(
    client: &Client,
    css: &str,
    timeout: Duration,
    done: impl Fn(&str) -> bool,
) -> anyhow::Result<String> {
    let started = Instant::now();
    loop {
        let seen = text_of(client, css).await;
        if let Ok(text) = &seen
            && done(text)
        {
            return Ok(text.clone());
        }
        if started.elapsed() > timeout {
            // What it showed last (or why it could not be read) tells a slow screen from a
            // wrong one or a lost WebDriver session.
            bail!("{css} did not show what was expected within {timeout:?}; last: {seen:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn output_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../test-output/e2e");
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Prints a timing and appends it to `test-output/e2e/timings.log`.
fn record_timing(line: &str) -> anyhow::Result<()> {
    eprintln!("{line}");
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(output_dir()?.join("timings.log"))?;
    std::io::Write::write_all(&mut log, format!("{line}\n").as_bytes())?;
    Ok(())
}

async fn screenshot(client: &Client, name: &str) -> anyhow::Result<()> {
    // Two animation frames and a pause, or WebKit can return a stale frame.
    client
        .execute_async(
            "const done = arguments[0]; requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(done, 100)));",
            vec![],
        )
        .await?;
    let png = client.screenshot().await?;
    std::fs::write(output_dir()?.join(format!("{name}.png")), png)?;
    Ok(())
}

const SIZES: [(&str, u32, u32); 2] = [
    ("landscape-1280x800", 1280, 800),
    ("portrait-800x1280", 800, 1280),
];
const SCREENS: [&str; 5] = ["floor", "customers", "stock", "manager", "settings"];

/// Customers of the tablet's store in the relay's demo data.
fn store_customers() -> usize {
    let data = aisle_relay::domain::demo::DemoData::generate(
        aisle_relay::domain::demo::DemoConfig::new(DEMO_CUSTOMERS, 0),
    );
    data.customers()
        .filter(|c| c.customer.home_store.as_str() == "LDN-CG")
        .count()
}

/// Polls `check` until it holds.
async fn wait_until<F, Fut>(client: &Client, what: &str, check: F) -> anyhow::Result<()>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<bool>>,
{
    let started = Instant::now();
    loop {
        if let Ok(true) = check().await {
            return Ok(());
        }
        if started.elapsed() > Duration::from_secs(20) {
            // What the screen showed, for whoever reads the failure.
            let _ = screenshot(client, "failure").await;
            let shown = text_of(client, "main").await.unwrap_or_default();
            bail!("timed out waiting for {what}; the screen showed:\n{shown}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Replaces an input's text, finding it again if a re-render replaced it meanwhile.
async fn type_into(client: &Client, css: &str, text: &str) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let attempt = async {
            let input = client.find(Locator::Css(css)).await?;
            input.clear().await?;
            input.send_keys(text).await?;
            anyhow::Ok(())
        };
        match attempt.await {
            Ok(()) => return Ok(()),
            Err(e) if started.elapsed() < Duration::from_secs(10) => {
                eprintln!("typing into {css} again after: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// What a keyboard-wedge scanner does: the code and Enter, typed into the Floor's search field.
async fn scan_into_search(client: &Client, code: &str) -> anyhow::Result<()> {
    let search = client
        .find(Locator::Css("[data-testid=customer-search]"))
        .await?;
    search.clear().await?;
    search.send_keys(&format!("{code}\u{E007}")).await?;
    Ok(())
}

/// Waits until the tablet has nothing left to push: each acknowledgement re-renders the open
/// screen, and a click on a button that a re-render is replacing does nothing.
async fn settle(client: &Client) -> anyhow::Result<()> {
    // Best effort: proceed anyway after a while; the steps themselves check what they did.
    let _ = wait_for_text(
        client,
        "[data-testid=sync-status]",
        Duration::from_secs(5),
        |t| t.contains("Synced"),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    Ok(())
}

async fn add_note(client: &Client, text: &str) -> anyhow::Result<()> {
    settle(client).await?;
    type_into(client, "[data-testid=note-text]", text).await?;
    // A sync landing re-renders the briefing, and a click on the button it just replaced does
    // nothing. Saving empties the field, so a field still holding the text was not saved yet:
    // press Add again (never twice for one save).
    for _ in 0..3 {
        click(client, "[data-testid=add-note]").await?;
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(5) {
            // The notes card may be mid-re-render: a failed read just reads again.
            if matches!(text_of(client, "[data-testid=notes]").await, Ok(t) if t.contains(text)) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let field = match client.find(Locator::Css("[data-testid=note-text]")).await {
            Ok(field) => field.prop("value").await.ok().flatten(),
            Err(_) => None,
        };
        if field.as_deref() != Some(text) {
            break;
        }
        eprintln!("the note was not saved yet; pressing Add again");
    }
    wait_until(client, "the note", || async {
        Ok(text_of(client, "[data-testid=notes]").await?.contains(text))
    })
    .await
}

/// A customer of the tablet's store who agreed to personalisation and left an online cart.
struct Target {
    name: String,
    loyalty: String,
    id: aisle_core::model::CustomerId,
    /// (variant, quantity) in the online cart's line order.
    lines: Vec<(aisle_core::model::VariantSku, u32)>,
    /// The line whose variant is set to its last units, sold on both tablets.
    last_unit_index: usize,
}

fn briefing_customer() -> Target {
    use aisle_core::model::ConsentPurpose;
    let data = aisle_relay::domain::demo::DemoData::generate(
        aisle_relay::domain::demo::DemoConfig::new(DEMO_CUSTOMERS, 0),
    );
    let record = data
        .customers()
        .find(|c| {
            c.customer.home_store.as_str() == "LDN-CG"
                && c.customer
                    .consent
                    .get(&ConsentPurpose::InStorePersonalisation)
                    .is_some_and(|r| r.granted)
                && c.online_cart.as_ref().is_some_and(|cart| {
                    cart.lines.len() >= 2
                        && cart
                            .lines
                            .iter()
                            .map(|l| &l.variant)
                            .collect::<std::collections::BTreeSet<_>>()
                            .len()
                            == cart.lines.len()
                })
        })
        .expect("the demo data has a customer with an online cart");
    let mut cart = record
        .online_cart
        .clone()
        .unwrap_or_else(|| unreachable!())
        .lines;
    cart.sort_by(|a, b| a.line_id.cmp(&b.line_id));
    Target {
        name: record.customer.name.clone(),
        loyalty: record.customer.loyalty_id.to_string(),
        id: record.id.clone().expect("demo customers have ids"),
        lines: cart
            .iter()
            .map(|l| (l.variant.clone(), l.quantity))
            .collect(),
        last_unit_index: 0,
    }
}

/// A headless tablet core of the same store, syncing through the same relay.
struct Helper {
    store: std::sync::Arc<std::sync::Mutex<aisle_tablet::Tablet>>,
    client: aisle_tablet::sync_client::SyncClient,
}

impl Helper {
    async fn enrol(relay: &Relay, relay_dir: &Path, dir: &Path) -> anyhow::Result<Self> {
        // A manager's tablet: it sets the store's stock up with adjustments, which the relay
        // takes only from managers.
        let code = enrolment_code(relay_dir, "LDN-CG", "manager", "Helper tablet")?;
        let store = aisle_tablet::Tablet::open(dir.join("helper.sqlite3"))?;
        let enrolled =
            aisle_tablet::relay_client::enrol(&relay.address(), &code, store.actor()).await?;
        let mut config =
            aisle_tablet::sync_client::SyncConfig::new(relay.address(), enrolled.token);
        config.max_backoff_ms = 500;
        let store = std::sync::Arc::new(std::sync::Mutex::new(store));
        let client = aisle_tablet::sync_client::SyncClient::start(store.clone(), config);
        Ok(Self { store, client })
    }

    /// Runs `f` on the tablet's store and tells the sync client, as the app does.
    fn with<T>(&self, f: impl FnOnce(&mut aisle_tablet::Tablet) -> T) -> T {
        let mut store = self.store.lock().unwrap_or_else(|e| e.into_inner());
        let out = f(&mut store);
        self.client.local_change(&store);
        out
    }

    async fn wait_synced(&self) -> anyhow::Result<()> {
        aisle_tests::wait_synced(&mut self.client.status(), Duration::from_secs(60)).await
    }

    fn associate() -> aisle_core::model::AssociateId {
        aisle_core::model::AssociateId::parse("helper.tablet").unwrap_or_else(|_| unreachable!())
    }

    /// Picks the line to sell on both tablets (a variant nobody holds here) and gives it
    /// exactly its quantity in stock; the other lines get plenty, so only that one oversells.
    fn stock_for(&self, target: &mut Target) -> anyhow::Result<()> {
        let here = aisle_core::model::StoreId::parse("LDN-CG")?;
        self.with(|s| {
            let holds = s.holds(&here, true)?;
            let held = |v: &aisle_core::model::VariantSku| -> i64 {
                holds
                    .iter()
                    .filter(|h| &h.hold.variant == v)
                    .map(|h| i64::from(h.hold.quantity))
                    .sum()
            };
            target.last_unit_index = target
                .lines
                .iter()
                .position(|(v, _)| held(v) == 0)
                .context("every line of the online cart is held")?;
            for (i, (variant, quantity)) in target.lines.iter().enumerate() {
                let wanted = if i == target.last_unit_index {
                    i64::from(*quantity)
                } else {
                    i64::from(*quantity) + 5 + held(variant)
                };
                let delta = wanted - s.on_hand(&here, variant)?;
                if delta != 0 {
                    s.adjust_stock(&here, variant, delta, "e2e set-up", &Self::associate())?;
                }
            }
            anyhow::Ok(())
        })
    }

    fn sell_last_unit(&self, target: &Target) -> anyhow::Result<()> {
        let variant = target.lines[target.last_unit_index].0.clone();
        self.with(|s| {
            s.sell(&aisle_tablet::checkout::SaleRequest {
                store: aisle_core::model::StoreId::parse("LDN-CG")?,
                lines: vec![(variant, 1)],
                customer: None,
                associate: Self::associate(),
                holds: vec![],
                cart: None,
            })
        })?;
        Ok(())
    }

    /// The manager's recount reached this tablet and closed the conflict here too.
    async fn wait_resolved(&self, target: &Target) -> anyhow::Result<()> {
        let variant = target.lines[target.last_unit_index].0.clone();
        let started = Instant::now();
        loop {
            let conflicts = self.with(|s| s.conflicts())?;
            if let Some(c) = conflicts.iter().find(|c| c.variant == variant)
                && c.resolved_by.is_some()
            {
                let here = aisle_core::model::StoreId::parse("LDN-CG")?;
                assert_eq!(self.with(|s| s.on_hand(&here, &variant))?, 0);
                return Ok(());
            }
            if started.elapsed() > Duration::from_secs(30) {
                bail!("the recount did not reach the other tablet: {conflicts:?}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Notes and the sale made on the app arrived here exactly once.
    async fn check_customer(&self, target: &Target) -> anyhow::Result<()> {
        let profile = self.with(|s| s.customer(&target.id))?;
        for text in [
            "E2E: prefers the navy, back on Saturday",
            "E2E: written offline",
        ] {
            assert_eq!(
                profile.notes.iter().filter(|n| n.item.text == text).count(),
                1,
                "{text}"
            );
        }
        let in_store = profile
            .purchases
            .iter()
            .filter(|p| {
                p.item.channel == aisle_core::model::Channel::Store && p.item.associate.is_some()
            })
            .filter(|p| p.item.lines.len() == target.lines.len())
            .count();
        assert!(in_store >= 1, "the in-store sale reached the other tablet");
        assert_eq!(
            profile.online_cart().map(|c| c.status),
            Some(aisle_core::model::CartStatus::Converted)
        );
        Ok(())
    }

    async fn shutdown(self) {
        self.client.shutdown().await;
    }
}

/// What the till received.
type TillSales = std::sync::Arc<std::sync::Mutex<Vec<aisle_core::api::TillSale>>>;

/// The retailer's till on a free loopback port: acknowledges every sale with a reference.
async fn start_till() -> anyhow::Result<(String, TillSales)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/sales", listener.local_addr()?);
    let received = TillSales::default();
    let kept = received.clone();
    let app = axum::Router::new().route(
        "/sales",
        axum::routing::post(
            move |axum::Json(sale): axum::Json<aisle_core::api::TillSale>| {
                let kept = kept.clone();
                async move {
                    let mut sales = kept.lock().unwrap_or_else(|e| e.into_inner());
                    let n = match sales.iter().position(|s| s.sale_id == sale.sale_id) {
                        Some(n) => n,
                        None => {
                            sales.push(sale);
                            sales.len() - 1
                        }
                    };
                    axum::Json(json!({ "reference": format!("TILL-{:04}", n + 1) }))
                }
            },
        ),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((url, received))
}

/// "Black M (5 on hand)": the units on hand the label says.
fn on_hand_in_label(label: &str) -> anyhow::Result<i64> {
    let (_, tail) = label
        .rsplit_once('(')
        .context("an on-hand count in the label")?;
    Ok(tail.trim_end_matches(" on hand)").parse()?)
}

async fn stock_movements(client: &Client, helper: &Helper) -> anyhow::Result<()> {
    let here = aisle_core::model::StoreId::parse("LDN-CG")?;
    // A product with a size in stock, as the other tablet of the store knows it.
    let (product, name) = helper.with(|s| {
        for p in s.search_products("jeans", 20)? {
            let grid = s.stock_for_product(&here, &p.sku)?;
            if grid.levels.first().is_some_and(|l| l.on_hand > 2) {
                return Ok((p.sku, p.name));
            }
        }
        bail!("no product with stock")
    })?;
    click(client, "[data-testid=nav-stock]").await?;
    type_into(client, "[data-testid=product-search]", product.as_str()).await?;
    click(client, "[data-testid=product-results] button").await?;
    client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("[data-testid=movement-form]"))
        .await?;
    wait_for_text(
        client,
        "[data-testid=stock-grid] h2",
        Duration::from_secs(10),
        |t| t == name,
    )
    .await?;
    let label = text_of(client, "[data-testid=movement-variant] option").await?;
    let size = label
        .rsplit_once(" (")
        .context("a size label")?
        .0
        .to_string();
    let before = on_hand_in_label(&label)?;

    // A delivery of two: on hand goes up by two.
    type_into(client, "[data-testid=movement-quantity]", "2").await?;
    type_into(client, "[data-testid=movement-note]", "DN-4471").await?;
    click(client, "[data-testid=record-movement]").await?;
    wait_for_text(
        client,
        "[data-testid=movement-recorded]",
        Duration::from_secs(10),
        |t| t == format!("Delivery received: 2 × {size}. {} on hand now.", before + 2),
    )
    .await?;

    // One unit sent to Manchester: it leaves this store's stock, with a transfer reference.
    select_option(client, "[data-testid=movement-kind]", "transfer_out").await?;
    client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(
            "[data-testid=movement-store] option[value=MAN-AR]",
        ))
        .await?;
    select_option(client, "[data-testid=movement-store]", "MAN-AR").await?;
    type_into(client, "[data-testid=movement-quantity]", "1").await?;
    click(client, "[data-testid=record-movement]").await?;
    wait_for_text(
        client,
        "[data-testid=movement-recorded]",
        Duration::from_secs(10),
        |t| {
            t.starts_with("Transfer TR-")
                && t.ends_with(&format!("sent: 1 × {size}. {} left on hand.", before + 1))
        },
    )
    .await?;

    // The shelf holds seven: the count sets it, whatever the records said.
    type_into(client, "[data-testid=count-form] input.count-input", "7").await?;
    click(client, "[data-testid=save-count]").await?;
    wait_for_text(
        client,
        "[data-testid=count-saved]",
        Duration::from_secs(10),
        |t| t == "Count saved for 1 size.",
    )
    .await?;
    wait_for_text(
        client,
        "[data-testid=movement-variant] option",
        Duration::from_secs(10),
        |t| t.ends_with("(7 on hand)"),
    )
    .await?;
    wait_until(client, "three movements listed", || async {
        let kinds = client
            .find_all(Locator::Css("[data-testid=movement]"))
            .await?;
        let mut seen = Vec::new();
        for movement in kinds {
            seen.push(movement.attr("data-kind").await?.unwrap_or_default());
        }
        Ok(["delivery", "transfer_out", "count"]
            .iter()
            .all(|k| seen.iter().any(|s| s == k)))
    })
    .await?;
    let listed = text_of(client, "[data-testid=movement-list]").await?;
    assert!(listed.contains("Count: 7"), "{listed}");
    assert!(listed.contains("MAN-AR · TR-"), "{listed}");
    assert!(listed.contains("DN-4471"), "{listed}");
    screenshot(client, "stock-movements-landscape-1280x800").await?;

    // The other tablet of the store has the count, through the relay.
    let variant = helper.with(|s| {
        s.stock_for_product(&here, &product)
            .map(|g| g.levels[0].variant.clone())
    })?;
    let started = Instant::now();
    while helper.with(|s| s.on_hand(&here, &variant))? != 7 {
        if started.elapsed() > Duration::from_secs(30) {
            bail!("the count did not reach the other tablet");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

/// Chooses `value` in the select `css`; retried like [`click_nth`] when a re-render replaced
/// the element.
async fn select_option(client: &Client, css: &str, value: &str) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let attempt = async {
            client
                .find(Locator::Css(css))
                .await?
                .select_by_value(value)
                .await?;
            anyhow::Ok(())
        };
        match attempt.await {
            Ok(()) => return Ok(()),
            Err(e) if started.elapsed() < Duration::from_secs(10) => {
                eprintln!("choosing {value} in {css} again after: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

async fn click(client: &Client, css: &str) -> anyhow::Result<()> {
    click_nth(client, css, 0).await
}

/// Clicks the `n`th element matching `css`. Screens re-render when a sync lands, so an element
/// found a moment ago can be gone: find it again and retry.
async fn click_nth(client: &Client, css: &str, n: usize) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let attempt = async {
            let found = client.find_all(Locator::Css(css)).await?;
            let element = found
                .get(n)
                .with_context(|| format!("{css} number {n} is not on screen"))?;
            element.click().await?;
            anyhow::Ok(())
        };
        match attempt.await {
            Ok(()) => return Ok(()),
            Err(e) if started.elapsed() < Duration::from_secs(10) => {
                eprintln!("clicking {css} again after: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn tablet_enrols_syncs_and_shows_its_state() -> anyhow::Result<()> {
    let (display, _xvfb) = display()?;
    let data = tempfile::tempdir()?;
    let relay_dir = data.path().join("relay");
    // The retailer's till, on loopback: every sale the relay delivers is kept.
    let (till_url, till_sales) = start_till().await?;
    let till_flags = ["--till-url", till_url.as_str()];
    let relay = Relay::start(
        &relay_dir,
        &[
            "--demo",
            "--demo-customers",
            &DEMO_CUSTOMERS.to_string(),
            till_flags[0],
            till_flags[1],
        ],
    )?;
    let relay_addr = relay.addr;
    let code = enrolment_code(&relay_dir, "LDN-CG", "manager", "E2E tablet")?;
    let expected = store_customers().to_string();
    let tablet_dir = data.path().join("tablet");

    // First start: not enrolled; enrol from Settings and watch the first sync.
    let relay = {
        let (_driver, port) = driver(&display, &tablet_dir)?;
        let client = session(port).await?;
        client
            .wait()
            .at_most(Duration::from_secs(60))
            .for_element(Locator::Css("[data-testid=not-enrolled]"))
            .await?;
        assert_eq!(
            text_of(&client, "[data-testid=sync-status]").await?,
            "Not enrolled"
        );
        screenshot(&client, "floor-not-enrolled-landscape-1280x800").await?;
        click(&client, "[data-testid=not-enrolled] button").await?;
        let url = client.find(Locator::Css("[data-testid=relay-url]")).await?;
        url.clear().await?;
        url.send_keys(&relay.url("")).await?;
        client
            .find(Locator::Css("[data-testid=enrol-code]"))
            .await?
            .send_keys(&code)
            .await?;
        // The relay serves TLS with its own certificate authority: the associate copies its
        // fingerprint from the enrolment sheet.
        client
            .find(Locator::Css("[data-testid=relay-ca]"))
            .await?
            .send_keys(&relay.trust.context("the relay serves TLS")?.to_string())
            .await?;
        let started = Instant::now();
        click(&client, "[data-testid=enrol-submit]").await?;
        wait_for_text(
            &client,
            "[data-testid=enrol-done]",
            Duration::from_secs(20),
            |t| t.contains("LDN-CG"),
        )
        .await?;
        wait_for_text(
            &client,
            "[data-testid=sync-status]",
            Duration::from_secs(120),
            |t| t == "Synced",
        )
        .await?;
        record_timing(&format!(
            "enrol and first sync of {expected} customers (+ catalog and inventory): {} ms",
            started.elapsed().as_millis()
        ))?;
        screenshot(&client, "settings-enrolled-landscape-1280x800").await?;
        click(&client, "[data-testid=nav-floor]").await?;
        wait_for_text(
            &client,
            "[data-testid=stat-customers] .stat-value",
            Duration::from_secs(20),
            |t| t == expected,
        )
        .await?;
        assert_eq!(
            text_of(&client, "[data-testid=stat-stores] .stat-value").await?,
            "5"
        );
        wait_for_text(
            &client,
            "[data-testid=store-name]",
            Duration::from_secs(10),
            |t| t == "Covent Garden",
        )
        .await?;

        // Search as you type reaches the core and opens a customer.
        let search = client
            .find(Locator::Css("[data-testid=customer-search]"))
            .await?;
        search.send_keys("ol").await?;
        client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css("[data-testid=search-results] button"))
            .await?;
        let first = client
            .find(Locator::Css("[data-testid=search-results] button"))
            .await?;
        let name = first
            .find(Locator::Css(".result-name"))
            .await?
            .text()
            .await?;
        assert!(
            name.to_lowercase()
                .split_whitespace()
                .any(|w| w.starts_with("ol")),
            "{name}"
        );
        first.click().await?;
        wait_for_text(
            &client,
            "[data-testid=briefing-name]",
            Duration::from_secs(10),
            |t| t == name,
        )
        .await?;
        click(&client, "[data-testid=back-to-search]").await?;
        click(&client, "[data-testid=nav-floor]").await?;
        screenshot(&client, "floor-search-landscape-1280x800").await?;

        // A second tablet of the store, headless, that will also sell the last unit.
        let mut target = briefing_customer();
        let helper = Helper::enrol(&relay, &relay_dir, data.path()).await?;
        helper.wait_synced().await?;
        helper.stock_for(&mut target)?;
        helper.wait_synced().await?;

        // The web shop reports the cart abandoned at checkout, with a chat hand-off.
        let event = |id: &str, kind| Event {
            id: id.into(),
            customer: EventCustomer {
                loyalty_id: Some(target.loyalty.clone()),
                ..EventCustomer::default()
            },
            kind,
        };
        let lines = target
            .lines
            .iter()
            .map(|(variant, quantity)| EventLine {
                variant: variant.clone(),
                quantity: *quantity,
            })
            .collect();
        let batch = EventBatch {
            events: vec![
                event("e2e-cart", EventKind::CartUpdated { lines }),
                event(
                    "e2e-abandoned",
                    EventKind::CheckoutAbandoned { lines: None },
                ),
                event(
                    "e2e-chat",
                    EventKind::ChatHandoff {
                        summary: "Wants to try the jeans on before buying.".into(),
                    },
                ),
            ],
        };
        let secret = aisle_tests::ingest_secret(&relay_dir)?;
        let posted = aisle_tests::post_events(&relay, &secret, &batch).await?;
        assert_eq!(posted.accepted, 3, "{posted:?}");

        // A scanner types the loyalty number and Enter: the briefing opens.
        scan_into_search(&client, &target.loyalty).await?;
        wait_for_text(
            &client,
            "[data-testid=briefing-name]",
            Duration::from_secs(10),
            |t| t == target.name,
        )
        .await?;
        let lines = target.lines.len();
        let last_units = format!("{} here", target.lines[target.last_unit_index].1);
        wait_until(&client, "the other tablet's stock count", || async {
            let shown = client
                .find_all(Locator::Css("[data-testid=online-line]"))
                .await?;
            Ok(shown.len() == lines
                && shown[target.last_unit_index]
                    .find(Locator::Css("[data-testid=stock-here]"))
                    .await?
                    .text()
                    .await?
                    == last_units)
        })
        .await?;
        wait_until(&client, "the suggested actions", || async {
            let todo = text_of(&client, "[data-testid=suggestions]").await?;
            Ok(todo.contains("Bring the") && todo.contains("try the jeans on"))
        })
        .await?;
        click(&client, "[data-testid=pull-online-cart]").await?;
        wait_until(
            &client,
            "the online cart pulled into the in-store cart",
            || async {
                Ok(client
                    .find_all(Locator::Css("[data-testid=store-line]"))
                    .await?
                    .len()
                    == lines)
            },
        )
        .await?;
        settle(&client).await?;
        click_nth(
            &client,
            "[data-testid=hold-online-line]",
            target.last_unit_index,
        )
        .await?;
        wait_until(&client, "the hold", || async {
            Ok(client
                .find_all(Locator::Css("[data-testid=hold]"))
                .await?
                .len()
                == 1)
        })
        .await?;
        add_note(&client, "E2E: prefers the navy, back on Saturday").await?;
        screenshot(&client, "briefing-landscape-1280x800").await?;
        client.set_window_size(800, 1280).await?;
        screenshot(&client, "briefing-portrait-800x1280").await?;
        client.set_window_size(1280, 800).await?;

        // Offline: the relay goes away; the sale and a note are recorded on the tablet, and
        // the other tablet sells the last unit too.
        relay.kill9()?;
        wait_for_text(
            &client,
            "[data-testid=sync-status]",
            Duration::from_secs(30),
            |t| t.starts_with("Offline since"),
        )
        .await?;
        let purchases_before = client
            .find_all(Locator::Css("[data-testid=purchase]"))
            .await?
            .len();
        click(&client, "[data-testid=record-sale]").await?;
        wait_until(&client, "the sale recorded offline", || async {
            Ok(client
                .find_all(Locator::Css("[data-testid=store-line]"))
                .await?
                .is_empty()
                && client
                    .find_all(Locator::Css("[data-testid=hold]"))
                    .await?
                    .is_empty())
        })
        .await?;
        let purchases_after = client
            .find_all(Locator::Css("[data-testid=purchase]"))
            .await?
            .len();
        assert!(
            purchases_after > purchases_before || purchases_before == 6,
            "purchase listed"
        );
        add_note(&client, "E2E: written offline").await?;
        helper.sell_last_unit(&target)?;
        screenshot(&client, "briefing-offline-landscape-1280x800").await?;
        let relay = Relay::start_on(&relay_dir, relay_addr, &till_flags)?;
        wait_for_text(
            &client,
            "[data-testid=sync-status]",
            Duration::from_secs(60),
            |t| t == "Synced",
        )
        .await?;
        helper.wait_synced().await?;

        // The manager sees the oversell from the two tablets and settles it with a recount.
        click(&client, "[data-testid=nav-manager]").await?;
        client
            .wait()
            .at_most(Duration::from_secs(60))
            .for_element(Locator::Css("[data-testid=conflict-open]"))
            .await?;
        wait_until(&client, "the helper tablet listed", || async {
            Ok(text_of(&client, "[data-testid=tablets]")
                .await?
                .contains("Helper tablet"))
        })
        .await?;
        // The store's security log names the helper's enrolment, as the relay recorded it.
        wait_until(
            &client,
            "the helper's enrolment in the security log",
            || async {
                Ok(text_of(&client, "[data-testid=security-log]")
                    .await?
                    .contains("device enrolled"))
            },
        )
        .await?;
        assert_ne!(
            text_of(&client, "[data-testid=kpi-revenue] .stat-value").await?,
            "£0.00"
        );
        assert_ne!(
            text_of(&client, "[data-testid=kpi-converted] .stat-value").await?,
            "0"
        );
        screenshot(&client, "manager-conflict-landscape-1280x800").await?;
        client.set_window_size(800, 1280).await?;
        screenshot(&client, "manager-conflict-portrait-800x1280").await?;
        client.set_window_size(1280, 800).await?;
        type_into(&client, "[data-testid=counted]", "0").await?;
        click(&client, "[data-testid=resolve-conflict]").await?;
        client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css("[data-testid=conflict-resolved]"))
            .await?;
        helper.wait_resolved(&target).await?;
        helper.check_customer(&target).await?;

        // The sales recorded while the relay was away reached the till once it was back, and
        // the manager sees them delivered with the till's reference.
        wait_until(&client, "a sale delivered to the till", || async {
            Ok(!client
                .find_all(Locator::Css(
                    "[data-testid=till-delivery][data-delivered=true]",
                ))
                .await?
                .is_empty())
        })
        .await?;
        let till_card = text_of(&client, "[data-testid=till]").await?;
        assert!(till_card.contains("till ref TILL-"), "{till_card}");
        {
            let delivered = till_sales.lock().unwrap_or_else(|e| e.into_inner());
            assert!(!delivered.is_empty());
            assert!(
                delivered.iter().all(|sale| till_card
                    .contains(&aisle_core::model::money_in(sale.total_minor, "GBP"))),
                "every sale the till has is on the manager's list: {till_card}"
            );
        }
        screenshot(&client, "manager-till-landscape-1280x800").await?;

        // The KPIs taken out as CSV for a spreadsheet: a row per day of the week shown, with
        // the sales the screen counts.
        click(&client, "[data-testid=export-kpis]").await?;
        wait_for_text(
            &client,
            "[data-testid=kpis-exported]",
            Duration::from_secs(10),
            |t| t.starts_with("Saved ") && t.contains(".csv"),
        )
        .await?;
        let saved = text_of(&client, "[data-testid=kpis-exported]").await?;
        let daily = saved
            .trim_start_matches("Saved ")
            .split(" and ")
            .next()
            .context("a file named")?
            .to_string();
        let csv = std::fs::read_to_string(&daily).with_context(|| format!("reading {daily}"))?;
        let rows: Vec<&str> = csv.lines().collect();
        assert_eq!(
            rows[0],
            "store,date,check_ins,assisted,online_carts_converted,sales,revenue,currency"
        );
        assert_eq!(rows.len(), 8, "{csv}");
        assert!(
            rows[1..]
                .iter()
                .all(|r| r.starts_with("LDN-CG,") && r.ends_with(",GBP"))
        );
        let sales: u64 = rows[1..]
            .iter()
            .map(|r| {
                r.split(',')
                    .nth(5)
                    .and_then(|n| n.parse::<u64>().ok())
                    .unwrap_or(0)
            })
            .sum();
        assert!(sales > 0, "the sales of the week are in the export: {csv}");

        // Stock movements on the Stock screen: a delivery, a transfer to Manchester and a
        // shelf count of one size, each seen in the grid, the message and the movement list,
        // and at the other tablet of the store after sync.
        stock_movements(&client, &helper).await?;

        // The entry kiosk: the customer scans their loyalty QR there; the Floor shows them as
        // just arrived and one tap opens the briefing.
        let token = aisle_tests::loyalty_token(&relay, &relay_dir, &target.id).await?;
        let kiosk = {
            let code = enrolment_code(&relay_dir, "LDN-CG", "kiosk", "Entry kiosk")?;
            let store = aisle_core::Store::open(data.path().join("kiosk.sqlite3"))?;
            let enrolled =
                aisle_tablet::relay_client::enrol(&relay.address(), &code, store.actor()).await?;
            aisle_tablet::sync_client::SyncConfig::new(relay.address(), enrolled.token)
        };
        // The Floor is open; the arrival must show up live, without touching the tablet.
        click(&client, "[data-testid=nav-floor]").await?;
        client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css("[data-testid=checked-in]"))
            .await?;
        let checked_in = Instant::now();
        let welcome = aisle_tablet::relay_client::kiosk_check_in(
            &kiosk,
            &aisle_core::model::KioskCheckIn {
                id: "e2e-kiosk".into(),
                token: Some(token.clone()),
                nfc_uid: None,
                at: std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)?
                    .as_millis()
                    .try_into()?,
            },
        )
        .await?;
        assert!(
            welcome
                .first_name
                .is_some_and(|n| target.name.starts_with(&n))
        );
        wait_until(&client, "the kiosk check-in on the Floor", || async {
            Ok(client
                .find_all(Locator::Css("[data-testid=arrived-customer]"))
                .await
                .map(|found| !found.is_empty())
                .unwrap_or(false)
                && text_of(&client, "[data-testid=just-arrived]")
                    .await
                    .is_ok_and(|t| t.contains(&target.name)))
        })
        .await?;
        record_timing(&format!(
            "kiosk check-in to Just arrived on the open Floor (live, polled every 100 ms): {} ms",
            checked_in.elapsed().as_millis()
        ))?;
        screenshot(&client, "floor-just-arrived-landscape-1280x800").await?;
        click(&client, "[data-testid=arrived-customer]").await?;
        wait_for_text(
            &client,
            "[data-testid=briefing-name]",
            Duration::from_secs(10),
            |t| t == target.name,
        )
        .await?;

        // A handheld scanner reads the same QR code: it types the token and Enter into the
        // search field, and the briefing opens (the token is verified on the tablet).
        click(&client, "[data-testid=nav-floor]").await?;
        scan_into_search(&client, &token).await?;
        wait_for_text(
            &client,
            "[data-testid=briefing-name]",
            Duration::from_secs(10),
            |t| t == target.name,
        )
        .await?;
        // A forged code is refused with its reason, and opens nothing.
        click(&client, "[data-testid=nav-floor]").await?;
        let claims = aisle_core::loyalty::peek(&token)?.0;
        let forged =
            aisle_core::loyalty::sign(&ed25519_dalek::SigningKey::from_bytes(&[1; 32]), &claims);
        scan_into_search(&client, &forged).await?;
        wait_for_text(
            &client,
            "[data-testid=scan-error]",
            Duration::from_secs(10),
            |t| t.contains("altered or forged"),
        )
        .await?;

        for (size, width, height) in SIZES {
            client.set_window_size(width, height).await?;
            for screen in SCREENS {
                click(&client, &format!("[data-testid=nav-{screen}]")).await?;
                client
                    .wait()
                    .at_most(Duration::from_secs(5))
                    .for_element(Locator::Css(&format!("[data-testid=screen-{screen}]")))
                    .await?;
                screenshot(&client, &format!("{screen}-{size}")).await?;
            }
        }
        client.set_window_size(1280, 800).await?;

        // The relay goes away again: the Floor keeps showing local data.
        relay.kill9()?;
        wait_for_text(
            &client,
            "[data-testid=sync-status]",
            Duration::from_secs(30),
            |t| t.starts_with("Offline since"),
        )
        .await?;
        click(&client, "[data-testid=nav-floor]").await?;
        wait_for_text(
            &client,
            "[data-testid=stat-customers] .stat-value",
            Duration::from_secs(10),
            |t| t == expected,
        )
        .await?;
        screenshot(&client, "floor-offline-landscape-1280x800").await?;

        // Something else answers at the relay's address, with a certificate of another
        // authority: the tablet refuses it and Settings says why.
        let impostor = Relay::start_on(&data.path().join("impostor"), relay_addr, &[])?;
        wait_for_text(
            &client,
            "[data-testid=sync-status]",
            Duration::from_secs(60),
            |t| t == "Relay not trusted · nothing sent",
        )
        .await?;
        click(&client, "[data-testid=nav-settings]").await?;
        wait_for_text(
            &client,
            "[data-testid=untrusted]",
            Duration::from_secs(10),
            |t| t.contains("signed neither by an authority this tablet trusts nor by the one it was enrolled with"),
        )
        .await?;
        screenshot(&client, "settings-relay-not-trusted-landscape-1280x800").await?;
        impostor.kill9()?;
        click(&client, "[data-testid=nav-floor]").await?;
        let relay = Relay::start_on(&relay_dir, relay_addr, &till_flags)?;
        wait_for_text(
            &client,
            "[data-testid=sync-status]",
            Duration::from_secs(60),
            |t| t == "Synced",
        )
        .await?;
        helper.shutdown().await;
        client.close().await?;
        relay
    };

    // Second start: enrolled, data present; this is the cold start an associate sees.
    {
        let (_driver, port) = driver(&display, &tablet_dir)?;
        let started = Instant::now();
        let client = session(port).await?;
        wait_for_text(
            &client,
            "[data-testid=stat-customers] .stat-value",
            Duration::from_secs(60),
            |t| t == expected,
        )
        .await?;
        record_timing(&format!(
            "cold start to a usable Floor with {expected} customers: {} ms (includes WebDriver session setup)",
            started.elapsed().as_millis()
        ))?;
        // The app's own figure: its process start to the Floor first showing local data.
        let marks = client
            .execute_async(
                "const done = arguments[0];
                 window.__TAURI_INTERNALS__.invoke('app_info', {})
                   .then(info => done([info.started_at, window.aisleFloorReadyAt]));",
                vec![],
            )
            .await?;
        let (process_start, floor_ready) = (marks[0].as_f64(), marks[1].as_f64());
        let (Some(process_start), Some(floor_ready)) = (process_start, floor_ready) else {
            bail!("the app did not report its start-up marks: {marks}");
        };
        record_timing(&format!(
            "app process start to a usable Floor with {expected} customers: {:.0} ms",
            floor_ready - process_start
        ))?;
        wait_for_text(
            &client,
            "[data-testid=sync-status]",
            Duration::from_secs(30),
            |t| t == "Synced",
        )
        .await?;

        // The manager finds one person twice: from the briefing, the other profile is merged
        // into the open one (through the relay), and its loyalty number shows under "merged
        // in" once the merge has synced back. Last, because the store then has one profile
        // fewer.
        let target = briefing_customer();
        let duplicate = aisle_relay::domain::demo::DemoData::generate(
            aisle_relay::domain::demo::DemoConfig::new(DEMO_CUSTOMERS, 0),
        )
        .customers()
        .find(|c| c.customer.home_store.as_str() == "LDN-CG" && c.id.as_ref() != Some(&target.id))
        .context("a second customer of the store")?
        .customer
        .loyalty_id
        .to_string();
        scan_into_search(&client, &target.loyalty).await?;
        wait_for_text(
            &client,
            "[data-testid=briefing-name]",
            Duration::from_secs(10),
            |t| t == target.name,
        )
        .await?;
        // The customer brings back one item of the sale made offline for another size: one
        // record of the return and the new sale, and the associate reads what is due.
        let newest = "[data-testid=purchase]:first-child";
        let options = client
            .find_all(Locator::Css(&format!(
                "{newest} [data-testid=exchange-instead] option"
            )))
            .await?;
        let instead = match options.first() {
            Some(option) => option.text().await?,
            None => bail!("the sale made in the store offers no other size to exchange for"),
        };
        click(&client, &format!("{newest} [data-testid=exchange-line]")).await?;
        let outcome = "[data-testid=purchases] [role=status], [data-testid=purchases] [role=alert]";
        wait_until(&client, "the exchange's outcome", || async {
            Ok(!client.find_all(Locator::Css(outcome)).await?.is_empty())
        })
        .await?;
        let said = text_of(&client, outcome).await?;
        assert!(
            said.starts_with("Exchanged ")
                && (said.contains("they pay")
                    || said.contains("refund")
                    || said.contains("nothing to pay")),
            "exchanging for {instead}: {said}"
        );
        // The exchange syncs, and the briefing shows it: let that land before typing.
        settle(&client).await?;
        type_into(&client, "[data-testid=merge-search]", &duplicate).await?;
        // Results for the partly typed number may still be on screen: wait for the one match.
        let results = "[data-testid=merge] [data-testid=search-results] button";
        wait_until(
            &client,
            "the other profile alone in the results",
            || async {
                let found = client.find_all(Locator::Css(results)).await?;
                Ok(found.len() == 1 && found[0].text().await?.contains(&duplicate))
            },
        )
        .await?;
        click(&client, results).await?;
        wait_for_text(
            &client,
            "[data-testid=merge-confirm]",
            Duration::from_secs(10),
            |t| t.starts_with("Merge ") && !t.contains("the chosen profile"),
        )
        .await?;
        click(&client, "[data-testid=merge-confirm]").await?;
        wait_for_text(
            &client,
            "[data-testid=merged-from]",
            Duration::from_secs(10),
            |t| t.contains(&duplicate),
        )
        .await?;
        screenshot(&client, "briefing-merged").await?;
        client.close().await?;
    }
    drop(relay);
    Ok(())
}
