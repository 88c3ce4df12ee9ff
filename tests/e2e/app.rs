//! End-to-end: the built app in a real WebKit window, driven over WebDriver (tauri-driver +
//! WebKitWebDriver) under Xvfb. Run by `cargo xtask e2e`, which builds the app with the UI
//! embedded and passes its path in `AISLE_APP_BIN`.
//!
//! Screenshots of each screen at two tablet sizes go to `test-output/e2e/`.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

use anyhow::{Context, bail};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aisle_tests::{Relay, enrolment_code};

const DEMO_CUSTOMERS: usize = 400;

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
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    Ok(ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await?)
}

async fn text_of(client: &Client, css: &str) -> anyhow::Result<String> {
    Ok(client.find(Locator::Css(css)).await?.text().await?)
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
        if let Ok(text) = text_of(client, css).await
            && done(&text)
        {
            return Ok(text);
        }
        if started.elapsed() > timeout {
            bail!("{css} did not show what was expected within {timeout:?}");
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
    let data =
        aisle_core::demo::DemoData::generate(aisle_core::demo::DemoConfig::new(DEMO_CUSTOMERS, 0));
    data.customers()
        .filter(|c| c.customer.home_store.as_str() == "LDN-CG")
        .count()
}

async fn click(client: &Client, css: &str) -> anyhow::Result<()> {
    client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await?
        .click()
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn tablet_enrols_syncs_and_shows_its_state() -> anyhow::Result<()> {
    let (display, _xvfb) = display()?;
    let data = tempfile::tempdir()?;
    let relay_dir = data.path().join("relay");
    let relay = Relay::start(
        &relay_dir,
        &["--demo", "--demo-customers", &DEMO_CUSTOMERS.to_string()],
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
        let card = wait_for_text(
            &client,
            "[data-testid=customer-card] h3",
            Duration::from_secs(10),
            |t| !t.is_empty(),
        )
        .await?;
        assert_eq!(card, name);
        screenshot(&client, "floor-search-landscape-1280x800").await?;

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

        // The relay goes away: the tablet says it is offline and keeps its data.
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
        let relay = Relay::start_on(&relay_dir, relay_addr, &[])?;
        wait_for_text(
            &client,
            "[data-testid=sync-status]",
            Duration::from_secs(60),
            |t| t == "Synced",
        )
        .await?;
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
        wait_for_text(
            &client,
            "[data-testid=sync-status]",
            Duration::from_secs(30),
            |t| t == "Synced",
        )
        .await?;
        client.close().await?;
    }
    drop(relay);
    Ok(())
}
