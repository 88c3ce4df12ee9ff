//! Device administration with the admin token: enrolment codes, the device list, revocation.

use aisle_core::api::{CodeRequest, CodeResponse, EnrolledDevice};
use aisle_core::model::StoreId;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;

use crate::audit::Act;
use crate::auth::{Admin, Manager};
use crate::error::HttpError;
use crate::state::AppState;
use aisle_core::api::{AuditAction, AuditEntry, AuditQuery};

#[utoipa::path(post, path = "/v1/admin/codes", tag = "devices", request_body = aisle_core::api::CodeRequest, security(("admin" = [])), responses((status = 200, body = aisle_core::api::CodeResponse), (status = 400, body = aisle_core::model::ApiError), (status = 401, body = aisle_core::model::ApiError)))]
pub async fn create_code(
    State(state): State<AppState>,
    _: Admin,
    Json(request): Json<CodeRequest>,
) -> Result<Json<CodeResponse>, HttpError> {
    let store = StoreId::parse(request.store).map_err(|e| HttpError::bad_request(e.to_string()))?;
    let act = Act::new("admin", AuditAction::EnrolmentCodeCreated, &request.name)
        .in_store(&store)
        .detail(request.role.as_str());
    let code = state
        .with_storage(move |s| s.create_code(&store, request.role, &request.name))
        .await??;
    state.audit(act).await;
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
    let subject = id.clone();
    if state.with_storage(move |s| s.revoke_device(&id)).await?? {
        state
            .audit(Act::new("admin", AuditAction::DeviceRevoked, subject))
            .await;
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(HttpError::not_found("no such active device"))
    }
}

/// The audit trail, newest `limit` entries (default 200), oldest first.
#[utoipa::path(get, path = "/v1/admin/audit", tag = "devices", params(aisle_core::api::AuditQuery), security(("admin" = [])), responses((status = 200, body = Vec<aisle_core::api::AuditEntry>), (status = 401, body = aisle_core::model::ApiError)))]
pub async fn audit(
    State(state): State<AppState>,
    _: Admin,
    Query(query): Query<AuditQuery>,
) -> Result<Json<Vec<AuditEntry>>, HttpError> {
    let limit = query.limit.unwrap_or(200).min(10_000);
    Ok(Json(
        state.with_storage(move |s| s.audit(None, limit)).await??,
    ))
}

/// The audit trail's entries about the manager's own store.
#[utoipa::path(get, path = "/v1/store/audit", tag = "devices", params(aisle_core::api::AuditQuery), security(("device" = [])), responses((status = 200, body = Vec<aisle_core::api::AuditEntry>), (status = 401, body = aisle_core::model::ApiError), (status = 403, description = "Only a manager's tablet", body = aisle_core::model::ApiError)))]
pub async fn store_audit(
    State(state): State<AppState>,
    Manager(device): Manager,
    Query(query): Query<AuditQuery>,
) -> Result<Json<Vec<AuditEntry>>, HttpError> {
    let limit = query.limit.unwrap_or(200).min(10_000);
    Ok(Json(
        state
            .with_storage(move |s| s.audit(Some(&device.store), limit))
            .await??,
    ))
}
