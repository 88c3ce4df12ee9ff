//! The Aisle tablet app: a thin Tauri shell. Commands call `aisle-core`; the sync client runs
//! in the background and reports its status to the UI through events.

mod commands;
#[cfg(desktop)]
mod nfc;
mod setup;
mod sync;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use aisle_tablet::Tablet;
use aisle_tablet::sync_client::SyncClient;

pub use sync::TabletEnrolment;

/// What every command can reach.
pub struct AppState {
    pub store: Arc<Mutex<Tablet>>,
    pub db_path: PathBuf,
    pub sync: Mutex<Option<SyncClient>>,
    pub enrolment: Mutex<Option<TabletEnrolment>>,
}

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
        .invoke_handler(tauri::generate_handler![
            commands::app_info,
            commands::store_stats,
            commands::search_customers,
            commands::customer_profile,
            commands::sync_status,
            commands::enrol,
            commands::set_associate,
            commands::floor_overview,
            commands::customer_briefing,
            commands::greet_customer,
            commands::add_note,
            commands::add_to_cart,
            commands::pull_into_cart,
            commands::set_cart_quantity,
            commands::change_cart_variant,
            commands::remove_cart_line,
            commands::place_hold,
            commands::release_hold,
            commands::checkout_cart,
            commands::search_products,
            commands::stock_grid,
            commands::nearby_stock,
            commands::conflicts,
            commands::resolve_conflict,
            commands::store_kpis,
            commands::stock_alerts,
            commands::store_devices,
            commands::erase_customer,
            commands::merge_customers,
            commands::scan,
            commands::scan_image,
            commands::link_card,
            commands::kiosk_check_in,
            commands::kiosk_consent,
        ])
        .run(tauri::generate_context!());
    if let Err(e) = result {
        tracing::error!(error = %e, "the app stopped with an error");
        std::process::exit(1);
    }
}
