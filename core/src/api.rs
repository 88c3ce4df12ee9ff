//! The relay's HTTP contract: every request and response body, declared once here and imported
//! by the relay (which serves them), the tablet's relay client, the tests and the benchmarks.
//! Serde only, so it compiles wherever the model does; the event types are what a web shop
//! sends to `POST /v1/events`.

use serde::{Deserialize, Serialize};

use crate::model::{
    CustomerId, CustomerSummary, ErrorCode, KioskCheckIn, Millis, ProductSku, Role, StoreId,
    StoreStats, VariantSku,
};

/// Most events in one batch.
pub const MAX_EVENTS: usize = 500;

/// `GET /healthz`: that the relay is up, for anyone (a load balancer); what it holds only
/// with the admin token.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    pub status: String,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<HealthDetails>,
}

/// `GET /readyz`: whether this relay should get traffic. A relay on a shared database is
/// ready when the database answers with this build's schema and the relay follows its
/// changefeed; `reason` says what is wrong when it is not.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Readiness {
    pub ready: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What `GET /healthz` adds for the admin token.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HealthDetails {
    pub uptime_seconds: u64,
    pub connected_devices: i64,
    pub store: StoreStats,
}

/// `POST /v1/enrol`: a one-time code and the device's Automerge actor id (hex), the only
/// author the relay will accept from it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnrolRequest {
    pub code: String,
    pub actor: String,
}

/// What enrolment gives a device: its id and bearer token, bound to a store and a role.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Enrolment {
    pub device: String,
    pub token: String,
    pub store: String,
    pub role: Role,
}

/// `GET /v1/customers/lookup`: exactly one identifier (the first given, in this order, wins).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
pub struct CustomerLookup {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loyalty: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nfc: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shop: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// A signed loyalty code as scanned (`AL1.…`): the relay checks it and opens its customer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Only a customer of the device's own store, or one it fetched before: another store's
    /// customers are fetched by what identifies them, never by enumerating ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// One customer's document, fetched on demand (a customer of another store who walked in).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FetchedCustomer {
    pub doc: String,
    /// The document's heads, hex.
    pub heads: Vec<String>,
    /// The stored document, base64.
    pub document: String,
}

/// `GET /v1/customers/search?q=`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
pub struct CustomerSearch {
    pub q: String,
}

/// Search results.
pub type CustomerSearchResults = Vec<CustomerSummary>;

/// `POST /v1/customers/{id}/erase`: what was erased.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Erased {
    pub erased: String,
    /// Duplicate profiles of the same person merged into it, erased with it.
    pub also_erased: Vec<String>,
}

/// `POST /v1/customers/{id}/merge`: the other profile of the same person; it folds into the
/// customer in the path.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MergeRequest {
    pub duplicate: CustomerId,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MergedProfiles {
    pub survivor: String,
    pub merged: String,
}

/// `POST /v1/customers/{id}/loyalty-token`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IssueTokenRequest {
    #[serde(default)]
    pub valid_days: Option<u32>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IssuedToken {
    pub token: String,
    pub token_id: String,
    /// The QR code to print or put in a wallet pass, as SVG.
    pub qr_svg: String,
}

/// `GET /v1/loyalty/qr`: a token rendered as PNG (default) or SVG.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
pub struct QrRequest {
    pub token: String,
    #[serde(default)]
    pub format: Option<String>,
}

/// `POST /v1/loyalty/revoke`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RevokeTokenRequest {
    pub token: String,
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RevokedToken {
    pub token_id: String,
}

/// `POST /v1/loyalty/keys/rotate`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RotatedKey {
    pub key_id: String,
}

/// `POST /v1/loyalty/keys/{id}/withdraw`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WithdrawnKey {
    pub withdrawn: String,
    pub current_key_id: String,
}

/// `POST /v1/kiosk/consent`: the customer's answer on the kiosk's consent screen.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KioskConsent {
    pub check_in: KioskCheckIn,
    pub granted: bool,
}

/// `POST /v1/admin/codes`: a one-time enrolment code for a device of a store.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CodeRequest {
    pub store: String,
    pub role: Role,
    pub name: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CodeResponse {
    pub code: String,
}

/// `GET /v1/admin/devices`: one enrolled device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnrolledDevice {
    pub id: String,
    pub name: String,
    pub store: String,
    pub role: Role,
    pub revoked: bool,
    pub last_seen_at: Option<i64>,
}

/// A Shopify webhook the relay has nothing to do with (a topic it does not map).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IgnoredWebhook {
    pub ignored: String,
}

/// An event batch refused whole (422): which event, and why.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BatchRejection {
    pub code: ErrorCode,
    pub message: String,
    pub index: usize,
    pub id: String,
}

