//! (g) A retailer's customer file imported into the relay: `n` customers as CSV, read,
//! checked whole (identifiers free, stores known) and written in one transaction, on a relay
//! holding the sample retailer's stores (`assets/onboarding`).

use aisle_core::api::{ImportFormat, ImportKind};
use aisle_core::model::LoyaltyId;
use aisle_relay::domain::RelayDocs;
use aisle_relay::domain::import::ImportFile;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

fn csv_file(kind: ImportKind, text: String) -> ImportFile {
    ImportFile {
        kind,
        format: ImportFormat::Csv,
        rename: BTreeMap::new(),
        text,
    }
}

/// `n` customers of the sample stores, each with a loyalty number, an email and a phone.
fn customers_csv(n: usize) -> anyhow::Result<String> {
    let mut text = String::from(
        "customer_id,loyalty_number,name,email,phone,home_store,tier,joined,consent_in_store,consent_email,consent_sms\n",
    );
    for i in 0..n {
        let loyalty = LoyaltyId::from_serial(u32::try_from(10_000_000 + i)?);
        let store = if i % 3 == 0 { "BTH-SG" } else { "BRS-CB" };
        writeln!(
            text,
            "C-{i},{loyalty},Customer {i},customer{i}@example.org,07{:09},{store},member,2024-0{}-1{},yes,{},no",
            100_000_000 + i,
            1 + i % 9,
            i % 10,
            if i % 2 == 0 { "yes" } else { "no" },
        )?;
    }
    Ok(text)
}

/// The time to import `n` customers (the file is generated before the clock starts).
pub fn customers(n: usize) -> anyhow::Result<Duration> {
    let dir = tempfile::tempdir()?;
    let mut docs = RelayDocs::open(dir.path().join("relay.sqlite3"))?;
    let stores = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/onboarding/stores.csv"),
    )?;
    docs.import(&csv_file(ImportKind::Stores, stores))?;
    let file = csv_file(ImportKind::Customers, customers_csv(n)?);
    let started = Instant::now();
    let summary = docs.import(&file)?;
    let took = started.elapsed();
    anyhow::ensure!(summary.created == n, "imported {summary:?} of {n}");
    Ok(took)
}
