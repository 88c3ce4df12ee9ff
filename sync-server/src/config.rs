//! Relay configuration: defaults that work locally, a TOML file, environment variables and
//! flags, later ones overriding earlier ones.

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "aisle-relay",
    version,
    about = "Aisle relay: sync, ingest and admin API"
)]
pub struct Cli {
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub serve: ServeArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Args)]
pub struct Common {
    /// TOML configuration file.
    #[arg(long, global = true, env = "AISLE_RELAY_CONFIG")]
    pub config: Option<PathBuf>,
    /// Directory for the relay's SQLite databases.
    #[arg(long, global = true, env = "AISLE_RELAY_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the sync endpoint and HTTP API (the default).
    Serve,
    /// Manage stores and devices (works on the data directory, also while the relay runs).
    #[command(subcommand)]
    Admin(AdminCommand),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, global = true, env = "AISLE_RELAY_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Load the demo retailer into an empty database.
    #[arg(long, global = true, env = "AISLE_RELAY_DEMO")]
    pub demo: bool,
    /// Number of demo customers.
    #[arg(long, global = true, env = "AISLE_DEMO_CUSTOMERS")]
    pub demo_customers: Option<usize>,
    /// Home store of customers first seen through Shopify's `customers/create`.
    #[arg(long, global = true, env = "AISLE_RELAY_SHOPIFY_HOME_STORE")]
    pub shopify_home_store: Option<String>,
    /// The shop's `*.myshopify.com` domain: webhooks naming another shop
    /// (`X-Shopify-Shop-Domain`) are refused.
    #[arg(long, global = true, env = "AISLE_RELAY_SHOPIFY_SHOP_DOMAIN")]
    pub shopify_shop_domain: Option<String>,
    /// Seconds between recounts of the related-products recommendations (also run at start).
    #[arg(long, global = true, env = "AISLE_RELAY_RECOMMEND_EVERY")]
    pub recommend_every: Option<u64>,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create a one-time enrolment code for a device (printed with a QR code).
    Enrol {
        #[arg(long)]
        store: String,
        #[arg(long, value_parser = ["associate", "kiosk", "manager"], default_value = "associate")]
        role: String,
        #[arg(long)]
        name: String,
        /// Print only the code (for scripts).
        #[arg(long)]
        quiet: bool,
    },
    /// Revoke a device: its token stops working at once.
    Revoke { device: String },
    /// List enrolled devices.
    Devices,
    /// Print the audit trail: enrolments, revocations, failed authentication, erasures,
    /// merges, loyalty key changes, admin calls.
    Audit {
        /// Only entries about this store.
        #[arg(long)]
        store: Option<String>,
        /// The newest this many entries.
        #[arg(long, default_value_t = 200)]
        limit: usize,
    },
    /// Sign a loyalty token for a customer (by id or loyalty number) and write its QR code.
    LoyaltyToken {
        #[arg(long)]
        customer: String,
        /// Days until it expires; without, it does not.
        #[arg(long)]
        valid_days: Option<u32>,
        /// Write the QR code as SVG here.
        #[arg(long)]
        svg: Option<PathBuf>,
        /// Write the QR code as PNG here.
        #[arg(long)]
        png: Option<PathBuf>,
    },
    /// Revoke a loyalty token (a lost card): devices refuse it once they have synced.
    RevokeLoyaltyToken {
        #[arg(long)]
        token: String,
        #[arg(long, default_value = "reported lost")]
        reason: String,
    },
    /// Start signing loyalty tokens with a new key; tokens of older keys still verify.
    RotateLoyaltyKey,
    /// Withdraw a leaked loyalty key: every token it signed is refused once devices have
    /// synced (customers need new codes). A new key signs from then on.
    WithdrawLoyaltyKey {
        #[arg(long)]
        key: String,
    },
    /// Add a store to the catalog with an empty inventory.
    CreateStore {
        #[arg(long)]
        id: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        city: String,
        #[arg(long)]
        latitude: f64,
        #[arg(long)]
        longitude: f64,
    },
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    demo: Option<bool>,
    demo_customers: Option<usize>,
    tenant: Option<String>,
    admin_token: Option<String>,
}

/// The settings the relay runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub demo: bool,
    pub demo_customers: usize,
    pub tenant: String,
    /// From the config file or `AISLE_RELAY_ADMIN_TOKEN`; otherwise generated into
    /// `<data-dir>/admin-token` on first start.
    pub admin_token: Option<String>,
    pub shopify_home_store: Option<String>,
    pub shopify_shop_domain: Option<String>,
    pub recommend_every: std::time::Duration,
}

impl Config {
    pub fn load(common: &Common, serve: &ServeArgs) -> anyhow::Result<Self> {
        let file = match &common.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading config file {}", path.display()))?;
                toml::from_str::<FileConfig>(&text)
                    .with_context(|| format!("parsing config file {}", path.display()))?
            }
            None => FileConfig::default(),
        };
        Ok(Self {
            listen: serve
                .listen
                .or(file.listen)
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8787))),
            data_dir: common
                .data_dir
                .clone()
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from("relay-data")),
            demo: serve.demo || file.demo.unwrap_or(false),
            demo_customers: serve
                .demo_customers
                .or(file.demo_customers)
                .unwrap_or(10_000),
            tenant: file.tenant.unwrap_or_else(|| "demo".into()),
            admin_token: std::env::var("AISLE_RELAY_ADMIN_TOKEN")
                .ok()
                .or(file.admin_token),
            shopify_home_store: serve.shopify_home_store.clone(),
            shopify_shop_domain: serve.shopify_shop_domain.clone(),
            recommend_every: std::time::Duration::from_secs(
                serve.recommend_every.unwrap_or(3_600).max(1),
            ),
        })
    }
}
