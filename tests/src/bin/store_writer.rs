//! Crash-test child: writes notes and sales to a store as fast as it can and prints a line for
//! each one only after it committed. The parent kills it with SIGKILL at a random moment and
//! checks that every printed change survived.
//!
//! Usage: store_writer <db> <customer-id> <store-id> <variant>...

use std::io::Write;

use aisle_core::model::{AssociateId, CustomerId, StoreId, VariantSku};
use aisle_tablet::Tablet;
use aisle_tablet::checkout::SaleRequest;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [db, customer, store_id, variants @ ..] = args.as_slice() else {
        anyhow::bail!("usage: store_writer <db> <customer-id> <store-id> <variant>...");
    };
    let customer = CustomerId::parse(customer.as_str())?;
    let store_id = StoreId::parse(store_id.as_str())?;
    let variants = variants
        .iter()
        .map(|v| VariantSku::parse(v.as_str()))
        .collect::<Result<Vec<_>, _>>()?;
    anyhow::ensure!(!variants.is_empty(), "give at least one variant");
    let associate = AssociateId::parse("crash.test")?;
    let mut store = Tablet::open(db)?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "ready")?;
    stdout.flush()?;
    for i in 0u64.. {
        if i % 3 == 0 {
            let variant = &variants[(i as usize / 3) % variants.len()];
            let receipt = store.sell(&SaleRequest {
                store: store_id.clone(),
                lines: vec![(variant.clone(), 1)],
                customer: Some(customer.clone()),
                associate: associate.clone(),
                holds: vec![],
                cart: None,
            })?;
            writeln!(stdout, "sale {} {variant}", receipt.sale_id)?;
        } else {
            let note = store.add_note(&customer, &format!("crash note {i}"), &associate, None)?;
            writeln!(stdout, "note {note}")?;
        }
        stdout.flush()?;
    }
    Ok(())
}
