//! The Aisle side of the benchmarks: a relay process on loopback (release for the figures,
//! dev for the smoke run) and tablet cores.

use aisle_core::api::{CodeRequest, CodeResponse, EnrolRequest, Enrolment};
use aisle_core::model::Connection;
use aisle_core::model::{AssociateId, Role};
use aisle_core::protocol::{ClientFrame, ServerFrame};
use aisle_core::{DocId, Store};
use aisle_tablet::sync_client::{SyncClient, SyncConfig};
use aisle_tablet::{relay_client, sync_client};
use aisle_tests::{Api, Relay, reply};
use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

/// Bumped when what a relay stores for its documents changes (4: the customer fields it
/// sends first syncs), so a fixture cached by an older build is generated again.
const FIXTURE_FORMAT: u32 = 4;

const STORE: &str = "LDN-CG";

pub struct Tablet {
    _dir: tempfile::TempDir,
    pub store: Arc<Mutex<aisle_tablet::Tablet>>,
    pub client: Option<SyncClient>,
    config: SyncConfig,
}

impl Tablet {
    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, aisle_tablet::Tablet> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn start(&mut self) {
        self.client = Some(SyncClient::start(self.store.clone(), self.config.clone()));
    }

    fn status(&self) -> Option<aisle_core::model::SyncStatus> {
        self.client.as_ref().map(|c| c.status().borrow().clone())
    }

    /// Waits until connected, caught up and with nothing pending, and `more` holds.
    pub(crate) async fn wait_synced(
        &self,
        timeout: Duration,
        more: impl Fn(&Store) -> bool,
    ) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            // Pending is confirmed from the store, not only the status, which lags a nudge;
            // but only once the status reads none: scanning every document each 10 ms would
            // hold the store from the sync client it measures.
            if let Some(s) = self.status()
                && s.connection == Connection::Online
                && s.catch_up.is_none()
                && s.pending == 0
                && self
                    .lock()
                    .count_docs_ahead_of(sync_client::RELAY_PEER)
                    .unwrap_or(1)
                    == 0
                && more(&self.lock())
            {
                return Ok(());
            }
            if started.elapsed() > timeout {
                bail!(
                    "tablet did not sync within {timeout:?}: {:?}",
                    self.status()
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits until synced and holding at least `documents` documents.
    pub(crate) async fn wait_holding(&self, documents: usize) -> anyhow::Result<()> {
        self.wait_synced(Duration::from_secs(600), move |s| {
            s.stats()
                .map(|st| st.documents as usize >= documents)
                .unwrap_or(false)
        })
        .await
    }
}

/// A relay process with `customers` demo customers, its data in `dir`, and its admin token.
fn demo_relay(dir: &Path, customers: usize) -> anyhow::Result<(Relay, String)> {
    let customers = customers.to_string();
    let relay = Relay::start(dir, &["--demo", "--demo-customers", &customers])?;
    let admin_token = std::fs::read_to_string(dir.join("admin-token"))?
        .trim()
        .to_string();
    Ok((relay, admin_token))
}

pub(crate) fn has_customers(store: &Store) -> bool {
    store.stats().map(|st| st.customers > 0).unwrap_or(false)
}

pub struct Fixture {
    _dir: tempfile::TempDir,
    relay: Relay,
    relay_dir: PathBuf,
    admin_token: String,
    pub docs_in_scope: usize,
    /// Customers changed on each side in (b).
    changed_per_side: usize,
    other: Tablet,
}

fn target_dir() -> PathBuf {
    aisle_tests::target_dir()
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("target"))
}

/// A one-time enrolment code for an associate device of the store, from the admin API.
pub(crate) async fn enrolment_code(
    relay: &Relay,
    admin_token: &str,
    name: &str,
) -> anyhow::Result<String> {
    let request = CodeRequest {
        store: STORE.into(),
        role: Role::Associate,
        name: name.into(),
    };
    let issued: CodeResponse = reply(
        Api::new(relay, admin_token)
            .post("/v1/admin/codes")
            .json(&request),
    )
    .await?;
    Ok(issued.code)
}

pub(crate) async fn enrol(relay: &Relay, admin_token: &str, name: &str) -> anyhow::Result<Tablet> {
    let code = enrolment_code(relay, admin_token, name).await?;
    let dir = tempfile::tempdir()?;
    let store = aisle_tablet::Tablet::open(dir.path().join("tablet.sqlite3"))?;
    let enrolment = relay_client::enrol(&relay.address(), &code, store.actor()).await?;
    Ok(Tablet {
        _dir: dir,
        store: Arc::new(Mutex::new(store)),
        client: None,
        config: SyncConfig::new(relay.address(), enrolment.token),
    })
}

impl Fixture {
    /// A relay with `sizes.fixture_customers` demo customers, 40% of them in the tablets'
    /// store (generated once and cached under `target/bench-fixture`; the smoke run generates
    /// a fresh one each time), and a second tablet that makes the relay-side changes.
    pub async fn prepare(sizes: &crate::Sizes) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let customers = sizes.fixture_customers;
        let cache = if sizes.smoke {
            dir.path().join("fixture")
        } else {
            target_dir().join(format!("bench-fixture/relay-{customers}-v{FIXTURE_FORMAT}"))
        };
        if !cache.join("relay.sqlite3").exists() {
            eprintln!("generating the fixture relay ({customers} demo customers, once)…");
            let relay = Relay::start(
                &cache,
                &["--demo", "--demo-customers", &customers.to_string()],
            )?;
            relay.terminate()?;
        }
        // Each run works on a copy, so the cached fixture stays as generated.
        let relay_dir = dir.path().join("relay");
        aisle_tests::copy_dir(&cache, &relay_dir)?;
        let relay = Relay::start(&relay_dir, &[])?;
        let admin_token = std::fs::read_to_string(relay_dir.join("admin-token"))?
            .trim()
            .to_string();
        let docs_in_scope = {
            let store = aisle_relay::domain::RelayDocs::open(relay_dir.join("relay.sqlite3"))?;
            let scopes = [
                "catalog".to_string(),
                format!("inventory:{STORE}"),
                format!("customers:{STORE}"),
            ];
            usize::try_from(store.feed_count_since(0, &scopes, None)?)?
        };
        let mut other = enrol(&relay, &admin_token, "other tablet").await?;
        other.start();
        other.wait_holding(docs_in_scope).await?;
        Ok(Self {
            _dir: dir,
            relay,
            relay_dir,
            admin_token,
            docs_in_scope,
            changed_per_side: sizes.changed_per_side,
            other,
        })
    }

