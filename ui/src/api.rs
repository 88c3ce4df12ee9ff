//! Typed calls to the app's commands.

use aisle_core::model::{
    ApiError, Briefing, ConflictLine, CustomerSummary, DeviceHealth, FloorOverview, KioskWelcome,
    Millis, ProductSummary, Role, SaleReceipt, ScanTarget, StockAlerts, StockGrid, StoreKpis,
    StoreStats, StoreStock, SyncStatus,
};
use serde::{Deserialize, Serialize};

use crate::tauri::invoke;

#[derive(Serialize)]
struct NoArgs {}

/// How this tablet is known to its relay.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Enrolment {
    pub relay_url: String,
    pub device: String,
    pub store: String,
    pub role: Role,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct AppInfo {
    pub enrolment: Option<Enrolment>,
    pub home_store_name: Option<String>,
    pub associate: Option<String>,
    pub version: String,
}

pub async fn app_info() -> Result<AppInfo, ApiError> {
    invoke("app_info", &NoArgs {}).await
}

pub async fn store_stats() -> Result<StoreStats, ApiError> {
    invoke("store_stats", &NoArgs {}).await
}

#[derive(Serialize)]
struct Query<'a> {
    query: &'a str,
}

pub async fn search_customers(query: &str) -> Result<Vec<CustomerSummary>, ApiError> {
    invoke("search_customers", &Query { query }).await
}

pub async fn sync_status() -> Result<Option<SyncStatus>, ApiError> {
    invoke("sync_status", &NoArgs {}).await
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EnrolArgs<'a> {
    relay_url: &'a str,
    code: &'a str,
}

pub async fn enrol(relay_url: &str, code: &str) -> Result<Enrolment, ApiError> {
    invoke("enrol", &EnrolArgs { relay_url, code }).await
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

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Day {
    day_start: Millis,
    day_end: Millis,
}

pub async fn floor_overview() -> Result<FloorOverview, ApiError> {
    let (day_start, day_end) = today();
    invoke("floor_overview", &Day { day_start, day_end }).await
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CustomerDay<'a> {
    id: &'a str,
    day_start: Millis,
}

pub async fn customer_briefing(id: &str) -> Result<Briefing, ApiError> {
    let day_start = today().0;
    invoke("customer_briefing", &CustomerDay { id, day_start }).await
}

pub async fn greet_customer(id: &str) -> Result<bool, ApiError> {
    let day_start = today().0;
    invoke("greet_customer", &CustomerDay { id, day_start }).await
}

#[derive(Serialize)]
struct NoteArgs<'a> {
    id: &'a str,
    text: &'a str,
}

pub async fn add_note(id: &str, text: &str) -> Result<String, ApiError> {
    invoke("add_note", &NoteArgs { id, text }).await
}

#[derive(Serialize)]
struct PullArgs<'a> {
    id: &'a str,
    cart: Option<&'a str>,
    variants: Vec<(String, u32)>,
}

pub async fn pull_into_cart(
    id: &str,
    cart: Option<&str>,
    variants: Vec<(String, u32)>,
) -> Result<String, ApiError> {
    invoke("pull_into_cart", &PullArgs { id, cart, variants }).await
}

#[derive(Serialize)]
struct LineQuantity<'a> {
    id: &'a str,
    cart: &'a str,
    line: &'a str,
    quantity: u32,
}

pub async fn set_cart_quantity(
    id: &str,
    cart: &str,
    line: &str,
    quantity: u32,
) -> Result<(), ApiError> {
    invoke(
        "set_cart_quantity",
        &LineQuantity {
            id,
            cart,
            line,
            quantity,
        },
    )
    .await
}

#[derive(Serialize)]
struct LineVariant<'a> {
    id: &'a str,
    cart: &'a str,
    line: &'a str,
    variant: &'a str,
}

pub async fn change_cart_variant(
    id: &str,
    cart: &str,
    line: &str,
    variant: &str,
) -> Result<String, ApiError> {
    invoke(
        "change_cart_variant",
        &LineVariant {
            id,
            cart,
            line,
            variant,
        },
    )
    .await
}

#[derive(Serialize)]
struct Line<'a> {
    id: &'a str,
    cart: &'a str,
    line: &'a str,
}

pub async fn remove_cart_line(id: &str, cart: &str, line: &str) -> Result<(), ApiError> {
    invoke("remove_cart_line", &Line { id, cart, line }).await
}

#[derive(Serialize)]
struct HoldArgs<'a> {
    id: &'a str,
    variant: &'a str,
    quantity: u32,
    hours: u32,
}

pub async fn place_hold(
    id: &str,
    variant: &str,
    quantity: u32,
    hours: u32,
) -> Result<String, ApiError> {
    invoke(
        "place_hold",
        &HoldArgs {
            id,
            variant,
            quantity,
            hours,
        },
    )
    .await
}

