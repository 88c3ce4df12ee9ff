//! Customer records: who they are, what they agreed to, and what they did online and in store.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::{AssociateId, CustomerId, LoyaltyId, Millis, NfcUid, ProductSku, StoreId, VariantSku};

#[cfg(feature = "store")]
use autosurgeon::{Hydrate, Reconcile};

/// Loyalty tier, shown on the briefing.
#[cfg_attr(feature = "store", derive(Reconcile, Hydrate))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Tier {
    Member,
    Silver,
    Gold,
}

/// Where something happened.
#[cfg_attr(feature = "store", derive(Reconcile, Hydrate))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Web,
    App,
    Store,
}

/// What a customer can consent to. The briefing shows online behaviour only with
/// `InStorePersonalisation`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentPurpose {
    InStorePersonalisation,
    MarketingEmail,
    MarketingSms,
}

impl ConsentPurpose {
    pub const ALL: [ConsentPurpose; 3] = [
        Self::InStorePersonalisation,
        Self::MarketingEmail,
        Self::MarketingSms,
    ];

    /// The key this purpose has in a customer document's consent map.
    pub fn as_key(self) -> &'static str {
        match self {
            Self::InStorePersonalisation => "in_store_personalisation",
            Self::MarketingEmail => "marketing_email",
            Self::MarketingSms => "marketing_sms",
        }
    }

    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_key() == key)
    }
}

/// Who recorded a consent decision.
#[cfg_attr(feature = "store", derive(Reconcile, Hydrate))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentSource {
    Web,
    Kiosk,
    Associate,
    Import,
}

/// The current decision for one purpose, with when and how it was given.
#[cfg_attr(feature = "store", derive(Reconcile, Hydrate))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentRecord {
    pub granted: bool,
    pub at: Millis,
    pub source: ConsentSource,
}

/// Identity fields; the identifiers here are indexed for lookup.
#[cfg_attr(feature = "store", derive(Reconcile, Hydrate))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub loyalty_id: LoyaltyId,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub home_store: StoreId,
    pub tier: Tier,
    pub joined_at: Millis,
}

/// An NFC loyalty card linked to the customer.
#[cfg_attr(feature = "store", derive(Reconcile, Hydrate))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NfcLink {
    pub uid: NfcUid,
    pub linked_at: Millis,
    pub linked_by: Option<AssociateId>,
}

/// The size a customer wears in one category.
#[cfg_attr(feature = "store", derive(Reconcile, Hydrate))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SizePreference {
    pub size: String,
    pub updated_at: Millis,
}

/// Whether a cart is still being filled, was left, or became a purchase.
#[cfg_attr(feature = "store", derive(Reconcile, Hydrate))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CartStatus {
    Open,
    Abandoned,
    Converted,
}

/// One line of a cart: a variant and how many.
#[cfg_attr(feature = "store", derive(Reconcile, Hydrate))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartLine {
    pub variant: VariantSku,
    pub product: ProductSku,
    pub quantity: u32,
    pub unit_price_cents: i64,
    pub added_at: Millis,
}

/// A cart: the online one (key [`ONLINE_CART`]) or one an associate builds in store.
/// Lines are keyed by a line id, so lines added on two tablets are both kept.
#[cfg_attr(feature = "store", derive(Reconcile, Hydrate))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cart {
    pub channel: Channel,
    pub store: Option<StoreId>,
    pub status: CartStatus,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub lines: BTreeMap<String, CartLine>,
}

/// The key of the customer's online (web/app) cart among their carts.
pub const ONLINE_CART: &str = "online";

impl Cart {
    pub fn total_cents(&self) -> i64 {
        // Saturating: a cart line is the tablet's to write, and a total past i64 is no
        // reason to panic.
        self.lines.values().fold(0i64, |total, l| {
            total.saturating_add(l.unit_price_cents.saturating_mul(i64::from(l.quantity)))
        })
    }
}

#[cfg_attr(feature = "store", derive(Reconcile, Hydrate))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WishlistItem {
    pub product: ProductSku,
    pub added_at: Millis,
    pub channel: Channel,
}

#[cfg_attr(feature = "store", derive(Reconcile, Hydrate))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurchaseLine {
    pub variant: VariantSku,
    pub product: ProductSku,
    pub quantity: u32,
    pub unit_price_cents: i64,
}

