//! Store inventory as the associate sees it: stock by size and colour, holds, sales and the
//! oversell conflicts that concurrent offline sales can cause.

use serde::{Deserialize, Serialize};

use super::{AssociateId, CustomerId, Millis, ProductSku, ProductSummary, StoreId, VariantSku};

#[cfg(feature = "store")]
use autosurgeon::{Hydrate, Reconcile};

/// Why a hold ended.
#[cfg_attr(feature = "store", derive(Reconcile, Hydrate))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldEnd {
    Released,
    Sold,
}

/// Items put aside for a customer until `expires_at`.
#[cfg_attr(feature = "store", derive(Reconcile, Hydrate))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    pub variant: VariantSku,
    pub quantity: u32,
    pub customer: CustomerId,
    pub associate: AssociateId,
    pub placed_at: Millis,
    pub expires_at: Millis,
    pub ended: Option<HoldEnded>,
}

#[cfg_attr(feature = "store", derive(Reconcile, Hydrate))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldEnded {
    pub how: HoldEnd,
    pub at: Millis,
    pub by: AssociateId,
}

impl Hold {
    /// A hold counts against available stock until it ends or expires.
    pub fn is_active(&self, now: Millis) -> bool {
        self.ended.is_none() && self.expires_at > now
    }
}

#[cfg_attr(feature = "store", derive(Reconcile, Hydrate))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaleLine {
    pub variant: VariantSku,
    pub quantity: u32,
    pub unit_price_cents: i64,
}

/// A sale recorded on a tablet and handed to the till.
#[cfg_attr(feature = "store", derive(Reconcile, Hydrate))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sale {
    pub lines: Vec<SaleLine>,
    pub customer: Option<CustomerId>,
    pub associate: AssociateId,
    pub at: Millis,
    /// Holds this sale fulfilled; they end as `Sold`.
    pub holds: Vec<String>,
    /// The sale included items from the customer's online cart (absent on older records).
    #[serde(default)]
    pub from_online_cart: Option<bool>,
}

/// What the tablet hands back after recording a sale.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaleReceipt {
    pub sale_id: String,
    pub total_cents: i64,
    /// Variants this sale took below zero: the count was wrong or another tablet sold them.
    pub oversold: Vec<VariantSku>,
}

/// Stock of one variant in one store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockLevel {
    pub variant: VariantSku,
    pub colour: String,
    pub size: String,
    pub on_hand: i64,
    pub held: i64,
}

impl StockLevel {
    /// What can still be promised to a customer.
    pub fn available(&self) -> i64 {
        (self.on_hand - self.held).max(0)
    }
}

/// Another store's available units of a product, nearest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NearbyStock {
    pub store: StoreId,
    pub store_name: String,
    pub distance_km: f64,
    pub available: i64,
}

/// Stock of a product in a store as a size × colour grid.
/// Units available per variant in one store, as the relay reports them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoreStock {
    pub store: StoreId,
    pub store_name: String,
    pub distance_km: f64,
    /// Variant SKU → units available.
    pub available: std::collections::BTreeMap<String, i64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StockGrid {
    pub product: ProductSummary,
    pub store: StoreId,
    pub sizes: Vec<String>,
    pub colours: Vec<String>,
    pub levels: Vec<StockLevel>,
    pub nearby: Vec<NearbyStock>,
}

/// A hold as listed to associates.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldSummary {
    pub id: String,
    pub store: StoreId,
    pub product: ProductSku,
    #[serde(flatten)]
    pub hold: Hold,
}

/// Stock that went below zero: two tablets sold the last unit, or the count was wrong.
/// Recorded, never clamped; a manager resolves it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OversellConflict {
    pub id: String,
    pub store: StoreId,
    pub variant: VariantSku,
    /// The lowest stock level seen while the conflict was open.
    pub on_hand: i64,
    pub detected_at: Millis,
    pub resolved_at: Option<Millis>,
    pub resolved_by: Option<AssociateId>,
}

/// A conflict with what the manager needs to find the item on the shelf.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConflictLine {
    pub conflict: OversellConflict,
    pub product_name: String,
    pub size: String,
    pub colour: String,
}
