//! Shared relay state: storage, fan-out hub, metrics, the admin token and the web shop's keys.

use aisle_core::api::AuditAction;
use aisle_core::model::{ApiError, ErrorCode};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::hub::Hub;
use crate::limits::DeviceLimit;
use crate::metrics::Metrics;
use crate::storage::RelayStorage;

#[derive(Clone)]
pub struct AppState {
    storage: Arc<dyn RelayStorage>,
    pub hub: Hub,
    pub metrics: Metrics,
    pub admin_token: Arc<str>,
    pub started: Instant,
    /// Set when the relay is shutting down: sync sessions close so the server can stop.
    pub shutdown: tokio::sync::watch::Sender<bool>,
    /// How web shop events authenticate; `None` refuses them.
    pub ingest: Option<Arc<Ingest>>,
    /// Open sync sessions per device id, for the manager's tablet list.
    pub online: Arc<Mutex<std::collections::HashMap<String, usize>>>,
    /// Where the loyalty signing keys live (the secrets directory).
    pub secrets_dir: Arc<std::path::Path>,
    /// Customer lookups by identifier, per device: fetching a walk-in is an occasional act,
    /// walking through the loyalty number space is not.
    pub lookups: Arc<DeviceLimit>,
    /// Kiosk check-ins per device: a busy entrance, not a walk through the card space.
    pub check_ins: Arc<DeviceLimit>,
    /// Failed enrolment attempts per address and over all: codes are short enough to type,
    /// so guessing must be slow.
    pub enrolments_per_address: Arc<crate::limits::RateLimit>,
    pub enrolments: Arc<crate::limits::RateLimit>,
    pub failed_auth: Arc<crate::audit::FailedAuth>,
    /// A till is configured: sales are delivered, not only queued.
    pub till_connected: bool,
    /// The currency and locale the relay publishes (and reads import prices in).
    pub locale: aisle_core::model::TenantLocale,
    /// Where product images are served from; `None` serves none.
    pub images: Option<Arc<crate::images::ProductImages>>,
}

/// Customer lookups a device may make: a burst of 20, then one every 3 seconds.
pub const LOOKUPS_PER_SECOND: f64 = 1.0 / 3.0;
pub const LOOKUP_BURST: f64 = 20.0;
/// Kiosk check-ins a device may send: a queue of 30 flushed at once after an outage, then one
/// every two seconds, more than a busy entrance sees.
pub const CHECK_INS_PER_SECOND: f64 = 0.5;
pub const CHECK_IN_BURST: f64 = 30.0;

/// The tenant's key for web shop events: the tenant name identifies it, the secret signs.
pub struct Ingest {
    pub tenant: String,
    pub secret: String,
    /// Shopify's webhook secret, and the home store of customers it creates.
    pub shopify_secret: String,
    pub shopify_home_store: Option<String>,
    /// The shop whose webhooks are taken, when configured.
    pub shopify_shop_domain: Option<String>,
    /// Shopify locations that are stores.
    pub shopify_locations: std::collections::BTreeMap<String, aisle_core::model::StoreId>,
}

impl AppState {
    /// `hub` must be the one `storage` publishes its commits to.
    pub fn new(
        storage: Arc<dyn RelayStorage>,
        hub: Hub,
        admin_token: String,
        secrets_dir: &std::path::Path,
    ) -> Self {
        Self {
            storage,
            hub,
            metrics: Metrics::new(),
            admin_token: admin_token.into(),
            started: Instant::now(),
            shutdown: tokio::sync::watch::channel(false).0,
            online: Arc::default(),
            ingest: None,
            secrets_dir: secrets_dir.into(),
            lookups: Arc::new(DeviceLimit::new(
                LOOKUPS_PER_SECOND,
                LOOKUP_BURST,
                AuditAction::LookupsLimited,
                "over the limit of customer lookups",
                "too many customer lookups from this tablet; try again in a minute",
            )),
            check_ins: Arc::new(DeviceLimit::new(
                CHECK_INS_PER_SECOND,
                CHECK_IN_BURST,
                AuditAction::CheckInsLimited,
                "over the limit of kiosk check-ins",
                "too many check-ins from this device; the kiosk sends them again shortly",
            )),
            enrolments_per_address: Arc::new(crate::limits::RateLimit::new(0.1, 10.0)),
            enrolments: Arc::new(crate::limits::RateLimit::new(1.0, 30.0)),
            failed_auth: Arc::default(),
            till_connected: false,
            locale: aisle_core::model::TenantLocale::default(),
            images: None,
        }
    }

