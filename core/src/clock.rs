//! Time and id sources. Production uses the system clock and random ids; tests use a manual
//! clock and a seeded generator so a failing run can be replayed.

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha12Rng;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

use crate::model::Millis;

/// Where the store gets "now" from.
#[derive(Clone, Debug)]
pub enum Clock {
    System,
    /// A clock that moves only when told to; shared by clones.
    Manual(Arc<AtomicI64>),
}

impl Clock {
    pub fn manual(start: Millis) -> Self {
        Self::Manual(Arc::new(AtomicI64::new(start)))
    }

    pub fn now(&self) -> Millis {
        match self {
            Self::System => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
                .unwrap_or(0),
            Self::Manual(now) => now.load(Ordering::Relaxed),
        }
    }

    /// Moves a manual clock forward; the system clock ignores it.
    pub fn advance(&self, millis: i64) {
        if let Self::Manual(now) = self {
            now.fetch_add(millis, Ordering::Relaxed);
        }
    }
}

/// Generates record ids (UUID v4 text) and actor ids.
#[derive(Debug)]
pub struct IdGen(Mutex<ChaCha12Rng>);

impl IdGen {
    pub fn random() -> Self {
        Self(Mutex::new(ChaCha12Rng::from_os_rng()))
    }

    pub fn seeded(seed: u64) -> Self {
        Self(Mutex::new(ChaCha12Rng::seed_from_u64(seed)))
    }

    pub fn bytes16(&self) -> [u8; 16] {
        let mut bytes = [0u8; 16];
        // A poisoned lock only means another thread panicked mid-draw; the RNG is still usable.
        let mut rng = self.0.lock().unwrap_or_else(|e| e.into_inner());
        rng.fill_bytes(&mut bytes);
        bytes
    }

    pub fn new_id(&self) -> String {
        uuid::Builder::from_random_bytes(self.bytes16())
            .into_uuid()
            .to_string()
    }
}
