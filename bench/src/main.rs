//! Sync benchmarks, printed as a table of medians over several runs:
//!
//! (a) a fresh tablet's first sync of a store with ~10,000 customer documents;
//! (b) reconnecting after a shift offline: 10,000 documents held, 500 changed (half on the
//!     tablet, half on the relay by another tablet), with the bytes on the wire;
//! (c) one change fanned out to 100 and to 1,000 connected devices (p50 / p99 latency);
//! (e) the same across 1, 2 and 4 relays on one PostgreSQL database (`cluster`), with a web
//!     shop event posted to one relay and seen on a tablet on another, and (f) a reconnect
//!     storm: one of four relays killed, its devices back through a load balancer;
//! (a) again from a relay on PostgreSQL (`pgsync`);
//! (g) a retailer's file of 100,000 customers imported into the relay (`imports`).
//!
//! (a) and (b) run again through samod 0.16 (automerge-repo's Rust implementation, its own axum
//! server and a WebSocket client) on the same documents, and the ratios are printed.
//!
//! Run: `cargo run --release -p aisle-bench` (or `cargo xtask bench`). `AISLE_BENCH_RUNS`
//! sets the runs per figure (default 3), `AISLE_BENCH_SAMOD_RUNS` samod's (default 1);
//! `AISLE_BENCH_SAMOD_TIMEOUT` caps each samod run in seconds (default 600);
//! `AISLE_BENCH_SKIP=samod,fanout,events,cluster,pgsync,imports` leaves parts out;
//! `AISLE_BENCH_CLUSTER=4x5000,1x5000` sets the relays × devices of (e).
//!
//! `--smoke` runs every part once at tiny sizes, in whatever profile it was built: `cargo xtask
//! test` uses it to check that the benchmarks still run, not to measure anything.

mod cluster;
mod imports;
mod ours;
mod samod_run;

use std::time::Duration;

/// How big each workload is.
pub struct Sizes {
    /// Tiny sizes to check the code paths, with a fixture generated afresh.
    pub smoke: bool,
    /// Demo customers in the fixture relay (40% belong to the tablets' store).
    pub fixture_customers: usize,
    /// Customers changed on each side in (b).
    pub changed_per_side: usize,
    /// Connected devices in each (c) run.
    pub fan_out_devices: Vec<usize>,
    /// Relays × devices of (e).
    pub cluster: Vec<(usize, usize)>,
    /// Demo customers in the relays of (c) and (d).
    pub small_relay_customers: usize,
    /// Events posted in (d).
    pub events: usize,
    /// Devices of the reconnect storm (f).
    pub storm_devices: usize,
    /// Document counts of samod's scaling table.
    pub samod_scaling: Vec<usize>,
    /// Customers in the imported file of (g).
    pub imported_customers: usize,
}

/// `AISLE_BENCH_CLUSTER=4x5000,1x5000`: other relays × devices for (e).
fn cluster_sizes() -> Option<Vec<(usize, usize)>> {
    let text = std::env::var("AISLE_BENCH_CLUSTER").ok()?;
    text.split(',')
        .map(|pair| {
            let (relays, devices) = pair.trim().split_once('x')?;
            Some((relays.parse().ok()?, devices.parse().ok()?))
        })
        .collect()
}

impl Sizes {
    fn full() -> Self {
        Self {
            smoke: false,
            // 25,000 gives the store ~10,000.
            fixture_customers: 25_000,
            changed_per_side: 250,
            fan_out_devices: vec![100, 1_000],
            cluster: cluster_sizes().unwrap_or_else(|| {
                [1, 2, 4]
                    .into_iter()
                    .flat_map(|relays| [100, 1_000].map(|devices| (relays, devices)))
                    .collect()
            }),
            small_relay_customers: 200,
            events: 200,
            storm_devices: 1_000,
            samod_scaling: vec![250, 500, 1_000, 2_000],
            imported_customers: 100_000,
        }
    }

    fn smoke() -> Self {
        Self {
            smoke: true,
            fixture_customers: 40,
            changed_per_side: 3,
            fan_out_devices: vec![3],
            cluster: vec![(2, 4)],
            small_relay_customers: 20,
            events: 3,
            storm_devices: 8,
            samod_scaling: vec![5],
            imported_customers: 50,
        }
    }
}

pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(index).copied().unwrap_or_default()
}

/// A relay with 10,000 open connections needs more file descriptors than the default 1,024.
fn raise_file_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}

fn skip(what: &str) -> bool {
    std::env::var("AISLE_BENCH_SKIP").is_ok_and(|s| s.split(',').any(|w| w == what))
}

