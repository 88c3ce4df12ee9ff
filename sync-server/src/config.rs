//! Relay configuration: defaults that work locally, a TOML file, environment variables and
//! flags, later ones overriding earlier ones.

use anyhow::Context;
use clap::Parser;
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
    /// TOML configuration file.
    #[arg(long, env = "AISLE_RELAY_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "AISLE_RELAY_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Directory for the relay's SQLite database.
    #[arg(long, env = "AISLE_RELAY_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Load the demo retailer into an empty database.
    #[arg(long, env = "AISLE_RELAY_DEMO")]
    pub demo: bool,
    /// Number of demo customers.
    #[arg(long, env = "AISLE_DEMO_CUSTOMERS")]
    pub demo_customers: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    demo: Option<bool>,
    demo_customers: Option<usize>,
}

/// The settings the relay runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub demo: bool,
    pub demo_customers: usize,
}

impl Config {
    pub fn load(cli: Cli) -> anyhow::Result<Self> {
        let file = match &cli.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading config file {}", path.display()))?;
                toml::from_str::<FileConfig>(&text)
                    .with_context(|| format!("parsing config file {}", path.display()))?
            }
            None => FileConfig::default(),
        };
        Ok(Self {
            listen: cli
                .listen
                .or(file.listen)
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8787))),
            data_dir: cli
                .data_dir
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from("relay-data")),
            demo: cli.demo || file.demo.unwrap_or(false),
            demo_customers: cli.demo_customers.or(file.demo_customers).unwrap_or(10_000),
        })
    }
}
