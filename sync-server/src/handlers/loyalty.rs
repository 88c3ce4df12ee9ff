//! Loyalty codes (admin): issue a customer's signed token with its QR code, render a token,
//! revoke one, rotate the signing key, withdraw a leaked key.

use crate::audit::Act;
use aisle_core::api::AuditAction;
use aisle_core::api::{
    IssueTokenRequest, IssuedToken, QrRequest, RevokeTokenRequest, RevokedToken, RotatedKey,
    WithdrawnKey,
};
use aisle_core::model::CustomerId;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};

use crate::auth::Admin;
use crate::error::HttpError;
use crate::loyalty;
use crate::state::AppState;

/// Signs a loyalty token for a customer: for the shop's app, a wallet pass or email.
#[utoipa::path(post, path = "/v1/customers/{id}/loyalty-token", tag = "loyalty", params(("id" = String, Path, description = "The customer's id")), request_body(content = Option<aisle_core::api::IssueTokenRequest>), security(("admin" = [])), responses((status = 200, body = aisle_core::api::IssuedToken), (status = 400, body = aisle_core::model::ApiError), (status = 401, body = aisle_core::model::ApiError), (status = 404, body = aisle_core::model::ApiError)))]
pub async fn issue(
    State(state): State<AppState>,
    _: Admin,
    Path(id): Path<String>,
    body: Option<Json<IssueTokenRequest>>,
) -> Result<Json<IssuedToken>, HttpError> {
    let customer = CustomerId::parse(id).map_err(|e| HttpError::bad_request(e.to_string()))?;
    let valid_days = body.and_then(|Json(b)| b.valid_days);
    let data_dir = state.secrets_dir.clone();
    let token = state
        .with_storage(move |s| loyalty::issue(&data_dir, s, &customer, valid_days))
        .await??;
    let token_id = aisle_core::loyalty::peek(&token)
        .map_err(|e| HttpError::bad_request(e.to_string()))?
        .0
        .token_id();
    Ok(Json(IssuedToken {
        qr_svg: loyalty::qr_svg(&token)?,
        token,
        token_id,
    }))
}

/// A loyalty token rendered as a QR code, PNG (default) or SVG.
#[utoipa::path(get, path = "/v1/loyalty/qr", tag = "loyalty", params(aisle_core::api::QrRequest), security(("admin" = [])), responses((status = 200, description = "The QR code", content_type = "image/png"), (status = 400, body = aisle_core::model::ApiError), (status = 401, body = aisle_core::model::ApiError)))]
pub async fn qr(_: Admin, Query(query): Query<QrRequest>) -> Result<Response, HttpError> {
    aisle_core::loyalty::peek(&query.token).map_err(|e| HttpError::bad_request(e.to_string()))?;
    Ok(match query.format.as_deref() {
        None | Some("png") => (
            [(axum::http::header::CONTENT_TYPE, "image/png")],
            loyalty::qr_png(&query.token, 8)?,
        )
            .into_response(),
        Some("svg") => (
            [(axum::http::header::CONTENT_TYPE, "image/svg+xml")],
            loyalty::qr_svg(&query.token)?,
        )
            .into_response(),
        Some(other) => {
            return Err(HttpError::bad_request(format!(
                "format {other}: use png or svg"
            )));
        }
    })
}

/// Revokes a loyalty token: every device refuses it once it has synced.
#[utoipa::path(post, path = "/v1/loyalty/revoke", tag = "loyalty", request_body = aisle_core::api::RevokeTokenRequest, security(("admin" = [])), responses((status = 200, body = aisle_core::api::RevokedToken), (status = 400, body = aisle_core::model::ApiError), (status = 401, body = aisle_core::model::ApiError)))]
pub async fn revoke(
    State(state): State<AppState>,
    _: Admin,
    Json(request): Json<RevokeTokenRequest>,
) -> Result<Json<RevokedToken>, HttpError> {
    let token_id = state
        .with_storage(move |s| {
            s.revoke_loyalty_token(
                &request.token,
                request.reason.as_deref().unwrap_or("reported lost"),
            )
        })
        .await??;
    state
        .audit(Act::new(
            "admin",
            AuditAction::LoyaltyTokenRevoked,
            &token_id,
        ))
        .await;
    Ok(Json(RevokedToken { token_id }))
}

/// Starts signing loyalty tokens with a new key; older tokens still verify.
#[utoipa::path(post, path = "/v1/loyalty/keys/rotate", tag = "loyalty", security(("admin" = [])), responses((status = 200, body = aisle_core::api::RotatedKey), (status = 401, body = aisle_core::model::ApiError)))]
pub async fn rotate(
    State(state): State<AppState>,
    _: Admin,
) -> Result<Json<RotatedKey>, HttpError> {
    let data_dir = state.secrets_dir.clone();
    let key_id = state
        .with_storage(move |s| loyalty::rotate(&data_dir, s))
        .await??;
    state
        .audit(Act::new("admin", AuditAction::LoyaltyKeyRotated, &key_id))
        .await;
    Ok(Json(RotatedKey { key_id }))
}

/// Withdraws a leaked loyalty key: devices refuse every token naming it once they have
/// synced; a new key signs from now on.
#[utoipa::path(post, path = "/v1/loyalty/keys/{id}/withdraw", tag = "loyalty", params(("id" = String, Path, description = "The leaked key's id")), security(("admin" = [])), responses((status = 200, body = aisle_core::api::WithdrawnKey), (status = 401, body = aisle_core::model::ApiError), (status = 404, body = aisle_core::model::ApiError)))]
pub async fn withdraw(
    State(state): State<AppState>,
    _: Admin,
    Path(id): Path<String>,
) -> Result<Json<WithdrawnKey>, HttpError> {
    let data_dir = state.secrets_dir.clone();
    let key = id.clone();
    let current_key_id = state
        .with_storage(move |s| -> Result<String, HttpError> {
            if !s.loyalty_keys()?.iter().any(|k| k.id == key) {
                return Err(HttpError::not_found(format!(
                    "there is no loyalty key {key}"
                )));
            }
            Ok(loyalty::withdraw(&data_dir, s, &key)?)
        })
        .await??;
    state
        .audit(
            Act::new("admin", AuditAction::LoyaltyKeyWithdrawn, &id)
                .detail(format!("now signing with {current_key_id}")),
        )
        .await;
    Ok(Json(WithdrawnKey {
        withdrawn: id,
        current_key_id,
    }))
}
