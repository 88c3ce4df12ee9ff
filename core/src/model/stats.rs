//! Counts that summarise what a store (tablet or relay) holds.

use serde::{Deserialize, Serialize};

/// What the local store holds, shown on the Floor screen and by the relay's health check.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoreStats {
    pub customers: u64,
    pub products: u64,
    pub variants: u64,
    pub stores: u64,
    pub units_on_hand: i64,
    pub active_holds: u64,
    pub open_conflicts: u64,
    pub documents: u64,
}
