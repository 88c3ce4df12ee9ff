//! The tablet's link to the relay: enrolment (kept in the store's metadata), the background
//! sync client, whose status goes to the UI as `sync-status` events, and on kiosks the loop
//! that sends check-ins queued while offline.

use aisle_core::enrolment::{CertFingerprint, EnrolmentTicket};
use aisle_core::model::commands::Enrolment;
use aisle_core::model::{ApiError, ErrorCode};
use aisle_core::protocol::Role;
use aisle_tablet::Tablet;
use aisle_tablet::relay_client;
use aisle_tablet::relay_tls::RelayAddress;
use aisle_tablet::sync_client::{SyncClient, SyncConfig, SyncError};
use serde::{Deserialize, Serialize};
use tauri::{AppHandle, Emitter, Manager};

use crate::state::{AppState, relay_config, with_store, with_store_mut};

use aisle_core::model::commands::events::SYNC_STATUS;
const ENROLMENT_KEY: &str = "enrolment";

/// How this tablet is known to its relay.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TabletEnrolment {
    pub relay_url: String,
    /// The certificate the relay is trusted by besides the system's authorities, from the
    /// enrolment ticket.
    #[serde(default)]
    pub relay_ca: Option<CertFingerprint>,
    pub device: String,
    pub store: String,
    pub role: Role,
    /// The bearer token; never sent to the UI.
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub token: String,
}

impl TabletEnrolment {
    pub fn relay(&self) -> RelayAddress {
        relay_address(&self.relay_url, self.relay_ca)
    }
}

/// Plain HTTP beyond loopback only with `AISLE_ALLOW_PLAINTEXT_RELAY=1` in the app's
/// environment (a lab without TLS); read at every start, never stored.
fn relay_address(url: &str, ca: Option<CertFingerprint>) -> RelayAddress {
    RelayAddress {
        allow_plaintext: std::env::var("AISLE_ALLOW_PLAINTEXT_RELAY").is_ok_and(|v| v == "1"),
        ..RelayAddress::pinned(url, ca)
    }
}

/// What the UI may see of an enrolment: everything but the token.
impl From<&TabletEnrolment> for Enrolment {
    fn from(enrolment: &TabletEnrolment) -> Self {
        Self {
            relay_url: enrolment.relay_url.clone(),
            relay_ca: enrolment.relay_ca.map(|ca| ca.to_string()),
            device: enrolment.device.clone(),
            store: enrolment.store.clone(),
            role: enrolment.role,
        }
    }
}

pub fn load_enrolment(store: &Tablet) -> Option<TabletEnrolment> {
    let bytes = store.meta(ENROLMENT_KEY).ok()??;
    serde_json::from_slice(&bytes).ok()
}

fn error(code: ErrorCode, message: impl Into<String>) -> ApiError {
    ApiError {
        code,
        message: message.into(),
    }
}

