//! The relay as a real process on loopback: it starts with its embedded SQLite and the demo
//! data, answers its health check, keeps its data across a kill -9, and stops cleanly on
//! SIGTERM.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

use aisle_core::api::{Health, HealthDetails};
use aisle_tests::{Api, Relay, reply};
use anyhow::Context;

/// What the relay holds, as its health check tells the admin.
async fn health(relay: &Relay, dir: &std::path::Path) -> anyhow::Result<HealthDetails> {
    let health: Health = reply(Api::admin(relay, dir)?.get("/healthz")).await?;
    assert_eq!(health.status, "ok");
    health
        .details
        .context("the admin sees what the relay holds")
}

#[tokio::test]
async fn relay_serves_demo_data_and_survives_a_kill() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let relay = Relay::start(dir.path(), &["--demo", "--demo-customers", "60"])?;
    // Anyone learns that it is up, and nothing of what it holds.
    let public: serde_json::Value = reply(relay.http().get(relay.url("/healthz"))).await?;
    assert_eq!(public["status"], "ok");
    assert!(public.get("details").is_none(), "{public}");
    let reported = health(&relay, dir.path()).await?;
    assert_eq!(reported.store.customers, 60);
    assert_eq!(reported.store.stores, 5);
    relay.kill9()?;

    // Restarted without --demo: the data is what was committed before the kill.
    let relay = Relay::start(dir.path(), &[])?;
    assert_eq!(health(&relay, dir.path()).await?.store.customers, 60);
    let status = relay.terminate()?;
    assert!(status.success(), "graceful shutdown exits 0, got {status}");
    Ok(())
}

#[tokio::test]
async fn unknown_paths_and_bad_config_get_clear_errors() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let relay = Relay::start(dir.path(), &[])?;
    let response = relay.http().get(relay.url("/no-such-thing")).send().await?;
    assert_eq!(response.status(), 404);
    drop(relay);

    let config = dir.path().join("relay.toml");
    std::fs::write(&config, "listen = \"not an address\"\n")?;
    let output = std::process::Command::new(aisle_tests::relay_binary()?)
        .arg("--config")
        .arg(&config)
        .output()?;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("parsing config file"), "{stderr}");
    Ok(())
}

#[tokio::test]
async fn a_client_sending_headers_slowly_is_cut_off() -> anyhow::Result<()> {
    use tokio::io::AsyncWriteExt;
    let dir = tempfile::tempdir()?;
    // Behind a proxy, the relay reads HTTP itself.
    let relay = Relay::start(dir.path(), &["--plaintext"])?;
    let mut slow = tokio::net::TcpStream::connect(relay.addr).await?;
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: relay\r\n")
        .await?;
    held_open_until_the_deadline(slow).await?;
    // Whole requests are answered as ever.
    let up: serde_json::Value = reply(relay.http().get(relay.url("/healthz"))).await?;
    assert_eq!(up["status"], "ok");
    Ok(())
}

#[tokio::test]
async fn a_client_that_never_finishes_its_tls_handshake_is_cut_off() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let relay = Relay::start(dir.path(), &[])?;
    // Connected, and silent: not one byte of a ClientHello.
    let silent = tokio::net::TcpStream::connect(relay.addr).await?;
    held_open_until_the_deadline(silent).await?;
    let up: serde_json::Value = reply(relay.http().get(relay.url("/healthz"))).await?;
    assert_eq!(up["status"], "ok");
    Ok(())
}

/// Waits until the relay ends the connection, which must be after its 10 s deadline and long
/// before 20 s.
async fn held_open_until_the_deadline(mut slow: tokio::net::TcpStream) -> anyhow::Result<()> {
    use tokio::io::AsyncReadExt;
    let started = std::time::Instant::now();
    let mut rest = Vec::new();
    // The relay ends the connection (with or without a 408) once the deadline passes.
    tokio::time::timeout(
        std::time::Duration::from_secs(20),
        slow.read_to_end(&mut rest),
    )
    .await
    .context("the half-sent request was still held open after 20 s")??;
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(5),
        "cut off after {:?}, before the deadline",
        started.elapsed()
    );
    Ok(())
}
