//! Prometheus metrics at `/metrics`.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::Arc;

#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    pub connected_devices: Gauge,
    pub frames_received: Counter,
    pub frames_rejected: Counter,
    pub bytes_received: Counter,
    pub bytes_sent: Counter,
    pub docs_applied: Counter,
    pub events_ingested: Counter,
    /// Seconds from receiving a push to acknowledging it (durable).
    pub push_latency: Histogram,
    pub documents: Gauge,
    /// On a shared database: transactions the working copy is behind the feed's horizon.
    pub feed_lag: Gauge,
    /// On a shared database: how old the follower's last horizon reading is.
    pub horizon_read_age_ms: Gauge,
    /// On a shared database: the age of the oldest transaction holding the horizon back.
    pub oldest_transaction_ms: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("aisle_relay");
        let connected_devices = Gauge::default();
        let frames_received = Counter::default();
        let frames_rejected = Counter::default();
        let bytes_received = Counter::default();
        let bytes_sent = Counter::default();
        let docs_applied = Counter::default();
        let events_ingested = Counter::default();
        let push_latency = Histogram::new(exponential_buckets(0.000_5, 2.0, 16));
        let documents = Gauge::default();
        let feed_lag = Gauge::default();
        let horizon_read_age_ms = Gauge::default();
        let oldest_transaction_ms = Gauge::default();
        registry.register(
            "changefeed_lag_transactions",
            "Transactions of the shared changefeed this relay has not followed yet",
            feed_lag.clone(),
        );
        registry.register(
            "changefeed_horizon_read_age_milliseconds",
            "Age of this relay's last reading of the shared changefeed's horizon",
            horizon_read_age_ms.clone(),
        );
        registry.register(
            "changefeed_horizon_age_milliseconds",
            "How long the oldest transaction holding the shared changefeed's horizon back has been open",
            oldest_transaction_ms.clone(),
        );
        registry.register(
            "connected_devices",
            "Devices connected to the sync endpoint",
            connected_devices.clone(),
        );
        registry.register(
            "frames_received",
            "Sync frames received",
            frames_received.clone(),
        );
        registry.register(
            "frames_rejected",
            "Sync frames rejected (malformed, oversized, forbidden)",
            frames_rejected.clone(),
        );
        registry.register(
            "bytes_received",
            "Sync bytes received",
            bytes_received.clone(),
        );
        registry.register("bytes_sent", "Sync bytes sent", bytes_sent.clone());
        registry.register(
            "docs_applied",
            "Document changes applied from devices",
            docs_applied.clone(),
        );
        registry.register(
            "events_ingested",
            "Web shop events applied (duplicates not counted)",
            events_ingested.clone(),
        );
        registry.register(
            "push_latency_seconds",
            "Time from receiving a push to its durable acknowledgement",
            push_latency.clone(),
        );
        registry.register(
            "documents",
            "Documents held by the relay",
            documents.clone(),
        );
        Self {
            registry: Arc::new(registry),
            connected_devices,
            frames_received,
            frames_rejected,
            bytes_received,
            bytes_sent,
            docs_applied,
            events_ingested,
            push_latency,
            documents,
            feed_lag,
            horizon_read_age_ms,
            oldest_transaction_ms,
        }
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}
