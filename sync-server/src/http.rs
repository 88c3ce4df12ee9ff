//! The relay's HTTP surface: health and metrics, device enrolment, on-demand customer fetch,
//! the admin API, and the WebSocket sync endpoint.

use aisle_core::DocId;
use aisle_core::model::{
    ApiError, CustomerSummary, DeviceHealth, ErrorCode, Identifier, LoyaltyId, NfcUid, ProductSku,
    StoreId, StoreStats, StoreStock,
};
use aisle_core::protocol::{Role, heads_to_wire};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use crate::registry::Device;
use crate::state::AppState;
use crate::sync_ws::{self, bearer};

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/v1/enrol", post(enrol))
        .route("/v1/sync", get(sync_ws::upgrade))
        .route("/v1/customers/lookup", get(lookup_customer))
        .route("/v1/customers/search", get(search_customers))
        .route("/v1/stock/{product}", get(stock_by_store))
        .route(
            "/v1/events",
            post(ingest_events).layer(axum::extract::DefaultBodyLimit::max(MAX_EVENT_BODY)),
        )
        .route(
            "/v1/shopify/webhooks",
            post(shopify_webhook).layer(axum::extract::DefaultBodyLimit::max(MAX_EVENT_BODY)),
        )
        .route("/v1/openapi.yaml", get(openapi))
        .route("/v1/store/devices", get(store_devices))
        .route("/v1/customers/{id}/erase", post(erase_customer))
        .route("/v1/customers/{id}/merge", post(merge_customer))
        .route(
            "/v1/customers/{id}/loyalty-token",
            post(issue_loyalty_token),
        )
        .route("/v1/loyalty/qr", get(loyalty_qr))
        .route("/v1/loyalty/revoke", post(revoke_loyalty_token))
        .route("/v1/loyalty/keys/rotate", post(rotate_loyalty_key))
        .route("/v1/loyalty/keys/{id}/withdraw", post(withdraw_loyalty_key))
        .route("/v1/kiosk/check-in", post(kiosk_check_in))
        .route("/v1/kiosk/consent", post(kiosk_consent))
        .route("/v1/admin/codes", post(create_code))
        .route("/v1/admin/devices", get(list_devices))
        .route("/v1/admin/devices/{id}/revoke", post(revoke_device))
        .with_state(state)
}

/// An error as JSON `{code, message}` with a status that matches the code.
pub struct HttpError(StatusCode, ApiError);

/// Largest event batch body: 500 events of a few hundred bytes each, with room.
const MAX_EVENT_BODY: usize = 1024 * 1024;

impl HttpError {
    fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Self(
            status,
            ApiError {
                code,
                message: message.into(),
            },
        )
    }
    fn unauthorised(message: &str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, ErrorCode::InvalidInput, message)
    }
    fn forbidden(message: &str) -> Self {
        Self::new(StatusCode::FORBIDDEN, ErrorCode::InvalidInput, message)
    }
    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidInput, message)
    }
}

impl From<ApiError> for HttpError {
    fn from(e: ApiError) -> Self {
        let status = match e.code {
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::InvalidInput => StatusCode::BAD_REQUEST,
            ErrorCode::Busy => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::StorageFull
            | ErrorCode::Storage
            | ErrorCode::Corrupt
            | ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self(status, e)
    }
}

impl From<aisle_core::CoreError> for HttpError {
    fn from(e: aisle_core::CoreError) -> Self {
        e.to_api().into()
    }
}

impl From<anyhow::Error> for HttpError {
    fn from(e: anyhow::Error) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            e.to_string(),
        )
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        (self.0, Json(self.1)).into_response()
    }
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    version: &'static str,
    uptime_seconds: u64,
    connected_devices: i64,
    store: StoreStats,
}

async fn healthz(State(state): State<AppState>) -> Result<Json<Health>, HttpError> {
    let stats = state.with_storage(|s| s.stats()).await??;
    state
        .metrics
        .documents
        .set(i64::try_from(stats.documents).unwrap_or(i64::MAX));
    Ok(Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
        uptime_seconds: state.started.elapsed().as_secs(),
        connected_devices: state.metrics.connected_devices.get(),
        store: stats,
    }))
}

