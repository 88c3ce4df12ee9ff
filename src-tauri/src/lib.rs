//! The Aisle tablet app: a thin Tauri shell. Commands call `aisle-core`; background work
//! (for now, loading the demo data on first start) reports to the UI through events.

mod commands;
mod setup;

use std::sync::Mutex;

use aisle_core::Store;
use aisle_core::demo::DemoProgress;
use aisle_core::model::StoreId;

/// What every command can reach.
pub struct AppState {
    pub store: Mutex<Store>,
    /// The store (shop) this tablet works in.
    pub home_store: StoreId,
    /// Set while the demo data is being loaded on first start.
    pub loading: Mutex<Option<DemoProgress>>,
}

pub fn run() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,aisle_app=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = tauri::Builder::default()
        .setup(|app| setup::setup(app).map_err(Into::into))
        .invoke_handler(tauri::generate_handler![
            commands::app_info,
            commands::store_stats,
            commands::search_customers,
            commands::customer_profile,
        ])
        .run(tauri::generate_context!());
    if let Err(e) = result {
        tracing::error!(error = %e, "the app stopped with an error");
        std::process::exit(1);
    }
}
