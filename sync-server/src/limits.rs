//! Rates a device (or an address) may not exceed, as token buckets kept in memory. A relay
//! process counts its own requests only: several relays behind one balancer each allow the
//! rate.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// A limit per device on an act that is fine now and then and a sign of abuse in bulk (customer
/// lookups, kiosk check-ins): over it, the request is refused 429 and the device is written to
/// the audit trail, once a minute while it lasts.
pub struct DeviceLimit {
    pub allowance: RateLimit,
    flagged: RateLimit,
    pub action: aisle_core::api::AuditAction,
    /// What the audit entry says, and what the refusal tells the device.
    pub what: &'static str,
    pub refusal: &'static str,
}

impl DeviceLimit {
    pub fn new(
        per_second: f64,
        burst: f64,
        action: aisle_core::api::AuditAction,
        what: &'static str,
        refusal: &'static str,
    ) -> Self {
        Self {
            allowance: RateLimit::new(per_second, burst),
            flagged: RateLimit::new(1.0 / 60.0, 1.0),
            action,
            what,
            refusal,
        }
    }

    /// Whether this over-the-limit request is the one of the minute to write down.
    pub fn flag(&self, device: &str) -> bool {
        self.flagged.allow(device)
    }
}

pub struct RateLimit {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimit {
    pub fn new(per_second: f64, burst: f64) -> Self {
        Self {
            per_second,
            burst,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request of `key`'s allowance; false when it has none left.
    pub fn allow(&self, key: &str) -> bool {
        self.with_bucket(key, |tokens| {
            if *tokens >= 1.0 {
                *tokens -= 1.0;
                true
            } else {
                false
            }
        })
    }

    /// Whether `key` has no allowance left, without taking any (to limit only failures:
    /// check first, and [`RateLimit::allow`] once the attempt failed).
    pub fn exhausted(&self, key: &str) -> bool {
        self.with_bucket(key, |tokens| *tokens < 1.0)
    }

    fn with_bucket<T>(&self, key: &str, f: impl FnOnce(&mut f64) -> T) -> T {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let (tokens, at) = buckets.entry(key.to_string()).or_insert((self.burst, now));
        *tokens =
            (*tokens + now.duration_since(*at).as_secs_f64() * self.per_second).min(self.burst);
        *at = now;
        f(tokens)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_allowed_then_refused_per_key() {
        let limit = RateLimit::new(0.001, 3.0);
        assert!((0..3).all(|_| limit.allow("a")));
        assert!(!limit.allow("a"));
        assert!(limit.allow("b"), "another key has its own allowance");
        assert!(limit.exhausted("a"));
        assert!(
            !limit.exhausted("c") && !limit.exhausted("c"),
            "looking takes nothing"
        );
    }
}