async fn metrics(State(state): State<AppState>) -> Response {
    if let Ok(Ok(stats)) = state.with_storage(|s| s.stats()).await {
        state
            .metrics
            .documents
            .set(i64::try_from(stats.documents).unwrap_or(i64::MAX));
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

#[derive(Deserialize)]
struct EnrolRequest {
    code: String,
    /// The device's Automerge actor id, hex.
    actor: String,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct EnrolResponse {
    pub device: String,
    pub token: String,
    pub store: String,
    pub role: Role,
}

async fn enrol(
    State(state): State<AppState>,
    Json(request): Json<EnrolRequest>,
) -> Result<Json<EnrolResponse>, HttpError> {
    let actor =
        decode_hex(&request.actor).ok_or_else(|| HttpError::bad_request("actor must be hex"))?;
    let result = state
        .with_storage(move |s| s.enrol(&request.code, &actor))
        .await?;
    match result {
        Ok((device, token)) => Ok(Json(EnrolResponse {
            device: device.id,
            token,
            store: device.store.to_string(),
            role: device.role,
        })),
        Err(e) => Err(HttpError::bad_request(e.to_string())),
    }
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || text.len() > 64 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The device a request's bearer token belongs to; revoked devices are refused.
async fn device_of(state: &AppState, headers: &HeaderMap) -> Result<Device, HttpError> {
    let token = bearer(headers)
        .map(str::to_string)
        .ok_or_else(|| HttpError::unauthorised("missing bearer token"))?;
    match state.with_storage(move |s| s.authenticate(&token)).await? {
        Ok(Some(device)) if !device.revoked => Ok(device),
        Ok(Some(_)) => Err(HttpError::unauthorised("this device was revoked")),
        Ok(None) => Err(HttpError::unauthorised("unknown token")),
        Err(e) => Err(e.into()),
    }
}

fn require_staff(device: &Device) -> Result<(), HttpError> {
    if device.role == Role::Kiosk {
        return Err(HttpError::forbidden("kiosks cannot read customer profiles"));
    }
    Ok(())
}

#[derive(Deserialize)]
struct LookupQuery {
    loyalty: Option<String>,
    nfc: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    shop: Option<String>,
    id: Option<String>,
}

/// One customer's document, fetched on demand (a customer of another store who walked in).
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct FetchedCustomer {
    pub doc: String,
    pub heads: Vec<String>,
    /// The stored document, base64.
    pub document: String,
}

async fn lookup_customer(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<LookupQuery>,
) -> Result<Json<FetchedCustomer>, HttpError> {
    let device = device_of(&state, &headers).await?;
    require_staff(&device)?;
    let identifier = if let Some(l) = query.loyalty {
        Some(Identifier::Loyalty(
            LoyaltyId::parse(l).map_err(|e| HttpError::bad_request(e.to_string()))?,
        ))
    } else if let Some(n) = query.nfc {
        Some(Identifier::Nfc(
            NfcUid::parse(n).map_err(|e| HttpError::bad_request(e.to_string()))?,
        ))
    } else if let Some(e) = query.email {
        Some(Identifier::Email(e))
    } else if let Some(shop) = query.shop {
        Some(Identifier::Shop(shop))
    } else {
        query.phone.map(Identifier::Phone)
    };
    let fetched = state
        .with_storage(move |s| -> Result<FetchedCustomer, aisle_core::CoreError> {
            let customer = match (identifier, query.id) {
                (Some(identifier), _) => s.identify(&identifier)?,
                (None, Some(id)) => aisle_core::model::CustomerId::parse(id)?,
                (None, None) => {
                    return Err(aisle_core::CoreError::invalid(
                        "query",
                        "give loyalty, nfc, email, phone or id",
                    ));
                }
            };
            let doc = DocId::Customer(customer.clone());
            let (heads, bytes) = s
                .changes_since(&doc, &[])?
                .ok_or_else(|| aisle_core::CoreError::not_found("customer", &customer))?;
            s.grant(&device.id, &doc)?;
            Ok(FetchedCustomer {
                doc: doc.to_string(),
                heads: heads_to_wire(&heads).iter().map(hex).collect(),
                document: STANDARD.encode(bytes),
            })
        })
        .await??;
    Ok(Json(fetched))
}

fn hex(bytes: &[u8; 32]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Deserialize)]
struct SearchQuery {
    q: String,
}

async fn search_customers(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<SearchQuery>,
) -> Result<Json<Vec<CustomerSummary>>, HttpError> {
    let device = device_of(&state, &headers).await?;
    require_staff(&device)?;
    let found = state
        .with_storage(move |s| s.search(&query.q, 20))
        .await??;
    Ok(Json(found))
}

/// Units available of a product's variants in every store: "who has it in my size".
/// Counts only; holds and sales of other stores stay with their tablets.
async fn stock_by_store(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(product): Path<String>,
) -> Result<Json<Vec<StoreStock>>, HttpError> {
    let device = device_of(&state, &headers).await?;
    require_staff(&device)?;
    let product = ProductSku::parse(product).map_err(|e| HttpError::bad_request(e.to_string()))?;
    let stock = state
        .with_storage(move |s| s.documents().stock_by_store(&device.store, &product))
        .await??;
    Ok(Json(stock))
}

/// The tablets of the caller's store with when the relay last heard from them (managers only).
async fn store_devices(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Vec<DeviceHealth>>, HttpError> {
    let device = device_of(&state, &headers).await?;
    if device.role != Role::Manager {
        return Err(HttpError::forbidden(
            "only a manager's tablet lists the store's tablets",
        ));
    }
    let devices = state.with_storage(|s| s.devices()).await??;
    Ok(Json(
        devices
            .into_iter()
            .filter(|d| d.store == device.store && d.tenant == device.tenant)
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

#[derive(Serialize)]
struct Erased {
    erased: String,
    /// Duplicate profiles of the same person merged into it, erased with it.
    also_erased: Vec<String>,
}

/// A customer's right to erasure: the relay deletes their document and every tablet that holds
/// it purges it, live or when it next connects. The admin token, or a manager tablet of the
/// customer's home store.
async fn erase_customer(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Erased>, HttpError> {
    let customer = aisle_core::model::CustomerId::parse(id)
        .map_err(|e| HttpError::bad_request(e.to_string()))?;
    let doc = DocId::Customer(customer.clone());
    let manager = manager_or_admin(&state, &headers, "erases customers").await?;
    // The person, not one profile: duplicates merged into them are erased with them.
    let erased = state
        .with_storage(
            move |s| -> Result<Vec<(String, String)>, aisle_core::CoreError> {
                let store = s.documents();
                if let Some(manager) = &manager {
                    let home = store.customer(&customer)?.identity.home_store;
                    if home != manager.store {
                        return Err(aisle_core::CoreError::invalid(
                            "customer",
                            "belongs to another store; its manager or the admin erases it",
                        ));
                    }
                }
                let mut erased = Vec::new();
                for id in store.same_person(&customer)? {
                    let doc = DocId::Customer(id);
                    match store.erase_doc(&doc) {
                        Ok(scope) => erased.push((doc.to_string(), scope)),
                        // Erased on its own before: nothing left of it.
                        Err(aisle_core::CoreError::NotFound { .. }) if !erased.is_empty() => {}
                        Err(e) => return Err(e),
                    }
                }
                Ok(erased)
            },
        )
        .await??;
    for (doc, scope) in &erased {
        state.hub.erase(doc, scope);
        tracing::info!(doc = %doc, "customer erased");
    }
    Ok(Json(Erased {
        erased: erased
            .first()
            .map_or_else(|| doc.to_string(), |(d, _)| d.clone()),
        also_erased: erased.iter().skip(1).map(|(d, _)| d.clone()).collect(),
    }))
}

/// `None` for the admin token, the device for a manager tablet; anyone else is refused.
async fn manager_or_admin(
    state: &AppState,
    headers: &HeaderMap,
    what: &str,
) -> Result<Option<Device>, HttpError> {
    if require_admin(state, headers).is_ok() {
        return Ok(None);
    }
    let device = device_of(state, headers).await?;
    if device.role != Role::Manager {
        return Err(HttpError::forbidden(&format!(
            "only a manager or the admin {what}"
        )));
    }
    Ok(Some(device))
}

#[derive(Deserialize)]
struct MergeRequest {
    /// The other profile of the same person; it folds into the customer in the path.
    duplicate: String,
}

#[derive(Serialize)]
struct MergedProfiles {
    survivor: String,
    merged: String,
}

/// One person found twice in a store (signed up again at the till, say): the duplicate folds
/// into the customer in the path with its whole history, and its id and identifiers open that
/// customer on every tablet. The admin token, or a manager tablet of both profiles' store.
async fn merge_customer(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(request): Json<MergeRequest>,
) -> Result<Json<MergedProfiles>, HttpError> {
    let survivor = aisle_core::model::CustomerId::parse(id)
        .map_err(|e| HttpError::bad_request(e.to_string()))?;
    let duplicate = aisle_core::model::CustomerId::parse(request.duplicate)
        .map_err(|e| HttpError::bad_request(e.to_string()))?;
    let manager = manager_or_admin(&state, &headers, "merges customers").await?;
    let (merged, commits) = state
        .with_storage(move |s| {
            let store = s.documents();
            let merged = (|| -> Result<_, HttpError> {
                // Both as they stand now: either may have been merged already.
                let survivor = store.current_id(&survivor)?;
                let duplicate = store.current_id(&duplicate)?;
                if survivor == duplicate {
                    return Err(aisle_core::CoreError::invalid(
                        "duplicate",
                        "is already this customer's profile",
                    )
                    .into());
                }
                if let Some(manager) = &manager {
                    for id in [&survivor, &duplicate] {
                        if store.customer(id)?.identity.home_store != manager.store {
                            return Err(HttpError::forbidden(
                                "a profile belongs to another store; its manager or the admin merges it",
                            ));
                        }
                    }
                }
                store.merge_customers(&survivor, &duplicate)?;
                Ok((survivor, duplicate))
            })();
            (merged, s.take_committed())
        })
        .await?;
    state.hub.publish(None, commits);
    let (survivor, duplicate) = merged?;
    tracing::info!(%survivor, %duplicate, "customers merged");
    Ok(Json(MergedProfiles {
        survivor: survivor.to_string(),
        merged: duplicate.to_string(),
    }))
}

#[derive(Deserialize, Default)]
struct IssueRequest {
    valid_days: Option<u32>,
}

#[derive(Serialize, Deserialize)]
pub struct IssuedToken {
    pub token: String,
    pub token_id: String,
    /// The QR code to print or put in a wallet pass, as SVG.
    pub qr_svg: String,
}

/// Signs a loyalty token for a customer (admin): for the shop's app, a wallet pass or email.
async fn issue_loyalty_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Option<Json<IssueRequest>>,
) -> Result<Json<IssuedToken>, HttpError> {
    require_admin(&state, &headers)?;
    let customer = aisle_core::model::CustomerId::parse(id)
        .map_err(|e| HttpError::bad_request(e.to_string()))?;
    let valid_days = body.map(|Json(b)| b.valid_days).unwrap_or_default();
    let data_dir = state.data_dir.clone();
    let (token, commits) = state
        .with_storage(move |s| {
            let token = crate::loyalty::issue(&data_dir, s.documents(), &customer, valid_days);
            (token, s.take_committed())
        })
        .await?;
    // The first issue may have made the first key: devices need it.
    state.hub.publish(None, commits);
    let token = token.map_err(|e| match e.downcast::<aisle_core::CoreError>() {
        Ok(core) => HttpError::from(core),
        Err(other) => HttpError::from(other),
    })?;
    let token_id = aisle_core::loyalty::peek(&token)
        .map_err(|e| HttpError::bad_request(e.to_string()))?
        .0
        .token_id();
    Ok(Json(IssuedToken {
        qr_svg: crate::loyalty::qr_svg(&token)?,
        token,
        token_id,
    }))
}

#[derive(Deserialize)]
struct QrQuery {
    token: String,
    #[serde(default)]
    format: Option<String>,
}

/// A loyalty token rendered as a QR code, PNG (default) or SVG (admin).
async fn loyalty_qr(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<QrQuery>,
) -> Result<Response, HttpError> {
    require_admin(&state, &headers)?;
    aisle_core::loyalty::peek(&query.token).map_err(|e| HttpError::bad_request(e.to_string()))?;
    Ok(match query.format.as_deref() {
        None | Some("png") => (
            [(axum::http::header::CONTENT_TYPE, "image/png")],
            crate::loyalty::qr_png(&query.token, 8)?,
        )
            .into_response(),
        Some("svg") => (
            [(axum::http::header::CONTENT_TYPE, "image/svg+xml")],
            crate::loyalty::qr_svg(&query.token)?,
        )
            .into_response(),
        Some(other) => {
            return Err(HttpError::bad_request(format!(
                "format {other}: use png or svg"
            )));
        }
    })
}

#[derive(Deserialize)]
struct RevokeRequest {
    token: String,
    #[serde(default)]
    reason: Option<String>,
}

#[derive(Serialize)]
struct RevokedToken {
    token_id: String,
}

/// Revokes a loyalty token (admin): every device refuses it once it has synced.
async fn revoke_loyalty_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(request): Json<RevokeRequest>,
) -> Result<Json<RevokedToken>, HttpError> {
    require_admin(&state, &headers)?;
    let (revoked, commits) = state
        .with_storage(move |s| {
            let revoked = s.documents().revoke_loyalty_token(
                &request.token,
                request.reason.as_deref().unwrap_or("reported lost"),
            );
            (revoked, s.take_committed())
        })
        .await?;
    state.hub.publish(None, commits);
    Ok(Json(RevokedToken { token_id: revoked? }))
}

/// A check-in at the device's store, from its kiosk (or a tablet acting as one). The visit
/// reaches the store's tablets as soon as it is recorded.
async fn kiosk_check_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(check_in): Json<aisle_core::model::KioskCheckIn>,
) -> Result<Json<aisle_core::model::KioskWelcome>, HttpError> {
    let device = device_of(&state, &headers).await?;
    let (welcome, commits) = state
        .with_storage(move |s| {
            let welcome = s.documents().kiosk_check_in(&device.store, &check_in);
            (welcome, s.take_committed())
        })
        .await?;
    state.hub.publish(None, commits);
    Ok(Json(welcome?))
}

#[derive(Deserialize)]
struct KioskConsent {
    check_in: aisle_core::model::KioskCheckIn,
    granted: bool,
}

/// The customer's answer on the kiosk's consent screen.
async fn kiosk_consent(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(answer): Json<KioskConsent>,
) -> Result<StatusCode, HttpError> {
    let device = device_of(&state, &headers).await?;
    if device.role != Role::Kiosk {
        return Err(HttpError::forbidden(
            "consent is recorded here by the entry kiosk; associates record it in the app",
        ));
    }
    let (done, commits) = state
        .with_storage(move |s| {
            let done = s
                .documents()
                .kiosk_consent(&device.store, &answer.check_in, answer.granted);
            (done, s.take_committed())
        })
        .await?;
    state.hub.publish(None, commits);
    done?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize)]
struct RotatedKey {
    key_id: String,
}

/// Starts signing loyalty tokens with a new key (admin); older tokens still verify.
async fn rotate_loyalty_key(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<RotatedKey>, HttpError> {
    require_admin(&state, &headers)?;
    let data_dir = state.data_dir.clone();
    let (rotated, commits) = state
        .with_storage(move |s| {
            let rotated = crate::loyalty::rotate(&data_dir, s.documents());
            (rotated, s.take_committed())
        })
        .await?;
    state.hub.publish(None, commits);
    Ok(Json(RotatedKey { key_id: rotated? }))
}

#[derive(Serialize)]
struct WithdrawnKey {
    withdrawn: String,
    current_key_id: String,
}

/// Withdraws a leaked loyalty key (admin): devices refuse every token naming it once they have
/// synced; a new key signs from now on.
async fn withdraw_loyalty_key(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<WithdrawnKey>, HttpError> {
    require_admin(&state, &headers)?;
    let data_dir = state.data_dir.clone();
    let key = id.clone();
    let (current, commits) = state
        .with_storage(move |s| {
            let known = s
                .documents()
                .loyalty_keys()
                .map(|keys| keys.iter().any(|k| k.id == key));
            let current = match known {
                Ok(true) => crate::loyalty::withdraw(&data_dir, s.documents(), &key)
                    .map_err(HttpError::from),
                Ok(false) => Err(HttpError::new(
                    StatusCode::NOT_FOUND,
                    ErrorCode::NotFound,
                    format!("there is no loyalty key {key}"),
                )),
                Err(e) => Err(e.into()),
            };
            (current, s.take_committed())
        })
        .await?;
    state.hub.publish(None, commits);
    Ok(Json(WithdrawnKey {
        withdrawn: id,
        current_key_id: current?,
    }))
}

/// The API description, checked in as `docs/openapi.yaml`.
async fn openapi() -> impl IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/yaml")],
        include_str!("../../docs/openapi.yaml"),
    )
}

/// Checks `X-Aisle-Tenant` and `X-Aisle-Signature: sha256=<hex HMAC-SHA256 of the body>`.
fn verify_signature(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<(), HttpError> {
    let ingest = ingest_config(state)?;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if header("x-aisle-tenant") != Some(ingest.tenant.as_str()) {
        return Err(HttpError::unauthorised("unknown tenant (X-Aisle-Tenant)"));
    }
    let signature = header("x-aisle-signature")
        .and_then(|v| v.strip_prefix("sha256="))
        .and_then(|hex| hex::decode(hex).ok())
        .ok_or_else(|| HttpError::unauthorised("missing or malformed X-Aisle-Signature"))?;
    verify_hmac(&ingest.secret, body, &signature)
}

fn ingest_config(state: &AppState) -> Result<std::sync::Arc<crate::state::Ingest>, HttpError> {
    state.ingest.clone().ok_or_else(|| {
        HttpError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Busy,
            "event ingestion is not configured on this relay",
        )
    })
}

/// HMAC-SHA256 of `body` with `secret`, compared in constant time.
fn verify_hmac(secret: &str, body: &[u8], signature: &[u8]) -> Result<(), HttpError> {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
        .map_err(|_| HttpError::unauthorised("bad signing key"))?;
    mac.update(body);
    mac.verify_slice(signature)
        .map_err(|_| HttpError::unauthorised("the signature does not match the body"))
}

#[derive(Serialize)]
struct Rejection {
    code: ErrorCode,
    message: String,
    index: usize,
    id: String,
}

/// A Shopify webhook: verified with the app secret, mapped to an event, applied once per
/// webhook id (Shopify retries with the same id).
async fn shopify_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, HttpError> {
    let ingest = ingest_config(&state)?;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let signature = header("x-shopify-hmac-sha256")
        .and_then(|v| STANDARD.decode(v).ok())
        .ok_or_else(|| HttpError::unauthorised("missing or malformed X-Shopify-Hmac-Sha256"))?;
    verify_hmac(&ingest.shopify_secret, &body, &signature)?;
    let topic = header("x-shopify-topic")
        .ok_or_else(|| HttpError::bad_request("missing X-Shopify-Topic"))?;
    let webhook_id = header("x-shopify-webhook-id")
        .filter(|v| !v.is_empty() && v.len() <= 100)
        .ok_or_else(|| HttpError::bad_request("missing X-Shopify-Webhook-Id"))?;
    let event = match crate::shopify::map(
        topic,
        webhook_id,
        &body,
        ingest.shopify_home_store.as_deref(),
    )
    .map_err(HttpError::bad_request)?
    {
        crate::shopify::Mapped::Event(event) => event,
        crate::shopify::Mapped::Ignored(reason) => {
            return Ok(Json(serde_json::json!({ "ignored": reason })).into_response());
        }
    };
    let batch = aisle_core::ingest::EventBatch {
        events: vec![event],
    };
    apply_events(&state, batch).await
}

/// Applies a parsed batch and fans the changes out.
async fn apply_events(
    state: &AppState,
    batch: aisle_core::ingest::EventBatch,
) -> Result<Response, HttpError> {
    let count = batch.events.len();
    let (outcome, commits) = state
        .with_storage(move |s| {
            let outcome = s.documents().ingest(&batch);
            (outcome, s.take_committed())
        })
        .await?;
    state.hub.publish(None, commits);
    match outcome {
        Ok(outcome) => {
            state
                .metrics
                .events_ingested
                .inc_by(outcome.accepted as u64);
            Ok(Json(outcome).into_response())
        }
        Err(aisle_core::ingest::IngestError::Rejected(r)) => {
            tracing::info!(events = count, index = r.index, reason = %r.reason, "event batch refused");
            Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(Rejection {
                    code: ErrorCode::InvalidInput,
                    message: r.to_string(),
                    index: r.index,
                    id: r.id,
                }),
            )
                .into_response())
        }
        Err(aisle_core::ingest::IngestError::Store(e)) => Err(e.into()),
    }
}

/// Web shop events: signed, validated whole, applied once each, then synced to tablets.
async fn ingest_events(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, HttpError> {
    verify_signature(&state, &headers, &body)?;
    let batch: aisle_core::ingest::EventBatch = serde_json::from_slice(&body)
        .map_err(|e| HttpError::bad_request(format!("not an event batch: {e}")))?;
    apply_events(&state, batch).await
}

fn require_admin(state: &AppState, headers: &HeaderMap) -> Result<(), HttpError> {
    match bearer(headers) {
        Some(token) if token.as_bytes() == state.admin_token.as_bytes() => Ok(()),
        _ => Err(HttpError::unauthorised("admin token required")),
    }
}

#[derive(Deserialize)]
struct CodeRequest {
    store: String,
    role: Role,
    name: String,
}

#[derive(Serialize, Deserialize)]
pub struct CodeResponse {
    pub code: String,
}

async fn create_code(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(request): Json<CodeRequest>,
) -> Result<Json<CodeResponse>, HttpError> {
    require_admin(&state, &headers)?;
    let store = StoreId::parse(request.store).map_err(|e| HttpError::bad_request(e.to_string()))?;
    let code = state
        .with_storage(move |s| s.create_code(&store, request.role, &request.name))
        .await??;
    Ok(Json(CodeResponse { code }))
}

#[derive(Serialize)]
struct DeviceView {
    id: String,
    name: String,
    store: String,
    role: Role,
    revoked: bool,
    last_seen_at: Option<i64>,
}

async fn list_devices(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Vec<DeviceView>>, HttpError> {
    require_admin(&state, &headers)?;
    let devices = state.with_storage(|s| s.devices()).await??;
    Ok(Json(
        devices
            .into_iter()
            .map(|d| DeviceView {
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

async fn revoke_device(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, HttpError> {
    require_admin(&state, &headers)?;
    let device = id.clone();
    let revoked = state.with_storage(move |s| s.revoke(&device)).await??;
    // Open connections of the device close now, not at their next check.
    state.hub.revoke(&id);
    if revoked {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(HttpError::new(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            "no such active device",
        ))
    }
}
