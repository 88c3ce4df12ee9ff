//! `POST /v1/enrol`: a device spends a one-time code and gets its bearer token.

use aisle_core::api::{AuditAction, EnrolRequest, Enrolment};
use aisle_core::model::ErrorCode;
use axum::Json;
use axum::extract::{ConnectInfo, State};
use std::net::SocketAddr;

use crate::audit::Act;

use crate::error::HttpError;
use crate::registry::EnrolError;
use crate::state::AppState;

#[utoipa::path(post, path = "/v1/enrol", tag = "devices", request_body = aisle_core::api::EnrolRequest, responses((status = 200, body = aisle_core::api::Enrolment), (status = 400, description = "Unknown, used or expired code, or a bad actor id", body = aisle_core::model::ApiError), (status = 429, description = "Too many attempts from this address, or over all", body = aisle_core::model::ApiError)))]
pub async fn enrol(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Json(request): Json<EnrolRequest>,
) -> Result<Json<Enrolment>, HttpError> {
    // Codes are short enough to type: guessing one must take longer than its 24 hours. Only
    // failed attempts count, so enrolling a thousand tablets is not slowed.
    let address = peer.ip().to_string();
    if state.enrolments_per_address.exhausted(&address) || state.enrolments.exhausted("all") {
        state
            .audit(
                Act::new(&address, AuditAction::EnrolmentRefused, "enrolment")
                    .detail("too many attempts"),
            )
            .await;
        return Err(HttpError::new(
            ErrorCode::RateLimited,
            "too many enrolment attempts; wait a minute and try again",
        ));
    }
    let actor =
        decode_actor(&request.actor).ok_or_else(|| HttpError::bad_request("actor must be hex"))?;
    let enrolled = state
        .with_storage(move |s| s.enrol(&request.code, &actor))
        .await?;
    match enrolled {
        Ok((device, token)) => {
            state
                .audit(
                    Act::new(&device.id, AuditAction::DeviceEnrolled, &device.name)
                        .in_store(&device.store)
                        .detail(format!("{} from {address}", device.role.as_str())),
                )
                .await;
            Ok(Json(Enrolment {
                device: device.id,
                token,
                store: device.store.to_string(),
                role: device.role,
            }))
        }
        Err(EnrolError::Refused(reason)) => {
            state.enrolments_per_address.allow(&address);
            state.enrolments.allow("all");
            state
                .audit(
                    Act::new(&address, AuditAction::EnrolmentRefused, "enrolment").detail(reason),
                )
                .await;
            Err(HttpError::bad_request(reason))
        }
        Err(EnrolError::Storage(e)) => Err(e.into()),
    }
}

/// An Automerge actor id: hex, at most 32 bytes.
fn decode_actor(text: &str) -> Option<Vec<u8>> {
    if text.len() > 64 {
        return None;
    }
    hex::decode(text).ok()
}
