//! Sales reach the retailer's till: each sale a tablet records is queued in the relay's
//! outbox as it is stored (`domain::till`), and delivered from there by a signed webhook POST,
//! retried with a doubling wait until the till answers 2xx. The sale id is the key of the
//! outbox and the request's `Idempotency-Key`, so the till can tell a retry from a new sale
//! (a retry happens whenever an answer is lost). On a shared database one relay delivers (the
//! `till` job); every relay moves what its working copy queued into the shared outbox.
//!
//! The signature is `X-Aisle-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
//! "<t>.<body>" with the till secret>`: the till checks it and refuses old timestamps, which
//! stops a captured request being replayed later.

use aisle_core::api::{TillAck, TillSale};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::time::Duration;
use tracing::{info, warn};

use crate::config::TillConfig;
use crate::domain::till::{QueuedSale, TillAttempt};
use crate::state::AppState;
use crate::storage::RelayStorage;

/// How often the outbox is looked at. A sale recorded online reaches the till within this
/// (plus the till's own time), so it is short; a look at an empty outbox is one indexed query.
pub const POLL_EVERY: Duration = Duration::from_millis(500);
/// The longest wait between two attempts at one sale.
pub const MAX_RETRY_WAIT: Duration = Duration::from_secs(15 * 60);
/// Sales tried per look: the rest wait for the next.
const BATCH: usize = 50;
/// Most of a till's answer read (its reference, or an error to show the manager).
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// The till the relay delivers to.
#[derive(Clone)]
pub struct TillLink {
    pub config: TillConfig,
    pub secret: String,
    pub currency: String,
    client: reqwest::Client,
}

/// TLS for the relay's own requests out (the till, image addresses): the platform's trust
/// store, as an operator's other services are trusted.
pub fn tls_config() -> anyhow::Result<rustls::ClientConfig> {
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let verifier = rustls_platform_verifier::Verifier::new(provider.clone())?;
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(std::sync::Arc::new(verifier))
        .with_no_client_auth())
}

impl TillLink {
    pub fn new(config: TillConfig, secret: String, currency: String) -> anyhow::Result<Self> {
        let tls = tls_config()?;
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .timeout(config.timeout)
            // A redirect would send the signed sale somewhere nobody configured.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("aisle-relay/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            config,
            secret,
            currency,
            client,
        })
    }

    /// One attempt: acknowledged with the till's reference, or why not.
    pub async fn deliver(&self, sale: &TillSale) -> Result<Option<String>, String> {
        let body = serde_json::to_vec(sale).map_err(|e| e.to_string())?;
        let timestamp = unix_seconds();
        let response = self
            .client
            .post(self.config.url.clone())
            .header("Content-Type", "application/json")
            .header("Idempotency-Key", &sale.sale_id)
            .header("X-Aisle-Event", &sale.event)
            .header(
                "X-Aisle-Signature",
                signature(&self.secret, timestamp, &body),
            )
            .body(body)
            .send()
            .await
            .map_err(|e| describe(&e, self.config.timeout))?;
        let status = response.status();
        let answer = read_capped(response).await;
        if !status.is_success() {
            let text = String::from_utf8_lossy(&answer);
            let text: String = text.chars().take(200).collect();
            return Err(format!("the till answered {status}: {}", text.trim()));
        }
        let ack: TillAck = serde_json::from_slice(&answer).unwrap_or_default();
        Ok(ack.reference.filter(|r| !r.is_empty() && r.len() <= 100))
    }

    /// When to try a sale again after its `attempts`-th failure: the first retry after
    /// `first_retry`, each later one twice as long, never more than [`MAX_RETRY_WAIT`].
    pub fn retry_wait(&self, attempts: u32) -> Duration {
        let doubled = self
            .config
            .first_retry
            .saturating_mul(1u32 << attempts.saturating_sub(1).min(20));
        doubled.min(MAX_RETRY_WAIT)
    }
}

async fn read_capped(mut response: reqwest::Response) -> Vec<u8> {
    let mut answer = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        answer.extend_from_slice(&chunk);
        if answer.len() >= MAX_ANSWER_BYTES {
            answer.truncate(MAX_ANSWER_BYTES);
            break;
        }
    }
    answer
}

