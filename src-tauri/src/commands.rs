//! Tauri commands: each one runs a core operation on a blocking thread (never the UI thread)
//! and returns its result or an [`ApiError`] with a stable code.

use serde::Serialize;
use tauri::{AppHandle, Manager};

use aisle_core::model::{
    ApiError, CustomerId, CustomerProfile, CustomerSummary, ErrorCode, StoreStats,
};
use aisle_core::{CoreError, Store};

use crate::AppState;

async fn with_store<T: Send + 'static>(
    app: AppHandle,
    f: impl FnOnce(&Store) -> Result<T, CoreError> + Send + 'static,
) -> Result<T, ApiError> {
    tauri::async_runtime::spawn_blocking(move || {
        let state = app.state::<AppState>();
        let store = state.store.lock().unwrap_or_else(|e| e.into_inner());
        f(&store).map_err(|e| e.to_api())
    })
    .await
    .map_err(|e| ApiError {
        code: ErrorCode::Internal,
        message: format!("the operation did not finish: {e}"),
    })?
}

#[derive(Serialize)]
pub struct AppInfo {
    pub home_store: String,
    pub home_store_name: Option<String>,
    pub version: &'static str,
    /// Demo data loading progress on a first start, if it is still running.
    pub loading: Option<serde_json::Value>,
}

#[tauri::command]
pub async fn app_info(app: AppHandle) -> Result<AppInfo, ApiError> {
    let state = app.state::<AppState>();
    let home = state.home_store.clone();
    let loading = state
        .loading
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .map(crate::setup::progress_payload);
    let home_store = home.to_string();
    let home_store_name = with_store(app.clone(), move |s| {
        Ok(s.stores()?
            .into_iter()
            .find(|st| st.id == home)
            .map(|st| st.name))
    })
    .await?;
    Ok(AppInfo {
        home_store,
        home_store_name,
        version: env!("CARGO_PKG_VERSION"),
        loading,
    })
}

#[tauri::command]
pub async fn store_stats(app: AppHandle) -> Result<StoreStats, ApiError> {
    with_store(app, |s| s.stats()).await
}

#[tauri::command]
pub async fn search_customers(
    app: AppHandle,
    query: String,
) -> Result<Vec<CustomerSummary>, ApiError> {
    with_store(app, move |s| s.search_customers(&query, 20)).await
}

#[tauri::command]
pub async fn customer_profile(app: AppHandle, id: String) -> Result<CustomerProfile, ApiError> {
    let id = CustomerId::parse(id).map_err(|e| ApiError {
        code: ErrorCode::InvalidInput,
        message: e.to_string(),
    })?;
    with_store(app, move |s| s.customer(&id)).await
}