#[cfg_attr(feature = "store", derive(Reconcile, Hydrate))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Purchase {
    pub at: Millis,
    pub channel: Channel,
    pub store: Option<StoreId>,
    pub associate: Option<AssociateId>,
    pub lines: Vec<PurchaseLine>,
    pub total_cents: i64,
}

/// How a visit was recorded.
#[cfg_attr(feature = "store", derive(Reconcile, Hydrate))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VisitSource {
    Kiosk,
    Associate,
    NfcTap,
    Import,
}

#[cfg_attr(feature = "store", derive(Reconcile, Hydrate))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Visit {
    pub store: StoreId,
    pub at: Millis,
    pub source: VisitSource,
}

#[cfg_attr(feature = "store", derive(Reconcile, Hydrate))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    pub text: String,
    pub author: AssociateId,
    pub store: Option<StoreId>,
    pub at: Millis,
}

/// A record together with its id in the customer document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry<T> {
    pub id: String,
    #[serde(flatten)]
    pub item: T,
}

/// How much a customer leans towards a colour or style (a count of signals).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Affinity {
    pub name: String,
    pub score: i64,
}

/// A product's views by this customer, aggregated: never one entry per click.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductViews {
    pub product: ProductSku,
    pub count: i64,
    pub last_seen: Millis,
    /// Sizes looked at, most looked-at first.
    pub sizes: Vec<(String, i64)>,
}

/// A profile folded into this one because it was the same person. Its identifiers still find
/// this customer, and its history is part of this one.
#[cfg_attr(feature = "store", derive(Reconcile, Hydrate))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergedProfile {
    pub customer: CustomerId,
    pub loyalty_id: LoyaltyId,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub shop_customer_id: Option<String>,
    pub merged_at: Millis,
}

/// What a size guess rests on, strongest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SizeBasis {
    /// An associate recorded it after the last purchase in the category.
    Recorded,
    Purchases,
    Cart,
    Views,
}

/// The size a customer most likely wears in one category.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LikelySize {
    pub category: super::Category,
    pub size: String,
    pub basis: SizeBasis,
}

/// Everything the tablet knows about one customer, read from their document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerProfile {
    pub id: CustomerId,
    pub identity: Identity,
    pub nfc_cards: Vec<NfcLink>,
    pub consent: BTreeMap<ConsentPurpose, ConsentRecord>,
    /// Preferred size by category key (e.g. `tops`, `footwear`).
    pub sizes: BTreeMap<String, SizePreference>,
    pub colour_affinity: Vec<Affinity>,
    pub style_affinity: Vec<Affinity>,
    /// Most-viewed first.
    pub views: Vec<ProductViews>,
    pub carts: Vec<Entry<Cart>>,
    pub wishlist: Vec<WishlistItem>,
    /// Newest first, as are visits and notes.
    pub purchases: Vec<Entry<Purchase>>,
    pub visits: Vec<Entry<Visit>>,
    pub notes: Vec<Entry<Note>>,
    /// The web shop's own id for this customer, when known.
    #[serde(default)]
    pub shop_customer_id: Option<String>,
    /// Duplicate profiles merged into this one, newest first.
    #[serde(default)]
    pub merged_from: Vec<MergedProfile>,
}

impl CustomerProfile {
    pub fn online_cart(&self) -> Option<&Cart> {
        self.carts
            .iter()
            .find(|c| c.id == ONLINE_CART)
            .map(|c| &c.item)
    }

    pub fn has_consent(&self, purpose: ConsentPurpose) -> bool {
        self.consent.get(&purpose).is_some_and(|c| c.granted)
    }
}

/// One search hit: enough to pick the right person from a list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CustomerSummary {
    pub id: CustomerId,
    pub name: String,
    pub loyalty_id: LoyaltyId,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub home_store: StoreId,
    pub tier: Tier,
}

/// The ways an associate or a kiosk can say who a customer is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Identifier {
    Loyalty(LoyaltyId),
    Nfc(NfcUid),
    Email(String),
    Phone(String),
    /// The web shop's customer id (e.g. Shopify's).
    Shop(String),
}

/// A new customer as entered by an associate or imported.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewCustomer {
    pub loyalty_id: LoyaltyId,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub home_store: StoreId,
    pub tier: Tier,
    #[serde(default)]
    pub consent: BTreeMap<ConsentPurpose, ConsentRecord>,
}
