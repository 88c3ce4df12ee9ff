//! `POST /v1/events`: web shop events, signed with the tenant's secret, validated whole,
//! applied once each, then synced to tablets. Shopify's webhooks end up here too.

use crate::domain::ingest::IngestError;
use aisle_core::api::{BatchRejection, EventBatch};
use aisle_core::model::ErrorCode;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

use crate::error::HttpError;
use crate::state::{AppState, Ingest};

#[utoipa::path(post, path = "/v1/events", tag = "events", request_body = aisle_core::api::EventBatch, params(("X-Aisle-Tenant" = String, Header, description = "The tenant"), ("X-Aisle-Signature" = String, Header, description = "`sha256=` and the hex HMAC-SHA256 of the exact body, keyed with the tenant's ingest secret")), responses((status = 200, description = "Applied; events seen before count as duplicates", body = aisle_core::api::IngestOutcome), (status = 400, description = "Not an event batch", body = aisle_core::model::ApiError), (status = 401, body = aisle_core::model::ApiError), (status = 413, description = "Body over 1 MiB"), (status = 422, description = "An event is invalid; nothing was written", body = aisle_core::api::BatchRejection), (status = 503, description = "Ingestion is not configured", body = aisle_core::model::ApiError)))]
pub async fn ingest(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, HttpError> {
    verify_signature(&state, &headers, &body)?;
    let batch: EventBatch = serde_json::from_slice(&body)
        .map_err(|e| HttpError::bad_request(format!("not an event batch: {e}")))?;
    apply(&state, batch).await
}

/// Applies a parsed batch: its outcome, or 422 naming the event that refused it whole.
pub async fn apply(state: &AppState, batch: EventBatch) -> Result<Response, HttpError> {
    let count = batch.events.len();
    let outcome = state.with_storage(move |s| s.ingest(&batch)).await?;
    match outcome {
        Ok(outcome) => {
            state
                .metrics
                .events_ingested
                .inc_by(outcome.accepted as u64);
            Ok(Json(outcome).into_response())
        }
        Err(IngestError::Rejected(r)) => {
            tracing::info!(events = count, index = r.index, reason = %r.reason, "event batch refused");
            Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(BatchRejection {
                    code: ErrorCode::InvalidInput,
                    message: r.to_string(),
                    index: r.index,
                    id: r.id,
                }),
            )
                .into_response())
        }
        Err(IngestError::Store(e)) => Err(e.into()),
    }
}

/// The tenant's ingest keys, or 503 if this relay takes no events.
pub fn ingest_config(state: &AppState) -> Result<Arc<Ingest>, HttpError> {
    state.ingest.clone().ok_or_else(|| {
        HttpError::new(
            ErrorCode::Busy,
            "event ingestion is not configured on this relay",
        )
    })
}

/// Checks `X-Aisle-Tenant` and `X-Aisle-Signature: sha256=<hex HMAC-SHA256 of the body>`.
fn verify_signature(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<(), HttpError> {
    let ingest = ingest_config(state)?;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if header("x-aisle-tenant") != Some(ingest.tenant.as_str()) {
        return Err(HttpError::unauthorized("unknown tenant (X-Aisle-Tenant)"));
    }
    let signature = header("x-aisle-signature")
        .and_then(|v| v.strip_prefix("sha256="))
        .and_then(|hex| hex::decode(hex).ok())
        .ok_or_else(|| HttpError::unauthorized("missing or malformed X-Aisle-Signature"))?;
    verify_hmac(&ingest.secret, body, &signature)
}

/// HMAC-SHA256 of `body` with `secret`, compared in constant time.
pub fn verify_hmac(secret: &str, body: &[u8], signature: &[u8]) -> Result<(), HttpError> {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
        .map_err(|_| HttpError::unauthorized("bad signing key"))?;
    mac.update(body);
    mac.verify_slice(signature)
        .map_err(|_| HttpError::unauthorized("the signature does not match the body"))
}
