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

/// The associate of sales rung up at a till outside Aisle (`store_sale` events): they move
/// stock, are never sent back to the till, and are not Aisle's sales in the KPIs.
pub const OUTSIDE_TILL: &str = "outside-till";

/// How their keys begin in a store's inventory: `till-` and the till's own sale id.
pub const OUTSIDE_SALE_PREFIX: &str = "till-";

/// The author of movements the retailer's stock system reported (`stock_adjusted`,
/// `stock_level` events).
pub const STOCK_SYSTEM: &str = "stock-system";

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
    /// An exchange: the return (a movement of this inventory, recorded in the same change)
    /// of the units the customer brought back for this sale's. Absent on other sales.
    #[serde(default)]
    pub exchange_for: Option<String>,
}

/// What moved stock other than a sale. Every kind is a manager's act, checked by the relay.
#[cfg_attr(feature = "store", derive(Reconcile, Hydrate))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MovementKind {
    /// A delivery received from a supplier or the warehouse: units in.
    Delivery,
    /// Damaged, stolen or otherwise lost: units out.
    Damage,
    /// Sent to another store: units out, received there against the same transfer.
    TransferOut,
    /// Received from another store, against what it sent.
    TransferIn,
    /// A shelf count: the level is set to what was counted (the change may be nothing).
    Count,
    /// A correction recorded before movements had kinds.
    Correction,
    /// Units a customer brought back, of a sale recorded here: back into stock, and to the
    /// till as a refund of that sale.
    Return,
}

impl MovementKind {
    pub const ALL: [MovementKind; 7] = [
        MovementKind::Delivery,
        MovementKind::Damage,
        MovementKind::TransferOut,
        MovementKind::TransferIn,
        MovementKind::Count,
        MovementKind::Correction,
        MovementKind::Return,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MovementKind::Delivery => "delivery",
            MovementKind::Damage => "damage",
            MovementKind::TransferOut => "transfer_out",
            MovementKind::TransferIn => "transfer_in",
            MovementKind::Count => "count",
            MovementKind::Correction => "correction",
            MovementKind::Return => "return",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// As an associate reads it.
    pub fn label(self) -> &'static str {
        match self {
            MovementKind::Delivery => "Delivery received",
            MovementKind::Damage => "Damage or loss",
            MovementKind::TransferOut => "Transfer sent",
            MovementKind::TransferIn => "Transfer received",
            MovementKind::Count => "Count",
            MovementKind::Correction => "Correction",
            MovementKind::Return => "Returned",
        }
    }
}

/// A stock movement as listed on the Stock screen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockMovement {
    pub id: String,
    pub store: StoreId,
    pub variant: VariantSku,
    pub colour: String,
    pub size: String,
    pub kind: MovementKind,
    pub delta: i64,
    /// What was counted, on a count.
    pub counted: Option<i64>,
    /// The transfer a sent or received movement belongs to.
    pub transfer: Option<String>,
    /// The store a transfer went to or came from.
    pub other_store: Option<StoreId>,
    /// The sale a return is of.
    pub sale: Option<String>,
    pub note: String,
    pub by: AssociateId,
    pub at: Millis,
}

/// What recording a movement hands back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MovementReceipt {
    pub on_hand: i64,
    /// The reference of a transfer sent, which the receiving store receives against.
    pub transfer: Option<String>,
}

/// One variant of a transfer on its way to a store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TransferLine {
    pub variant: VariantSku,
    pub product_name: String,
    pub colour: String,
    pub size: String,
    pub sent: i64,
    pub received: i64,
}

/// What another store sent here and this store has not received in full yet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IncomingTransfer {
    pub transfer: String,
    pub from_store: StoreId,
    pub from_store_name: String,
    pub sent_at: Millis,
    pub lines: Vec<TransferLine>,
}

impl Sale {
    /// What the sale's lines come to. Saturating: the relay bounds every line, and a record it
    /// did not check is still read without a panic.
    pub fn total_minor(&self) -> i64 {
        self.lines.iter().fold(0i64, |total, l| {
            total.saturating_add(l.unit_price_cents.saturating_mul(i64::from(l.quantity)))
        })
    }

    /// What returning `units` of `variant` refunds: at the price this sale sold it at (its
    /// first line of it). The tablet records it; the relay checks it the same way.
    pub fn refund_for(&self, variant: &VariantSku, units: i64) -> i64 {
        self.lines
            .iter()
            .find(|l| &l.variant == variant)
            .map_or(0, |l| l.unit_price_cents.saturating_mul(units))
    }
}

/// What the tablet hands back after recording a sale.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaleReceipt {
    pub sale_id: String,
    pub total_cents: i64,
    /// Variants this sale took below zero: the count was wrong or another tablet sold them.
    pub oversold: Vec<VariantSku>,
    /// An exchange's refund of the units brought back, in minor units (0 for a sale): the
    /// customer pays `total_cents` less this.
    #[serde(default)]
    pub refund_minor: i64,
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
