//! The contract between the UI and the app's Tauri commands, written once for both sides: each
//! command is the struct of its arguments, which names the command and its reply through
//! [`Command`]. The UI sends a call as `{ "args": <the struct> }`; the app's handler takes the
//! struct as its `args` parameter (a command without arguments has none and ignores the key).
//! Ids travel as plain strings that the app parses, so a malformed one is refused with an
//! `invalid_input` error, not a failed deserialisation.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{
    Briefing, ConflictLine, CustomerProfile, CustomerSummary, DeviceHealth, FloorOverview,
    IncomingTransfer, KioskWelcome, Millis, MovementKind, MovementReceipt, ProductSummary, Role,
    SaleReceipt, ScanTarget, StockAlerts, StockGrid, StockMovement, StoreInfo, StoreKpis,
    StoreStats, StoreStock, SyncStatus,
};

/// A command the UI can call: `Self` is its arguments.
pub trait Command: Serialize + DeserializeOwned {
    /// The name the app registers the command under.
    const NAME: &'static str;
    /// What a successful call returns.
    type Output: Serialize + DeserializeOwned;
}

/// How this tablet is known to its relay, as the UI sees it (the bearer token stays in the
/// app).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enrolment {
    pub relay_url: String,
    /// The fingerprint of the certificate the relay is trusted by (`AB:CD:…`), if enrolled
    /// with one.
    #[serde(default)]
    pub relay_ca: Option<String>,
    pub device: String,
    pub store: String,
    pub role: Role,
}

/// The app's version and enrolment, for Settings and the screens that depend on the role.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppInfo {
    pub enrolment: Option<Enrolment>,
    pub home_store_name: Option<String>,
    pub associate: Option<String>,
    pub version: String,
    /// When the app process started (ms since the epoch).
    pub started_at: Millis,
    /// The currency and locale amounts and dates are shown in, as the catalog says.
    #[serde(default)]
    pub locale: super::TenantLocale,
}

