//! Typed calls to the app's commands, in the words the screens use. Each builds the command's
//! shared arguments struct from [`aisle_core::model::commands`], which also fixes its name and
//! its reply.

use aisle_core::model::commands::{
    AddNoteArgs, AppInfoArgs, ChangeCartVariantArgs, CheckoutCartArgs, ConflictsArgs,
    CustomerBriefingArgs, EnrolArgs, EraseCustomerArgs, FloorOverviewArgs, GreetCustomerArgs,
    KioskCheckInArgs, KioskConsentArgs, LinkCardArgs, MergeCustomersArgs, NearbyStockArgs,
    PlaceHoldArgs, PullIntoCartArgs, ReleaseHoldArgs, RemoveCartLineArgs, ResolveConflictArgs,
    ScanArgs, ScanImageArgs, SearchCustomersArgs, SearchProductsArgs, SetAssociateArgs,
    SetCartQuantityArgs, StockAlertsArgs, StockGridArgs, StoreDevicesArgs, StoreKpisArgs,
    StoreStatsArgs, SyncStatusArgs,
};
use aisle_core::model::{
    ApiError, Briefing, ConflictLine, CustomerSummary, DeviceHealth, FloorOverview, KioskWelcome,
    Millis, ProductSummary, SaleReceipt, ScanTarget, StockAlerts, StockGrid, StoreKpis, StoreStats,
    StoreStock, SyncStatus,
};

use crate::tauri::invoke;

pub use aisle_core::model::commands::{AppInfo, Enrolment};

pub async fn app_info() -> Result<AppInfo, ApiError> {
    invoke(&AppInfoArgs {}).await
}

pub async fn store_stats() -> Result<StoreStats, ApiError> {
    invoke(&StoreStatsArgs {}).await
}

pub async fn search_customers(query: &str) -> Result<Vec<CustomerSummary>, ApiError> {
    invoke(&SearchCustomersArgs {
        query: query.to_owned(),
    })
    .await
}

pub async fn sync_status() -> Result<Option<SyncStatus>, ApiError> {
    invoke(&SyncStatusArgs {}).await
}

/// `code` may be a whole enrolment ticket (`aisle://enrol?…`); `ca` is the certificate
/// fingerprint, empty for a relay with a publicly trusted certificate.
pub async fn enrol(relay_url: &str, code: &str, ca: &str) -> Result<Enrolment, ApiError> {
    invoke(&EnrolArgs {
        relay_url: relay_url.to_owned(),
        code: code.to_owned(),
        ca: Some(ca.trim().to_owned()).filter(|ca| !ca.is_empty()),
    })
    .await
}

/// Local midnight today and tomorrow, in milliseconds: the tablet's day.
pub fn today() -> (Millis, Millis) {
    let now = js_sys::Date::new_0();
    now.set_hours(0);
    now.set_minutes(0);
    now.set_seconds(0);
    now.set_milliseconds(0);
    let start = now.get_time() as Millis;
    now.set_date(now.get_date() + 1);
    (start, now.get_time() as Millis)
}

pub fn now() -> Millis {
    js_sys::Date::now() as Millis
}

pub async fn floor_overview() -> Result<FloorOverview, ApiError> {
    let (day_start, day_end) = today();
    invoke(&FloorOverviewArgs { day_start, day_end }).await
}

pub async fn customer_briefing(id: &str) -> Result<Briefing, ApiError> {
    let day_start = today().0;
    invoke(&CustomerBriefingArgs {
        id: id.to_owned(),
        day_start,
    })
    .await
}

pub async fn greet_customer(id: &str) -> Result<bool, ApiError> {
    let day_start = today().0;
    invoke(&GreetCustomerArgs {
        id: id.to_owned(),
        day_start,
    })
    .await
}

pub async fn add_note(id: &str, text: &str) -> Result<String, ApiError> {
    invoke(&AddNoteArgs {
        id: id.to_owned(),
        text: text.to_owned(),
    })
    .await
}

pub async fn pull_into_cart(
    id: &str,
    cart: Option<&str>,
    variants: Vec<(String, u32)>,
) -> Result<String, ApiError> {
    invoke(&PullIntoCartArgs {
        id: id.to_owned(),
        cart: cart.map(str::to_owned),
        variants,
    })
    .await
}

pub async fn set_cart_quantity(
    id: &str,
    cart: &str,
    line: &str,
    quantity: u32,
) -> Result<(), ApiError> {
    invoke(&SetCartQuantityArgs {
        id: id.to_owned(),
        cart: cart.to_owned(),
        line: line.to_owned(),
        quantity,
    })
    .await
}

pub async fn change_cart_variant(
    id: &str,
    cart: &str,
    line: &str,
    variant: &str,
) -> Result<String, ApiError> {
    invoke(&ChangeCartVariantArgs {
        id: id.to_owned(),
        cart: cart.to_owned(),
        line: line.to_owned(),
        variant: variant.to_owned(),
    })
    .await
}

pub async fn remove_cart_line(id: &str, cart: &str, line: &str) -> Result<(), ApiError> {
    invoke(&RemoveCartLineArgs {
        id: id.to_owned(),
        cart: cart.to_owned(),
        line: line.to_owned(),
    })
    .await
}

pub async fn place_hold(
    id: &str,
    variant: &str,
    quantity: u32,
    hours: u32,
) -> Result<String, ApiError> {
    invoke(&PlaceHoldArgs {
        id: id.to_owned(),
        variant: variant.to_owned(),
        quantity,
        hours,
    })
    .await
}

