//! `GET /healthz` and `GET /metrics` (OpenMetrics), for load balancers and monitoring.

use aisle_core::api::{Health, HealthDetails};
use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use crate::error::HttpError;
use crate::state::AppState;

#[utoipa::path(get, path = "/healthz", tag = "relay", responses((status = 200, description = "The relay is up; with the admin token, also what it holds", body = aisle_core::api::Health)))]
pub async fn healthz(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Health>, HttpError> {
    // Customer counts and units on hand are the retailer's business, not a passer-by's.
    let details = if crate::auth::is_admin(&state, &headers) {
        let stats = state.with_storage(|s| s.stats()).await??;
        state
            .metrics
            .documents
            .set(i64::try_from(stats.documents).unwrap_or(i64::MAX));
        Some(HealthDetails {
            uptime_seconds: state.started.elapsed().as_secs(),
            connected_devices: state.metrics.connected_devices.get(),
            store: stats,
        })
    } else {
        None
    };
    Ok(Json(Health {
        status: "ok".to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        details,
    }))
}

#[utoipa::path(get, path = "/metrics", tag = "relay", responses((status = 200, description = "OpenMetrics text", content_type = "application/openmetrics-text")))]
pub async fn metrics(State(state): State<AppState>) -> Response {
    if let Ok(Ok(stats)) = state.with_storage(|s| s.stats()).await {
        state
            .metrics
            .documents
            .set(i64::try_from(stats.documents).unwrap_or(i64::MAX));
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}