fn describe(e: &reqwest::Error, timeout: Duration) -> String {
    if e.is_timeout() {
        format!(
            "the till did not answer within {:.1} s",
            timeout.as_secs_f64()
        )
    } else if e.is_connect() {
        "the till could not be reached".to_string()
    } else {
        format!("the delivery failed: {e}")
    }
}

fn unix_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// `t=<timestamp>,v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

/// Runs until the relay stops: moves queued sales into the shared outbox (every relay), and
/// delivers what is due (the relay holding the `till` job, when a till is configured).
pub async fn run(state: AppState, link: Option<TillLink>) {
    let mut stopping = state.shutdown.subscribe();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(POLL_EVERY) => {}
            _ = stopping.changed() => return,
        }
        match state.with_storage(|s| s.till_collect()).await {
            Ok(Err(e)) => warn!(error = %e, "moving queued sales to the shared outbox"),
            Err(e) => warn!(error = %e.message, "moving queued sales to the shared outbox"),
            Ok(Ok(_)) => {}
        }
        let Some(link) = link.clone() else { continue };
        let handle = tokio::runtime::Handle::current();
        let ran = state
            .with_storage(move |s| s.run_job("till", &mut || deliver_due(s, &link, &handle)))
            .await;
        match ran {
            Ok(Err(e)) => warn!(error = %e, "delivering sales to the till"),
            Err(e) => warn!(error = %e.message, "delivering sales to the till"),
            Ok(Ok(_)) => {}
        }
    }
}

/// One look at the outbox, on a blocking thread: each due sale is read, sent and its outcome
/// recorded. The first failure ends the look (the till is likely down: the others wait for
/// the next look instead of each waiting out a timeout now).
fn deliver_due(
    storage: &dyn RelayStorage,
    link: &TillLink,
    handle: &tokio::runtime::Handle,
) -> anyhow::Result<()> {
    let due = storage.till_due(now_ms(), BATCH)?;
    for sale in due {
        let attempt = match storage.till_message(&sale, &link.currency) {
            Ok(message) => handle.block_on(link.deliver(&message)),
            Err(e) => Err(format!("the sale could not be read: {e}")),
        };
        let outcome = settle(link, &sale, attempt);
        storage.till_attempted(&sale.sale_id, now_ms(), &outcome)?;
        if let TillAttempt::Failed { error, .. } = &outcome {
            warn!(sale = %sale.sale_id, attempts = sale.attempts + 1, %error, "till delivery failed");
            break;
        }
        info!(sale = %sale.sale_id, store = %sale.store, "sale delivered to the till");
    }
    Ok(())
}

fn settle(
    link: &TillLink,
    sale: &QueuedSale,
    attempt: Result<Option<String>, String>,
) -> TillAttempt {
    match attempt {
        Ok(reference) => TillAttempt::Delivered { reference },
        Err(error) => {
            let wait = link.retry_wait(sale.attempts + 1);
            TillAttempt::Failed {
                error,
                retry_at: now_ms() + i64::try_from(wait.as_millis()).unwrap_or(i64::MAX),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(first_retry: f64) -> TillLink {
        let _ = rustls::crypto::ring::default_provider().install_default();
        TillLink::new(
            TillConfig {
                url: "http://127.0.0.1:9/".parse().unwrap(),
                timeout: Duration::from_secs(1),
                first_retry: Duration::from_secs_f64(first_retry),
            },
            "secret".into(),
            "GBP".into(),
        )
        .unwrap()
    }

    #[test]
    fn retries_wait_twice_as_long_each_time_up_to_a_quarter_hour() {
        let link = link(5.0);
        let waits: Vec<u64> = (1..=10).map(|n| link.retry_wait(n).as_secs()).collect();
        assert_eq!(waits, [5, 10, 20, 40, 80, 160, 320, 640, 900, 900]);
        assert_eq!(link.retry_wait(u32::MAX), MAX_RETRY_WAIT);
    }

    #[test]
    fn the_signature_covers_the_timestamp_and_the_body() {
        let a = signature("secret", 1_700_000_000, b"{}");
        assert!(a.starts_with("t=1700000000,v1="), "{a}");
        assert_ne!(a, signature("secret", 1_700_000_001, b"{}"));
        assert_ne!(a, signature("secret", 1_700_000_000, b"{ }"));
        assert_ne!(a, signature("other", 1_700_000_000, b"{}"));
    }
}
