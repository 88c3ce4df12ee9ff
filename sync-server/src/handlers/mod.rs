//! The relay's HTTP API, one file per resource. Each handler names its caller with an
//! extractor from `crate::auth`, takes and returns the bodies declared in `aisle_core::api`,
//! and calls one storage operation, which publishes whatever it committed.

mod admin;
mod customers;
mod enrolment;
mod events;
mod health;
mod imports;
mod kiosk;
mod loyalty;
mod openapi;
mod shopify;
mod stock;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;
use crate::sync_ws;

/// Largest event batch body: 500 events of a few hundred bytes each, with room.
const MAX_EVENT_BODY: usize = 1024 * 1024;

/// Every route of the HTTP API, and the API description generated from the same handlers: a
/// route cannot exist undocumented, nor a documented one be missing.
pub fn api(state: AppState) -> (Router, utoipa::openapi::OpenApi) {
    // Web shop events and Shopify webhooks may carry larger bodies than the rest.
    let events = OpenApiRouter::new()
        .routes(routes!(events::ingest))
        .routes(routes!(shopify::webhook))
        .layer(DefaultBodyLimit::max(MAX_EVENT_BODY));
    let imports = OpenApiRouter::new()
        .routes(routes!(imports::import))
        .layer(DefaultBodyLimit::max(imports::MAX_IMPORT_BODY));
    let (router, description) = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(health::metrics))
        .routes(routes!(enrolment::enrol))
        .routes(routes!(sync_ws::upgrade))
        .routes(routes!(customers::lookup))
        .routes(routes!(customers::search))
        .routes(routes!(customers::erase))
        .routes(routes!(customers::export))
        .routes(routes!(customers::merge))
        .routes(routes!(loyalty::issue))
        .routes(routes!(loyalty::qr))
        .routes(routes!(loyalty::revoke))
        .routes(routes!(loyalty::rotate))
        .routes(routes!(loyalty::withdraw))
        .routes(routes!(stock::by_store))
        .routes(routes!(stock::store_devices))
        .routes(routes!(stock::incoming_transfers))
        .routes(routes!(stock::product_image))
        .routes(routes!(stock::till_deliveries))
        .routes(routes!(kiosk::check_in))
        .routes(routes!(kiosk::consent))
        .routes(routes!(admin::create_code))
        .routes(routes!(admin::audit))
        .routes(routes!(admin::store_audit))
        .routes(routes!(admin::devices))
        .routes(routes!(admin::revoke_device))
        .merge(events)
        .merge(imports)
        .split_for_parts();
    (router.with_state(state), description)
}

/// The HTTP API with its description served at `/v1/openapi.json` and `/v1/openapi.yaml`.
pub fn router(state: AppState) -> Router {
    let (router, description) = api(state);
    router.merge(openapi::routes(description))
}
