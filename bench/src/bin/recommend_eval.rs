//! Offline evaluation of the relay's recommendations on held-out demo baskets: hit rate at k of
//! item-to-item co-occurrence against a popularity baseline, printed as a Markdown table.
//!
//! `cargo run --release -p aisle-bench --bin recommend_eval` (AISLE_EVAL_CUSTOMERS, default
//! 10,000). Every fifth customer's baskets are held out; the rest train.

use aisle_relay::domain::demo::{DemoConfig, DemoData};
use aisle_relay::domain::recommend;

fn main() -> anyhow::Result<()> {
    let customers: usize = std::env::var("AISLE_EVAL_CUSTOMERS")
        .ok()
        .map(|v| v.parse())
        .transpose()?
        .unwrap_or(10_000);
    let data = DemoData::generate(DemoConfig::new(customers, 1_780_000_000_000));
    let (test, train): (Vec<_>, Vec<_>) = data.baskets().into_iter().partition(|(i, _)| i % 5 == 0);
    let train: Vec<_> = train.into_iter().map(|(_, b)| b).collect();
    let test: Vec<_> = test.into_iter().map(|(_, b)| b).collect();
    println!(
        "{customers} demo customers; {} training baskets, {} held-out baskets",
        train.len(),
        test.len()
    );
    println!();
    println!(
        "| k | co-occurrence hit rate | popularity hit rate | lift | held-out cases | padded with popular |"
    );
    println!("|---|---|---|---|---|---|");
    for k in [1, 5, 10] {
        let started = std::time::Instant::now();
        let e = recommend::evaluate(&train, &test, k);
        println!(
            "| {k} | {:.1} % | {:.1} % | {:.1}× | {} | {} |",
            e.co_occurrence_hit_rate * 100.0,
            e.popularity_hit_rate * 100.0,
            e.co_occurrence_hit_rate / e.popularity_hit_rate.max(f64::EPSILON),
            e.test_cases,
            e.padded,
        );
        eprintln!("k = {k}: {:.1} s", started.elapsed().as_secs_f64());
    }
    Ok(())
}