/// Who an event is about. Any one identifier that resolves is enough; the loyalty id wins,
/// then the shop's customer id, then email, then phone. When they resolve to two different
/// profiles, those are the same person: the others are merged into the first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventCustomer {
    #[serde(default)]
    pub loyalty_id: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    /// The web shop's own customer id.
    #[serde(default)]
    pub shop_customer_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventLine {
    pub variant: VariantSku,
    pub quantity: u32,
}

/// One web shop event. (Unknown fields are ignored, for senders a version ahead; unknown
/// event types are refused.)
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Event {
    /// The sender's unique id for the event: a retry with the same id is counted once.
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 128, pattern = "^[A-Za-z0-9._-]+$")
    )]
    pub id: String,
    /// Who the event is about: required by every kind but the stock ones, where a store sale
    /// may name its customer and the others have none.
    #[serde(default)]
    pub customer: EventCustomer,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// Most variant levels in one `stock_level` event.
pub const MAX_STOCK_LEVELS: usize = 5_000;

/// A line of a sale rung up at a till outside Aisle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoreSaleLine {
    pub variant: VariantSku,
    pub quantity: u32,
    /// What the till charged a unit, in minor units of the tenant's currency; the catalog's
    /// price when absent.
    #[serde(default)]
    pub unit_price_minor: Option<i64>,
}

/// One variant's level in the retailer's stock system.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StockSystemLevel {
    pub variant: VariantSku,
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 10000))]
    pub on_hand: i64,
}

/// What moved stock outside Aisle, as a `stock_adjusted` event says it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum OutsideMovement {
    /// Units received: `delta` above zero.
    Delivery,
    /// Units lost: `delta` below zero.
    Damage,
    /// A correction either way.
    Correction,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum EventKind {
    ProductViewed {
        product: ProductSku,
        #[serde(default)]
        size: Option<String>,
    },
    /// The online cart as it now is (replaces the previous lines).
    CartUpdated {
        lines: Vec<EventLine>,
    },
    /// The shopper left checkout: the current online cart is marked abandoned.
    CheckoutAbandoned {
        #[serde(default)]
        lines: Option<Vec<EventLine>>,
    },
    WishlistAdded {
        product: ProductSku,
    },
    WishlistRemoved {
        product: ProductSku,
    },
    OrderPlaced {
        order_id: String,
        lines: Vec<EventLine>,
    },
    /// A web chat handed over to the store, with what was discussed.
    ChatHandoff {
        summary: String,
    },
    /// Creates the customer if no identifier resolves, else updates contact details and
    /// consent.
    CustomerUpserted {
        name: String,
        home_store: StoreId,
        /// The loyalty number to give the customer if none of the identifiers resolves (a
        /// shop that allocates them elsewhere); never used to find an existing customer.
        #[serde(default)]
        new_loyalty_id: Option<String>,
        #[serde(default)]
        in_store_personalisation: Option<bool>,
        #[serde(default)]
        marketing_email: Option<bool>,
    },
    /// Units moved by the retailer's own systems (a delivery booked at the warehouse, damage
    /// written off at head office): the store's stock moves by `delta`, recorded as a movement.
    StockAdjusted {
        store: StoreId,
        variant: VariantSku,
        delta: i64,
        movement: OutsideMovement,
        #[serde(default)]
        reason: Option<String>,
        /// When it happened (Unix milliseconds); when the relay took the event if absent.
        #[serde(default)]
        at: Option<Millis>,
    },
    /// A sale rung up at a till outside Aisle: stock goes down, and a customer the event
    /// names sees it in their history. Never sent back to the till. Keyed by `sale_id` too, so
    /// the same sale sent under two event ids counts once.
    StoreSale {
        store: StoreId,
        sale_id: String,
        lines: Vec<StoreSaleLine>,
        #[serde(default)]
        at: Option<Millis>,
    },
    /// The retailer's stock system's levels as they were at `as_of` (Unix milliseconds). Every
    /// movement Aisle recorded after `as_of` (sales, returns, deliveries, transfers) is
    /// applied on top, so nothing that happened since is counted twice or lost; what happened
    /// before is taken to be in the level. A variant's level dated at or before the store's
    /// latest count of it (a shelf count, an import, an earlier level) is stale and left out.
    StockLevel {
        store: StoreId,
        as_of: Millis,
        levels: Vec<StockSystemLevel>,
    },
}

impl EventKind {
    /// Whether the event moves a store's stock (and names no customer, but a store sale may).
    pub fn is_stock(&self) -> bool {
        matches!(
            self,
            Self::StockAdjusted { .. } | Self::StoreSale { .. } | Self::StockLevel { .. }
        )
    }