/// Starts the sync client and forwards its status to the UI.
pub fn start(app: &AppHandle, enrolment: TabletEnrolment) {
    let state = app.state::<AppState>();
    let _runtime = tauri::async_runtime::handle().inner().enter();
    let client = SyncClient::start(
        state.store.clone(),
        SyncConfig::new(enrolment.relay(), enrolment.token.clone()),
    );
    let mut status = client.status();
    let handle = app.clone();
    tauri::async_runtime::spawn(async move {
        loop {
            let current = status.borrow_and_update().clone();
            if current.removed_at.is_some() {
                forget_token(&handle).await;
            }
            if let Err(e) = handle.emit(SYNC_STATUS, &current) {
                tracing::warn!(error = %e, "cannot emit sync status");
            }
            if status.changed().await.is_err() {
                break;
            }
            // Coalesce bursts (a first sync changes the status thousands of times).
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    });
    *state.sync.lock().unwrap_or_else(|e| e.into_inner()) = Some(client);
    if enrolment.role != Role::Kiosk {
        let handle = app.clone();
        tauri::async_runtime::spawn(async move {
            // Soon after start (the first sync brings the catalog), then now and then: an
            // image the catalog changed, or one the relay could not get last time.
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            loop {
                fetch_images(&handle).await;
                tokio::time::sleep(std::time::Duration::from_secs(300)).await;
            }
        });
    }
    if enrolment.role == Role::Kiosk {
        let handle = app.clone();
        tauri::async_runtime::spawn(async move {
            loop {
                flush_kiosk_queue(&handle).await;
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            }
        });
    }
}

/// The relay removed this tablet (and the sync client deleted its customer data): its token
/// goes too. What it was enrolled as stays, so Settings can say which device was removed.
async fn forget_token(app: &AppHandle) {
    let app = app.clone();
    let forgotten = tauri::async_runtime::spawn_blocking(move || -> Result<(), String> {
        let state = app.state::<AppState>();
        let mut store = state.store.lock().unwrap_or_else(|e| e.into_inner());
        let Some(mut enrolment) = load_enrolment(&store) else {
            return Ok(());
        };
        if !enrolment.token.is_empty() {
            enrolment.token.clear();
            let bytes = serde_json::to_vec(&enrolment).map_err(|e| e.to_string())?;
            store
                .set_meta(ENROLMENT_KEY, &bytes)
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    })
    .await;
    match forgotten {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "cannot delete the revoked token"),
        Err(e) => tracing::error!(error = %e, "cannot delete the revoked token"),
    }
}

/// Keeps the product images the tablet does not have yet, for a shift offline.
async fn fetch_images(app: &AppHandle) {
    let Ok(config) = relay_config(app) else {
        return;
    };
    let Ok(wanted) = with_store(app.clone(), |s| s.product_images()).await else {
        return;
    };
    let cache = aisle_tablet::images::ImageCache::beside(&app.state::<AppState>().db_path);
    match cache.fetch_missing(&config, wanted).await {
        Ok(report) if report.fetched > 0 => {
            tracing::info!(
                fetched = report.fetched,
                unavailable = report.unavailable,
                "product images kept"
            );
        }
        Ok(_) => {}
        Err(e) => tracing::debug!(error = %e, "product images wait"),
    }
}

/// Sends check-ins a kiosk queued while offline; runs every few seconds on kiosks.
async fn flush_kiosk_queue(app: &AppHandle) {
    let Ok(config) = relay_config(app) else {
        return;
    };
    let Ok(queued) = with_store(app.clone(), |s| s.queued_check_ins()).await else {
        return;
    };
    for check_in in queued {
        match relay_client::kiosk_check_in(&config, &check_in).await {
            Ok(_) => {}
            // Offline, slowed down, the relay not trusted or failing: keep it, try again
            // later, in order.
            Err(e) if e.is_transient() => {
                tracing::debug!(error = %e, "queued check-ins wait");
                return;
            }
            // Refused for good (a code revoked meanwhile, too old): drop it, say why.
            Err(e) => tracing::warn!(error = %e, id = check_in.id, "queued check-in refused"),
        }
        let id = check_in.id.clone();
        if let Err(e) = with_store_mut(app.clone(), move |s| s.unqueue_check_in(&id)).await {
            tracing::warn!(error = %e.message, "cannot clear a sent check-in");
            return;
        }
    }
}

/// What the associate entered in Settings (or the environment gave): a scanned or pasted
/// ticket (`aisle://enrol?…`) in the code field carries the relay and fingerprint itself.
pub fn enrolment_ticket(
    relay_url: &str,
    code: &str,
    ca: Option<&str>,
) -> Result<EnrolmentTicket, ApiError> {
    let invalid = |message: String| error(ErrorCode::InvalidInput, message);
    if code.trim().starts_with("aisle:") {
        return EnrolmentTicket::parse(code).map_err(|e| invalid(e.to_string()));
    }
    let relay_url = relay_url.trim().trim_end_matches('/').to_string();
    if !(relay_url.starts_with("http://") || relay_url.starts_with("https://")) {
        return Err(invalid(
            "The relay address starts with https:// (or http:// on this machine)".into(),
        ));
    }
    let ca = ca
        .map(str::trim)
        .filter(|ca| !ca.is_empty())
        .map(CertFingerprint::parse)
        .transpose()
        .map_err(|e| invalid(e.to_string()))?;
    Ok(EnrolmentTicket {
        relay_url,
        code: code.trim().to_string(),
        ca,
    })
}

/// Enrols this tablet with a one-time code. A tablet that held data from before starts
/// afresh: everything it shows comes from its relay.
pub async fn enrol(app: &AppHandle, ticket: EnrolmentTicket) -> Result<TabletEnrolment, ApiError> {
    let EnrolmentTicket {
        relay_url,
        code,
        ca,
    } = ticket;
    let relay = relay_address(&relay_url, ca);
    // The relay must be reachable and trusted before the old enrolment and data go: a
    // mistyped fingerprint costs nothing.
    relay_client::check_relay(&relay)
        .await
        .map_err(|e| match e {
            SyncError::Connect(m) => error(ErrorCode::Busy, format!("Cannot reach the relay: {m}")),
            other => error(ErrorCode::InvalidInput, format!("Not enrolled: {other}")),
        })?;
    let state = app.state::<AppState>();
    let old = state.sync.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(old) = old {
        old.shutdown().await;
    }
    let actor = {
        let mut store = state.store.lock().unwrap_or_else(|e| e.into_inner());
        if store.stats().map(|s| s.documents > 0).unwrap_or(false) {
            // Close the old database before its files go.
            drop(std::mem::replace(
                &mut *store,
                Tablet::open(":memory:").map_err(|e| e.to_api())?,
            ));
            *store = fresh_store(&state.db_path)?;
        }
        store.actor().clone()
    };
    let enrolled = relay_client::enrol(&relay, &code, &actor)
        .await
        .map_err(|e| match e {
            SyncError::Connect(m) => error(ErrorCode::Busy, format!("Cannot reach the relay: {m}")),
            SyncError::Untrusted(m) => error(
                ErrorCode::InvalidInput,
                format!(
                    "Not enrolled: {m}. Check the certificate fingerprint in the enrolment code."
                ),
            ),
            SyncError::Relay(refusal) => refusal,
            other => error(ErrorCode::InvalidInput, other.to_string()),
        })?;
    let enrolment = TabletEnrolment {
        relay_url,
        relay_ca: ca,
        device: enrolled.device,
        store: enrolled.store,
        role: enrolled.role,
        token: enrolled.token,
    };
    {
        let bytes = serde_json::to_vec(&enrolment)
            .map_err(|e| error(ErrorCode::Internal, e.to_string()))?;
        let mut store = state.store.lock().unwrap_or_else(|e| e.into_inner());
        store
            .set_meta(ENROLMENT_KEY, &bytes)
            .map_err(|e| e.to_api())?;
    }
    *state.enrolment.lock().unwrap_or_else(|e| e.into_inner()) = Some(enrolment.clone());
    start(app, enrolment.clone());
    tracing::info!(device = %enrolment.device, store = %enrolment.store, "enrolled");
    Ok(enrolment)
}

/// Replaces the database with an empty one (the same actor would be wrong: a new enrolment
/// is a new device).
fn fresh_store(path: &std::path::Path) -> Result<Tablet, ApiError> {
    for suffix in ["", "-wal", "-shm"] {
        let file = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
        if file.exists() {
            std::fs::remove_file(&file).map_err(|e| {
                error(
                    ErrorCode::Storage,
                    format!("cannot reset {}: {e}", file.display()),
                )
            })?;
        }
    }
    Tablet::open(path).map_err(|e| e.to_api())
}
