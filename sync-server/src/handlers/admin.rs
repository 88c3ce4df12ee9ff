//! Device administration with the admin token: enrolment codes, the device list, revocation.

use aisle_core::api::{CodeRequest, CodeResponse, EnrolledDevice};
use aisle_core::model::StoreId;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use crate::auth::Admin;
use crate::error::HttpError;
use crate::state::AppState;

#[utoipa::path(post, path = "/v1/admin/codes", tag = "devices", request_body = aisle_core::api::CodeRequest, security(("admin" = [])), responses((status = 200, body = aisle_core::api::CodeResponse), (status = 400, body = aisle_core::model::ApiError), (status = 401, body = aisle_core::model::ApiError)))]
pub async fn create_code(
    State(state): State<AppState>,
    _: Admin,
    Json(request): Json<CodeRequest>,
) -> Result<Json<CodeResponse>, HttpError> {
    let store = StoreId::parse(request.store).map_err(|e| HttpError::bad_request(e.to_string()))?;
    let code = state
        .with_storage(move |s| s.create_code(&store, request.role, &request.name))
        .await??;
    Ok(Json(CodeResponse { code }))
}

#[utoipa::path(get, path = "/v1/admin/devices", tag = "devices", security(("admin" = [])), responses((status = 200, body = Vec<aisle_core::api::EnrolledDevice>), (status = 401, body = aisle_core::model::ApiError)))]
pub async fn devices(
    State(state): State<AppState>,
    _: Admin,
) -> Result<Json<Vec<EnrolledDevice>>, HttpError> {
    let devices = state.with_storage(|s| s.devices()).await??;
    Ok(Json(
        devices
            .into_iter()
            .map(|d| EnrolledDevice {
                id: d.id,
                name: d.name,
                store: d.store.to_string(),
                role: d.role,
                revoked: d.revoked,
                last_seen_at: d.last_seen_at,
            })
            .collect(),
    ))
}

/// Revokes a device: its token is refused from now on and its open connections close.
#[utoipa::path(post, path = "/v1/admin/devices/{id}/revoke", tag = "devices", params(("id" = String, Path, description = "The device id")), security(("admin" = [])), responses((status = 204, description = "Revoked; its connections close"), (status = 401, body = aisle_core::model::ApiError), (status = 404, body = aisle_core::model::ApiError)))]
pub async fn revoke_device(
    State(state): State<AppState>,
    _: Admin,
    Path(id): Path<String>,
) -> Result<StatusCode, HttpError> {
    if state.with_storage(move |s| s.revoke_device(&id)).await?? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(HttpError::not_found("no such active device"))
    }
}
