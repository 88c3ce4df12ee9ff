//! `POST /v1/enrol`: a device spends a one-time code and gets its bearer token.

use aisle_core::api::{EnrolRequest, Enrolment};
use axum::Json;
use axum::extract::State;

use crate::error::HttpError;
use crate::registry::EnrolError;
use crate::state::AppState;

#[utoipa::path(post, path = "/v1/enrol", tag = "devices", request_body = aisle_core::api::EnrolRequest, responses((status = 200, body = aisle_core::api::Enrolment), (status = 400, description = "Unknown, used or expired code, or a bad actor id", body = aisle_core::model::ApiError)))]
pub async fn enrol(
    State(state): State<AppState>,
    Json(request): Json<EnrolRequest>,
) -> Result<Json<Enrolment>, HttpError> {
    let actor =
        decode_actor(&request.actor).ok_or_else(|| HttpError::bad_request("actor must be hex"))?;
    let enrolled = state
        .with_storage(move |s| s.enrol(&request.code, &actor))
        .await?;
    match enrolled {
        Ok((device, token)) => Ok(Json(Enrolment {
            device: device.id,
            token,
            store: device.store.to_string(),
            role: device.role,
        })),
        Err(EnrolError::Refused(reason)) => Err(HttpError::bad_request(reason)),
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
