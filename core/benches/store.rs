//! Store benchmarks over the demo data scaled to 50,000 customers (set
//! `AISLE_BENCH_CUSTOMERS` to change): import throughput, open one customer cold, identify by
//! loyalty id and open, and search-as-you-type prefix queries. Criterion reports medians; a
//! table of p50/p95/p99 over many random operations follows, since the budgets are p99.
//!
//! Run: `cargo bench -p aisle-core` (or `cargo xtask bench`).

use aisle_core::Store;
use aisle_core::model::{CustomerId, Identifier, LoyaltyId};
use aisle_relay::domain::RelayDocs;
use aisle_relay::domain::demo::{DemoConfig, DemoData};
use criterion::{BatchSize, Criterion};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;
use std::time::{Duration, Instant};

const NOW: i64 = 1_780_000_000_000;

struct Fixture {
    _dir: tempfile::TempDir,
    store: Store,
    ids: Vec<CustomerId>,
    loyalty: Vec<LoyaltyId>,
    prefixes: Vec<String>,
    import_per_second: f64,
    customers: usize,
}

fn fixture() -> Fixture {
    let customers: usize = std::env::var("AISLE_BENCH_CUSTOMERS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(50_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let mut store =
        RelayDocs::new(Store::open(dir.path().join("bench.sqlite3")).expect("open store"))
            .expect("a relay store");
    let data = DemoData::generate(DemoConfig::new(customers, NOW));
    eprintln!("importing {customers} demo customers…");
    RelayDocs::new(&mut *store)
        .expect("a relay store")
        .import_catalog(data.products.clone(), data.stores.clone())
        .expect("catalog");
    for (id, levels) in &data.stock {
        RelayDocs::new(&mut *store)
            .expect("a relay store")
            .import_inventory(id, levels.clone())
            .expect("inventory");
    }
    let started = Instant::now();
    let ids = store
        .import_customers(data.customers(), |_| {})
        .expect("customers");
    let import_per_second = customers as f64 / started.elapsed().as_secs_f64();
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut loyalty = Vec::new();
    let mut prefixes = Vec::new();
    for _ in 0..500 {
        let record = data.customer(rng.random_range(0..customers));
        loyalty.push(record.customer.loyalty_id.clone());
        // What an associate types: the first letters of a first name, maybe of the surname too.
        let name = record.customer.name.to_lowercase();
        let (first, last) = name.split_once(' ').unwrap_or((&name, ""));
        let take = rng.random_range(1..=first.len().min(4));
        let mut prefix = first[..take].to_string();
        if !last.is_empty() && rng.random_bool(0.5) {
            prefix.push(' ');
            prefix.push_str(&last[..rng.random_range(1..=last.len().min(3))]);
        }
        prefixes.push(prefix);
    }
    Fixture {
        _dir: dir,
        store: store.into_store(),
        ids,
        loyalty,
        prefixes,
        import_per_second,
        customers,
    }
}

fn criterion_benches(c: &mut Criterion, f: &Fixture) {
    let mut group = c.benchmark_group(format!("store_{}_customers", f.customers));
    let mut i = 0;
    group.bench_function("open_customer_cold", |b| {
        b.iter(|| {
            i = (i + 7919) % f.ids.len();
            black_box(f.store.customer(&f.ids[i]).expect("open"))
        })
    });
    let mut i = 0;
    group.bench_function("identify_loyalty_and_open", |b| {
        b.iter(|| {
            i = (i + 1) % f.loyalty.len();
            let id = f
                .store
                .identify(&Identifier::Loyalty(f.loyalty[i].clone()))
                .expect("identify");
            black_box(f.store.customer(&id).expect("open"))
        })
    });
    let mut i = 0;
    group.bench_function("search_prefix", |b| {
        b.iter(|| {
            i = (i + 1) % f.prefixes.len();
            black_box(
                f.store
                    .search_customers(&f.prefixes[i], 20)
                    .expect("search"),
            )
        })
    });
    group.finish();

    let data = DemoData::generate(DemoConfig::new(1_000, NOW));
    let mut import = c.benchmark_group("import");
    import
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    import.bench_function("1000_customers", |b| {
        b.iter_batched(
            || {
                let dir = tempfile::tempdir().expect("temp dir");
                let mut store =
                    RelayDocs::new(Store::open(dir.path().join("i.sqlite3")).expect("open"))
                        .expect("a relay store");
                RelayDocs::new(&mut *store)
                    .expect("a relay store")
                    .import_catalog(data.products.clone(), data.stores.clone())
                    .expect("catalog");
                (dir, store)
            },
            |(dir, mut store)| {
                store
                    .import_customers(data.customers(), |_| {})
                    .expect("import");
                (dir, store)
            },
            BatchSize::PerIteration,
        )
    });
    import.finish();
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

fn measure(runs: usize, mut op: impl FnMut(usize)) -> Vec<Duration> {
    let mut times: Vec<Duration> = (0..runs)
        .map(|i| {
            let started = Instant::now();
            op(i);
            started.elapsed()
        })
        .collect();
    times.sort();
    times
}

fn percentile_table(f: &Fixture) {
    let runs = 2_000;
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let rows = [
        (
            "open one customer cold",
            measure(runs, |_| {
                let id = &f.ids[rng.random_range(0..f.ids.len())];
                black_box(f.store.customer(id).expect("open"));
            }),
            100,
        ),
        (
            "identify by loyalty id + open",
            measure(runs, |i| {
                let loyalty = &f.loyalty[i % f.loyalty.len()];
                let id = f
                    .store
                    .identify(&Identifier::Loyalty(loyalty.clone()))
                    .expect("identify");
                black_box(f.store.customer(&id).expect("open"));
            }),
            100,
        ),
        (
            "search as you type (prefix)",
            measure(runs, |i| {
                black_box(
                    f.store
                        .search_customers(&f.prefixes[i % f.prefixes.len()], 20)
                        .expect("search"),
                );
            }),
            30,
        ),
    ];
    println!();
    println!("{} customers, {runs} random operations each", f.customers);
    println!("| operation | p50 | p95 | p99 | budget (p99) |");
    println!("|---|---|---|---|---|");
    for (name, times, budget_ms) in rows {
        println!(
            "| {name} | {:.2} ms | {:.2} ms | {:.2} ms | < {budget_ms} ms |",
            percentile(&times, 0.50).as_secs_f64() * 1e3,
            percentile(&times, 0.95).as_secs_f64() * 1e3,
            percentile(&times, 0.99).as_secs_f64() * 1e3,
        );
    }
    println!(
        "| import ({} customers, one transaction) | {:.0} customers/s | | | |",
        f.customers, f.import_per_second
    );
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    let fixture = fixture();
    criterion_benches(&mut criterion, &fixture);
    criterion.final_summary();
    percentile_table(&fixture);
}
