//! Who is calling, as axum extractors: a handler names the caller it needs in its signature
//! (any enrolled device, staff, a manager, the admin) and is never reached by anyone else.
//! Every check reads the registry, so a revoked device is refused on its next request.

use aisle_core::model::Role;
use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;

use crate::audit::Act;
use crate::error::HttpError;
use crate::registry::Device;
use crate::state::AppState;
use aisle_core::api::AuditAction;

/// The token of `Authorization: Bearer <token>`.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// The enrolled, not revoked device whose bearer token came with the request.
pub async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Device, HttpError> {
    let token = bearer(headers)
        .map(str::to_string)
        .ok_or_else(|| HttpError::unauthorized("missing bearer token"))?;
    let refused = match state.with_storage(move |s| s.authenticate(&token)).await? {
        Ok(Some(device)) if !device.revoked => return Ok(device),
        Ok(Some(device)) => (
            Some(device),
            HttpError::new(
                aisle_core::model::ErrorCode::Revoked,
                "this device was revoked",
            ),
        ),
        Ok(None) => (None, HttpError::unauthorized("unknown token")),
        Err(e) => return Err(e.into()),
    };
    if let Some(failures) = state.failed_auth.count() {
        let (device, _) = &refused;
        let act = Act::new(
            "unknown",
            AuditAction::AuthenticationFailed,
            "bearer tokens",
        )
        .detail(format!(
            "{failures} failed since the last entry; this one {}",
            device.as_ref().map_or_else(
                || "an unknown token".to_string(),
                |d| format!("by revoked {}", d.id)
            )
        ));
        state.audit(act).await;
    }
    Err(refused.1)
}

pub(crate) fn is_admin(state: &AppState, headers: &HeaderMap) -> bool {
    matches!(bearer(headers), Some(token) if token.as_bytes() == state.admin_token.as_bytes())
}

/// Any enrolled device: associate, manager or kiosk.
pub struct AnyDevice(pub Device);

/// An associate's or manager's tablet: staff who may read customer profiles (not a kiosk).
pub struct Staff(pub Device);

/// A manager's tablet.
pub struct Manager(pub Device);

/// The entry kiosk.
pub struct Kiosk(pub Device);

/// The relay's admin token.
pub struct Admin;

/// The admin token, or a manager's tablet (whose store then limits what it may touch).
pub enum ManagerOrAdmin {
    Admin,
    Manager(Device),
}

impl FromRequestParts<AppState> for AnyDevice {
    type Rejection = HttpError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, HttpError> {
        authenticate(state, &parts.headers).await.map(Self)
    }
}

impl FromRequestParts<AppState> for Staff {
    type Rejection = HttpError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, HttpError> {
        let device = authenticate(state, &parts.headers).await?;
        if device.role == Role::Kiosk {
            return Err(HttpError::forbidden("kiosks cannot read customer profiles"));
        }
        Ok(Self(device))
    }
}

impl FromRequestParts<AppState> for Manager {
    type Rejection = HttpError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, HttpError> {
        let device = authenticate(state, &parts.headers).await?;
        if device.role != Role::Manager {
            return Err(HttpError::forbidden("only a manager's tablet may do this"));
        }
        Ok(Self(device))
    }
}

impl FromRequestParts<AppState> for Kiosk {
    type Rejection = HttpError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, HttpError> {
        let device = authenticate(state, &parts.headers).await?;
        if device.role != Role::Kiosk {
            return Err(HttpError::forbidden(
                "consent is recorded here by the entry kiosk; associates record it in the app",
            ));
        }
        Ok(Self(device))
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = HttpError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, HttpError> {
        if is_admin(state, &parts.headers) {
            audit_admin_call(state, parts).await;
            Ok(Self)
        } else {
            Err(HttpError::unauthorized("admin token required"))
        }
    }
}

impl ManagerOrAdmin {
    /// Who did it, as the audit trail names them.
    pub fn audit_name(&self) -> String {
        match self {
            Self::Admin => "admin".to_string(),
            Self::Manager(device) => device.id.clone(),
        }
    }
}

/// Every call with the admin token goes into the audit trail.
async fn audit_admin_call(state: &AppState, parts: &Parts) {
    let call = format!("{} {}", parts.method, parts.uri.path());
    state
        .audit(Act::new("admin", AuditAction::AdminCall, call))
        .await;
}

impl FromRequestParts<AppState> for ManagerOrAdmin {
    type Rejection = HttpError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, HttpError> {
        if is_admin(state, &parts.headers) {
            audit_admin_call(state, parts).await;
            return Ok(Self::Admin);
        }
        let device = authenticate(state, &parts.headers).await?;
        if device.role != Role::Manager {
            return Err(HttpError::forbidden(
                "only a manager or the admin may do this",
            ));
        }
        Ok(Self::Manager(device))
    }
}
