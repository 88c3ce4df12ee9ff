//! `POST /v1/shopify/webhooks`: verified with the app secret, mapped to an event
//! (`crate::shopify`), applied once per webhook id (Shopify retries with the same id).
//! Products go through the products import instead, which changes nothing the second time.

use aisle_core::api::{AuditAction, EventBatch, EventKind, EventLine, IgnoredWebhook};
use aisle_core::model::VariantSku;
use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::events::{apply, ingest_config, verify_hmac};
use crate::audit::Act;
use crate::domain::import::{ImportError, ImportFile};
use crate::error::HttpError;
use crate::shopify::{self, Mapped};
use crate::state::AppState;
use aisle_core::api::{ImportFormat, ImportKind};

#[utoipa::path(post, path = "/v1/shopify/webhooks", tag = "events", params(("X-Shopify-Hmac-Sha256" = String, Header, description = "Base64 HMAC-SHA256 of the body with the app secret"), ("X-Shopify-Topic" = String, Header, description = "orders/create (a POS order at a location that is a store is the store's sale), checkouts/create, checkouts/update, carts/update, customers/create, products/create, products/update, inventory_levels/update"), ("X-Shopify-Webhook-Id" = String, Header, description = "Shopify's id: a retry is applied once"), ("X-Shopify-Shop-Domain" = String, Header, description = "The shop; checked when the relay is started with --shopify-shop-domain")), request_body(content = String, description = "Shopify's payload for the topic", content_type = "application/json"), responses((status = 200, description = "Applied (perhaps without line items Aisle cannot apply), or not applied with the reason; what was left out is recorded in the audit trail", body = aisle_core::api::IngestOutcome), (status = 400, description = "Missing Shopify headers", body = aisle_core::model::ApiError), (status = 401, description = "Bad signature, or another shop", body = aisle_core::model::ApiError)))]
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
    // The secret is the app's; the domain says which shop sent it.
    if let Some(shop) = &ingest.shopify_shop_domain
        && header("x-shopify-shop-domain") != Some(shop.as_str())
    {
        return Err(HttpError::unauthorized(format!(
            "this relay takes webhooks of {shop} only"
        )));
    }
    let shop = shopify::ShopSettings {
        home_store: ingest.shopify_home_store.as_deref(),
        locations: &ingest.shopify_locations,
        currency_digits: state.locale.digits(),
    };
    let (mut event, mut skipped) = match shopify::map(topic, webhook_id, &body, shop) {
        Ok(Mapped::Event { event, skipped }) => (event, skipped),
        Ok(Mapped::Product(product)) => {
            return Ok(product_webhook(&state, webhook_id, topic, *product).await);
        }
        Ok(Mapped::Level {
            id,
            item,
            store,
            on_hand,
            as_of,
        }) => {
            let found = item.clone();
            match state
                .with_storage(move |s| s.shop_item_variant(&found))
                .await??
            {
                Some(variant) => (
                    Box::new(Mapped::level_event(id, variant, store, on_hand, as_of)),
                    Vec::new(),
                ),
                None => {
                    let reason = format!(
                        "inventory item {item} is no variant's (its product's webhook, or a products import with shop_inventory_item_id, names it)"
                    );
                    return Ok(not_applied(&state, webhook_id, topic, reason).await);
                }
            }
        }
        Ok(Mapped::Ignored(reason)) => return Ok(ignored(reason.to_string())),
        // Shopify retries anything but a 2xx for ever: what cannot be read is recorded for an
        // admin and answered 200.
        Err(reason) => return Ok(not_applied(&state, webhook_id, topic, reason).await),
    };
    // Products Aisle does not sell (yet) are left out, not a reason to refuse the order.
    if let EventKind::StoreSale { lines, .. } = &mut event.kind {
        let variants: Vec<VariantSku> = lines.iter().map(|l| l.variant.clone()).collect();
        let unknown = state
            .with_storage(move |s| s.unknown_variants(&variants))
            .await??;
        lines.retain(|l| !unknown.contains(&l.variant));
        skipped.extend(unknown.iter().map(|v| format!("{v}: not in the catalog")));
        if lines.is_empty() {
            let reason = format!("no line item Aisle can apply ({})", skipped.join("; "));
            return Ok(not_applied(&state, webhook_id, topic, reason).await);
        }
    }
    if let Some(lines) = event_lines(&mut event.kind) {
        let variants: Vec<_> = lines.iter().map(|l| l.variant.clone()).collect();
        let unknown = state
            .with_storage(move |s| s.unknown_variants(&variants))
            .await??;
        lines.retain(|l| !unknown.contains(&l.variant));
        skipped.extend(unknown.iter().map(|v| format!("{v}: not in the catalog")));
        if lines.is_empty() && matches!(event.kind, EventKind::OrderPlaced { .. }) {
            let reason = format!("no line item Aisle can apply ({})", skipped.join("; "));
            return Ok(not_applied(&state, webhook_id, topic, reason).await);
        }
    }
    if !skipped.is_empty() {
        let reason = format!("applied without {}", skipped.join("; "));
        state.audit(webhook_act(webhook_id, topic, reason)).await;
    }
    let response = apply(
        &state,
        EventBatch {
            events: vec![*event],
        },
    )
    .await?;
    if response.status() == StatusCode::UNPROCESSABLE_ENTITY {
        let reason = "refused by validation (see the relay's log)".to_string();
        return Ok(not_applied(&state, webhook_id, topic, reason).await);
    }
    Ok(response)
}

