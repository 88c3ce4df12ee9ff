//! Tauri commands: each one runs a core operation on a blocking thread (never the UI thread)
//! and returns its result or an [`ApiError`] with a stable code.

use serde::Serialize;
use tauri::{AppHandle, Manager};

use aisle_core::client::SyncStatus;
use aisle_core::model::{
    ApiError, CustomerId, CustomerProfile, CustomerSummary, ErrorCode, StoreStats,
};
use aisle_core::{CoreError, Store};

use crate::{AppState, TabletEnrolment};

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
    pub enrolment: Option<TabletEnrolment>,
    pub home_store_name: Option<String>,
    pub version: &'static str,
}

#[tauri::command]
pub async fn app_info(app: AppHandle) -> Result<AppInfo, ApiError> {
    let enrolment = app
        .state::<AppState>()
        .enrolment
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .map(|mut e| {
            e.token.clear();
            e
        });
    let home = enrolment.as_ref().map(|e| e.store.clone());
    let home_store_name = with_store(app, move |s| {
        Ok(home.and_then(|h| {
            s.stores()
                .ok()?
                .into_iter()
                .find(|st| st.id.as_str() == h)
                .map(|st| st.name)
        }))
    })
    .await?;
    Ok(AppInfo {
        enrolment,
        home_store_name,
        version: env!("CARGO_PKG_VERSION"),
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

/// The sync client's current status; `None` when the tablet is not enrolled.
#[tauri::command]
pub async fn sync_status(app: AppHandle) -> Result<Option<SyncStatus>, ApiError> {
    let state = app.state::<AppState>();
    let sync = state.sync.lock().unwrap_or_else(|e| e.into_inner());
    Ok(sync.as_ref().map(|c| c.status().borrow().clone()))
}

#[tauri::command]
pub async fn enrol(
    app: AppHandle,
    relay_url: String,
    code: String,
) -> Result<TabletEnrolment, ApiError> {
    let mut enrolment = crate::sync::enrol(&app, &relay_url, &code).await?;
    enrolment.token.clear();
    Ok(enrolment)
}
