//! The catalog document: products with their variants, and the chain's stores.
//! Written only by the relay (server-owned); tablets read it through projections.

use autosurgeon::{Hydrate, Reconcile};
use std::collections::BTreeMap;

use crate::model::{Product, StoreInfo, TenantLocale};

#[derive(Clone, Debug, PartialEq, Reconcile, Hydrate)]
pub struct CatalogDoc {
    pub schema: u64,
    /// By product sku.
    pub products: BTreeMap<String, Product>,
    /// By store id.
    pub stores: BTreeMap<String, StoreInfo>,
    /// The currency prices are in and the locale screens use; absent on catalogs written
    /// before the relay published it (their prices are pounds).
    pub locale: Option<TenantLocale>,
}
