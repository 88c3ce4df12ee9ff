//! Kill -9 while writing: a child process writes notes and sales; it is killed at random
//! moments, and after each kill the store reopens with every change the child reported as
//! committed, and projections that agree with the documents.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

use aisle_core::Store;
use aisle_core::model::{StoreId, VariantSku};
use aisle_relay::domain::demo::{DemoConfig, DemoData};
use aisle_tablet::Tablet;
use aisle_tests::Lines;
use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::time::Duration;

#[test]
fn killed_writer_loses_nothing_it_acknowledged() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("tablet.sqlite3");
    let data = DemoData::generate(DemoConfig::new(20, 1_780_000_000_000));
    let here = StoreId::parse("LDN-CG")?;
    let (customer, variants) = {
        let mut store = aisle_relay::domain::RelayDocs::new(Store::open(&db)?);
        data.import(&mut store, |_| {})?;
        let customer = data
            .customer(5)
            .id
            .clone()
            .expect("demo customers have ids");
        let variants: Vec<VariantSku> = data.stock[&here]
            .keys()
            .take(3)
            .map(|v| VariantSku::parse(v.clone()))
            .collect::<Result<_, _>>()?;
        (customer, variants)
    };
    let initial: BTreeMap<VariantSku, i64> = variants
        .iter()
        .map(|v| (v.clone(), data.stock[&here][v.as_str()]))
        .collect();
    let notes_before = data.customer(5).notes.len();

    let writer = env!("CARGO_BIN_EXE_store_writer");
    let mut notes = BTreeSet::new();
    let mut sales: BTreeMap<String, VariantSku> = BTreeMap::new();
    // Kill after different amounts of work, including right after start-up.
    for (round, writes_before_kill) in [0usize, 7, 31, 3, 60].into_iter().enumerate() {
        let mut child = Command::new(writer)
            .arg(&db)
            .arg(customer.as_str())
            .arg(here.as_str())
            .args(variants.iter().map(|v| v.as_str()))
            .stdout(Stdio::piped())
            .spawn()?;
        let lines = Lines::new(child.stdout.take().expect("piped"));
        assert_eq!(
            lines.next(Duration::from_secs(60)).as_deref(),
            Some("ready"),
            "round {round}"
        );
        let mut acknowledged = Vec::new();
        while acknowledged.len() < writes_before_kill {
            acknowledged.push(
                lines
                    .next(Duration::from_secs(60))
                    .expect("writer is writing"),
            );
        }
        child.kill()?;
        child.wait()?;
        // Lines already in the pipe were printed after their commit: they count too.
        acknowledged.extend(lines.drain());
        for line in acknowledged {
            match line.split_whitespace().collect::<Vec<_>>().as_slice() {
                ["note", id] => {
                    notes.insert(id.to_string());
                }
                ["sale", id, variant] => {
                    sales.insert(id.to_string(), VariantSku::parse(*variant)?);
                }
                other => panic!("unexpected line from writer: {other:?}"),
            }
        }

        let mut store = Tablet::open(&db)?;
        let profile = store.customer(&customer)?;
        let stored_notes: BTreeSet<&str> = profile.notes.iter().map(|n| n.id.as_str()).collect();
        for note in &notes {
            assert!(
                stored_notes.contains(note.as_str()),
                "round {round}: note {note} lost"
            );
        }
        // Unacknowledged writes may have committed too (killed between commit and print), but
        // nothing was written twice.
        assert!(profile.notes.len() >= notes_before + notes.len());
        let purchases: BTreeSet<&str> = profile.purchases.iter().map(|p| p.id.as_str()).collect();
        for sale in sales.keys() {
            assert!(
                purchases.contains(sale.as_str()),
                "round {round}: sale {sale} lost"
            );
        }
        // Stock agrees with the sales recorded on the customer (every sale was to them).
        let recorded_sales: Vec<_> = profile
            .purchases
            .iter()
            .filter(|p| {
                p.item
                    .associate
                    .as_ref()
                    .is_some_and(|a| a.as_str() == "crash.test")
            })
            .collect();
        for (variant, start) in &initial {
            let sold: i64 = recorded_sales
                .iter()
                .flat_map(|p| p.item.lines.iter())
                .filter(|l| &l.variant == variant)
                .map(|l| i64::from(l.quantity))
                .sum();
            assert_eq!(
                store.on_hand(&here, variant)?,
                start - sold,
                "round {round}: stock of {variant}"
            );
        }
        assert_eq!(
            store.check_projections()?,
            Vec::<String>::new(),
            "round {round}"
        );
    }
    assert!(notes.len() + sales.len() >= 100, "the writer did real work");
    Ok(())
}
