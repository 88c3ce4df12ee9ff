//! Shared relay state: storage, fan-out hub, metrics and the admin token.

use aisle_core::model::{ApiError, ErrorCode};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::hub::Hub;
use crate::metrics::Metrics;
use crate::storage::RelayStorage;

#[derive(Clone)]
pub struct AppState {
    storage: Arc<Mutex<Box<dyn RelayStorage>>>,
    pub hub: Hub,
    pub metrics: Metrics,
    pub admin_token: Arc<str>,
    pub started: Instant,
    /// Set when the relay is shutting down: sync sessions close so the server can stop.
    pub shutdown: tokio::sync::watch::Sender<bool>,
}

impl AppState {
    pub fn new(storage: Box<dyn RelayStorage>, admin_token: String) -> Self {
        Self {
            storage: Arc::new(Mutex::new(storage)),
            hub: Hub::new(),
            metrics: Metrics::new(),
            admin_token: admin_token.into(),
            started: Instant::now(),
            shutdown: tokio::sync::watch::channel(false).0,
        }
    }

    /// Runs a storage operation on a blocking thread, holding the storage for its duration.
    pub async fn with_storage<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut dyn RelayStorage) -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let storage = self.storage.clone();
        tokio::task::spawn_blocking(move || {
            // A panic while holding the lock leaves the storage usable: every operation is
            // its own transaction.
            let mut guard = storage.lock().unwrap_or_else(|e| e.into_inner());
            f(guard.as_mut())
        })
        .await
        .map_err(|e| ApiError {
            code: ErrorCode::Internal,
            message: format!("storage task failed: {e}"),
        })
    }

    /// Synchronous access, for start-up and shutdown.
    pub fn storage_blocking(&self) -> std::sync::MutexGuard<'_, Box<dyn RelayStorage>> {
        self.storage.lock().unwrap_or_else(|e| e.into_inner())
    }
}
