//! The relay's HTTP API as the tablet calls it, with the bodies of `aisle_core::api`: enrolment,
//! customers fetched on demand, kiosk check-ins, stock across stores, the store's tablets, and a
//! manager's merges and erasures. Short timeouts, because the UI waits on these and falls back to
//! what the tablet holds; a refusal carries the relay's typed error code.

use aisle_core::DocId;
use aisle_core::api::{
    CustomerLookup, EnrolRequest, Enrolment, FetchedCustomer, KioskConsent, MergeRequest,
};
use aisle_core::model::{ApiError, ErrorCode, Identifier};
use aisle_core::replicate::Unchecked;
use base64::Engine;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::Tablet;
use crate::relay_tls::RelayAddress;
use crate::sync_client::{RELAY_PEER, SyncConfig, SyncError, blocking};

/// A request to the relay's `path` with this tablet's token, given up after `timeout`.
fn authorised(
    config: &SyncConfig,
    method: reqwest::Method,
    path: &str,
    timeout: Duration,
) -> Result<reqwest::RequestBuilder, SyncError> {
    Ok(config
        .relay
        .http(timeout)?
        .request(method, config.relay.endpoint(path)?)
        .bearer_auth(&config.token))
}

async fn relay_error(response: reqwest::Response) -> SyncError {
    let status = response.status();
    match response.json::<ApiError>().await {
        Ok(e) if e.code == ErrorCode::Revoked => SyncError::Revoked(e.message),
        Ok(e) if e.code == ErrorCode::Unauthorized => SyncError::Refused(e.message),
        Ok(e) => SyncError::Relay(e),
        Err(_) => SyncError::Protocol(status.to_string()),
    }
}

/// Enrols this tablet with a relay using a one-time code. `actor` is the tablet store's
/// Automerge actor (`Store::actor`), the only author the relay will accept from it.
pub async fn enrol(
    relay: &RelayAddress,
    code: &str,
    actor: &aisle_core::automerge::ActorId,
) -> Result<Enrolment, SyncError> {
    let actor = actor.to_hex_string();
    let request = relay
        .http(Duration::from_secs(15))?
        .post(relay.endpoint("/v1/enrol")?)
        .json(&EnrolRequest {
            code: code.to_string(),
            actor,
        });
    json_of(send(request).await?).await
}

/// Whether the relay answers and its certificate is trusted (`GET /healthz`, no token):
/// checked before a tablet gives up what it holds to enrol again.
pub async fn check_relay(relay: &RelayAddress) -> Result<(), SyncError> {
    let request = relay
        .http(Duration::from_secs(10))?
        .get(relay.endpoint("/healthz")?);
    send(request).await.map(drop)
}

/// Fetches one customer from the relay (a customer of another store who walked in), stores it
/// locally and returns their id. From then on the relay sends this tablet their changes.
pub async fn fetch_customer(
    config: &SyncConfig,
    store: &Arc<Mutex<Tablet>>,
    identifier: &Identifier,
) -> Result<aisle_core::model::CustomerId, SyncError> {
    let mut lookup = CustomerLookup::default();
    match identifier {
        Identifier::Loyalty(id) => lookup.loyalty = Some(id.to_string()),
        Identifier::Nfc(uid) => lookup.nfc = Some(uid.to_string()),
        Identifier::Email(e) => lookup.email = Some(e.clone()),
        Identifier::Phone(p) => lookup.phone = Some(p.clone()),
        Identifier::Shop(s) => lookup.shop = Some(s.clone()),
    }
    fetch_customer_where(config, store, &lookup).await
}

/// Fetches the customer a scanned loyalty code names (another store's customer: the tablet
/// verified the code offline, and the relay checks it again).
pub async fn fetch_customer_by_token(
    config: &SyncConfig,
    store: &Arc<Mutex<Tablet>>,
    token: &str,
) -> Result<aisle_core::model::CustomerId, SyncError> {
    let lookup = CustomerLookup {
        token: Some(token.to_string()),
        ..CustomerLookup::default()
    };
    fetch_customer_where(config, store, &lookup).await
}

