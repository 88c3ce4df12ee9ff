//! `aisle-relay`: serves the sync endpoint and HTTP API over the relay's embedded SQLite
//! storage, and administers stores and devices.

mod acl;
mod admin;
mod config;
mod http;
mod hub;
mod loyalty;
mod metrics;
mod registry;
mod shopify;
mod state;
mod storage;
mod sync_ws;

use anyhow::Context;
use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::Write;
use tracing::info;

use aisle_core::demo::{self, DemoConfig};

use crate::config::{Cli, Command, Config};
use crate::storage::{RelayStorage, SqliteStorage};

fn main() -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,aisle_relay=info".into())
        // Validating a push parses its changes on their own, and Automerge logs every change
        // whose dependencies are (as expected) only in the relay's copy as an error.
        .add_directive("automerge::automerge=off".parse().unwrap_or_default());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let config = Config::load(&cli.common, &cli.serve)?;
    match cli.command {
        None | Some(Command::Serve) => serve(config),
        Some(Command::Admin(command)) => admin::run(&config, command),
    }
}

fn serve(config: Config) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    // Held until the process ends (the kernel releases it even after a kill -9).
    let _serving = admin::hold_data_dir(&config, None)?;
    let mut storage = SqliteStorage::open(&config.data_dir, &config.tenant)?;
    if config.demo {
        seed_demo(&mut storage, config.demo_customers)?;
    }
    publish_recommendations(&mut storage)?;
    // Devices verify loyalty codes offline against the published key: have one from the start.
    let (key, _) = loyalty::current(&config.data_dir, storage.documents())?;
    info!(key, "loyalty tokens signed with");
    // Demo data and recommendations committed before serving need no fan-out.
    storage.take_committed();
    let admin_token = admin::admin_token(&config)?;
    let ingest = state::Ingest {
        tenant: config.tenant.clone(),
        secret: admin::ingest_secret(&config)?,
        shopify_secret: admin::shopify_secret(&config)?,
        shopify_home_store: config.shopify_home_store.clone(),
    };
    let state =
        state::AppState::new(Box::new(storage), admin_token, &config.data_dir).with_ingest(ingest);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(config, state))
}

async fn run(config: Config, state: state::AppState) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let addr = listener.local_addr()?;
    info!(%addr, data = %config.data_dir.display(), "relay listening");
    // Tests and scripts read this line to learn the port.
    let mut stdout = std::io::stdout();
    writeln!(stdout, "aisle-relay listening on http://{addr}")?;
    stdout.flush()?;
    tokio::spawn(recount_recommendations(
        state.clone(),
        config.recommend_every,
    ));
    let stopping = state.shutdown.clone();
    axum::serve(listener, http::router(state.clone()))
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            // Sync sessions are long-lived: tell them to close, or shutdown would wait forever.
            let _ = stopping.send(true);
        })
        .await?;
    // Every write is committed as it happens; checkpoint the WAL so the files are compact.
    drop(state.storage_blocking());
    info!("relay stopped");
    Ok(())
}

fn publish_recommendations(storage: &mut SqliteStorage) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let published = storage
        .documents()
        .publish_recommendations()
        .context("counting recommendations")?;
    info!(
        baskets = published.baskets,
        products = published.products,
        changed = published.changed,
        ms = started.elapsed().as_millis() as u64,
        "recommendations counted"
    );
    Ok(())
}

/// Recounts what is bought together on a schedule and sends any change to connected devices.
async fn recount_recommendations(state: state::AppState, every: std::time::Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let counted = state
            .with_storage(|s| {
                let published = s.documents().publish_recommendations();
                (published, s.take_committed())
            })
            .await;
        match counted {
            Ok((Ok(published), commits)) => {
                state.hub.publish(None, commits);
                info!(
                    baskets = published.baskets,
                    changed = published.changed,
                    "recommendations recounted"
                );
            }
            Ok((Err(e), _)) => tracing::warn!(error = %e, "recounting recommendations failed"),
            Err(e) => tracing::warn!(error = %e.message, "recounting recommendations failed"),
        }
    }
}

fn seed_demo(storage: &mut SqliteStorage, customers: usize) -> anyhow::Result<()> {
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template("{msg:>10} [{bar:40}] {pos}/{len} ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let store = storage.documents();
    let now = store.now();
    let seeded = demo::seed_if_empty(store, DemoConfig::new(customers, now), |p| {
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
