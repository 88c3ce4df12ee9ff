//! Typed calls to the app's commands, in the words the screens use. Each builds the command's
//! shared arguments struct from [`aisle_core::model::commands`], which also fixes its name and
//! its reply.

use aisle_core::model::commands::{
    AddNoteArgs, AppInfoArgs, ChangeCartVariantArgs, CheckoutCartArgs, ConflictsArgs,
    CountStockArgs, CustomerBriefingArgs, EnrolArgs, EraseCustomerArgs, FloorOverviewArgs,
    GreetCustomerArgs, IncomingTransfersArgs, KioskCheckInArgs, KioskConsentArgs, LinkCardArgs,
    MergeCustomersArgs, NearbyStockArgs, PlaceHoldArgs, PullIntoCartArgs, ReceiveTransferArgs,
    RecordStockMovementArgs, ReleaseHoldArgs, RemoveCartLineArgs, ResolveConflictArgs, ScanArgs,
    ScanImageArgs, SearchCustomersArgs, SearchProductsArgs, SetAssociateArgs, SetCartQuantityArgs,
    StockAlertsArgs, StockGridArgs, StockMovementsArgs, StoreDevicesArgs, StoreKpisArgs,
    StoreStatsArgs, StoresArgs, SyncStatusArgs,
};
use aisle_core::model::{
    ApiError, Briefing, ConflictLine, CustomerSummary, DeviceHealth, FloorOverview,
    IncomingTransfer, KioskWelcome, Millis, MovementKind, MovementReceipt, ProductSummary,
    SaleReceipt, ScanTarget, StockAlerts, StockGrid, StockMovement, StoreInfo, StoreKpis,
    StoreStats, StoreStock, SyncStatus, TenantLocale,
};

use crate::tauri::invoke;
use leptos::prelude::{ArcRwSignal, Get, GetUntracked, Set};

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

pub async fn stock_movements(product: &str) -> Result<Vec<StockMovement>, ApiError> {
    invoke(&StockMovementsArgs {
        product: product.to_owned(),
    })
    .await
}

pub async fn record_stock_movement(
    kind: MovementKind,
    variant: &str,
    quantity: i64,
    to_store: Option<String>,
    note: &str,
) -> Result<MovementReceipt, ApiError> {
    invoke(&RecordStockMovementArgs {
        kind,
        variant: variant.to_owned(),
        quantity,
        to_store,
        note: note.to_owned(),
    })
    .await
}

pub async fn count_stock(counts: Vec<(String, i64)>, note: &str) -> Result<Vec<i64>, ApiError> {
    invoke(&CountStockArgs {
        counts,
        note: note.to_owned(),
    })
    .await
}

pub async fn incoming_transfers() -> Result<Vec<IncomingTransfer>, ApiError> {
    invoke(&IncomingTransfersArgs {}).await
}

pub async fn receive_transfer(
    transfer: &str,
    from_store: &str,
    lines: Vec<(String, i64)>,
) -> Result<Vec<i64>, ApiError> {
    invoke(&ReceiveTransferArgs {
        transfer: transfer.to_owned(),
        from_store: from_store.to_owned(),
        lines,
    })
    .await
}

/// One unit of an in-store sale exchanged for one of `instead`: the return and the new sale.
pub async fn record_exchange(
    sale: String,
    variant: String,
    instead: String,
) -> Result<aisle_core::model::SaleReceipt, ApiError> {
    invoke(&aisle_core::model::commands::RecordExchangeArgs {
        sale,
        variant,
        instead,
    })
    .await
}

pub async fn record_return(sale: &str, variant: &str, quantity: i64) -> Result<i64, ApiError> {
    invoke(&aisle_core::model::commands::RecordReturnArgs {
        sale: sale.to_owned(),
        variant: variant.to_owned(),
        quantity,
    })
    .await
}

pub async fn stores() -> Result<Vec<StoreInfo>, ApiError> {
    invoke(&StoresArgs {}).await
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

/// The same period as [`store_kpis`], as CSV files on the tablet; their paths.
/// A product image this tablet keeps, as a `data:` address.
pub async fn product_image(image: String) -> Result<Option<String>, ApiError> {
    invoke(&aisle_core::model::commands::ProductImageArgs { image }).await
}

pub async fn export_kpis(days: u32) -> Result<Vec<String>, ApiError> {
    let from = today().0 - i64::from(days - 1) * 86_400_000;
    invoke(&aisle_core::model::commands::ExportKpisArgs { from, days }).await
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

pub async fn till_status() -> Result<aisle_core::api::TillStatus, ApiError> {
    invoke(&aisle_core::model::commands::TillStatusArgs {}).await
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

thread_local! {
    /// The tenant's currency and locale, from the catalog (through `app_info`). A signal, so
    /// every amount and date on screen is shown again when it arrives or changes; counted by
    /// reference, not owned by whichever screen read it first (which would dispose of it).
    static TENANT: ArcRwSignal<TenantLocale> = ArcRwSignal::new(TenantLocale::default());
    /// The platform's formatter for the tenant's money, made once per tenant.
    static MONEY_FORMAT: std::cell::RefCell<Option<(TenantLocale, js_sys::Function)>> =
        const { std::cell::RefCell::new(None) };
}

/// Takes the tenant the app reports (from the catalog the relay publishes).
pub fn set_locale(tenant: TenantLocale) {
    TENANT.with(|current| {
        if current.get_untracked() != tenant {
            current.set(tenant);
        }
    });
}

fn tenant() -> TenantLocale {
    TENANT.with(|t| t.get())
}

/// `options` as a JavaScript object of string values.
fn js_options(options: &[(&str, &str)]) -> js_sys::Object {
    let object = js_sys::Object::new();
    for (key, value) in options {
        let _ = js_sys::Reflect::set(&object, &(*key).into(), &(*value).into());
    }
    object
}

/// An amount in minor units of the tenant's currency, as its locale writes it ("£58.99",
/// "58,99 €", "￥1,200"): the platform's `Intl.NumberFormat`.
pub fn money(minor: i64) -> String {
    let tenant = tenant();
    let digits = aisle_core::model::currency_digits(&tenant.currency).unwrap_or(2);
    let value = minor as f64 / 10f64.powi(i32::try_from(digits).unwrap_or(2));
    let formatted = MONEY_FORMAT.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.as_ref().is_none_or(|(t, _)| *t != tenant) {
            let locales = js_sys::Array::of1(&tenant.locale.as_str().into());
            let options = js_options(&[("style", "currency"), ("currency", &tenant.currency)]);
            let format = js_sys::Intl::NumberFormat::new(&locales, &options).format();
            *cache = Some((tenant.clone(), format));
        }
        let (_, format) = cache.as_ref()?;
        format
            .call1(
                &wasm_bindgen::JsValue::NULL,
                &wasm_bindgen::JsValue::from_f64(value),
            )
            .ok()?
            .as_string()
    });
    formatted.unwrap_or_else(|| aisle_core::model::money_in(minor, &tenant.currency))
}

/// "14:05" or "3 Nov" for a timestamp, in the tablet's time zone and the tenant's locale.
pub fn when(at: Millis) -> String {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(at as f64));
    let (start, _) = today();
    let locale = tenant().locale;
    if at >= start {
        let options = js_options(&[("hour", "2-digit"), ("minute", "2-digit")]);
        date.to_locale_time_string_with_options(&locale, &options)
            .into()
    } else {
        let options = js_options(&[("day", "numeric"), ("month", "short")]);
        date.to_locale_date_string(&locale, &options).into()
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
