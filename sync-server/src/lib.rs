//! Aisle's relay as a library: the sync endpoint, the HTTP API and their storage. The
//! `aisle-relay` binary is a thin shell over [`serve`] and [`admin::run`]; tests start the
//! same relay in-process with [`Relay::start`] on port 0.
//!
//! Where things are: `handlers/` holds one file per HTTP resource, `auth` the extractors that
//! say who is calling, `sync_ws` the WebSocket sync session, `acl` who may read and write which
//! document, `storage/` the traits every operation goes through (SQLite behind them), `hub` the
//! in-process fan-out of committed changes.

pub mod acl;
pub mod admin;
pub mod audit;
pub mod auth;
pub mod backup;
pub mod config;
pub mod domain;
pub mod error;
mod handlers;
pub mod hub;
pub mod images;
pub mod limits;
pub mod loyalty;
pub mod metrics;
pub mod registry;
pub mod server;
pub mod shopify;
pub mod state;
pub mod storage;
mod sync_ws;
pub mod till;
pub mod tls;

use aisle_core::enrolment::CertFingerprint;
use anyhow::Context;
use std::net::SocketAddr;
use tokio::task::JoinHandle;
use tracing::{info, warn};

pub use config::Config;
pub use handlers::{api, router};

use crate::hub::Hub;
use crate::state::{AppState, Ingest};
use crate::storage::RelayStorage;
use crate::tls::TlsFiles;

/// A relay serving on a bound address until [`Relay::stop`], or until its task ends.
pub struct Relay {
    addr: SocketAddr,
    url: String,
    /// What tablets pin at enrolment, when the relay serves TLS.
    trust: Option<CertFingerprint>,
    state: AppState,
    server: JoinHandle<anyhow::Result<()>>,
    recount: JoinHandle<()>,
    /// The data directory's lock, held while serving.
    _lock: std::fs::File,
}

impl Relay {
    /// Opens the data directory (loading the demo retailer if asked), binds `config.listen`
    /// (port 0 picks one) and serves.
    pub async fn start(config: Config) -> anyhow::Result<Self> {
        let (state, lock) = {
            let config = config.clone();
            tokio::task::spawn_blocking(move || prepare(&config)).await??
        };
        let tls_files = {
            let config = config.clone();
            tokio::task::spawn_blocking(move || config.tls_files()).await??
        };
        let trust = tls_files
            .as_ref()
            .map(TlsFiles::trust_fingerprint)
            .transpose()?;
        let tls = tls_files.map(tls::serve_with).transpose()?;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("binding {}", config.listen))?;
        let addr = listener.local_addr()?;
        let url = config.public_url(addr);
        if tls.is_none() && !addr.ip().is_loopback() {
            warn!(%addr, "serving plain HTTP beyond loopback (--plaintext): only behind a TLS-terminating proxy");
        }
        info!(%addr, %url, data = %config.data_dir.display(), "relay listening");
        let recount = tokio::spawn(run_scheduled_jobs(state.clone(), config.recommend_every));
        let till_link = match &config.till {
            Some(till) => {
                let secret = admin::till_secret(&config)?;
                info!(url = %till.url, "sales go to the till");
                Some(till::TillLink::new(
                    till.clone(),
                    secret,
                    config.locale.currency.clone(),
                )?)
            }
            None => None,
        };
        let till = tokio::spawn(till::run(state.clone(), till_link));
        let revocations = tokio::spawn(watch_revocations(state.clone()));
        let stopping = state.shutdown.subscribe();
        let app = router(state.clone());
        let reloader = tls.as_ref().map(|tls| tls.reloader.abort_handle());
        let server = tokio::spawn(server::serve(
            listener,
            app,
            stopping,
            server::Connections {
                tls: tls.map(|tls| tls.acceptor),
                trusted_proxies: config.trusted_proxies.clone().into(),
            },
        ));
        let server = tokio::spawn(async move {
            let served = server.await;
            if let Some(reloader) = reloader {
                reloader.abort();
            }
            revocations.abort();
            till.abort();
            served?
        });
        Ok(Self {
            addr,
            url,
            trust,
            state,
            server,
            recount,
            _lock: lock,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where tablets reach it: `https://<addr>` when it serves TLS, else `http://<addr>`
    /// (or the configured public address).
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// The fingerprint tablets trust it by (see [`tls`]); `None` on plain HTTP.
    pub fn trust(&self) -> Option<CertFingerprint> {
        self.trust
    }

    pub fn admin_token(&self) -> &str {
        &self.state.admin_token
    }

    /// Closes every sync session (they are long-lived, so a graceful stop must tell them) and
    /// waits for the server to finish. Every write was committed as it happened.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.state.shutdown.send(true);
        self.recount.abort();
        let served = self.server.await.context("the server task panicked")?;
        // Upgraded sessions run on their own tasks: wait (bounded) until every one has ended,
        // so none keeps writing to the data directory after the relay is gone.
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        while self.state.open_sessions() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        info!("relay stopped");
        served
    }
}

/// Runs the relay until Ctrl-C or SIGTERM: what `aisle-relay serve` does.
pub fn serve(config: Config) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async move {
            let relay = Relay::start(config).await?;
            // Tests and scripts read this line to learn the port.
            {
                use std::io::Write;
                let mut stdout = std::io::stdout();
                if let Some(trust) = relay.trust() {
                    writeln!(
                        stdout,
                        "aisle-relay certificate authority sha256:{}",
                        trust.to_hex()
                    )?;
                }
                let scheme = if relay.trust().is_some() {
                    "https"
                } else {
                    "http"
                };
                writeln!(
                    stdout,
                    "aisle-relay listening on {scheme}://{}",
                    relay.addr()
                )?;
                stdout.flush()?;
            }
            shutdown_signal().await;
            relay.stop().await
        })
}