    /// (a): a fresh tablet enrols and syncs its store.
    pub async fn first_sync(&self) -> anyhow::Result<(Duration, Tablet)> {
        let mut tablet = enrol(&self.relay, &self.admin_token, "fresh tablet").await?;
        let started = Instant::now();
        tablet.start();
        tablet.wait_holding(self.docs_in_scope).await?;
        Ok((started.elapsed(), tablet))
    }

    /// (b): the tablet goes offline; it and the other tablet each change `changed_per_side`
    /// customers (250 in the full run); it reconnects. Returns the time to be in sync both
    /// ways, and wire bytes ÷ change bytes.
    pub async fn reconnect(&self, mut tablet: Tablet) -> anyhow::Result<(Duration, f64)> {
        if let Some(c) = tablet.client.take() {
            c.shutdown().await;
        }
        let n = self.changed_per_side;
        let customers = tablet.lock().doc_ids("customer")?;
        anyhow::ensure!(
            customers.len() >= 2 * n,
            "need {} customers, have {}",
            2 * n,
            customers.len()
        );
        let associate = AssociateId::parse("bench")?;
        let mut own_bytes = 0usize;
        {
            let mut store = tablet.lock();
            for doc in &customers[..n] {
                let DocId::Customer(id) = doc else { continue };
                store.add_note(
                    id,
                    "Asked for the navy parka in M; call when it is back",
                    &associate,
                    None,
                )?;
                let base = store.peer_heads(sync_client::RELAY_PEER, doc)?;
                own_bytes += store
                    .changes_since(doc, &base)?
                    .map(|(_, c)| c.len())
                    .unwrap_or(0);
            }
        }
        let mut remote_heads = Vec::new();
        {
            let mut store = self.other.lock();
            for doc in &customers[n..2 * n] {
                let DocId::Customer(id) = doc else { continue };
                let before = store.doc_heads(doc)?;
                store.add_note(
                    id,
                    "Tried the trail runners in 42; wants to think about it",
                    &associate,
                    None,
                )?;
                own_bytes += store
                    .changes_since(doc, &before)?
                    .map(|(_, c)| c.len())
                    .unwrap_or(0);
                remote_heads.push((doc.clone(), store.doc_heads(doc)?));
            }
        }
        if let Some(c) = &self.other.client {
            c.nudge();
        }
        self.other
            .wait_synced(Duration::from_secs(60), |_| true)
            .await?;

        let started = Instant::now();
        tablet.start();
        tablet
            .wait_synced(Duration::from_secs(120), move |s| {
                remote_heads
                    .iter()
                    .all(|(doc, heads)| s.doc_heads(doc).map(|h| h == *heads).unwrap_or(false))
            })
            .await?;
        let elapsed = started.elapsed();
        let status = tablet.status().context("no status")?;
        let wire = (status.bytes_sent + status.bytes_received) as f64;
        Ok((elapsed, wire / own_bytes.max(1) as f64))
    }

