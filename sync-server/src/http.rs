//! The relay's HTTP surface. For now: the health check, with what the relay holds.

use aisle_core::Store;
use aisle_core::model::{ApiError, ErrorCode, StoreStats};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use std::sync::{Arc, Mutex};
use std::time::Instant;

#[derive(Clone)]
pub struct AppState {
    store: Arc<Mutex<Store>>,
    started: Instant,
}

impl AppState {
    pub fn new(store: Arc<Mutex<Store>>) -> Self {
        Self {
            store,
            started: Instant::now(),
        }
    }

    /// Runs a store operation off the async runtime.
    async fn with_store<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Store) -> aisle_core::Result<T> + Send + 'static,
    ) -> Result<T, HttpError> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || {
            let mut store = store.lock().unwrap_or_else(|e| e.into_inner());
            f(&mut store).map_err(|e| HttpError(e.to_api()))
        })
        .await
        .map_err(|e| {
            HttpError(ApiError {
                code: ErrorCode::Internal,
                message: format!("task failed: {e}"),
            })
        })?
    }
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .with_state(state)
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    version: &'static str,
    uptime_seconds: u64,
    store: StoreStats,
}

async fn healthz(State(state): State<AppState>) -> Result<Json<Health>, HttpError> {
    let stats = state.with_store(|s| s.stats()).await?;
    Ok(Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
        uptime_seconds: state.started.elapsed().as_secs(),
        store: stats,
    }))
}

/// An error as JSON `{code, message}` with a status that matches the code.
pub struct HttpError(ApiError);

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let status = match self.0.code {
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::InvalidInput => StatusCode::BAD_REQUEST,
            ErrorCode::Busy => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::StorageFull
            | ErrorCode::Storage
            | ErrorCode::Corrupt
            | ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        };
        (status, Json(self.0)).into_response()
    }
}
