//! In-process fan-out: every committed document change goes to every connected device that may
//! read it; revocations reach the affected connection at once.

use crate::domain::changefeed::Committed;
use std::sync::Arc;
use tokio::sync::broadcast;

/// A change committed on the relay, and which device pushed it (none for relay-side writes).
#[derive(Clone, Debug)]
pub struct Published {
    pub origin: Option<String>,
    pub commit: Arc<Committed>,
}

#[derive(Clone)]
pub struct Hub {
    changes: broadcast::Sender<Published>,
    revocations: broadcast::Sender<String>,
    /// Erased documents, with the scope they were in.
    erasures: broadcast::Sender<(String, String)>,
}

/// Changes buffered per slow connection before it is told to reconnect and catch up from its
/// changefeed cursor.
const CHANGE_BUFFER: usize = 4_096;

impl Default for Hub {
    fn default() -> Self {
        Self::new()
    }
}

impl Hub {
    pub fn new() -> Self {
        Self {
            changes: broadcast::channel(CHANGE_BUFFER).0,
            revocations: broadcast::channel(256).0,
            erasures: broadcast::channel(256).0,
        }
    }

    pub fn publish(&self, origin: Option<&str>, commits: Vec<Committed>) {
        for commit in commits {
            // No subscribers is fine: nobody is connected.
            let _ = self.changes.send(Published {
                origin: origin.map(str::to_string),
                commit: Arc::new(commit),
            });
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Published> {
        self.changes.subscribe()
    }

    pub fn revoke(&self, device: &str) {
        let _ = self.revocations.send(device.to_string());
    }

    pub fn revocations(&self) -> broadcast::Receiver<String> {
        self.revocations.subscribe()
    }

    pub fn erase(&self, doc: &str, scope: &str) {
        let _ = self.erasures.send((doc.to_string(), scope.to_string()));
    }

    pub fn erasures(&self) -> broadcast::Receiver<(String, String)> {
        self.erasures.subscribe()
    }
}