fn main() -> anyhow::Result<()> {
    let mut smoke = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--smoke" => smoke = true,
            other => anyhow::bail!("unknown argument {other}; the only flag is --smoke"),
        }
    }
    let sizes = if smoke { Sizes::smoke() } else { Sizes::full() };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    raise_file_limit();
    let runs: usize = if smoke {
        1
    } else {
        std::env::var("AISLE_BENCH_RUNS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(3)
    };
    let samod_timeout = Duration::from_secs(
        std::env::var("AISLE_BENCH_SAMOD_TIMEOUT")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(600),
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut import_times = Vec::new();
    for run in (0..runs).filter(|_| !skip("imports")) {
        eprintln!(
            "ours, run {}: import of {} customers",
            run + 1,
            sizes.imported_customers
        );
        let took = imports::customers(sizes.imported_customers)?;
        eprintln!("import: {took:.2?}");
        import_times.push(took.as_secs_f64());
    }
    runtime.block_on(async move {
        let fixture = ours::Fixture::prepare(&sizes).await?;
        eprintln!("fixture: {} documents in the tablet's scope", fixture.docs_in_scope);

        let mut first_sync = Vec::new();
        let mut reconnect = Vec::new();
        let mut reconnect_bytes = Vec::new();
        for run in 0..runs {
            eprintln!("ours, run {}: first sync and reconnect", run + 1);
            let (a, tablet) = fixture.first_sync().await?;
            eprintln!("first sync: {a:.2?}; the reconnect next");
            first_sync.push(a.as_secs_f64());
            let (b, ratio) = fixture.reconnect(tablet).await?;
            eprintln!("reconnect: {b:.2?}");
            reconnect.push(b.as_secs_f64());
            reconnect_bytes.push(ratio);
        }
        let mut fan_out = Vec::new();
        for &devices in sizes.fan_out_devices.iter().filter(|_| !skip("fanout")) {
            eprintln!("ours: fan-out to {devices} devices");
            let figures = ours::fan_out(devices, runs, sizes.small_relay_customers).await?;
            fan_out.push((devices, figures));
        }

        let mut cluster_figures = Vec::new();
        for &(relays, devices) in sizes.cluster.iter().filter(|_| !skip("cluster")) {
            eprintln!("ours: {relays} relays on PostgreSQL, fan-out to {devices} devices");
            let figures =
                cluster::fan_out(relays, devices, runs, sizes.small_relay_customers).await?;
            cluster_figures.push((relays, devices, figures));
        }

        let mut storm = None;
        let mut cluster_events = None;
        if !skip("cluster") {
            eprintln!("ours: reconnect storm, 1 of 4 relays killed, {} devices", sizes.storm_devices);
            storm = Some(cluster::reconnect_storm(4, sizes.storm_devices, sizes.small_relay_customers).await?);
            eprintln!("ours: web shop events through one relay to a tablet on another");
            let mut latencies = cluster::event_latency(sizes.events, sizes.small_relay_customers).await?;
            latencies.sort();
            cluster_events = Some((
                percentile(&latencies, 0.50).as_secs_f64(),
                percentile(&latencies, 0.95).as_secs_f64(),
                latencies.len(),
            ));
        }
        let mut pg_first_sync = None;
        if !skip("pgsync") {
            eprintln!("ours: first sync from a relay on PostgreSQL ({} demo customers seeded first)", sizes.fixture_customers);
            let (times, docs) = cluster::first_sync(sizes.fixture_customers, runs).await?;
            pg_first_sync = Some((median(times), docs));
        }

        let mut event_figures = None;
        if !skip("events") {
            eprintln!("ours: web shop events to a connected tablet");
            let mut latencies =
                ours::event_latency(sizes.events, sizes.small_relay_customers).await?;
            latencies.sort();
            event_figures = Some((
                percentile(&latencies, 0.50).as_secs_f64(),
                percentile(&latencies, 0.95).as_secs_f64(),
                latencies.len(),
            ));
        }

        let docs = fixture.scope_documents()?;
        let mut samod_first = Vec::new();
        let mut samod_reconnect = Vec::new();
        let mut samod_ratio = Vec::new();
        // samod hits the time cap at this size; one run shows it.
        let samod_runs: usize = if smoke {
            1
        } else {
            std::env::var("AISLE_BENCH_SAMOD_RUNS").ok().and_then(|s| s.parse().ok()).unwrap_or(1)
        };
        for run in (0..samod_runs).filter(|_| !skip("samod")) {
            eprintln!("samod, run {}: first sync and reconnect", run + 1);
            let result = samod_run::run(&docs, sizes.changed_per_side, samod_timeout).await?;
            samod_first.push(result.first_sync);
            if let Some((time, ratio)) = result.reconnect {
                samod_reconnect.push(time.as_secs_f64());
                samod_ratio.push(ratio);
            }
        }

        let a = median(first_sync);
        let b = median(reconnect);
        let bytes = median(reconnect_bytes);
        println!();
        let profile = if cfg!(debug_assertions) { "dev" } else { "release" };
        if smoke {
            println!("Smoke run at tiny sizes: the figures only show that every part ran.");
        }
        println!("Sync benchmarks: median of {runs} runs, {} documents in the tablet's scope, relay in {profile} mode on loopback.", fixture.docs_in_scope);
        println!();
        println!("| workload | Aisle | samod 0.16 | samod ÷ Aisle | target |");
        println!("|---|---|---|---|---|");
        let samod_a = samod_first.iter().map(samod_run::FirstSync::describe).collect::<Vec<_>>();
        let samod_a_secs = median(samod_first.iter().map(|f| f.seconds()).collect());
        let samod_finished = samod_first.iter().all(|f| f.done == f.docs);
        let ratio = if samod_first.is_empty() {
            "—".to_string()
        } else {
            format!(
                "{}{:.1}×",
                if samod_finished { "" } else { "> " },
                samod_a_secs / a
            )
        };
        println!(
            "| (a) fresh tablet, first sync | {a:.2} s | {} | {ratio} | < 5 s |",
            samod_a.first().cloned().unwrap_or_else(|| "skipped".into()),
        );
        let samod_b = median(samod_reconnect.clone());
        println!(
            "| (b) reconnect, {} of {} changed | {b:.2} s | {} | {} | < 2 s |",
            2 * sizes.changed_per_side,
            fixture.docs_in_scope,
            if samod_reconnect.is_empty() { "not reached".to_string() } else { format!("{samod_b:.2} s") },
            if samod_reconnect.is_empty() { "—".to_string() } else { format!("{:.1}×", samod_b / b) }
        );
        println!(
            "| (b) bytes on the wire ÷ the changes' own size | {bytes:.2} | {} | | ≤ 2 |",
            if samod_ratio.is_empty() { "—".to_string() } else { format!("{:.2}", median(samod_ratio)) }
        );
        for (devices, (p50, p99)) in fan_out {
            println!(
                "| (c) one change to {devices} connected devices, p50 / p99 | {:.0} / {:.0} ms | | | p99 < 500 ms |",
                p50 * 1e3,
                p99 * 1e3
            );
        }
        for (relays, devices, figures) in &cluster_figures {
            let (p50, p99) = figures.same_relay;
            let across = figures.other_relays.map_or("—".to_string(), |(p50, p99)| {
                format!("{:.0} / {:.0} ms", p50 * 1e3, p99 * 1e3)
            });
            println!(
                "| (e) {relays} relay(s) on PostgreSQL, {devices} devices: p50 / p99 on the writer's relay; on the others | {:.0} / {:.0} ms; {across} | | | p99 < 500 ms |",
                p50 * 1e3,
                p99 * 1e3
            );
        }
        if let Some((seconds, docs)) = pg_first_sync {
            println!(
                "| (a) on PostgreSQL: fresh tablet, first sync of {docs} documents | {seconds:.2} s | | | < 5 s |"
            );
        }
        if let Some((p50, p95, n)) = cluster_events {
            println!(
                "| (d) on PostgreSQL: web shop event posted to relay A → visible on a tablet on relay B, p50 / p95 of {n} | {:.0} / {:.0} ms | | | p95 < 1 s |",
                p50 * 1e3,
                p95 * 1e3
            );
        }
        if let Some(storm) = &storm {
            println!(
                "| (f) reconnect storm: 1 of 4 relays on PostgreSQL killed, its {} of {} devices back through the balancer and past their backlog | {:.2} s | | | |",
                storm.cut_off,
                storm.devices,
                storm.took.as_secs_f64()
            );
        }
        if let Some((p50, p95, n)) = event_figures {
            println!(
                "| (d) web shop event posted → visible on a connected tablet, p50 / p95 of {n} | {:.0} / {:.0} ms | | | p95 < 1 s |",
                p50 * 1e3,
                p95 * 1e3
            );
        }
        if !import_times.is_empty() {
            println!(
                "| (g) a file of {} customers imported (CSV, checked whole, one transaction) | {:.1} s | | | < 120 s |",
                sizes.imported_customers,
                median(import_times)
            );
        }
        if samod_a.len() > 1 {
            println!();
            println!("samod first-sync runs: {}", samod_a.join("; "));
        }
        if !skip("samod") {
            // How samod's first sync grows with the number of documents (same documents).
            println!();
            println!("| samod 0.16 first sync of the first N documents | time |");
            println!("|---|---|");
            for &n in &sizes.samod_scaling {
                let result = samod_run::run(&docs[..n.min(docs.len())], sizes.changed_per_side, samod_timeout).await?;
                println!("| {n} | {} |", result.first_sync.describe());
            }
        }
        anyhow::Ok(())
    })
}
