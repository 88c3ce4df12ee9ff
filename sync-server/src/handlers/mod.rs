//! The relay's HTTP API, one file per resource. Each handler names its caller with an
//! extractor from `crate::auth`, takes and returns the bodies declared in `aisle_core::api`,
//! and calls one storage operation, which publishes whatever it committed.

mod admin;
mod customers;
mod enrolment;
mod events;
mod health;
mod kiosk;
mod loyalty;
mod openapi;
mod shopify;
mod stock;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

use crate::state::AppState;
use crate::sync_ws;

/// Largest event batch body: 500 events of a few hundred bytes each, with room.
const MAX_EVENT_BODY: usize = 1024 * 1024;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/metrics", get(health::metrics))
        .route("/v1/enrol", post(enrolment::enrol))
        .route("/v1/sync", get(sync_ws::upgrade))
        .route("/v1/customers/lookup", get(customers::lookup))
        .route("/v1/customers/search", get(customers::search))
        .route("/v1/customers/{id}/erase", post(customers::erase))
        .route("/v1/customers/{id}/merge", post(customers::merge))
        .route("/v1/customers/{id}/loyalty-token", post(loyalty::issue))
        .route("/v1/stock/{product}", get(stock::by_store))
        .route("/v1/store/devices", get(stock::store_devices))
        .route(
            "/v1/events",
            post(events::ingest).layer(DefaultBodyLimit::max(MAX_EVENT_BODY)),
        )
        .route(
            "/v1/shopify/webhooks",
            post(shopify::webhook).layer(DefaultBodyLimit::max(MAX_EVENT_BODY)),
        )
        .route("/v1/openapi.yaml", get(openapi::yaml))
        .route("/v1/loyalty/qr", get(loyalty::qr))
        .route("/v1/loyalty/revoke", post(loyalty::revoke))
        .route("/v1/loyalty/keys/rotate", post(loyalty::rotate))
        .route("/v1/loyalty/keys/{id}/withdraw", post(loyalty::withdraw))
        .route("/v1/kiosk/check-in", post(kiosk::check_in))
        .route("/v1/kiosk/consent", post(kiosk::consent))
        .route("/v1/admin/codes", post(admin::create_code))
        .route("/v1/admin/devices", get(admin::devices))
        .route("/v1/admin/devices/{id}/revoke", post(admin::revoke_device))
        .with_state(state)
}
