//! What the Floor screen and the manager's view show: who is in, what needs attention, and
//! how the store did.

use serde::{Deserialize, Serialize};

use super::{
    AssociateId, CustomerProfile, CustomerSummary, HoldSummary, Millis, ProductSku, StockGrid,
    VariantSku, VisitSource,
};

/// A customer who checked in (or was greeted) today.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckIn {
    pub customer: CustomerSummary,
    pub at: Millis,
    pub source: VisitSource,
}

/// A hold with what an associate needs to find it on the shelf.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldLine {
    pub hold: HoldSummary,
    pub product_name: String,
    pub size: String,
    pub colour: String,
    pub customer_name: String,
}

/// Why a variant is on the stock alert list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StockAlertReason {
    /// None left here, and customers have it in their carts.
    OutWithDemand,
    /// Customers' carts hold more than is left here.
    CartsExceedStock,
    /// At the current rate of sale it runs out within the horizon.
    RunningOut,
}

/// A variant expected to run out, or already out while customers want it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StockAlert {
    pub product: ProductSku,
    pub product_name: String,
    pub variant: VariantSku,
    pub size: String,
    pub colour: String,
    /// On hand less active holds.
    pub available: i64,
    /// Units sold per day here, exponentially weighted so recent days count most.
    pub per_day: f64,
    /// Days until none is left at that rate; `None` when it is not selling.
    pub days_of_cover: Option<f64>,
    /// Units in open carts (online or in store) of customers on this tablet.
    pub in_carts: u32,
    pub reason: StockAlertReason,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FloorOverview {
    /// Newest first, one per customer.
    pub checked_in: Vec<CheckIn>,
    /// Active holds that expire before the end of the day, soonest first.
    pub holds_expiring: Vec<HoldLine>,
    /// Out while customers want it, then soonest to run out (capped; see
    /// `stock_alerts_total`).
    pub stock_alerts: Vec<StockAlert>,
    pub stock_alerts_total: u64,
}

/// The manager's stock outlook: the most urgent alerts and how many there are.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StockAlerts {
    pub alerts: Vec<StockAlert>,
    pub total: u64,
}

/// One day's figures for a store.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayKpis {
    /// Start of the day (local midnight as the tablet sees it).
    pub day_start: Millis,
    pub check_ins: u64,
    /// Customers an associate served: greeted, held items for, or sold to.
    pub assisted: u64,
    /// In-store sales that included items from the customer's online cart.
    pub online_carts_converted: u64,
    pub sales: u64,
    pub revenue_cents: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssociateSales {
    pub associate: AssociateId,
    pub sales: u64,
    pub units: u64,
    pub revenue_cents: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreKpis {
    pub days: Vec<DayKpis>,
    /// Most revenue first.
    pub by_associate: Vec<AssociateSales>,
}

/// Everything the associate reads about a customer, from this tablet alone.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Briefing {
    /// The store this briefing is for (the tablet's).
    pub store: super::StoreId,
    pub profile: CustomerProfile,
    /// Stock here of every product the profile mentions, by product SKU.
    pub products: std::collections::BTreeMap<String, StockGrid>,
    /// The customer's active holds in this store.
    pub holds: Vec<HoldLine>,
    /// A visit to this store is recorded for today.
    pub here_today: bool,
    /// What to do, most useful first (empty without consent to personalisation).
    pub suggestions: Vec<Suggestion>,
    /// The size they most likely wear, per category they shop (empty without consent).
    #[serde(default)]
    pub likely_sizes: Vec<super::LikelySize>,
    /// Products to show them, in stock here (empty without consent).
    #[serde(default)]
    pub recommendations: Vec<Recommendation>,
}

/// A product to show the customer: bought together with something they want, in stock here.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Recommendation {
    pub product: super::ProductSummary,
    /// What they want that this goes with.
    pub because: ProductSku,
    pub because_name: String,
    /// Their likely size in its category, when known; `available` counts that size only.
    pub size: Option<String>,
    pub available: i64,
    pub score: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuggestionKind {
    /// What they said in a web chat handed over to the store.
    Chat,
    /// Their online cart: how old, how big.
    Cart,
    /// An item they want that is on the shelf here.
    Bring,
    /// An item they want that this store does not have.
    Elsewhere,
    /// A product they keep coming back to online.
    KeepsViewing,
    /// A wishlist item here in their size.
    Wishlist,
    /// Something often bought with what they want, here in their size.
    GoesWith,
}

/// One line of the briefing's "what to do" list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suggestion {
    pub kind: SuggestionKind,
    pub text: String,
    pub product: Option<ProductSku>,
}

impl Briefing {
    /// (product, size, colour, available here) of a variant the briefing mentions.
    pub fn variant(&self, product: &ProductSku, variant: &VariantSku) -> Option<VariantView<'_>> {
        let grid = self.products.get(product.as_str())?;
        let level = grid.levels.iter().find(|l| &l.variant == variant)?;
        Some(VariantView {
            product: &grid.product,
            size: &level.size,
            colour: &level.colour,
            available: level.available(),
        })
    }
}

#[derive(Clone, Copy, Debug)]
pub struct VariantView<'a> {
    pub product: &'a super::ProductSummary,
    pub size: &'a str,
    pub colour: &'a str,
    pub available: i64,
}

/// What a scan opens.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ScanTarget {
    Customer {
        id: super::CustomerId,
    },
    Product {
        sku: ProductSku,
        variant: Option<VariantSku>,
    },
}

/// A customer checking in at the entry kiosk: their loyalty code or card, and when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KioskCheckIn {
    /// The kiosk's id for this check-in: a resend records one visit.
    pub id: String,
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub nfc_uid: Option<String>,
    pub at: Millis,
}

/// What the kiosk shows after a check-in.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KioskWelcome {
    pub first_name: Option<String>,
    /// Never asked about in-store personalisation: the kiosk asks now.
    pub asks_consent: bool,
    /// The kiosk is offline: the check-in goes out when it reconnects.
    pub queued: bool,
}