/// Declares each command's arguments struct, its [`Command`] impl (the name is the snake_case
/// word before the colon, which is also the app's handler function) and [`NAMES`].
macro_rules! commands {
    ($(
        $(#[$doc:meta])*
        $name:ident: $args:ident {
            $($(#[$field_doc:meta])* $field:ident: $ty:ty),* $(,)?
        } -> $output:ty;
    )*) => {
        $(
            #[doc = concat!("Arguments of the `", stringify!($name), "` command.")]
            $(#[$doc])*
            #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
            pub struct $args {
                $($(#[$field_doc])* pub $field: $ty,)*
            }

            impl Command for $args {
                const NAME: &'static str = stringify!($name);
                type Output = $output;
            }
        )*

        /// Every command's name, as declared here.
        pub const NAMES: &[&str] = &[$(stringify!($name)),*];
    };
}

commands! {
    app_info: AppInfoArgs {} -> AppInfo;

    store_stats: StoreStatsArgs {} -> StoreStats;

    /// The first matches by name, loyalty number, email or phone.
    search_customers: SearchCustomersArgs { query: String } -> Vec<CustomerSummary>;

    customer_profile: CustomerProfileArgs { id: String } -> CustomerProfile;

    /// The sync client's current status; `None` when the tablet is not enrolled.
    sync_status: SyncStatusArgs {} -> Option<SyncStatus>;

    /// Enrols this tablet with its relay using a one-time code.
    /// `code` is the one-time code, or a whole ticket (`aisle://enrol?…`, as its QR code
    /// holds), which carries the relay's address and `ca` itself. `ca` is the fingerprint of
    /// the certificate a relay with a private CA is trusted by.
    enrol: EnrolArgs { relay_url: String, code: String, ca: Option<String> } -> Enrolment;

    /// Who uses this tablet now; replies with the name as stored.
    set_associate: SetAssociateArgs { name: String } -> String;

    /// The home store's floor for the day `[day_start, day_end)`.
    floor_overview: FloorOverviewArgs { day_start: Millis, day_end: Millis } -> FloorOverview;

    customer_briefing: CustomerBriefingArgs { id: String, day_start: Millis } -> Briefing;

    /// Records an assisted visit unless the customer is here today already; replies whether
    /// it did.
    greet_customer: GreetCustomerArgs { id: String, day_start: Millis } -> bool;

    /// Replies with the note's id.
    add_note: AddNoteArgs { id: String, text: String } -> String;

    /// Adds a line to an in-store cart (a new cart when `cart` is absent); replies with
    /// (cart, line).
    add_to_cart: AddToCartArgs {
        id: String,
        cart: Option<String>,
        variant: String,
        quantity: u32,
    } -> (String, String);

    /// Copies several lines into an in-store cart (a new cart when `cart` is absent); replies
    /// with the cart's id.
    pull_into_cart: PullIntoCartArgs {
        id: String,
        cart: Option<String>,
        /// (variant SKU, quantity) pairs.
        variants: Vec<(String, u32)>,
    } -> String;

    set_cart_quantity: SetCartQuantityArgs {
        id: String,
        cart: String,
        line: String,
        quantity: u32,
    } -> ();

    /// Replaces a cart line by one for another size or colour; replies with the new line's id.
    change_cart_variant: ChangeCartVariantArgs {
        id: String,
        cart: String,
        line: String,
        variant: String,
    } -> String;

    remove_cart_line: RemoveCartLineArgs { id: String, cart: String, line: String } -> ();

    /// Replies with the hold's id.
    place_hold: PlaceHoldArgs { id: String, variant: String, quantity: u32, hours: u32 } -> String;

    release_hold: ReleaseHoldArgs { hold: String } -> ();

    /// Records the sale of an in-store cart.
    checkout_cart: CheckoutCartArgs { id: String, cart: String } -> SaleReceipt;

    search_products: SearchProductsArgs { query: String } -> Vec<ProductSummary>;

    /// The home store's stock of a product, by colour and size.
    stock_grid: StockGridArgs { product: String } -> StockGrid;

    /// Other stores' stock of a product, from the relay.
    nearby_stock: NearbyStockArgs { product: String } -> Vec<StoreStock>;

    conflicts: ConflictsArgs {} -> Vec<ConflictLine>;

    /// Settles an oversell with the count found on the shelf; replies with the new level.
    resolve_conflict: ResolveConflictArgs { id: String, counted: i64 } -> i64;

    /// The home store's figures for `days` days from `from`.
    store_kpis: StoreKpisArgs { from: Millis, days: u32 } -> StoreKpis;

    /// The same figures as CSV files (one row per day, one per associate), written to the
    /// tablet's Downloads folder (or `exports/` beside its data); replies with their paths.
    export_kpis: ExportKpisArgs { from: Millis, days: u32 } -> Vec<String>;

    /// A product image kept on this tablet, as a `data:` address for an `<img>`; none when
    /// it is not kept (yet), and the category's outline shows instead.
    product_image: ProductImageArgs { image: String } -> Option<String>;

    /// A product's last stock movements in the home store, newest first.
    stock_movements: StockMovementsArgs { product: String } -> Vec<StockMovement>;

    /// A delivery received, damage, or a transfer sent to `to_store` (managers); replies
    /// with the new level and, for a transfer, its reference.
    record_stock_movement: RecordStockMovementArgs {
        kind: MovementKind,
        variant: String,
        quantity: i64,
        to_store: Option<String>,
        note: String,
    } -> MovementReceipt;

    /// A shelf count of some of the home store's variants (managers): (variant, counted)
    /// pairs; replies with the new levels.
    count_stock: CountStockArgs { counts: Vec<(String, i64)>, note: String } -> Vec<i64>;

    /// Transfers on their way to the home store, from the relay (needs a connection).
    incoming_transfers: IncomingTransfersArgs {} -> Vec<IncomingTransfer>;

    /// Units that arrived of a transfer (managers): (variant, quantity) pairs.
    receive_transfer: ReceiveTransferArgs {
        transfer: String,
        from_store: String,
        lines: Vec<(String, i64)>,
    } -> Vec<i64>;

    /// Units a customer brought back of a sale recorded in the home store; replies with the
    /// new level. Back into stock, and to the till as a refund.
    record_return: RecordReturnArgs { sale: String, variant: String, quantity: i64 } -> i64;

    /// One unit of an in-store sale brought back and exchanged for one of `instead` (another
    /// size or colour), as one record: the return and the new sale together.
    record_exchange: RecordExchangeArgs { sale: String, variant: String, instead: String } -> SaleReceipt;

    /// The chain's stores as this tablet knows them.
    stores: StoresArgs {} -> Vec<StoreInfo>;

    /// Variants running out within `horizon_days` days.
    stock_alerts: StockAlertsArgs { horizon_days: u32 } -> StockAlerts;

    store_devices: StoreDevicesArgs {} -> Vec<DeviceHealth>;

    /// The store's sales on their way to the till (manager tablets; needs the relay).
    till_status: TillStatusArgs {} -> crate::api::TillStatus;

    /// The store's part of the relay's audit trail, newest last (manager tablets; needs the
    /// relay).
    store_audit: StoreAuditArgs {} -> Vec<crate::api::AuditEntry>;

    erase_customer: EraseCustomerArgs { id: String } -> ();

    /// Folds `duplicate` (another profile of the same person) into customer `id`.
    merge_customers: MergeCustomersArgs { id: String, duplicate: String } -> ();

    /// What scanned text opens.
    scan: ScanArgs { text: String } -> ScanTarget;

    /// What the QR code in a photo opens.
    scan_image: ScanImageArgs {
        /// The photo's file bytes (PNG or JPEG).
        image: Vec<u8>,
    } -> ScanTarget;

    /// Links an NFC card nobody has to a customer.
    link_card: LinkCardArgs { customer: String, uid: String } -> ();

    /// A check-in at the entry kiosk from a scanned code or a tapped card.
    kiosk_check_in: KioskCheckInArgs {
        code: Option<String>,
        nfc_uid: Option<String>,
    } -> KioskWelcome;

    /// The customer's answer to the kiosk's personalisation question.
    kiosk_consent: KioskConsentArgs {
        code: Option<String>,
        nfc_uid: Option<String>,
        granted: bool,
    } -> ();
}

/// Events the app sends the UI, with their payloads.
pub mod events {
    use serde::{Deserialize, Serialize};

    /// A card tapped on the tablet's NFC reader: [`CardTap`].
    pub const NFC_TAP: &str = "nfc-tap";
    /// The sync client's status changed: `model::SyncStatus`.
    pub const SYNC_STATUS: &str = "sync-status";

    /// A card tap as the UI gets it.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct CardTap {
        pub uid: String,
        /// The card's own token (NDEF text), when it carries one: a kiosk checks in with it.
        pub token: Option<String>,
        /// The customer the card belongs to, when this tablet knows.
        pub customer: Option<String>,
        /// Why the card was refused (a revoked or forged token), if it was.
        pub problem: Option<String>,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_snake_case() {
        for (i, name) in NAMES.iter().enumerate() {
            assert!(
                name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{name}"
            );
            assert!(!NAMES[..i].contains(name), "{name} is declared twice");
        }
        assert_eq!(AddNoteArgs::NAME, "add_note");
    }

    #[test]
    fn arguments_travel_with_their_field_names() -> Result<(), serde_json::Error> {
        let args = KioskCheckInArgs {
            code: None,
            nfc_uid: Some("04A1B2C3".into()),
        };
        let json = serde_json::to_value(&args)?;
        assert_eq!(
            json,
            serde_json::json!({ "code": null, "nfc_uid": "04A1B2C3" })
        );
        // The UI leaves absent options out of the payload altogether.
        let parsed: KioskCheckInArgs = serde_json::from_value(serde_json::json!({}))?;
        assert_eq!(parsed.nfc_uid, None);
        Ok(())
    }
}
