//! `POST /v1/shopify/webhooks`: verified with the app secret, mapped to an event
//! (`crate::shopify`), applied once per webhook id (Shopify retries with the same id).

use aisle_core::api::{EventBatch, IgnoredWebhook};
use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::events::{apply, ingest_config, verify_hmac};
use crate::error::HttpError;
use crate::shopify::{self, Mapped};
use crate::state::AppState;

#[utoipa::path(post, path = "/v1/shopify/webhooks", tag = "events", params(("X-Shopify-Hmac-Sha256" = String, Header, description = "Base64 HMAC-SHA256 of the body with the app secret"), ("X-Shopify-Topic" = String, Header, description = "orders/create, checkouts/create, checkouts/update, carts/update, customers/create"), ("X-Shopify-Webhook-Id" = String, Header, description = "Shopify's id: a retry is applied once")), request_body(content = String, description = "Shopify's payload for the topic", content_type = "application/json"), responses((status = 200, description = "Applied, or ignored with a reason", body = aisle_core::api::IngestOutcome), (status = 400, body = aisle_core::model::ApiError), (status = 401, body = aisle_core::model::ApiError), (status = 422, body = aisle_core::api::BatchRejection)))]
pub async fn webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, HttpError> {
    let ingest = ingest_config(&state)?;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let signature = header("x-shopify-hmac-sha256")
        .and_then(|v| STANDARD.decode(v).ok())
        .ok_or_else(|| HttpError::unauthorized("missing or malformed X-Shopify-Hmac-Sha256"))?;
    verify_hmac(&ingest.shopify_secret, &body, &signature)?;
    let topic = header("x-shopify-topic")
        .ok_or_else(|| HttpError::bad_request("missing X-Shopify-Topic"))?;
    let webhook_id = header("x-shopify-webhook-id")
        .filter(|v| !v.is_empty() && v.len() <= 100)
        .ok_or_else(|| HttpError::bad_request("missing X-Shopify-Webhook-Id"))?;
    match shopify::map(
        topic,
        webhook_id,
        &body,
        ingest.shopify_home_store.as_deref(),
    )
    .map_err(HttpError::bad_request)?
    {
        Mapped::Event(event) => {
            apply(
                &state,
                EventBatch {
                    events: vec![event],
                },
            )
            .await
        }
        Mapped::Ignored(reason) => Ok(Json(IgnoredWebhook {
            ignored: reason.to_string(),
        })
        .into_response()),
    }
}
