//! The relay as a real process on loopback: it starts with its embedded SQLite and the demo
//! data, answers its health check, keeps its data across a kill -9, and stops cleanly on
//! SIGTERM.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

use aisle_core::api::Health;
use aisle_tests::{Relay, reply};

async fn health(relay: &Relay) -> anyhow::Result<Health> {
    reply(reqwest::Client::new().get(relay.url("/healthz"))).await
}

#[tokio::test]
async fn relay_serves_demo_data_and_survives_a_kill() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let relay = Relay::start(dir.path(), &["--demo", "--demo-customers", "60"])?;
    let reported = health(&relay).await?;
    assert_eq!(reported.status, "ok");
    assert_eq!(reported.store.customers, 60);
    assert_eq!(reported.store.stores, 5);
    relay.kill9()?;

    // Restarted without --demo: the data is what was committed before the kill.
    let relay = Relay::start(dir.path(), &[])?;
    assert_eq!(health(&relay).await?.store.customers, 60);
    let status = relay.terminate()?;
    assert!(status.success(), "graceful shutdown exits 0, got {status}");
    Ok(())
}

#[tokio::test]
async fn unknown_paths_and_bad_config_get_clear_errors() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let relay = Relay::start(dir.path(), &[])?;
    let response = reqwest::get(relay.url("/no-such-thing")).await?;
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
