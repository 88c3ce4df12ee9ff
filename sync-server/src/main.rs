//! `aisle-relay`: serves the sync endpoint and HTTP API over the relay's embedded SQLite
//! storage (`serve`, the default), and administers stores and devices (`admin …`).

use aisle_relay::config::{Cli, Command};
use aisle_relay::{Config, admin};
use clap::Parser;

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
        None | Some(Command::Serve) => aisle_relay::serve(config),
        Some(Command::Admin(command)) => admin::run(&config, command),
        Some(Command::Migrate) => aisle_relay::migrate(&config),
    }
}
