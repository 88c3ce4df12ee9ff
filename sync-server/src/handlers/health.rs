//! `GET /healthz`, `GET /readyz` and `GET /metrics` (OpenMetrics), for load balancers and
//! monitoring.

use aisle_core::api::{Health, HealthDetails, Readiness};
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

/// What a load balancer asks before sending devices here. Unlike `/healthz` (the process is
/// up), this fails while the relay cannot serve: its shared database is unreachable or of
/// another schema, or it stopped following the changefeed.
#[utoipa::path(get, path = "/readyz", tag = "relay", responses(
    (status = 200, description = "Ready for traffic", body = aisle_core::api::Readiness),
    (status = 503, description = "Not ready, and why", body = aisle_core::api::Readiness),
))]
pub async fn readyz(State(state): State<AppState>) -> Response {
    let checked = state.with_storage(|s| s.ready()).await;
    let reason = match checked {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(format!("{e:#}")),
        Err(e) => Some(e.message),
    };
    let status = if reason.is_none() {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::SERVICE_UNAVAILABLE
    };
    let ready = reason.is_none();
    (status, Json(Readiness { ready, reason })).into_response()
}

#[utoipa::path(get, path = "/metrics", tag = "relay", responses((status = 200, description = "OpenMetrics text", content_type = "application/openmetrics-text")))]
pub async fn metrics(State(state): State<AppState>) -> Response {
    if let Ok((Ok(stats), lag)) = state.with_storage(|s| (s.stats(), s.feed_lag())).await {
        state
            .metrics
            .documents
            .set(i64::try_from(stats.documents).unwrap_or(i64::MAX));
        if let Some(lag) = lag {
            state.metrics.feed_lag.set(lag.behind_transactions);
            state.metrics.horizon_read_age_ms.set(lag.read_age_ms);
            state
                .metrics
                .oldest_transaction_ms
                .set(lag.oldest_transaction_ms);
        }
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
