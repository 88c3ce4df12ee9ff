//! Crash-test child: writes notes and sales to a store as fast as it can. Before each write it
//! prints `try <key> <kind>`, and after the write committed `note <id> <key>` or
//! `sale <id> <variant> <key>`. The key (`<run>-<n>`) is in the change itself, as its associate
//! `crash.<key>` (and a note's text), so the parent can tell which attempt any stored change
//! came from. The parent kills it with SIGKILL at a random moment and checks that every
//! printed change survived exactly once and nothing else appeared.
//!
//! Usage: store_writer <db> <run> <customer-id> <store-id> <variant>...

use std::io::Write;

use aisle_core::model::{AssociateId, CustomerId, StoreId, VariantSku};
use aisle_tablet::Tablet;
use aisle_tablet::checkout::SaleRequest;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [db, run, customer, store_id, variants @ ..] = args.as_slice() else {
        anyhow::bail!("usage: store_writer <db> <run> <customer-id> <store-id> <variant>...");
    };
    let customer = CustomerId::parse(customer.as_str())?;
    let store_id = StoreId::parse(store_id.as_str())?;
    let variants = variants
        .iter()
        .map(|v| VariantSku::parse(v.as_str()))
        .collect::<Result<Vec<_>, _>>()?;
    anyhow::ensure!(!variants.is_empty(), "give at least one variant");
    let mut store = Tablet::open(db)?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "ready")?;
    stdout.flush()?;
    for i in 0u64.. {
        let key = format!("{run}-{i}");
        let associate = AssociateId::parse(format!("crash.{key}"))?;
        let kind = if i % 3 == 0 { "sale" } else { "note" };
        // Flushed before the write starts: a change that committed always has its attempt
        // on record, even when the kill comes before its acknowledgement.
        writeln!(stdout, "try {key} {kind}")?;
        stdout.flush()?;
        if kind == "sale" {
            let variant = &variants[(i as usize / 3) % variants.len()];
            let receipt = store.sell(&SaleRequest {
                store: store_id.clone(),
                lines: vec![(variant.clone(), 1)],
                customer: Some(customer.clone()),
                associate,
                holds: vec![],
                cart: None,
            })?;
            writeln!(stdout, "sale {} {variant} {key}", receipt.sale_id)?;
        } else {
            let note = store.add_note(&customer, &format!("crash note {key}"), &associate, None)?;
            writeln!(stdout, "note {note} {key}")?;
        }
        stdout.flush()?;
    }
    Ok(())
}
