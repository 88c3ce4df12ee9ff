//! Device administration with the admin token: enrolment codes, the device list, revocation.

use aisle_core::api::{CodeRequest, CodeResponse, EnrolledDevice};
use aisle_core::model::StoreId;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use crate::auth::Admin;
use crate::error::HttpError;
use crate::state::AppState;

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
