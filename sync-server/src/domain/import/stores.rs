//! Stores: `store_id,name,city,latitude,longitude`. A new store gets an inventory with every
//! variant of the catalog at zero; a store already here is updated where the file differs.

use super::rows::{self, Row};
use super::{ImportError, ImportFile, every_variant_at_zero, open_catalog};
use crate::domain::RelayDocs;
use aisle_core::Store;
use aisle_core::api::ImportSummary;
use aisle_core::doc::{DocId, InventoryDoc};
use aisle_core::model::{StoreId, StoreInfo};
use aisle_core::validate::{self, MAX_SHORT_TEXT_CHARS};
use std::borrow::BorrowMut;
use std::collections::BTreeMap;

const COLUMNS: &[&str] = &["store_id", "name", "city", "latitude", "longitude"];

fn store_of(row: &Row) -> Result<StoreInfo, String> {
    let id = StoreId::parse(row.required("store_id")?).map_err(|e| e.to_string())?;
    let name = validate::check_text("name", row.required("name")?, MAX_SHORT_TEXT_CHARS)
        .map_err(|e| e.to_string())?;
    let city = validate::check_text("city", row.required("city")?, MAX_SHORT_TEXT_CHARS)
        .map_err(|e| e.to_string())?;
    let latitude = row.decimal("latitude")?;
    let longitude = row.decimal("longitude")?;
    if !(-90.0..=90.0).contains(&latitude) || !(-180.0..=180.0).contains(&longitude) {
        return Err("latitude and longitude are not a place on Earth".into());
    }
    Ok(StoreInfo {
        id,
        name,
        city,
        latitude,
        longitude,
    })
}

pub(super) fn import<S: BorrowMut<Store>>(
    docs: &mut RelayDocs<S>,
    file: &ImportFile,
) -> Result<ImportSummary, ImportError> {
    let (rows, mut errors) = rows::read(&file.text, file.format, &file.rename, COLUMNS)?;
    let mut stores: BTreeMap<String, (usize, StoreInfo)> = BTreeMap::new();
    for row in &rows {
        match store_of(row) {
            Ok(store) => {
                if let Some((first, _)) = stores.get(store.id.as_str()) {
                    errors.add(
                        row.line,
                        format!("store {} is also on line {first}", store.id),
                    );
                } else {
                    stores.insert(store.id.to_string(), (row.line, store));
                }
            }
            Err(reason) => errors.add(row.line, reason),
        }
    }
    if !errors.is_empty() {
        return Err(errors.into());
    }
    let (mut write, mut catalog) = open_catalog(docs)?;
    let mut summary = ImportSummary {
        records: rows.len(),
        ..ImportSummary::default()
    };
    let mut writes = Vec::new();
    for (id, (_, store)) in stores {
        match catalog.stores.get(&id) {
            Some(here) if *here == store => summary.unchanged += 1,
            Some(_) => summary.updated += 1,
            None => summary.created += 1,
        }
        let inventory = DocId::Inventory(store.id.clone());
        if !docs.has_doc(&inventory)? {
            let mut new = docs.begin_write(&inventory, true)?;
            InventoryDoc::new(&mut new.doc, &store.id)
                .initialise(&store.id, &every_variant_at_zero(&catalog))?;
            writes.push(new);
        }
        catalog.stores.insert(id, store);
    }
    if summary.created + summary.updated > 0 {
        autosurgeon::reconcile(&mut write.doc, &catalog).map_err(aisle_core::CoreError::from)?;
        writes.insert(0, write);
    }
    if !writes.is_empty() {
        docs.commit_writes(writes)?;
    }
    Ok(summary)
}
