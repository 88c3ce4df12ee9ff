//! `aisle-relay`: serves the sync endpoint and HTTP API over the relay's embedded SQLite store.

mod config;
mod http;

use anyhow::Context;
use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::Write;
use std::sync::{Arc, Mutex};
use tracing::info;

use aisle_core::Store;
use aisle_core::demo::{self, DemoConfig};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,aisle_relay=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let config = config::Config::load(config::Cli::parse())?;
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    let db_path = config.data_dir.join("relay.sqlite3");
    let mut store = Store::open(&db_path)
        .with_context(|| format!("opening relay database {}", db_path.display()))?;
    if config.demo {
        seed_demo(&mut store, config.demo_customers)?;
    }
    let state = http::AppState::new(Arc::new(Mutex::new(store)));

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let addr = listener.local_addr()?;
    info!(%addr, db = %db_path.display(), "relay listening");
    // Tests and scripts read this line to learn the port.
    let mut stdout = std::io::stdout();
    writeln!(stdout, "aisle-relay listening on http://{addr}")?;
    stdout.flush()?;

    axum::serve(listener, http::router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    info!("relay stopped");
    Ok(())
}

fn seed_demo(store: &mut Store, customers: usize) -> anyhow::Result<()> {
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template("{msg:>10} [{bar:40}] {pos}/{len} ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let seeded = demo::seed_if_empty(store, DemoConfig::new(customers, store.now()), |p| {
        bar.set_message(p.stage);
        bar.set_length(p.total as u64);
        bar.set_position(p.done as u64);
    })
    .context("loading demo data")?;
    bar.finish_and_clear();
    if seeded {
        info!(customers, "demo data loaded");
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    info!("shutting down");
}
