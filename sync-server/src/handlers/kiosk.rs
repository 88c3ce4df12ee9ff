//! The entry kiosk: check-ins at the device's store, and the customer's consent answer.

use aisle_core::api::KioskConsent;
use aisle_core::model::{KioskCheckIn, KioskWelcome};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use crate::auth::{AnyDevice, Kiosk};
use crate::error::HttpError;
use crate::state::AppState;

/// A check-in at the device's store, from its kiosk (or a tablet acting as one). The visit
/// reaches the store's tablets as soon as it is recorded.
#[utoipa::path(post, path = "/v1/kiosk/check-in", tag = "kiosk", request_body = aisle_core::model::KioskCheckIn, security(("device" = [])), responses((status = 200, body = aisle_core::model::KioskWelcome), (status = 400, body = aisle_core::model::ApiError), (status = 401, body = aisle_core::model::ApiError), (status = 429, description = "Too many check-ins from this device", body = aisle_core::model::ApiError)))]
pub async fn check_in(
    State(state): State<AppState>,
    AnyDevice(device): AnyDevice,
    Json(check_in): Json<KioskCheckIn>,
) -> Result<Json<KioskWelcome>, HttpError> {
    // Counted before the code or card is looked at: a device trying card numbers is slowed
    // whether they exist or not.
    state.within(&state.check_ins, &device).await?;
    let welcome = state
        .with_storage(move |s| s.kiosk_check_in(&device.store, &check_in))
        .await??;
    Ok(Json(welcome))
}

/// The customer's answer on the kiosk's consent screen.
#[utoipa::path(post, path = "/v1/kiosk/consent", tag = "kiosk", request_body = aisle_core::api::KioskConsent, security(("device" = [])), responses((status = 204, description = "Recorded"), (status = 400, body = aisle_core::model::ApiError), (status = 401, body = aisle_core::model::ApiError), (status = 403, description = "Only the entry kiosk records consent here", body = aisle_core::model::ApiError)))]
pub async fn consent(
    State(state): State<AppState>,
    Kiosk(device): Kiosk,
    Json(answer): Json<KioskConsent>,
) -> Result<StatusCode, HttpError> {
    state
        .with_storage(move |s| s.kiosk_consent(&device.store, &answer.check_in, answer.granted))
        .await??;
    Ok(StatusCode::NO_CONTENT)
}