pub async fn release_hold(hold: &str) -> Result<(), ApiError> {
    invoke(&ReleaseHoldArgs {
        hold: hold.to_owned(),
    })
    .await
}

pub async fn checkout_cart(id: &str, cart: &str) -> Result<SaleReceipt, ApiError> {
    invoke(&CheckoutCartArgs {
        id: id.to_owned(),
        cart: cart.to_owned(),
    })
    .await
}

pub async fn search_products(query: &str) -> Result<Vec<ProductSummary>, ApiError> {
    invoke(&SearchProductsArgs {
        query: query.to_owned(),
    })
    .await
}

pub async fn stock_grid(product: &str) -> Result<StockGrid, ApiError> {
    invoke(&StockGridArgs {
        product: product.to_owned(),
    })
    .await
}

pub async fn nearby_stock(product: &str) -> Result<Vec<StoreStock>, ApiError> {
    invoke(&NearbyStockArgs {
        product: product.to_owned(),
    })
    .await
}

pub async fn conflicts() -> Result<Vec<ConflictLine>, ApiError> {
    invoke(&ConflictsArgs {}).await
}

pub async fn resolve_conflict(id: &str, counted: i64) -> Result<i64, ApiError> {
    invoke(&ResolveConflictArgs {
        id: id.to_owned(),
        counted,
    })
    .await
}

pub async fn stock_alerts(horizon_days: u32) -> Result<StockAlerts, ApiError> {
    invoke(&StockAlertsArgs { horizon_days }).await
}

pub async fn store_kpis(days: u32) -> Result<StoreKpis, ApiError> {
    let from = today().0 - i64::from(days - 1) * 86_400_000;
    invoke(&StoreKpisArgs { from, days }).await
}

pub async fn erase_customer(id: &str) -> Result<(), ApiError> {
    invoke(&EraseCustomerArgs { id: id.to_owned() }).await
}

/// Folds `duplicate` (another profile of the same person) into customer `id`, on the relay.
pub async fn merge_customers(id: &str, duplicate: &str) -> Result<(), ApiError> {
    invoke(&MergeCustomersArgs {
        id: id.to_owned(),
        duplicate: duplicate.to_owned(),
    })
    .await
}

pub async fn store_devices() -> Result<Vec<DeviceHealth>, ApiError> {
    invoke(&StoreDevicesArgs {}).await
}

pub async fn store_audit() -> Result<Vec<aisle_core::api::AuditEntry>, ApiError> {
    invoke(&aisle_core::model::commands::StoreAuditArgs {}).await
}

pub async fn set_associate(name: &str) -> Result<String, ApiError> {
    invoke(&SetAssociateArgs {
        name: name.to_owned(),
    })
    .await
}

pub use aisle_core::model::money;

/// "14:05" or "3 Nov" for a timestamp, in the tablet's time zone.
pub fn when(at: Millis) -> String {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(at as f64));
    let (start, _) = today();
    if at >= start {
        format!("{:02}:{:02}", date.get_hours(), date.get_minutes())
    } else {
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        format!(
            "{} {}",
            date.get_date(),
            MONTHS[date.get_month() as usize % 12]
        )
    }
}

/// "3 h", "2 days": how long ago.
pub fn age(at: Millis) -> String {
    aisle_core::model::ago(now() - at)
}

/// Words for an error an associate can act on, by its code.
pub fn describe(error: &ApiError) -> String {
    use aisle_core::model::ErrorCode::*;
    let hint = match error.code {
        NotFound => "Not found.",
        InvalidInput => "Please check what was entered.",
        StorageFull => "The tablet is out of storage space.",
        Busy => "The tablet is busy; try again in a moment.",
        Storage | Corrupt | Internal => "Something went wrong on this tablet.",
        Unauthorized => "The relay does not know this tablet.",
        Forbidden => "This tablet may not do that.",
        Revoked => "This tablet was revoked: enrol it again in Settings.",
        RateLimited => "Too many requests from this tablet; wait a minute.",
    };
    format!("{hint} {}", error.message)
}

/// What scanned text opens: a customer (verified loyalty code, loyalty number) or a product.
pub async fn scan(text: &str) -> Result<ScanTarget, ApiError> {
    invoke(&ScanArgs {
        text: text.to_owned(),
    })
    .await
}

/// A photo holding a QR code.
pub async fn scan_image(image: Vec<u8>) -> Result<ScanTarget, ApiError> {
    invoke(&ScanImageArgs { image }).await
}

pub async fn link_card(customer: &str, uid: &str) -> Result<(), ApiError> {
    invoke(&LinkCardArgs {
        customer: customer.to_owned(),
        uid: uid.to_owned(),
    })
    .await
}

pub async fn kiosk_check_in(
    code: Option<&str>,
    nfc_uid: Option<&str>,
) -> Result<KioskWelcome, ApiError> {
    invoke(&KioskCheckInArgs {
        code: code.map(str::to_owned),
        nfc_uid: nfc_uid.map(str::to_owned),
    })
    .await
}

pub async fn kiosk_consent(
    code: Option<&str>,
    nfc_uid: Option<&str>,
    granted: bool,
) -> Result<(), ApiError> {
    invoke(&KioskConsentArgs {
        code: code.map(str::to_owned),
        nfc_uid: nfc_uid.map(str::to_owned),
        granted,
    })
    .await
}

pub use aisle_core::model::commands::events::CardTap;