async fn fetch_customer_where(
    config: &SyncConfig,
    store: &Arc<Mutex<Tablet>>,
    lookup: &CustomerLookup,
) -> Result<aisle_core::model::CustomerId, SyncError> {
    let request = authorised(
        config,
        reqwest::Method::GET,
        "/v1/customers/lookup",
        Duration::from_secs(10),
    )?
    .query(lookup);
    let fetched: FetchedCustomer = json_of(send(request).await?).await?;
    let doc: DocId = fetched.doc.parse()?;
    let DocId::Customer(customer) = doc.clone() else {
        return Err(SyncError::Protocol(
            "the relay returned a document that is not a customer".into(),
        ));
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(fetched.document)
        .map_err(|e| SyncError::Protocol(e.to_string()))?;
    blocking(store, move |s| {
        let applied = s.apply_changes(vec![(doc.clone(), bytes)], &Unchecked)?;
        let heads = applied.first().map(|a| a.heads.clone()).unwrap_or_default();
        s.set_peer_heads(RELAY_PEER, &[(doc, heads)])
    })
    .await?;
    Ok(customer)
}

/// Sends a kiosk check-in to the relay.
pub async fn kiosk_check_in(
    config: &SyncConfig,
    check_in: &aisle_core::model::KioskCheckIn,
) -> Result<aisle_core::model::KioskWelcome, SyncError> {
    let request = authorised(
        config,
        reqwest::Method::POST,
        "/v1/kiosk/check-in",
        Duration::from_secs(5),
    )?
    .json(check_in);
    json_of(send(request).await?).await
}

/// Sends the customer's consent answer from the kiosk.
pub async fn kiosk_consent(
    config: &SyncConfig,
    check_in: &aisle_core::model::KioskCheckIn,
    granted: bool,
) -> Result<(), SyncError> {
    let request = authorised(
        config,
        reqwest::Method::POST,
        "/v1/kiosk/consent",
        Duration::from_secs(5),
    )?
    .json(&KioskConsent {
        check_in: check_in.clone(),
        granted,
    });
    send(request).await?;
    Ok(())
}

/// A read from the relay's HTTP API with this tablet's token; short timeout, because the UI
/// waits on it and falls back to what the tablet holds.
async fn relay_get<T: serde::de::DeserializeOwned>(
    config: &SyncConfig,
    path: &str,
) -> Result<T, SyncError> {
    let request = authorised(config, reqwest::Method::GET, path, Duration::from_secs(5))?;
    json_of(send(request).await?).await
}

/// Sends a request to the relay: unreachable is `Connect`, a certificate it does not trust is
/// `Untrusted`, a refusal carries the relay's reason.
async fn send(request: reqwest::RequestBuilder) -> Result<reqwest::Response, SyncError> {
    let response = request
        .send()
        .await
        .map_err(|e| SyncError::connecting(&e))?;
    if !response.status().is_success() {
        return Err(relay_error(response).await);
    }
    Ok(response)
}

async fn json_of<T: serde::de::DeserializeOwned>(
    response: reqwest::Response,
) -> Result<T, SyncError> {
    response
        .json()
        .await
        .map_err(|e| SyncError::Protocol(e.to_string()))
}

/// Units available of a product's variants in every store (the relay holds all inventories;
/// a tablet only its own).
pub async fn stock_by_store(
    config: &SyncConfig,
    product: &aisle_core::model::ProductSku,
) -> Result<Vec<aisle_core::model::StoreStock>, SyncError> {
    relay_get(config, &format!("/v1/stock/{product}")).await
}

/// A product's image as the relay serves it; `None` when it has none to give (a category
/// outline, or an image it cannot get).
pub async fn product_image(
    config: &SyncConfig,
    product: &aisle_core::model::ProductSku,
) -> Result<Option<Vec<u8>>, SyncError> {
    let request = authorised(
        config,
        reqwest::Method::GET,
        &format!("/v1/products/{product}/image"),
        Duration::from_secs(30),
    )?;
    let response = request
        .send()
        .await
        .map_err(|e| SyncError::connecting(&e))?;
    if response.status() == reqwest::StatusCode::NOT_FOUND {
        return Ok(None);
    }
    if !response.status().is_success() {
        return Err(relay_error(response).await);
    }
    let bytes = response
        .bytes()
        .await
        .map_err(|e| SyncError::Protocol(e.to_string()))?;
    Ok(Some(bytes.to_vec()))
}

/// What other stores sent this one and it has not received in full.
pub async fn incoming_transfers(
    config: &SyncConfig,
) -> Result<Vec<aisle_core::model::IncomingTransfer>, SyncError> {
    relay_get(config, "/v1/store/transfers").await
}

/// The store's sales on their way to the till and delivered (manager tablets only).
pub async fn till_status(config: &SyncConfig) -> Result<aisle_core::api::TillStatus, SyncError> {
    relay_get(config, "/v1/store/till").await
}

/// The store's tablets as the relay sees them (manager tablets only).
pub async fn store_devices(
    config: &SyncConfig,
) -> Result<Vec<aisle_core::model::DeviceHealth>, SyncError> {
    relay_get(config, "/v1/store/devices").await
}

/// The store's part of the audit trail (manager tablets only): who enrolled, revoked, erased,
/// merged, and which devices were slowed down.
pub async fn store_audit(
    config: &SyncConfig,
) -> Result<Vec<aisle_core::api::AuditEntry>, SyncError> {
    relay_get(config, "/v1/store/audit").await
}

/// Asks the relay to fold `duplicate`, another profile of the same person, into `survivor`
/// (manager tablets of both profiles' store). The merge reaches every tablet by sync.
pub async fn merge_customers(
    config: &SyncConfig,
    survivor: &aisle_core::model::CustomerId,
    duplicate: &aisle_core::model::CustomerId,
) -> Result<(), SyncError> {
    let request = authorised(
        config,
        reqwest::Method::POST,
        &format!("/v1/customers/{survivor}/merge"),
        Duration::from_secs(10),
    )?
    .json(&MergeRequest {
        duplicate: duplicate.clone(),
    });
    send(request).await?;
    Ok(())
}

/// Asks the relay to erase a customer (manager tablets of the customer's store): the relay
/// deletes the document and every tablet holding it purges it.
pub async fn erase_customer(
    config: &SyncConfig,
    customer: &aisle_core::model::CustomerId,
) -> Result<(), SyncError> {
    let request = authorised(
        config,
        reqwest::Method::POST,
        &format!("/v1/customers/{customer}/erase"),
        Duration::from_secs(10),
    )?;
    send(request).await?;
    Ok(())
}