/// `aisle-relay migrate`: brings the shared database's schema up to this build.
pub fn migrate(config: &Config) -> anyhow::Result<()> {
    let url = config
        .database
        .as_deref()
        .context("no shared database to migrate: give --database postgres://… (the embedded SQLite files migrate themselves)")?;
    let mut client =
        storage::postgres::database::Database::new(url, config.database_ca.as_deref())?
            .connect()?;
    let ran = storage::postgres::database::migrate(&mut client)?;
    println!("aisle-relay: {ran} migration(s) run; the schema is current");
    Ok(())
}

/// Storage, secrets and state, before anything listens.
fn prepare(config: &Config) -> anyhow::Result<(AppState, std::fs::File)> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    // Held until the relay stops (the kernel releases it even after a kill -9).
    let lock = admin::hold_data_dir(config, None)?;
    let hub = Hub::new();
    let storage = storage::open(config, &config.data_dir, hub.clone())?;
    if config.demo {
        seed_demo(storage.as_ref(), config.demo_customers)?;
    }
    // Before any import reads prices: the catalog says which currency they are in.
    if storage.publish_locale(&config.locale)? {
        info!(currency = %config.locale.currency, locale = %config.locale.locale, "tenant published");
    }
    publish_recommendations(storage.as_ref())?;
    // Devices verify loyalty codes offline against the published key: have one from the start.
    let (key, _) = loyalty::current(&config.secrets_dir, storage.as_ref())?;
    info!(key, "loyalty tokens signed with");
    let ingest = Ingest {
        tenant: config.tenant.clone(),
        secret: admin::ingest_secret(config)?,
        shopify_secret: admin::shopify_secret(config)?,
        shopify_home_store: config.shopify_home_store.clone(),
        shopify_shop_domain: config.shopify_shop_domain.clone(),
        shopify_locations: config.shopify_locations.clone(),
    };
    let mut state = AppState::new(
        storage,
        hub,
        admin::admin_token(config)?,
        &config.secrets_dir,
    )
    .with_ingest(ingest);
    state.till_connected = config.till.is_some();
    state.locale = config.locale.clone();
    state.images = Some(std::sync::Arc::new(images::ProductImages::new(
        &config.data_dir,
        config.images_url.clone(),
    )?));
    Ok((state, lock))
}

