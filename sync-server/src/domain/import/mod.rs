//! A retailer's own files into the relay: stores, products, stock and customers, as CSV or
//! JSON lines (`aisle-relay admin import`, `POST /v1/admin/imports/{kind}`; the columns are
//! in docs/onboarding.md).
//!
//! Every import reads and checks the whole file before it writes anything, and writes what
//! it changes in one transaction: a bad record anywhere is reported with its line and
//! nothing is written. Records are keyed by the retailer's own ids (store codes, SKUs,
//! customer numbers), so importing the same file again changes nothing, and a later file
//! changes only what differs (a new price, a moved phone number).

mod customers;
mod products;
pub mod rows;
mod stock;
pub use stock::IMPORT_ASSOCIATE;
mod stores;

use super::RelayDocs;
use aisle_core::api::{ImportFormat, ImportKind, ImportRejected, ImportSummary};
use aisle_core::{CoreError, Store};
use std::borrow::BorrowMut;
use std::collections::BTreeMap;

pub use customers::customer_id_for;

/// A file to import, as text.
#[derive(Clone, Debug)]
pub struct ImportFile {
    pub kind: ImportKind,
    pub format: ImportFormat,
    /// The file's names for columns → the import's.
    pub rename: BTreeMap<String, String>,
    pub text: String,
}

/// Why an import wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Records are wrong (listed with their lines).
    #[error("{} bad record(s), nothing imported; first: line {}: {}", .0.bad_records, .0.errors.first().map_or(0, |e| e.line), .0.errors.first().map_or("", |e| e.reason.as_str()))]
    Rejected(ImportRejected),
    /// The store failed: the transaction rolled back.
    #[error(transparent)]
    Store(#[from] CoreError),
}

impl From<rows::RowErrors> for ImportError {
    fn from(errors: rows::RowErrors) -> Self {
        let mut listed = errors.listed;
        // Found in more than one pass (reading, then checking): listed in file order.
        listed.sort_by_key(|e| e.line);
        Self::Rejected(ImportRejected {
            errors: listed,
            bad_records: errors.count,
        })
    }
}

impl From<rusqlite::Error> for ImportError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Store(e.into())
    }
}

/// The format a file name says (`.jsonl`/`.ndjson`, otherwise CSV).
pub fn format_of(path: &std::path::Path) -> ImportFormat {
    match path.extension().and_then(|e| e.to_str()) {
        Some("jsonl" | "ndjson") => ImportFormat::Jsonl,
        _ => ImportFormat::Csv,
    }
}

/// How far a long import is, for a progress bar: `stage` is "checking" or "writing".
#[derive(Clone, Copy, Debug)]
pub struct ImportProgress {
    pub stage: &'static str,
    pub done: usize,
    pub total: usize,
}

/// Reports progress every this many records.
const PROGRESS_EVERY: usize = 1_000;

impl<S: BorrowMut<Store>> RelayDocs<S> {
    /// Checks the whole file, then writes what it changes in one transaction.
    pub fn import(&mut self, file: &ImportFile) -> Result<ImportSummary, ImportError> {
        self.import_with_progress(file, &mut |_| {})
    }

    /// [`RelayDocs::import`], telling `progress` how far it is.
    pub fn import_with_progress(
        &mut self,
        file: &ImportFile,
        progress: &mut dyn FnMut(ImportProgress),
    ) -> Result<ImportSummary, ImportError> {
        let summary = match file.kind {
            ImportKind::Stores => stores::import(self, file),
            ImportKind::Products => products::import(self, file),
            ImportKind::Stock => stock::import(self, file),
            ImportKind::Customers => customers::import(self, file, progress),
        }?;
        progress(ImportProgress {
            stage: "written",
            done: summary.records,
            total: summary.records,
        });
        Ok(summary)
    }
}

/// The catalog document for writing, with its content (empty on a relay that has none yet).
fn open_catalog<S: BorrowMut<Store>>(
    docs: &mut RelayDocs<S>,
) -> Result<(aisle_core::store::DocWrite, aisle_core::doc::CatalogDoc), CoreError> {
    use aisle_core::doc::{CatalogDoc, DocId, SCHEMA_VERSION};
    let write = docs.begin_write(&DocId::Catalog, true)?;
    let catalog = if write.heads_before.is_empty() {
        CatalogDoc {
            schema: SCHEMA_VERSION,
            products: BTreeMap::new(),
            stores: BTreeMap::new(),
            locale: None,
        }
    } else {
        aisle_core::doc::hydrate_doc(&write.doc, &DocId::Catalog)?
    };
    Ok((write, catalog))
}

/// Every variant of the catalog at zero: a new store's inventory.
fn every_variant_at_zero(catalog: &aisle_core::doc::CatalogDoc) -> BTreeMap<String, i64> {
    catalog
        .products
        .values()
        .flat_map(|p| p.variants.iter().map(|v| (v.sku.to_string(), 0)))
        .collect()
}