    /// Every document in the tablets' scope, as stored bytes (for the samod comparison).
    pub fn scope_documents(&self) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
        let mut store = aisle_relay::domain::RelayDocs::open(self.relay_dir.join("relay.sqlite3"))?;
        let scopes = [
            "catalog".to_string(),
            format!("inventory:{STORE}"),
            format!("customers:{STORE}"),
        ];
        let entries = store.feed_since(0, &scopes, None, usize::MAX)?;
        let mut docs = Vec::with_capacity(entries.len());
        for e in entries {
            if let Some((_, bytes)) = store.changes_since(&e.doc, &[])? {
                docs.push((e.doc.to_string(), bytes));
            }
        }
        Ok(docs)
    }
}

type Socket = aisle_tests::SyncSocket;

/// A device speaking the protocol itself, past the backlog from `cursor`: the socket, and
/// where the backlog ended (with the feed, what a later device starts from to skip it).
pub(crate) async fn raw_device(
    relay: &Relay,
    token: &str,
    start: (i64, String),
) -> anyhow::Result<(Socket, (i64, String))> {
    raw_device_at(&relay.address(), token, start).await
}

/// [`raw_device`] through `address` (a relay, or a load balancer in front of several).
pub(crate) async fn raw_device_at(
    address: &aisle_tests::RelayAddress,
    token: &str,
    (cursor, feed): (i64, String),
) -> anyhow::Result<(Socket, (i64, String))> {
    let mut socket = aisle_tests::sync_socket(address, token).await?;
    socket
        .send(Message::Binary(
            ClientFrame::Hello { cursor, feed }.encode().into(),
        ))
        .await?;
    let mut feed = String::new();
    while let Some(message) = socket.next().await {
        if let Message::Binary(bytes) = message? {
            match ServerFrame::decode(&bytes)? {
                ServerFrame::Welcome { feed: named, .. } => feed = named,
                ServerFrame::Feed {
                    done: true, cursor, ..
                } => return Ok((socket, (cursor, feed))),
                _ => {}
            }
        }
    }
    bail!("closed before the backlog ended")
}