    pub fn name(&self) -> &'static str {
        match self {
            Self::ProductViewed { .. } => "product_viewed",
            Self::CartUpdated { .. } => "cart_updated",
            Self::CheckoutAbandoned { .. } => "checkout_abandoned",
            Self::WishlistAdded { .. } => "wishlist_added",
            Self::WishlistRemoved { .. } => "wishlist_removed",
            Self::OrderPlaced { .. } => "order_placed",
            Self::ChatHandoff { .. } => "chat_handoff",
            Self::CustomerUpserted { .. } => "customer_upserted",
            Self::StockAdjusted { .. } => "stock_adjusted",
            Self::StoreSale { .. } => "store_sale",
            Self::StockLevel { .. } => "stock_level",
        }
    }
}

/// `POST /v1/events`, signed with the tenant's secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventBatch {
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 500))]
    pub events: Vec<Event>,
}

/// What a batch did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IngestOutcome {
    pub accepted: usize,
    /// Events whose id was seen before: skipped.
    pub duplicates: usize,
    /// Customers created by `customer_upserted`.
    pub created: usize,
    /// Duplicate profiles merged because one event's identifiers named both.
    #[serde(default)]
    pub merged: usize,
    /// Store sales whose customer was not found: their stock moved, and no history got them.
    #[serde(default)]
    pub unmatched_customers: Vec<String>,
    /// Variant levels of `stock_level` events dated at or before the store's latest count of
    /// the variant: left out.
    #[serde(default)]
    pub stale_levels: usize,
}

/// What the audit trail records: security-relevant acts on the relay.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    EnrolmentCodeCreated,
    DeviceEnrolled,
    EnrolmentRefused,
    DeviceRevoked,
    /// A device reported lost or stolen (`admin wipe`): revoked, and its data deleted when it
    /// next reaches the relay.
    DeviceWiped,
    /// Requests with an unknown or revoked token, counted: one entry a minute at most.
    AuthenticationFailed,
    CustomerErased,
    CustomersMerged,
    LoyaltyKeyRotated,
    LoyaltyKeyWithdrawn,
    LoyaltyTokenRevoked,
    /// A device went over its limit of customer lookups.
    LookupsLimited,
    /// A device went over its limit of kiosk check-ins.
    CheckInsLimited,
    /// A call with the admin token.
    AdminCall,
    /// A Shopify webhook of which some or all could not be applied (answered 2xx all the same,
    /// since Shopify retries anything else for ever): what and why.
    WebhookNotApplied,
    /// A retailer's file imported (stores, products, stock, customers): what it changed.
    DataImported,
    /// Everything held about a person, taken out (a subject access request).
    CustomerExported,
}

impl AuditAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EnrolmentCodeCreated => "enrolment_code_created",
            Self::DeviceEnrolled => "device_enrolled",
            Self::EnrolmentRefused => "enrolment_refused",
            Self::DeviceRevoked => "device_revoked",
            Self::DeviceWiped => "device_wiped",
            Self::AuthenticationFailed => "authentication_failed",
            Self::CustomerErased => "customer_erased",
            Self::CustomersMerged => "customers_merged",
            Self::LoyaltyKeyRotated => "loyalty_key_rotated",
            Self::LoyaltyKeyWithdrawn => "loyalty_key_withdrawn",
            Self::LoyaltyTokenRevoked => "loyalty_token_revoked",
            Self::LookupsLimited => "lookups_limited",
            Self::CheckInsLimited => "check_ins_limited",
            Self::AdminCall => "admin_call",
            Self::WebhookNotApplied => "webhook_not_applied",
            Self::DataImported => "data_imported",
            Self::CustomerExported => "customer_exported",
        }
    }
}

/// One entry of the audit trail (`GET /v1/admin/audit`, `GET /v1/store/audit`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    /// Order of recording; never reused.
    pub seq: i64,
    pub at: Millis,
    /// Who: a device id, `admin` (the admin token), `admin-cli` (the command line) or
    /// `unknown` (a failed authentication).
    pub actor: String,
    /// The store it concerns, when one does.
    pub store: Option<String>,
    pub action: AuditAction,
    /// What it was done to: a device, a customer, a key.
    pub subject: String,
    pub detail: String,
}

/// `GET /v1/admin/audit`, `GET /v1/store/audit`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
pub struct AuditQuery {
    /// The newest this many entries (default 200, at most 10,000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

/// What a retailer's file holds: `POST /v1/admin/imports/{kind}` and `aisle-relay admin
/// import`. Column sets: docs/onboarding.md.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ImportKind {
    /// The chain's stores: a new one gets an inventory of every variant at zero.
    Stores,
    /// Products, one row per variant.
    Products,
    /// Stock on hand per store and variant: the count as it is now.
    Stock,
    /// Customers with their identifiers and consent.
    Customers,
}

