//! Kill -9 while writing: a child process writes notes and sales; it is killed at random
//! moments, and after each kill the store reopens with every change the child reported as
//! committed exactly once, nothing it never attempted, stock down by exactly one unit per sale
//! recorded, and projections that agree with the documents.

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

/// The attempt key (`<round>-<n>`) the writer puts into every change as its associate.
fn attempt_key(associate: Option<&str>) -> Option<&str> {
    associate?.strip_prefix("crash.")
}

/// A sale of the writer's as the customer's document has it.
struct Sold<'a> {
    id: &'a str,
    key: &'a str,
    lines: Vec<(&'a VariantSku, u32)>,
}

#[test]
fn killed_writer_keeps_what_it_acknowledged_exactly_once() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("tablet.sqlite3");
    let data = DemoData::generate(DemoConfig::new(20, 1_780_000_000_000));
    let here = StoreId::parse("LDN-CG")?;
    let (customer, variants) = {
        let mut store =
            aisle_relay::domain::RelayDocs::new(Store::open(&db)?).expect("a relay store");
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
    // Attempt key -> "note" or "sale", for every write the writer started.
    let mut attempts: BTreeMap<String, String> = BTreeMap::new();
    // Acknowledged: note id -> key; sale id -> (variant, key).
    let mut notes: BTreeMap<String, String> = BTreeMap::new();
    let mut sales: BTreeMap<String, (VariantSku, String)> = BTreeMap::new();
    let mut committed_unacknowledged = 0;
    // Kill after different amounts of work, including right after start-up.
    for (round, writes_before_kill) in [0usize, 7, 31, 3, 60].into_iter().enumerate() {
        let mut child = Command::new(writer)
            .arg(&db)
            .arg(round.to_string())
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
        let mut printed = Vec::new();
        let mut acknowledged = 0;
        while acknowledged < writes_before_kill {
            let line = lines
                .next(Duration::from_secs(60))
                .expect("writer is writing");
            acknowledged += usize::from(!line.starts_with("try "));
            printed.push(line);
        }
        child.kill()?;
        child.wait()?;
        // Lines already in the pipe were printed after their commit: they count too.
        printed.extend(lines.drain());
        for line in printed {
            match line.split_whitespace().collect::<Vec<_>>().as_slice() {
                ["try", key, kind @ ("note" | "sale")] => {
                    let fresh = attempts.insert(key.to_string(), kind.to_string());
                    assert!(fresh.is_none(), "round {round}: attempt {key} twice");
                }
                ["note", id, key] => {
                    assert_eq!(attempts.get(*key).map(String::as_str), Some("note"));
                    notes.insert(id.to_string(), key.to_string());
                }
                ["sale", id, variant, key] => {
                    assert_eq!(attempts.get(*key).map(String::as_str), Some("sale"));
                    sales.insert(
                        id.to_string(),
                        (VariantSku::parse(*variant)?, key.to_string()),
                    );
                }
                other => panic!("unexpected line from writer: {other:?}"),
            }
        }
        let acknowledged_keys: BTreeSet<&str> = notes
            .values()
            .chain(sales.values().map(|(_, key)| key))
            .map(String::as_str)
            .collect();

        let mut store = Tablet::open(&db)?;
        let profile = store.customer(&customer)?;

        // Notes: each acknowledged one once, with the text it was written with; every note
        // of the writer's comes from an attempt, and no attempt left two notes.
        let written: Vec<(&str, &str, &str)> = profile
            .notes
            .iter()
            .filter_map(|n| {
                let key = attempt_key(Some(n.item.author.as_str()))?;
                Some((n.id.as_str(), key, n.item.text.as_str()))
            })
            .collect();
        for (id, key) in &notes {
            let stored: Vec<_> = written.iter().filter(|(i, ..)| i == id).collect();
            assert_eq!(
                stored.len(),
                1,
                "round {round}: acknowledged note {id} ({key}) is stored {} times",
                stored.len()
            );
            assert_eq!(stored[0].1, key, "round {round}: note {id}");
            assert_eq!(stored[0].2, format!("crash note {key}"), "round {round}");
        }
        let mut unacknowledged: BTreeSet<&str> = BTreeSet::new();
        let mut keys_seen = BTreeSet::new();
        for (id, key, _) in &written {
            assert!(
                keys_seen.insert(*key),
                "round {round}: attempt {key} wrote two notes"
            );
            assert_eq!(
                attempts.get(*key).map(String::as_str),
                Some("note"),
                "round {round}: note {id} ({key}) was never attempted"
            );
            if !notes.contains_key(*id) {
                unacknowledged.insert(key);
            }
        }
        assert_eq!(profile.notes.len(), notes_before + written.len());

        // Sales: on the customer and in the store's inventory, each acknowledged one once.
        let purchases: Vec<Sold<'_>> = profile
            .purchases
            .iter()
            .filter_map(|p| {
                let key = attempt_key(p.item.associate.as_ref().map(|a| a.as_str()))?;
                let lines = p.item.lines.iter().map(|l| (&l.variant, l.quantity));
                Some(Sold {
                    id: p.id.as_str(),
                    key,
                    lines: lines.collect(),
                })
            })
            .collect();
        let recorded: BTreeMap<String, _> = store
            .sales(&here)?
            .into_iter()
            .filter(|(_, s)| attempt_key(Some(s.associate.as_str())).is_some())
            .collect();
        for (id, (variant, key)) in &sales {
            let stored: Vec<_> = purchases.iter().filter(|p| p.id == id).collect();
            assert_eq!(
                stored.len(),
                1,
                "round {round}: acknowledged sale {id} ({key}) is on the customer {} times",
                stored.len()
            );
            assert_eq!(stored[0].key, key, "round {round}: sale {id}");
            assert_eq!(
                stored[0].lines,
                vec![(variant, 1)],
                "round {round}: sale {id}"
            );
            assert!(
                recorded.contains_key(id),
                "round {round}: acknowledged sale {id} is not in the inventory"
            );
        }
        let mut keys_seen = BTreeSet::new();
        for Sold { id, key, .. } in &purchases {
            assert!(
                keys_seen.insert(*key),
                "round {round}: attempt {key} sold twice"
            );
            assert_eq!(
                attempts.get(*key).map(String::as_str),
                Some("sale"),
                "round {round}: sale {id} ({key}) was never attempted"
            );
            if !sales.contains_key(*id) {
                unacknowledged.insert(key);
            }
        }
        // One transaction wrote both sides of each sale.
        assert_eq!(
            purchases.iter().map(|p| p.id).collect::<BTreeSet<_>>(),
            recorded.keys().map(String::as_str).collect::<BTreeSet<_>>(),
            "round {round}: sales on the customer and in the inventory differ"
        );

        // A kill between a commit and its line leaves at most one unacknowledged change per
        // writer: the attempt in flight.
        for key in &unacknowledged {
            assert!(!acknowledged_keys.contains(key));
        }
        for r in 0..=round {
            let in_round = unacknowledged
                .iter()
                .filter(|k| {
                    k.split_once('-')
                        .is_some_and(|(run, _)| run == r.to_string())
                })
                .count();
            assert!(
                in_round <= 1,
                "round {round}: {in_round} unacknowledged changes from writer {r}: {unacknowledged:?}"
            );
        }
        committed_unacknowledged = unacknowledged.len();

        // Stock: down by exactly one unit per distinct sale stored, no more, no less.
        for (variant, start) in &initial {
            let acknowledged_sold = sales.values().filter(|(v, _)| v == variant).count();
            let unacknowledged_sold: u32 = purchases
                .iter()
                .filter(|p| !sales.contains_key(p.id))
                .flat_map(|p| p.lines.iter())
                .filter(|(v, _)| *v == variant)
                .map(|(_, quantity)| quantity)
                .sum();
            let sold = i64::try_from(acknowledged_sold)? + i64::from(unacknowledged_sold);
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
    eprintln!(
        "{} notes and {} sales acknowledged, {committed_unacknowledged} committed before the kill \
         but not acknowledged",
        notes.len(),
        sales.len()
    );
    assert!(notes.len() + sales.len() >= 100, "the writer did real work");
    Ok(())
}
