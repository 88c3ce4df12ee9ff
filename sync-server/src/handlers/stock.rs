//! What a store's tablets ask of the whole chain: stock in other stores, transfers on their
//! way, and (managers) the
//! store's own tablets with when each was last heard from.

use aisle_core::api::TillStatus;
use aisle_core::model::{DeviceHealth, IncomingTransfer, ProductSku, StoreStock};
use axum::Json;
use axum::extract::{Path, State};

use crate::auth::{Manager, Staff};
use crate::error::HttpError;
use crate::images::Image;
use crate::state::AppState;

/// Units available of a product's variants in every store: "who has it in my size".
/// Counts only; holds and sales of other stores stay with their tablets.
#[utoipa::path(get, path = "/v1/stock/{product}", tag = "stock", params(("product" = String, Path, description = "A product code")), security(("device" = [])), responses((status = 200, body = Vec<aisle_core::model::StoreStock>), (status = 400, body = aisle_core::model::ApiError), (status = 401, body = aisle_core::model::ApiError), (status = 403, body = aisle_core::model::ApiError)))]
pub async fn by_store(
    State(state): State<AppState>,
    Staff(device): Staff,
    Path(product): Path<String>,
) -> Result<Json<Vec<StoreStock>>, HttpError> {
    let product = ProductSku::parse(product).map_err(|e| HttpError::bad_request(e.to_string()))?;
    let stock = state
        .with_storage(move |s| s.stock_by_store(&device.store, &product))
        .await??;
    Ok(Json(stock))
}

/// A product's image, for tablets to keep for offline use: from the relay's images folder,
/// or fetched once from where the catalog says. 404 for a category outline (the app has
/// those) or an image that cannot be had.
#[utoipa::path(get, path = "/v1/products/{product}/image", tag = "stock", params(("product" = String, Path, description = "A product code")), security(("device" = [])), responses((status = 200, description = "The image", content_type = "image/*"), (status = 401, body = aisle_core::model::ApiError), (status = 404, body = aisle_core::model::ApiError)))]
pub async fn product_image(
    State(state): State<AppState>,
    _: crate::auth::AnyDevice,
    Path(product): Path<String>,
) -> Result<axum::response::Response, HttpError> {
    use axum::response::IntoResponse;
    let product = ProductSku::parse(product).map_err(|e| HttpError::bad_request(e.to_string()))?;
    let images = state
        .images
        .clone()
        .ok_or_else(|| HttpError::not_found("this relay serves no images"))?;
    let image = state
        .with_storage(move |s| s.product_image(&product))
        .await??;
    match images.get(&image).await {
        Image::Found { media_type, bytes } => Ok((
            [
                (axum::http::header::CONTENT_TYPE, media_type),
                // Images in a folder may be replaced under the same name: tablets ask again
                // now and then, not on every screen.
                (axum::http::header::CACHE_CONTROL, "private, max-age=3600"),
                // An SVG is shown as an image, never run as a page.
                (axum::http::header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                (
                    axum::http::header::CONTENT_SECURITY_POLICY,
                    "default-src 'none'; style-src 'unsafe-inline'",
                ),
            ],
            bytes,
        )
            .into_response()),
        Image::Outline => Err(HttpError::not_found(
            "the product shows its category's outline, which the app has",
        )),
        // Why stays in the relay's log: it may name the retailer's CDN.
        Image::Missing(reason) => {
            tracing::info!(%reason, "product image not served");
            Err(HttpError::not_found(
                "the relay has no image for this product (yet)",
            ))
        }
    }
}

/// What other stores sent the caller's store and it has not received in full: what a
/// manager receives against when the boxes arrive.
#[utoipa::path(get, path = "/v1/store/transfers", tag = "stock", security(("device" = [])), responses((status = 200, body = Vec<aisle_core::model::IncomingTransfer>), (status = 401, body = aisle_core::model::ApiError), (status = 403, body = aisle_core::model::ApiError)))]
pub async fn incoming_transfers(
    State(state): State<AppState>,
    Staff(device): Staff,
) -> Result<Json<Vec<IncomingTransfer>>, HttpError> {
    let transfers = state
        .with_storage(move |s| s.incoming_transfers(&device.store))
        .await??;
    Ok(Json(transfers))
}

/// The store's sales on their way to the till and those delivered, newest first: what a
/// manager checks when the till says a sale is missing.
#[utoipa::path(get, path = "/v1/store/till", tag = "stock", security(("device" = [])), responses((status = 200, body = aisle_core::api::TillStatus), (status = 401, body = aisle_core::model::ApiError), (status = 403, description = "Only a manager's tablet", body = aisle_core::model::ApiError)))]
pub async fn till_deliveries(
    State(state): State<AppState>,
    Manager(manager): Manager,
) -> Result<Json<TillStatus>, HttpError> {
    let store = manager.store.clone();
    let (waiting, deliveries) = state
        .with_storage(move |s| s.till_deliveries(&store, 50))
        .await??;
    Ok(Json(TillStatus {
        connected: state.till_connected,
        waiting,
        deliveries,
    }))
}

/// The tablets of the caller's store with when the relay last heard from them.
#[utoipa::path(get, path = "/v1/store/devices", tag = "devices", security(("device" = [])), responses((status = 200, body = Vec<aisle_core::model::DeviceHealth>), (status = 401, body = aisle_core::model::ApiError), (status = 403, description = "Only a manager's tablet", body = aisle_core::model::ApiError)))]
pub async fn store_devices(
    State(state): State<AppState>,
    Manager(manager): Manager,
) -> Result<Json<Vec<DeviceHealth>>, HttpError> {
    let devices = state.with_storage(|s| s.devices()).await??;
    Ok(Json(
        devices
            .into_iter()
            .filter(|d| d.store == manager.store && d.tenant == manager.tenant)
            .map(|d| DeviceHealth {
                online: state.is_online(&d.id),
                id: d.id,
                name: d.name,
                role: d.role,
                revoked: d.revoked,
                last_seen_at: d.last_seen_at,
            })
            .collect(),
    ))
}