impl ImportKind {
    pub const ALL: [ImportKind; 4] = [Self::Stores, Self::Products, Self::Stock, Self::Customers];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stores => "stores",
            Self::Products => "products",
            Self::Stock => "stock",
            Self::Customers => "customers",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

/// How a retailer's file is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ImportFormat {
    /// Comma-separated, a header row naming the columns.
    Csv,
    /// One JSON object per line, keyed by the column names.
    Jsonl,
}

/// `POST /v1/admin/imports/{kind}` query: the format, and the file's own names for columns.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
pub struct ImportQuery {
    /// `csv` (the default) or `jsonl`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<ImportFormat>,
    /// The file's names for columns, as `theirs=ours` pairs separated by commas
    /// (`Article=product_sku,EAN code=ean`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub map: Option<String>,
}

/// What an import did: every record was valid, and these were written.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportSummary {
    /// Records in the file (for products, variant rows).
    pub records: usize,
    /// New here.
    pub created: usize,
    /// Already here and changed by the file.
    pub updated: usize,
    /// Already here exactly as the file has them.
    pub unchanged: usize,
}

/// One record an import refused, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportRowError {
    /// The line of the file (1 is a CSV file's header).
    pub line: usize,
    pub reason: String,
}

/// An import refused whole: nothing was written. Lists the first bad records.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportRejected {
    pub errors: Vec<ImportRowError>,
    /// How many records were bad in all (`errors` holds at most 100).
    pub bad_records: usize,
}

/// `GET /v1/customers/{id}/export`: everything the relay holds about a person, for a subject
/// access request: their profile and every duplicate profile merged into it (identity,
/// cards, consent, sizes, views, carts, wishlist, purchases, visits, notes), and the holds
/// and sales that name them in any store.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CustomerExport {
    pub exported_at: Millis,
    /// The profile asked for first, then the duplicates merged into it.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub profiles: Vec<crate::model::CustomerProfile>,
    pub holds: Vec<ExportedHold>,
    pub sales: Vec<ExportedSale>,
}

/// A hold that names the person, in the store that placed it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExportedHold {
    pub id: String,
    pub store: StoreId,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub hold: crate::model::Hold,
}

/// A sale that names the person, in the store that made it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExportedSale {
    pub id: String,
    pub store: StoreId,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub sale: crate::model::Sale,
}

/// What the relay posts to the retailer's till for each sale recorded on a tablet
/// (`POST <till url>`, signed; see docs/till.md). Money is in minor units of `currency`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TillSale {
    /// `sale`, `return` (units brought back of an earlier sale, refunded), or `exchange` (a
    /// sale made for units brought back: their `return` is sent too, and named here).
    pub event: String,
    /// Unique per sale or return, and the request's `Idempotency-Key`: a retried delivery
    /// repeats it.
    pub sale_id: String,
    /// The sale a return or an exchange is of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refers_to: Option<String>,
    /// An exchange's return (its own `return` delivery).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exchange_of: Option<String>,
    pub store: StoreId,
    pub recorded_at: Millis,
    pub associate: String,
    pub customer: Option<CustomerId>,
    pub currency: String,
    pub lines: Vec<TillSaleLine>,
    /// What the customer paid; negative for a return (what is refunded).
    pub total_minor: i64,
    pub from_online_cart: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TillSaleLine {
    pub variant: VariantSku,
    pub quantity: u32,
    pub unit_price_minor: i64,
}

/// What a till may answer a delivery with (any 2xx acknowledges it; the body is optional).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TillAck {
    /// The till's own number for the sale, shown to the manager.
    #[serde(default)]
    pub reference: Option<String>,
}

/// One sale's delivery to the till, as the manager sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TillDelivery {
    pub sale_id: String,
    /// `sale` or `return`.
    pub event: String,
    pub recorded_at: Millis,
    pub total_minor: i64,
    pub queued_at: Millis,
    pub attempts: u32,
    pub delivered_at: Option<Millis>,
    /// The till's reference for it, once delivered.
    pub reference: Option<String>,
    /// Why the last attempt failed, while it is not delivered.
    pub last_error: Option<String>,
    /// When it is tried next, while it is not delivered.
    pub next_attempt_at: Option<Millis>,
}

/// `GET /v1/store/till`: whether a till is connected, and the store's latest deliveries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TillStatus {
    /// A till URL is configured on the relay; without one, sales wait in the outbox.
    pub connected: bool,
    /// Sales not delivered yet, across the store.
    pub waiting: u64,
    pub deliveries: Vec<TillDelivery>,
}
