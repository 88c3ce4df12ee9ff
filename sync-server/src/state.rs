//! Shared relay state: storage, fan-out hub, metrics, the admin token and the web shop's keys.

use aisle_core::model::{ApiError, ErrorCode};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::hub::Hub;
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
    /// Where the loyalty signing keys live.
    pub data_dir: Arc<std::path::Path>,
}

/// The tenant's key for web shop events: the tenant name identifies it, the secret signs.
pub struct Ingest {
    pub tenant: String,
    pub secret: String,
    /// Shopify's webhook secret, and the home store of customers it creates.
    pub shopify_secret: String,
    pub shopify_home_store: Option<String>,
}

impl AppState {
    /// `hub` must be the one `storage` publishes its commits to.
    pub fn new(
        storage: Arc<dyn RelayStorage>,
        hub: Hub,
        admin_token: String,
        data_dir: &std::path::Path,
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
            data_dir: data_dir.into(),
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

    fn count_session(&self, device: &str, delta: isize) {
        let mut online = self.online.lock().unwrap_or_else(|e| e.into_inner());
        let n = online.entry(device.to_string()).or_default();
        *n = n.saturating_add_signed(delta);
        if *n == 0 {
            online.remove(device);
        }
    }

    /// Sync sessions open right now, over all devices.
    pub fn open_sessions(&self) -> usize {
        self.online
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .sum()
    }

    pub fn session_opened(&self, device: &str) {
        self.count_session(device, 1);
    }

    pub fn session_closed(&self, device: &str) {
        self.count_session(device, -1);
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