fn event_lines(kind: &mut EventKind) -> Option<&mut Vec<EventLine>> {
    match kind {
        EventKind::OrderPlaced { lines, .. } | EventKind::CartUpdated { lines } => Some(lines),
        EventKind::CheckoutAbandoned { lines: Some(lines) } => Some(lines),
        _ => None,
    }
}

/// A product created or changed in Shopify, as rows of the products import: to the product
/// its variants already belong to, or a new one. Refused rows are recorded for an admin.
async fn product_webhook(
    state: &AppState,
    webhook_id: &str,
    topic: &str,
    product: shopify::ShopProduct,
) -> Response {
    let skus = product.skus();
    let owners = match state.with_storage(move |s| s.products_of(&skus)).await {
        Ok(Ok(owners)) => owners,
        Ok(Err(e)) => return HttpError::from(e).into_response(),
        Err(e) => return HttpError::from(e).into_response(),
    };
    if owners.len() > 1 {
        let owners: Vec<String> = owners.iter().map(ToString::to_string).collect();
        let reason = format!("its variants are of products {}", owners.join(", "));
        return not_applied(state, webhook_id, topic, reason).await;
    }
    let rows = match product.import_rows(owners.first(), state.locale.digits()) {
        Ok(rows) => rows,
        Err(reason) => return not_applied(state, webhook_id, topic, reason).await,
    };
    let file = ImportFile {
        kind: ImportKind::Products,
        format: ImportFormat::Jsonl,
        rename: Default::default(),
        text: rows,
    };
    match state
        .with_storage(move |s| s.import(&file, &mut |_| {}))
        .await
    {
        Ok(Ok(summary)) => {
            state
                .audit(
                    Act::new("shopify", AuditAction::DataImported, "products").detail(format!(
                        "{topic} {webhook_id}: {}",
                        crate::admin::summary_line(&summary)
                    )),
                )
                .await;
            Json(summary).into_response()
        }
        Ok(Err(ImportError::Rejected(rejected))) => {
            // A product's rows are its variants, in Shopify's order.
            let reasons: Vec<String> = rejected
                .errors
                .iter()
                .map(|e| format!("variant {}: {}", e.line, e.reason))
                .collect();
            not_applied(state, webhook_id, topic, reasons.join("; ")).await
        }
        Ok(Err(ImportError::Store(e))) => HttpError::from(e).into_response(),
        Err(e) => HttpError::from(e).into_response(),
    }
}

fn ignored(reason: String) -> Response {
    Json(IgnoredWebhook { ignored: reason }).into_response()
}

fn webhook_act(webhook_id: &str, topic: &str, reason: String) -> Act {
    Act::new(
        "shopify",
        AuditAction::WebhookNotApplied,
        format!("{topic} {webhook_id}"),
    )
    .detail(reason)
}

/// Records a webhook that could not be applied and answers 200 with why.
async fn not_applied(state: &AppState, webhook_id: &str, topic: &str, reason: String) -> Response {
    tracing::warn!(webhook_id, topic, %reason, "Shopify webhook not applied");
    state
        .audit(webhook_act(webhook_id, topic, reason.clone()))
        .await;
    ignored(reason)
}
