//! The app's shared state and the one way to reach it, for commands and background tasks
//! alike: store operations on a blocking thread (never the UI thread), changes pushed to the
//! sync client, and the enrolment with the relay settings it gives.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use aisle_core::CoreError;
use aisle_core::model::{ApiError, ErrorCode};
use aisle_tablet::Tablet;
use aisle_tablet::sync_client::{SyncClient, SyncConfig};
use tauri::{AppHandle, Manager};

use crate::TabletEnrolment;

/// What every command can reach.
pub struct AppState {
    pub store: Arc<Mutex<Tablet>>,
    pub db_path: PathBuf,
    pub sync: Mutex<Option<SyncClient>>,
    pub enrolment: Mutex<Option<TabletEnrolment>>,
}

/// Runs a read of the store on a blocking thread.
pub async fn with_store<T: Send + 'static>(
    app: AppHandle,
    f: impl FnOnce(&Tablet) -> Result<T, CoreError> + Send + 'static,
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

/// Runs a change to the store on a blocking thread, then tells the sync client.
pub async fn with_store_mut<T: Send + 'static>(
    app: AppHandle,
    f: impl FnOnce(&mut Tablet) -> Result<T, CoreError> + Send + 'static,
) -> Result<T, ApiError> {
    tauri::async_runtime::spawn_blocking(move || {
        let state = app.state::<AppState>();
        let mut store = state.store.lock().unwrap_or_else(|e| e.into_inner());
        let out = f(&mut store).map_err(|e| e.to_api())?;
        // Push the change now if online; either way the status shows it waiting.
        if let Some(client) = state
            .sync
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            client.local_change(&store);
        }
        Ok(out)
    })
    .await
    .map_err(|e| ApiError {
        code: ErrorCode::Internal,
        message: format!("the operation did not finish: {e}"),
    })?
}

/// This tablet's enrolment, or an error telling the associate to enrol it.
pub fn enrolment(app: &AppHandle) -> Result<TabletEnrolment, ApiError> {
    app.state::<AppState>()
        .enrolment
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .ok_or_else(|| ApiError {
            code: ErrorCode::InvalidInput,
            message: "This tablet is not enrolled yet: enrol it in Settings.".into(),
        })
}

/// Where this tablet's relay is and how to authenticate to it.
pub fn relay_config(app: &AppHandle) -> Result<SyncConfig, ApiError> {
    let enrolment = enrolment(app)?;
    Ok(SyncConfig::new(enrolment.relay(), enrolment.token))
}
