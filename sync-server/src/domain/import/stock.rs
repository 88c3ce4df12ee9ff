//! Stock on hand: `store_id,variant_sku,on_hand`, the count as it is now. Each variant's
//! counter moves by the difference from what the relay holds, recorded as an adjustment
//! ("stock import"), so sales made meanwhile on tablets still add up; a count that brings an
//! oversold variant back to zero or above settles its conflict, as a manager's recount does.
//! A store with no inventory yet gets one, with the variants the file leaves out at zero.

use super::rows::{self, Row};
use super::{ImportError, ImportFile};
use crate::domain::RelayDocs;
use aisle_core::Store;
use aisle_core::api::ImportSummary;
use aisle_core::doc::{Adjustment, DocId, InventoryDoc};
use aisle_core::model::{AssociateId, MovementKind, StoreId, VariantSku};
use aisle_core::validate::MAX_STOCK_ADJUSTMENT;
use std::borrow::BorrowMut;
use std::collections::BTreeMap;

const COLUMNS: &[&str] = &["store_id", "variant_sku", "on_hand"];

/// Who the adjustments an import makes are by.
pub const IMPORT_ASSOCIATE: &str = "stock-import";

fn level_of(row: &Row) -> Result<(StoreId, VariantSku, i64), String> {
    let store = StoreId::parse(row.required("store_id")?).map_err(|e| e.to_string())?;
    let variant = VariantSku::parse(row.required("variant_sku")?).map_err(|e| e.to_string())?;
    let on_hand = row.integer("on_hand")?;
    if !(0..=MAX_STOCK_ADJUSTMENT).contains(&on_hand) {
        return Err(format!(
            "on_hand of {variant} must be between 0 and {MAX_STOCK_ADJUSTMENT}"
        ));
    }
    Ok((store, variant, on_hand))
}

pub(super) fn import<S: BorrowMut<Store>>(
    docs: &mut RelayDocs<S>,
    file: &ImportFile,
) -> Result<ImportSummary, ImportError> {
    let (rows, mut errors) = rows::read(&file.text, file.format, &file.rename, COLUMNS)?;
    // Read off the catalog's projections: the document itself stays in the relay's cache.
    let stores: std::collections::BTreeSet<StoreId> =
        docs.stores()?.into_iter().map(|s| s.id).collect();
    let variants: BTreeMap<String, i64> = docs
        .catalog_variants()?
        .into_keys()
        .map(|v| (v, 0))
        .collect();
    let mut levels: BTreeMap<StoreId, BTreeMap<String, (usize, i64)>> = BTreeMap::new();
    for row in &rows {
        let (store, variant, on_hand) = match level_of(row) {
            Ok(level) => level,
            Err(reason) => {
                errors.add(row.line, reason);
                continue;
            }
        };
        if !stores.contains(&store) {
            errors.add(
                row.line,
                format!("store {store} is not in the catalog (import it first)"),
            );
            continue;
        }
        if !variants.contains_key(variant.as_str()) {
            errors.add(row.line, format!("variant {variant} is not in the catalog"));
            continue;
        }
        let store_levels = levels.entry(store.clone()).or_default();
        if let Some((first, _)) = store_levels.get(variant.as_str()) {
            errors.add(
                row.line,
                format!("{variant} in {store} is also on line {first}"),
            );
            continue;
        }
        store_levels.insert(variant.to_string(), (row.line, on_hand));
    }
    if !errors.is_empty() {
        return Err(errors.into());
    }
    let by = AssociateId::parse(IMPORT_ASSOCIATE).map_err(aisle_core::CoreError::from)?;
    let now = docs.now();
    let mut summary = ImportSummary {
        records: rows.len(),
        ..ImportSummary::default()
    };
    let mut writes = Vec::new();
    for (store, store_levels) in levels {
        let id = DocId::Inventory(store.clone());
        let mut write = docs.begin_write(&id, true)?;
        if write.heads_before.is_empty() {
            let mut stock = variants.clone();
            for (variant, (_, on_hand)) in &store_levels {
                stock.insert(variant.clone(), *on_hand);
            }
            InventoryDoc::new(&mut write.doc, &store).initialise(&store, &stock)?;
            summary.created += store_levels.len();
            writes.push(write);
            continue;
        }
        let mut inventory = InventoryDoc::new(&mut write.doc, &store);
        let mut changed = false;
        for (variant, (_, on_hand)) in store_levels {
            let current = inventory.on_hand(&variant)?;
            let delta = match current {
                None => {
                    inventory.stock_variant(&variant, on_hand)?;
                    summary.created += 1;
                    changed = true;
                    continue;
                }
                Some(current) if current == on_hand => {
                    summary.unchanged += 1;
                    continue;
                }
                Some(current) => on_hand - current,
            };
            let sku = VariantSku::parse(variant.as_str()).map_err(aisle_core::CoreError::from)?;
            inventory.increment(&sku, delta)?;
            inventory.put_adjustment(
                &docs.ids.new_id(),
                &Adjustment {
                    variant: sku,
                    delta,
                    reason: "stock import".into(),
                    by: by.clone(),
                    at: now,
                    resolves_oversell: current.is_some_and(|c| c < 0).then_some(true),
                    kind: Some(MovementKind::Count),
                    transfer: None,
                    other_store: None,
                    counted: Some(on_hand),
                    sale: None,
                    refund_minor: None,
                },
            )?;
            summary.updated += 1;
            changed = true;
        }
        if changed {
            writes.push(write);
        }
    }
    if !writes.is_empty() {
        docs.commit_writes(writes)?;
    }
    Ok(summary)
}
