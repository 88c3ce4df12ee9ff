//! Runs a command with a PostgreSQL server of its own: starts a fresh cluster (as
//! `aisle_tests::postgres::Postgres` does for a test), sets `AISLE_TEST_POSTGRES` to its URL,
//! runs the command, and stops the server however the command ended. `cargo xtask test`
//! runs the relay scenarios once more this way, so each relay keeps its truth in a database of
//! that server instead of the embedded SQLite files.
//!
//! `with_postgres <command> [args…]` runs one command; `with_postgres --each <program>…` runs
//! each program in turn, without arguments, on the same server, stopping at the first that
//! fails (the scenario test executables of a build).

use anyhow::Context;
use std::ffi::OsString;
use std::process::Command;

fn main() -> anyhow::Result<()> {
    let mut args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let commands: Vec<Vec<OsString>> = if args.first().is_some_and(|a| a == "--each") {
        args.drain(1..).map(|program| vec![program]).collect()
    } else {
        vec![args]
    };
    if commands.iter().any(Vec::is_empty) || commands.is_empty() {
        anyhow::bail!("usage: with_postgres <command> [args…] | with_postgres --each <program>…");
    }
    let postgres = aisle_tests::postgres::Postgres::start()?;
    let server = postgres.url("");
    eprintln!("with_postgres: PostgreSQL at {server}");
    let mut code = 0;
    for command in &commands {
        let (program, args) = command.split_first().context("a command")?;
        let status = Command::new(program)
            .args(args)
            .env("AISLE_TEST_POSTGRES", server.trim_end_matches('/'))
            .status()
            .with_context(|| format!("running {}", program.to_string_lossy()))?;
        if !status.success() {
            eprintln!(
                "with_postgres: {} failed: {status}",
                program.to_string_lossy()
            );
            code = status.code().unwrap_or(1);
            break;
        }
    }
    drop(postgres);
    std::process::exit(code);
}