    /// Takes one of `device`'s allowance under `limit`: refused with 429 `rate_limited` when
    /// it has none left, and then written to the audit trail (once a minute while it lasts).
    pub async fn within(
        &self,
        limit: &DeviceLimit,
        device: &crate::registry::Device,
    ) -> Result<(), crate::error::HttpError> {
        if limit.allowance.allow(&device.id) {
            return Ok(());
        }
        tracing::warn!(device = %device.id, store = %device.store, "{}", limit.what);
        if limit.flag(&device.id) {
            self.audit(
                crate::audit::Act::new(&device.id, limit.action, &device.name)
                    .in_store(&device.store)
                    .detail(limit.what),
            )
            .await;
        }
        Err(crate::error::HttpError::new(
            aisle_core::model::ErrorCode::RateLimited,
            limit.refusal,
        ))
    }

    /// Writes an act to the audit trail. A failure to record is logged, not returned: the
    /// act itself already happened.
    pub async fn audit(&self, act: crate::audit::Act) {
        let action = act.action;
        let recorded = self.with_storage(move |s| s.record(&act)).await;
        if !matches!(recorded, Ok(Ok(()))) {
            tracing::error!(action = action.as_str(), "cannot write to the audit trail");
        }
    }

    pub fn with_ingest(mut self, ingest: Ingest) -> Self {
        self.ingest = Some(Arc::new(ingest));
        self
    }

    pub fn is_online(&self, device: &str) -> bool {
        self.online
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(device)
            .is_some_and(|n| *n > 0)
    }

    /// Takes a sync session slot for `device`, or `None` when it holds as many as it may (a
    /// device, or a stolen token, opening hundreds would hold the relay's memory).
    pub fn open_session(&self, device: &str) -> Option<SessionSlot> {
        let mut online = self.online.lock().unwrap_or_else(|e| e.into_inner());
        let n = online.entry(device.to_string()).or_default();
        if *n >= MAX_SESSIONS_PER_DEVICE {
            return None;
        }
        *n += 1;
        Some(SessionSlot {
            online: self.online.clone(),
            device: device.to_string(),
        })
    }

    /// Sync sessions open right now, over all devices.
    pub fn open_sessions(&self) -> usize {
        self.online
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .sum()
    }

    /// Runs storage operations on a blocking thread (SQLite and the document store block).
    /// Writes publish their own commits; nothing is left for the caller to fan out.
    pub async fn with_storage<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn RelayStorage) -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let storage = self.storage.clone();
        tokio::task::spawn_blocking(move || f(storage.as_ref()))
            .await
            .map_err(|e| ApiError {
                code: ErrorCode::Internal,
                message: format!("storage task failed: {e}"),
            })
    }
}

/// Sync sessions one device may hold at once: a tablet needs one, two while a reconnect
/// overlaps the old connection's end.
pub const MAX_SESSIONS_PER_DEVICE: usize = 4;

/// A device's place among the open sync sessions, given back when dropped (also when an
/// upgrade never completes).
pub struct SessionSlot {
    online: Arc<Mutex<std::collections::HashMap<String, usize>>>,
    device: String,
}

impl Drop for SessionSlot {
    fn drop(&mut self) {
        let mut online = self.online.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = online.get_mut(&self.device) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                online.remove(&self.device);
            }
        }
    }
}
