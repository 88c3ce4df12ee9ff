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
        .env("AISLE_DEMO_CUSTOMERS", DEMO_CUSTOMERS.to_string())
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

#[tokio::test(flavor = "multi_thread")]
async fn app_shows_the_floor_with_core_data_and_navigates() -> anyhow::Result<()> {
    let (display, _xvfb) = display()?;
    let data = tempfile::tempdir()?;

    // First start: the tablet loads the demo data in the background.
    {
        let (_driver, port) = driver(&display, data.path())?;
        let client = session(port).await?;
        let started = Instant::now();
        client
            .wait()
            .at_most(Duration::from_secs(60))
            .for_element(Locator::Css("[data-testid=screen-floor]"))
            .await?;
        let customers = wait_for_text(
            &client,
            "[data-testid=stat-customers] .stat-value",
            Duration::from_secs(300),
            |t| t == DEMO_CUSTOMERS.to_string(),
        )
        .await?;
        record_timing(&format!(
            "first start: demo data ({customers} customers) loaded and shown in {} ms",
            started.elapsed().as_millis()
        ))?;
        assert_eq!(
            text_of(&client, "[data-testid=stat-stores] .stat-value").await?,
            "5"
        );
        let store_name = wait_for_text(
            &client,
            "[data-testid=store-name]",
            Duration::from_secs(10),
            |t| !t.is_empty(),
        )
        .await?;
        assert_eq!(store_name, "Covent Garden");

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
                client
                    .find(Locator::Css(&format!("[data-testid=nav-{screen}]")))
                    .await?
                    .click()
                    .await?;
                client
                    .wait()
                    .at_most(Duration::from_secs(5))
                    .for_element(Locator::Css(&format!("[data-testid=screen-{screen}]")))
                    .await?;
                screenshot(&client, &format!("{screen}-{size}")).await?;
            }
        }
        client.close().await?;
    }

    // Second start: data is already there; this is the cold start an associate sees.
    {
        let (_driver, port) = driver(&display, data.path())?;
        let started = Instant::now();
        let client = session(port).await?;
        wait_for_text(
            &client,
            "[data-testid=stat-customers] .stat-value",
            Duration::from_secs(60),
            |t| t == DEMO_CUSTOMERS.to_string(),
        )
        .await?;
        record_timing(&format!(
            "cold start to a usable Floor with {DEMO_CUSTOMERS} customers: {} ms (includes WebDriver session setup)",
            started.elapsed().as_millis()
        ))?;
        client.close().await?;
    }
    Ok(())
}
