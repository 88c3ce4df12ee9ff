//! The recommendations document: related products per product, computed by the relay from the
//! chain's baskets and read-only for devices.

use autosurgeon::{Hydrate, Reconcile};
use std::collections::BTreeMap;

use crate::model::Millis;

#[derive(Clone, Debug, PartialEq, Reconcile, Hydrate)]
pub struct RelatedEntry {
    pub product: String,
    /// Cosine score in thousandths: whole numbers change less often than floats between runs,
    /// so a recount that changes little writes little.
    pub score_permille: i64,
    pub together: i64,
}

#[derive(Clone, Debug, PartialEq, Reconcile, Hydrate)]
pub struct RecommendationsDoc {
    pub schema: u64,
    pub computed_at: Millis,
    pub baskets: i64,
    /// Product SKU → related products, best first.
    pub related: BTreeMap<String, Vec<RelatedEntry>>,
}
