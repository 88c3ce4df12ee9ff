//! The Aisle tablet app: a thin Tauri shell. Commands call `aisle-core`; the sync client runs
//! in the background and reports its status to the UI through events.

mod commands;
#[cfg(desktop)]
mod nfc;
mod setup;
mod state;
mod sync;

use std::future::Future;

use aisle_core::model::ApiError;
use aisle_core::model::commands::{self as contract, Command};
use tauri::AppHandle;

pub use state::AppState;
pub use sync::TabletEnrolment;

/// When this process started, for the start-up time the UI reports (ms since the epoch).
static STARTED_AT: std::sync::OnceLock<i64> = std::sync::OnceLock::new();

pub fn started_at() -> i64 {
    *STARTED_AT.get_or_init(now_ms)
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A handler of command `A`: an async function of the app handle and `A` (or of the handle
/// alone when `A` has no fields) replying with `A`'s output. `Params` tells the shapes apart.
trait Handler<A: Command, Params> {}

impl<A: Command, F, Fut> Handler<A, (AppHandle, A)> for F
where
    F: Fn(AppHandle, A) -> Fut,
    Fut: Future<Output = Result<A::Output, ApiError>>,
{
}

impl<A: Command, F, Fut> Handler<A, (AppHandle,)> for F
where
    F: Fn(AppHandle) -> Fut,
    Fut: Future<Output = Result<A::Output, ApiError>>,
{
}

/// Compiles only if `handler` handles command `A`.
const fn handles<A: Command, Params>(_handler: &impl Handler<A, Params>) {}

const fn same_name(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Registers `commands::<handler>` for each `handler: Args` pair, checking at compile time
/// that the handler is named as `Args` names its command (the name the UI invokes), that it
/// takes `Args` and replies with `Args::Output`, and that every shared command has a handler.
macro_rules! command_handlers {
    ($($handler:ident: $args:ident),* $(,)?) => {{
        $(
            const _: () = assert!(
                same_name(stringify!($handler), <contract::$args as Command>::NAME),
                concat!("`", stringify!($handler), "` is not the name of ", stringify!($args)),
            );
            const _: () = handles::<contract::$args, _>(&commands::$handler);
        )*
        const _: () = assert!(
            [$(stringify!($handler)),*].len() == contract::NAMES.len(),
            "every shared command needs a handler",
        );
        tauri::generate_handler![$(commands::$handler),*]
    }};
}

pub fn run() {
    started_at();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,aisle_app=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let builder = tauri::Builder::default();
    // Phones and tablets read cards and codes with the platform's own APIs.
    #[cfg(mobile)]
    let builder = builder
        .plugin(tauri_plugin_nfc::init())
        .plugin(tauri_plugin_barcode_scanner::init());
    let result = builder
        .setup(|app| setup::setup(app).map_err(Into::into))
        .invoke_handler(command_handlers![
            app_info: AppInfoArgs,
            store_stats: StoreStatsArgs,
            search_customers: SearchCustomersArgs,
            customer_profile: CustomerProfileArgs,
            sync_status: SyncStatusArgs,
            enrol: EnrolArgs,
            set_associate: SetAssociateArgs,
            floor_overview: FloorOverviewArgs,
            customer_briefing: CustomerBriefingArgs,
            greet_customer: GreetCustomerArgs,
            add_note: AddNoteArgs,
            add_to_cart: AddToCartArgs,
            pull_into_cart: PullIntoCartArgs,
            set_cart_quantity: SetCartQuantityArgs,
            change_cart_variant: ChangeCartVariantArgs,
            remove_cart_line: RemoveCartLineArgs,
            place_hold: PlaceHoldArgs,
            release_hold: ReleaseHoldArgs,
            checkout_cart: CheckoutCartArgs,
            search_products: SearchProductsArgs,
            stock_grid: StockGridArgs,
            nearby_stock: NearbyStockArgs,
            conflicts: ConflictsArgs,
            resolve_conflict: ResolveConflictArgs,
            store_kpis: StoreKpisArgs,
            export_kpis: ExportKpisArgs,
            product_image: ProductImageArgs,
            stock_movements: StockMovementsArgs,
            record_stock_movement: RecordStockMovementArgs,
            count_stock: CountStockArgs,
            incoming_transfers: IncomingTransfersArgs,
            receive_transfer: ReceiveTransferArgs,
            record_return: RecordReturnArgs,
            record_exchange: RecordExchangeArgs,
            stores: StoresArgs,
            stock_alerts: StockAlertsArgs,
            store_devices: StoreDevicesArgs,
            till_status: TillStatusArgs,
            store_audit: StoreAuditArgs,
            erase_customer: EraseCustomerArgs,
            merge_customers: MergeCustomersArgs,
            scan: ScanArgs,
            scan_image: ScanImageArgs,
            link_card: LinkCardArgs,
            kiosk_check_in: KioskCheckInArgs,
            kiosk_consent: KioskConsentArgs,
        ])
        .run(tauri::generate_context!());
    if let Err(e) = result {
        tracing::error!(error = %e, "the app stopped with an error");
        std::process::exit(1);
    }
}