#[derive(Serialize)]
struct HoldId<'a> {
    hold: &'a str,
}

pub async fn release_hold(hold: &str) -> Result<(), ApiError> {
    invoke("release_hold", &HoldId { hold }).await
}

#[derive(Serialize)]
struct Checkout<'a> {
    id: &'a str,
    cart: &'a str,
}

pub async fn checkout_cart(id: &str, cart: &str) -> Result<SaleReceipt, ApiError> {
    invoke("checkout_cart", &Checkout { id, cart }).await
}

pub async fn search_products(query: &str) -> Result<Vec<ProductSummary>, ApiError> {
    invoke("search_products", &Query { query }).await
}

#[derive(Serialize)]
struct Product<'a> {
    product: &'a str,
}

pub async fn stock_grid(product: &str) -> Result<StockGrid, ApiError> {
    invoke("stock_grid", &Product { product }).await
}

pub async fn nearby_stock(product: &str) -> Result<Vec<StoreStock>, ApiError> {
    invoke("nearby_stock", &Product { product }).await
}

pub async fn conflicts() -> Result<Vec<ConflictLine>, ApiError> {
    invoke("conflicts", &NoArgs {}).await
}

#[derive(Serialize)]
struct Resolve<'a> {
    id: &'a str,
    counted: i64,
}

pub async fn resolve_conflict(id: &str, counted: i64) -> Result<i64, ApiError> {
    invoke("resolve_conflict", &Resolve { id, counted }).await
}

#[derive(Serialize)]
struct Period {
    from: Millis,
    days: u32,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Horizon {
    horizon_days: u32,
}

pub async fn stock_alerts(horizon_days: u32) -> Result<StockAlerts, ApiError> {
    invoke("stock_alerts", &Horizon { horizon_days }).await
}

pub async fn store_kpis(days: u32) -> Result<StoreKpis, ApiError> {
    let from = today().0 - i64::from(days - 1) * 86_400_000;
    invoke("store_kpis", &Period { from, days }).await
}

#[derive(Serialize)]
struct CustomerArg<'a> {
    id: &'a str,
}

pub async fn erase_customer(id: &str) -> Result<(), ApiError> {
    invoke("erase_customer", &CustomerArg { id }).await
}

#[derive(Serialize)]
struct MergeArgs<'a> {
    id: &'a str,
    duplicate: &'a str,
}

/// Folds `duplicate` (another profile of the same person) into customer `id`, on the relay.
pub async fn merge_customers(id: &str, duplicate: &str) -> Result<(), ApiError> {
    invoke("merge_customers", &MergeArgs { id, duplicate }).await
}

pub async fn store_devices() -> Result<Vec<DeviceHealth>, ApiError> {
    invoke("store_devices", &NoArgs {}).await
}

#[derive(Serialize)]
struct Name<'a> {
    name: &'a str,
}

pub async fn set_associate(name: &str) -> Result<String, ApiError> {
    invoke("set_associate", &Name { name }).await
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
    };
    format!("{hint} {}", error.message)
}

#[derive(Serialize)]
struct ScanArg<'a> {
    text: &'a str,
}

/// What scanned text opens: a customer (verified loyalty code, loyalty number) or a product.
pub async fn scan(text: &str) -> Result<ScanTarget, ApiError> {
    invoke("scan", &ScanArg { text }).await
}

#[derive(Serialize)]
struct ImageArg {
    image: Vec<u8>,
}

/// A photo holding a QR code.
pub async fn scan_image(image: Vec<u8>) -> Result<ScanTarget, ApiError> {
    invoke("scan_image", &ImageArg { image }).await
}

#[derive(Serialize)]
struct CardArg<'a> {
    customer: &'a str,
    uid: &'a str,
}

pub async fn link_card(customer: &str, uid: &str) -> Result<(), ApiError> {
    invoke("link_card", &CardArg { customer, uid }).await
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct KioskArgs<'a> {
    code: Option<&'a str>,
    nfc_uid: Option<&'a str>,
}

pub async fn kiosk_check_in(
    code: Option<&str>,
    nfc_uid: Option<&str>,
) -> Result<KioskWelcome, ApiError> {
    invoke("kiosk_check_in", &KioskArgs { code, nfc_uid }).await
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct KioskConsentArgs<'a> {
    code: Option<&'a str>,
    nfc_uid: Option<&'a str>,
    granted: bool,
}

pub async fn kiosk_consent(
    code: Option<&str>,
    nfc_uid: Option<&str>,
    granted: bool,
) -> Result<(), ApiError> {
    invoke(
        "kiosk_consent",
        &KioskConsentArgs {
            code,
            nfc_uid,
            granted,
        },
    )
    .await
}

/// An NFC card tapped on this tablet's reader, as the app reports it.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct CardTap {
    pub uid: String,
    pub token: Option<String>,
    pub customer: Option<String>,
    pub problem: Option<String>,
}
