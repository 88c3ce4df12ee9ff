//! Runs a command with a PostgreSQL server of its own: starts a fresh cluster (as
//! `aisle_tests::postgres::Postgres` does for a test), sets `AISLE_TEST_POSTGRES` to its URL,
//! runs the command, and stops the server however the command ended. `cargo xtask test`
//! runs the relay scenarios once more this way, so each relay keeps its truth in a database of
//! that server instead of the embedded SQLite files.

use anyhow::Context;
use std::process::Command;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args_os().skip(1);
    let program = args
        .next()
        .context("usage: with_postgres <command> [args…]")?;
    let postgres = aisle_tests::postgres::Postgres::start()?;
    let server = postgres.url("");
    eprintln!("with_postgres: PostgreSQL at {server}");
    let status = Command::new(&program)
        .args(args)
        .env("AISLE_TEST_POSTGRES", server.trim_end_matches('/'))
        .status()
        .with_context(|| format!("running {}", program.to_string_lossy()))?;
    drop(postgres);
    std::process::exit(status.code().unwrap_or(1));
}