/// (c): `devices` connected devices of one store; a tablet of the store writes a note; how
/// long until each device has it. Returns the medians over runs of p50 and p99, in seconds.
pub async fn fan_out(
    devices: usize,
    runs: usize,
    relay_customers: usize,
) -> anyhow::Result<(f64, f64)> {
    let dir = tempfile::tempdir()?;
    let (relay, admin_token) = demo_relay(dir.path(), relay_customers)?;
    let http = relay.http();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(String, Instant)>();
    let mut start = (0, String::new());
    for i in 0..devices {
        let code = enrolment_code(&relay, &admin_token, &format!("device {i}")).await?;
        let enrolled: Enrolment = reply(http.post(relay.url("/v1/enrol")).json(&EnrolRequest {
            code,
            actor: format!("{:032x}", i + 1),
        }))
        .await?;
        let token = enrolled.token;
        // The first device reads the backlog; the others start where it ended: only live
        // changes matter here.
        let (mut socket, end) = raw_device(&relay, &token, start.clone()).await?;
        start = end;
        let tx = tx.clone();
        tokio::spawn(async move {
            while let Some(Ok(message)) = socket.next().await {
                if let Message::Binary(bytes) = message
                    && let Ok(ServerFrame::Changes { docs, .. }) = ServerFrame::decode(&bytes)
                {
                    let at = Instant::now();
                    for d in docs {
                        let _ = tx.send((d.doc, at));
                    }
                }
            }
        });
    }
    let mut writer = enrol(&relay, &admin_token, "writer").await?;
    writer.start();
    writer
        .wait_synced(Duration::from_secs(120), has_customers)
        .await?;
    let associate = AssociateId::parse("bench")?;
    let customers = writer.lock().doc_ids("customer")?;
    let mut p50s = Vec::new();
    let mut p99s = Vec::new();
    for run in 0..runs.max(3) {
        let doc = customers[run % customers.len()].clone();
        let DocId::Customer(id) = &doc else { continue };
        while rx.try_recv().is_ok() {}
        let sent = Instant::now();
        writer
            .lock()
            .add_note(id, "Fan-out probe", &associate, None)?;
        if let Some(c) = &writer.client {
            c.nudge();
        }
        let target = doc.to_string();
        let mut latencies = Vec::with_capacity(devices);
        while latencies.len() < devices {
            match tokio::time::timeout(Duration::from_secs(20), rx.recv()).await {
                Ok(Some((d, at))) if d == target => latencies.push(at.duration_since(sent)),
                Ok(Some(_)) => {}
                _ => bail!(
                    "only {} of {devices} devices received the change",
                    latencies.len()
                ),
            }
        }
        latencies.sort();
        p50s.push(crate::percentile(&latencies, 0.50).as_secs_f64());
        p99s.push(crate::percentile(&latencies, 0.99).as_secs_f64());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok((crate::median(p50s), crate::median(p99s)))
}

/// (d) Web shop events: a signed `product_viewed` posted to the relay until the view shows
/// in a connected tablet's store. Returns every event's latency.
pub async fn event_latency(events: usize, relay_customers: usize) -> anyhow::Result<Vec<Duration>> {
    let dir = tempfile::tempdir()?;
    let (relay, admin_token) = demo_relay(dir.path(), relay_customers)?;
    let secret = aisle_tests::ingest_secret(dir.path())?;
    let mut tablet = enrol(&relay, &admin_token, "tablet").await?;
    tablet.start();
    tablet
        .wait_synced(Duration::from_secs(120), has_customers)
        .await?;
    events_to_tablet(&relay, &secret, &tablet, events).await
}

/// Posts `events` product views, one at a time, to `relay`'s events API (signed with
/// `secret`), each about a customer `tablet` holds; how long each took to show on the tablet.
pub(crate) async fn events_to_tablet(
    relay: &Relay,
    secret: &str,
    tablet: &Tablet,
    events: usize,
) -> anyhow::Result<Vec<Duration>> {
    let (customers, product) = {
        let store = tablet.lock();
        let customers = store
            .doc_ids("customer")?
            .into_iter()
            .filter_map(|d| match d {
                DocId::Customer(id) => Some(id),
                _ => None,
            })
            .map(|id| Ok((store.customer(&id)?.identity.loyalty_id.to_string(), id)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let product = store
            .catalog_variants()?
            .into_values()
            .next()
            .context("an empty catalog")?;
        (customers, product)
    };
    let views = |store: &Store, id: &aisle_core::model::CustomerId| -> i64 {
        store
            .customer(id)
            .ok()
            .and_then(|c| c.views.into_iter().find(|v| v.product == product))
            .map_or(0, |v| v.count)
    };
    let http = relay.http();
    let mut latencies = Vec::with_capacity(events);
    for i in 0..events {
        let (loyalty, id) = &customers[i % customers.len()];
        let before = views(&tablet.lock(), id);
        let body = serde_json::to_vec(&serde_json::json!({ "events": [ {
            "id": format!("bench-{i}"), "type": "product_viewed",
            "customer": { "loyalty_id": loyalty }, "product": product.to_string() } ] }))?;
        let sent = Instant::now();
        let response = http
            .post(relay.url("/v1/events"))
            .header("x-aisle-tenant", "demo")
            .header("x-aisle-signature", aisle_tests::sign_events(secret, &body))
            .body(body)
            .send()
            .await?;
        if !response.status().is_success() {
            bail!("the relay refused event {i}: {}", response.text().await?);
        }
        loop {
            if views(&tablet.lock(), id) > before {
                latencies.push(sent.elapsed());
                break;
            }
            if sent.elapsed() > Duration::from_secs(10) {
                bail!("event {i} did not reach the tablet");
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    Ok(latencies)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    /// A relay's data directory holds a folder of owner-only key files next to its database.
    #[test]
    fn copy_dir_copies_folders_permissions_and_links() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let from = dir.path().join("relay");
        std::fs::create_dir_all(from.join("loyalty-keys/old"))?;
        std::fs::write(from.join("relay.sqlite3"), b"db")?;
        let key = from.join("loyalty-keys/k1.key");
        std::fs::write(&key, b"secret")?;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600))?;
        std::fs::write(from.join("loyalty-keys/old/k0.key"), b"older")?;
        std::os::unix::fs::symlink("relay.sqlite3", from.join("link"))?;

        let to = dir.path().join("copy");
        aisle_tests::copy_dir(&from, &to)?;
        assert_eq!(std::fs::read(to.join("relay.sqlite3"))?, b"db");
        assert_eq!(std::fs::read(to.join("loyalty-keys/k1.key"))?, b"secret");
        assert_eq!(std::fs::read(to.join("loyalty-keys/old/k0.key"))?, b"older");
        let mode = std::fs::metadata(to.join("loyalty-keys/k1.key"))?
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(
            std::fs::read_link(to.join("link"))?,
            std::path::PathBuf::from("relay.sqlite3")
        );
        Ok(())
    }
}