/// The recount of what is bought together, on the one relay that runs the chain's jobs.
fn publish_recommendations(storage: &dyn RelayStorage) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let ran = storage.run_job("recommendations", &mut || {
        let published = storage
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
    })?;
    if !ran {
        tracing::debug!("another relay on the database runs the recount");
    }
    Ok(())
}

/// Most documents one scheduled compaction folds (the rest wait for the next run).
const COMPACT_PER_RUN: usize = 1_000;

/// Compaction of the shared database's chunks, on the one relay that runs the chain's jobs.
fn compact_documents(storage: &dyn RelayStorage) -> anyhow::Result<()> {
    storage.run_job("compaction", &mut || {
        let started = std::time::Instant::now();
        let docs = storage.compact(COMPACT_PER_RUN)?;
        if docs > 0 {
            info!(
                docs,
                ms = started.elapsed().as_millis() as u64,
                "documents compacted"
            );
        }
        Ok(())
    })?;
    Ok(())
}

/// How often a relay looks for revocations made elsewhere (the admin command line, another
/// relay on the same database).
pub const REVOCATION_WATCH_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// One query every [`REVOCATION_WATCH_EVERY`] per relay, however many devices are connected:
/// each revocation found goes to this relay's sessions through the hub, which closes the
/// device's connections. Revocations made through this relay reach the hub at once.
async fn watch_revocations(state: AppState) {
    // Revocations of up to a few seconds before the last one seen are asked again: another
    // process's clock, or a commit landing just behind the query.
    const SLACK_MS: i64 = 5_000;
    // Revocations are stamped with the storage's clock (the database's, on a shared one), so
    // the watermark is kept on that clock too, never this machine's.
    let mut watermark = loop {
        match state.with_storage(|s| s.revocation_clock()).await {
            Ok(Ok(now)) => break now,
            _ => tokio::time::sleep(REVOCATION_WATCH_EVERY).await,
        }
    };
    let mut told = std::collections::HashMap::<String, i64>::new();
    let mut ticks = tokio::time::interval(REVOCATION_WATCH_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let since = watermark - SLACK_MS;
        let revoked = match state.with_storage(move |s| s.revoked_since(since)).await {
            Ok(Ok(revoked)) => revoked,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "looking for revocations failed");
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e.message, "looking for revocations failed");
                continue;
            }
        };
        for (device, at) in revoked {
            watermark = watermark.max(at);
            if told.insert(device.clone(), at).is_none() {
                info!(%device, "revoked elsewhere; closing its connections");
                state.hub.revoke(&device);
            }
        }
        told.retain(|_, at| *at >= watermark - SLACK_MS);
    }
}

/// The scheduled jobs: the recount of what is bought together (a changed count reaches
/// devices by itself), then compaction of the shared database.
async fn run_scheduled_jobs(state: AppState, every: std::time::Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        match state.with_storage(publish_recommendations).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "recounting recommendations failed"),
            Err(e) => tracing::warn!(error = %e.message, "recounting recommendations failed"),
        }
        match state.with_storage(compact_documents).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "compacting documents failed"),
            Err(e) => tracing::warn!(error = %e.message, "compacting documents failed"),
        }
    }
}

fn seed_demo(storage: &dyn RelayStorage, customers: usize) -> anyhow::Result<()> {
    use indicatif::{ProgressBar, ProgressStyle};
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template("{msg:>10} [{bar:40}] {pos}/{len} ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let seeded = storage
        .seed_demo(customers, &mut |p| {
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
