//! Start-up: open the local store, and on a tablet's very first start load the demo data in
//! the background (until the tablet is enrolled with a relay, which replaces this).

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

use aisle_core::Store;
use aisle_core::demo::{self, DemoConfig};
use aisle_core::model::StoreId;
use tauri::{App, Emitter, Manager};

use crate::AppState;

/// Events the UI listens to.
pub const DEMO_PROGRESS_EVENT: &str = "demo-progress";
pub const DATA_READY_EVENT: &str = "data-ready";

fn data_dir(app: &App) -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("AISLE_DATA_DIR") {
        return Ok(PathBuf::from(dir));
    }
    app.path()
        .app_data_dir()
        .map_err(|e| format!("no app data directory: {e}"))
}

pub fn setup(app: &mut App) -> Result<(), String> {
    let started = Instant::now();
    let dir = data_dir(app)?;
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let db_path = dir.join("aisle.sqlite3");
    let store =
        Store::open(&db_path).map_err(|e| format!("cannot open {}: {e}", db_path.display()))?;
    let home_store = std::env::var("AISLE_STORE").unwrap_or_else(|_| "LDN-CG".into());
    let home_store = StoreId::parse(home_store).map_err(|e| format!("AISLE_STORE: {e}"))?;
    let needs_demo = !store
        .has_doc(&aisle_core::DocId::Catalog)
        .map_err(|e| e.to_string())?;
    app.manage(AppState {
        store: Mutex::new(store),
        home_store,
        loading: Mutex::new(None),
    });
    tracing::info!(db = %db_path.display(), elapsed_ms = started.elapsed().as_millis() as u64, "store open");
    if needs_demo {
        let customers = std::env::var("AISLE_DEMO_CUSTOMERS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(10_000);
        let handle = app.handle().clone();
        std::thread::spawn(move || load_demo(handle, db_path, customers));
    }
    Ok(())
}

/// Imports the demo data through a second connection, so the UI stays responsive; SQLite's WAL
/// lets the UI keep reading while the import writes.
fn load_demo(app: tauri::AppHandle, db_path: PathBuf, customers: usize) {
    let started = Instant::now();
    let state = app.state::<AppState>();
    let result = Store::open(&db_path).and_then(|mut store| {
        let now = store.now();
        demo::seed_if_empty(&mut store, DemoConfig::new(customers, now), |progress| {
            *state.loading.lock().unwrap_or_else(|e| e.into_inner()) = Some(progress);
            if let Err(e) = app.emit(DEMO_PROGRESS_EVENT, progress_payload(progress)) {
                tracing::warn!(error = %e, "cannot emit progress");
            }
        })
    });
    *state.loading.lock().unwrap_or_else(|e| e.into_inner()) = None;
    match result {
        Ok(_) => tracing::info!(
            customers,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "demo data loaded"
        ),
        Err(e) => tracing::error!(error = %e, "loading demo data failed"),
    }
    if let Err(e) = app.emit(DATA_READY_EVENT, ()) {
        tracing::warn!(error = %e, "cannot emit data-ready");
    }
}

pub fn progress_payload(p: demo::DemoProgress) -> serde_json::Value {
    serde_json::json!({ "stage": p.stage, "done": p.done, "total": p.total })
}
