//! `cargo xtask cluster`: a chain's topology on one machine, for trying it. A PostgreSQL of its
//! own, three relays on one database of it (the first loads the demo retailer), sharing their
//! secrets, and a load balancer in front; prints where to point a tablet and a ticket to enrol
//! one, then runs until Ctrl-C. Everything lives in a temporary folder, deleted at the end.

use aisle_tests::balancer::Balancer;
use aisle_tests::postgres::Postgres;
use aisle_tests::{Relay, admin_command, join_cluster};
use anyhow::Context;

const RELAYS: usize = 3;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    eprintln!("starting PostgreSQL…");
    let postgres = Postgres::start()?;
    let url = postgres.database("aisle")?;
    let secrets = dir.path().join("secrets");
    // Where tablets reach the chain: the balancer's address, written into enrolment tickets.
    let front = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let public_url = format!("https://{front}");
    let mut relays = Vec::new();
    let mut dirs = Vec::new();
    for i in 0..RELAYS {
        let data_dir = dir.path().join(format!("relay-{i}"));
        join_cluster(&data_dir, &url, &secrets)?;
        let mut args = vec!["--public-url", public_url.as_str()];
        if i == 0 {
            eprintln!("relay 0 loads the demo retailer…");
            args.extend(["--demo", "--demo-customers", "2000"]);
        }
        let relay = Relay::start(&data_dir, &args)?;
        eprintln!("relay {i} on {}", relay.url(""));
        relays.push(relay);
        dirs.push(data_dir);
    }
    let _balancer = Balancer::start_on(front, relays.iter().map(|r| r.addr).collect()).await?;
    let ticket = admin_command(&dirs[0])?
        .args(["--public-url", &public_url, "--tls-self-signed"])
        .args([
            "admin",
            "enrol",
            "--ticket",
            "--store",
            "LDN-CG",
            "--role",
            "manager",
            "--name",
            "Cluster tablet",
        ])
        .output()
        .context("making an enrolment ticket")?;
    println!();
    println!("a local chain: PostgreSQL {url}, {RELAYS} relays behind {public_url}");
    if let Some(trust) = relays[0].trust {
        println!("certificate authority: sha256:{}", trust.to_hex());
    }
    println!(
        "enrol a tablet with: {}",
        String::from_utf8_lossy(&ticket.stdout).trim()
    );
    println!("readiness of each relay: GET <relay>/readyz; metrics: GET <relay>/metrics");
    println!("Ctrl-C stops everything.");
    tokio::signal::ctrl_c().await?;
    drop(relays);
    drop(postgres);
    Ok(())
}
