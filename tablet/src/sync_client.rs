//! The tablet's sync client: a background task that keeps one WebSocket to the relay, resumes
//! from its changefeed cursor, pushes local changes and applies the relay's, and reconnects
//! with jittered backoff when the network goes. Documents are loaded one at a time as frames
//! need them, never all at once.
//!
//! A change is "synced" once the relay acknowledged it durably; until then the document counts
//! as pending in [`SyncStatus::pending`].

use aisle_core::automerge::ChangeHash;
use futures_util::{FutureExt, SinkExt, StreamExt};
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::Tablet;
use crate::relay_tls::RelayAddress;
use aisle_core::CoreError;
use aisle_core::doc::DocId;
use aisle_core::model::{ApiError, ErrorCode, Millis, Role};
pub use aisle_core::model::{Connection, SyncStatus};
use aisle_core::protocol::{
    CLOSE_REVOKED, ClientFrame, DocChanges, DocHeads, DocSnapshot, MAX_DOCS_PER_FRAME,
    MAX_FRAME_BYTES, ServerFrame, heads_from_wire, heads_to_wire,
};
use aisle_core::replicate::{Incoming, Unchecked};
use aisle_core::store::{put_meta, snapshots};

/// The peer name under which a tablet records what the relay has.
pub const RELAY_PEER: &str = "relay";
const CURSOR_KEY: &str = "relay_cursor";
/// The relay's changefeed the cursor is a place in.
const FEED_KEY: &str = "relay_feed";
/// Bytes of changes per pushed frame.
const PUSH_FRAME_TARGET: usize = 2 * 1024 * 1024;
const KEEPALIVE: Duration = Duration::from_secs(20);
/// How long a push waits for its acknowledgement before the keepalive sends it again.
const ACK_PATIENCE: Duration = KEEPALIVE;
/// Least time between two counts of what the relay lacks while relay frames arrive.
const PENDING_RECOUNT: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("cannot reach the relay: {0}")]
    Connect(String),
    /// The relay's certificate is not one this tablet trusts: nothing was sent.
    #[error("{0}")]
    Untrusted(String),
    /// The relay's address would send data unencrypted beyond this machine.
    #[error("{0}")]
    Insecure(String),
    #[error("the relay refused this device: {0}")]
    Refused(String),
    /// The relay removed this tablet from its store (revoked, or reported lost): the tablet
    /// deletes its customer data.
    #[error("this tablet was removed from the store: {0}")]
    Revoked(String),
    /// The relay refused one request, with its reason and stable code (forbidden for this
    /// role or store, not found, invalid input…); the device itself stays accepted.
    #[error("the relay refused: {0}")]
    Relay(ApiError),
    #[error("protocol error: {0}")]
    Protocol(String),
    #[error(transparent)]
    Core(#[from] CoreError),
}

impl SyncError {
    /// Whether what failed may work later unchanged: the relay unreachable, not trusted yet,
    /// slowing this device down, or failing on its side. A refusal of the request itself
    /// (invalid, not found, forbidden) or of the device is not.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Connect(_) | Self::Untrusted(_) | Self::Insecure(_) | Self::Protocol(_) => true,
            Self::Relay(e) => matches!(
                e.code,
                ErrorCode::RateLimited
                    | ErrorCode::Busy
                    | ErrorCode::Storage
                    | ErrorCode::StorageFull
                    | ErrorCode::Internal
            ),
            Self::Refused(_) | Self::Revoked(_) | Self::Core(_) => false,
        }
    }

    /// A failed connection: `Untrusted` when TLS refused the relay's certificate.
    pub fn connecting(error: &(dyn std::error::Error + 'static)) -> Self {
        match crate::relay_tls::untrusted_reason(error) {
            Some(reason) => Self::Untrusted(reason),
            None => Self::Connect(error.to_string()),
        }
    }
}

/// Where the relay is and how this tablet proves who it is.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SyncConfig {
    pub relay: RelayAddress,
    pub token: String,
    /// Longest wait between reconnection attempts.
    #[serde(default = "default_max_backoff_ms")]
    pub max_backoff_ms: u64,
}

fn default_max_backoff_ms() -> u64 {
    30_000
}

impl SyncConfig {
    pub fn new(relay: RelayAddress, token: impl Into<String>) -> Self {
        Self {
            relay,
            token: token.into(),
            max_backoff_ms: default_max_backoff_ms(),
        }
    }
}

/// The relay's changes, to apply.
fn incoming_changes(docs: Vec<DocChanges>) -> Result<Vec<Incoming>, SyncError> {
    docs.into_iter()
        .map(|d| {
            Ok(Incoming::changes(
                d.doc.parse()?,
                d.changes,
                heads_from_wire(&d.heads),
            ))
        })
        .collect()
}

/// Whole customers from the relay, with their fields when this build reads their layout
/// (otherwise they are loaded and read as any changes are).
fn incoming_snapshots(docs: Vec<DocSnapshot>) -> Result<Vec<Incoming>, SyncError> {
    docs.into_iter()
        .map(|d| {
            let mut item = Incoming::changes(d.doc.parse()?, d.bytes, heads_from_wire(&d.heads));
            item.indexed = snapshots::decode_indexed(&d.indexed);
            Ok(item)
        })
        .collect()
}

fn now_ms() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A running sync client. Dropping it stops the task.
pub struct SyncClient {
    status: watch::Receiver<SyncStatus>,
    status_tx: watch::Sender<SyncStatus>,
    nudge: Arc<Notify>,
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for SyncClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncClient")
            .field("status", &*self.status.borrow())
            .finish()
    }
}

impl SyncClient {
    /// Starts syncing `store` with the relay on the current Tokio runtime.
    pub fn start(store: Arc<Mutex<Tablet>>, config: SyncConfig) -> Self {
        let (pending, refused) = {
            let store = lock(&store);
            (
                store.count_docs_ahead_of(RELAY_PEER).unwrap_or(0),
                store.push_refusals().unwrap_or_default(),
            )
        };
        let (status_tx, status) = watch::channel(SyncStatus {
            connection: Connection::Connecting,
            since: now_ms(),
            reason: None,
            pending,
            catch_up: None,
            last_synced_at: None,
            bytes_sent: 0,
            bytes_received: 0,
            refused,
            removed_at: None,
        });
        let nudge = Arc::new(Notify::new());
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(run(
            store,
            config,
            status_tx.clone(),
            nudge.clone(),
            stop_rx,
        ));
        Self {
            status,
            status_tx,
            nudge,
            stop,
            task: Some(task),
        }
    }

    /// Tells the client a local change was made, so it pushes now.
    pub fn nudge(&self) {
        self.nudge.notify_one();
    }

    /// After a local write to `store`: the pending count shows it at once (offline too), and
    /// a connected client pushes it now.
    pub fn local_change(&self, store: &Tablet) {
        if let Ok(pending) = store.count_docs_ahead_of(RELAY_PEER) {
            self.status_tx.send_modify(|s| s.pending = pending);
        }
        self.nudge.notify_one();
    }

    pub fn status(&self) -> watch::Receiver<SyncStatus> {
        self.status.clone()
    }

    /// Stops the client and waits for it to close its connection.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for SyncClient {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

fn lock(store: &Arc<Mutex<Tablet>>) -> std::sync::MutexGuard<'_, Tablet> {
    // Every store operation is its own transaction; a panic elsewhere leaves it consistent.
    store.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs a store operation on a blocking thread.
pub(crate) async fn blocking<T: Send + 'static>(
    store: &Arc<Mutex<Tablet>>,
    f: impl FnOnce(&mut Tablet) -> Result<T, CoreError> + Send + 'static,
) -> Result<T, SyncError> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || f(&mut lock(&store)))
        .await
        .map_err(|e| SyncError::Protocol(format!("store task failed: {e}")))?
        .map_err(SyncError::Core)
}

enum SessionEnd {
    Stopped,
    Lost(SyncError),
}

async fn run(
    store: Arc<Mutex<Tablet>>,
    config: SyncConfig,
    status: watch::Sender<SyncStatus>,
    nudge: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    let mut failures: u32 = 0;
    loop {
        if *stop.borrow() {
            break;
        }
        status.send_modify(|s| {
            s.connection = Connection::Connecting;
            s.since = now_ms();
        });
        let started = Instant::now();
        let mut session = Session {
            store: store.clone(),
            status: status.clone(),
            in_flight: HashMap::new(),
            outstanding: HashSet::new(),
            repulled: HashSet::new(),
            cursor: 0,
            seen_cursor: 0,
            catch_up_total: 0,
            pending_counted_at: None,
            catch_up_done: 0,
        };
        let end = session.run(&config, &nudge, &mut stop).await;
        match end {
            SessionEnd::Stopped => break,
            SessionEnd::Lost(SyncError::Revoked(reason)) => {
                // Removed on purpose (lost, stolen, retired): what it held of people goes,
                // unsynced changes with it; nothing more is sent.
                let wiped = blocking(&store, |s| s.wipe_customer_data()).await;
                tracing::warn!(%reason, ?wiped, "removed from the store by the relay");
                status.send_modify(|s| {
                    s.connection = Connection::Refused;
                    s.since = now_ms();
                    s.removed_at = Some(now_ms());
                    s.reason = Some(match &wiped {
                        Ok(_) => format!(
                            "This tablet was removed from the store ({reason}); the customer data it held was deleted."
                        ),
                        Err(e) => format!(
                            "This tablet was removed from the store ({reason}); deleting its customer data failed: {e}"
                        ),
                    });
                    s.pending = 0;
                    s.refused.clear();
                    s.catch_up = None;
                });
                break;
            }
            SessionEnd::Lost(error) => {
                let refused = matches!(error, SyncError::Refused(_));
                // A certificate can be fixed at the relay, so the tablet keeps trying; an
                // address that is plain HTTP needs a new enrolment.
                let untrusted = matches!(error, SyncError::Untrusted(_) | SyncError::Insecure(_));
                if untrusted {
                    tracing::warn!(%error, "not connecting to the relay");
                } else {
                    tracing::info!(%error, "sync connection lost");
                }
                status.send_modify(|s| {
                    s.connection = if refused {
                        Connection::Refused
                    } else if untrusted {
                        Connection::Untrusted
                    } else {
                        Connection::Offline
                    };
                    s.since = now_ms();
                    s.reason = Some(error.to_string());
                    s.catch_up = None;
                });
                if refused || matches!(error, SyncError::Insecure(_)) {
                    break;
                }
            }
        }
        // A connection that lasted resets the backoff; one that failed at once grows it.
        if started.elapsed() > Duration::from_secs(10) {
            failures = 0;
        }
        failures = failures.saturating_add(1);
        let base = Duration::from_millis(250)
            .saturating_mul(1 << failures.min(7))
            .min(Duration::from_millis(config.max_backoff_ms.max(100)));
        let jittered = base.mul_f64(rand::rng().random_range(0.5..1.5));
        tokio::select! {
            () = tokio::time::sleep(jittered) => {}
            _ = stop.changed() => break,
        }
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

struct Session {
    store: Arc<Mutex<Tablet>>,
    status: watch::Sender<SyncStatus>,
    /// Pushed and not acknowledged yet: the heads pushed, and when.
    in_flight: HashMap<DocId, (Vec<ChangeHash>, Instant)>,
    /// Pulled and not answered yet.
    outstanding: HashSet<DocId>,
    /// Pulled again after missing dependencies or relay heads it lacked, this session.
    repulled: HashSet<DocId>,
    /// Changefeed position persisted; and the highest seen, persisted once nothing is
    /// outstanding.
    cursor: i64,
    seen_cursor: i64,
    catch_up_total: u64,
    catch_up_done: u64,
    /// When the documents the relay lacks were last counted for the status.
    pending_counted_at: Option<Instant>,
}

impl Session {
    async fn connect(&self, config: &SyncConfig) -> Result<Socket, SyncError> {
        let mut request = config
            .relay
            .sync_url()?
            .into_client_request()
            .map_err(|e| SyncError::Connect(e.to_string()))?;
        let bearer = format!("Bearer {}", config.token)
            .parse()
            .map_err(|_| SyncError::Refused("the stored token is not valid text".into()))?;
        request.headers_mut().insert("authorization", bearer);
        let mut ws_config = WebSocketConfig::default();
        ws_config.max_message_size = Some(MAX_FRAME_BYTES);
        ws_config.max_frame_size = Some(MAX_FRAME_BYTES);
        let connecting = tokio_tungstenite::connect_async_tls_with_config(
            request,
            Some(ws_config),
            true,
            Some(config.relay.ws_connector()),
        );
        match tokio::time::timeout(Duration::from_secs(10), connecting).await {
            Err(_) => Err(SyncError::Connect("timed out".into())),
            Ok(Ok((socket, _))) => Ok(socket),
            Ok(Err(tokio_tungstenite::tungstenite::Error::Http(response)))
                if response.status() == 401 =>
            {
                let refusal = response
                    .body()
                    .as_deref()
                    .and_then(|body| serde_json::from_slice::<ApiError>(body).ok());
                Err(match refusal {
                    Some(e) if e.code == ErrorCode::Revoked => SyncError::Revoked(e.message),
                    Some(e) => SyncError::Refused(e.message),
                    None => SyncError::Refused("the relay does not know this device".into()),
                })
            }
            Ok(Err(e)) => Err(SyncError::connecting(&e)),
        }
    }

    async fn send(&self, socket: &mut Socket, frame: &ClientFrame) -> Result<(), SyncError> {
        let bytes = frame.encode();
        let len = bytes.len() as u64;
        socket
            .send(Message::Binary(bytes.into()))
            .await
            .map_err(|e| SyncError::Connect(e.to_string()))?;
        self.status.send_modify(|s| s.bytes_sent += len);
        Ok(())
    }

    async fn run(
        &mut self,
        config: &SyncConfig,
        nudge: &Notify,
        stop: &mut watch::Receiver<bool>,
    ) -> SessionEnd {
        match self.session(config, nudge, stop).await {
            Ok(()) => SessionEnd::Stopped,
            Err(e) => SessionEnd::Lost(e),
        }
    }

    async fn session(
        &mut self,
        config: &SyncConfig,
        nudge: &Notify,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<(), SyncError> {
        let mut socket = self.connect(config).await?;
        self.cursor = blocking(&self.store, |s| {
            Ok(s.meta(CURSOR_KEY)?
                .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
                .map(i64::from_be_bytes)
                .unwrap_or(0))
        })
        .await?;
        self.seen_cursor = self.cursor;
        let feed = blocking(&self.store, |s| {
            Ok(s.meta(FEED_KEY)?
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default())
        })
        .await?;
        self.send(
            &mut socket,
            &ClientFrame::Hello {
                cursor: self.cursor,
                feed: feed.clone(),
            },
        )
        .await?;
        match self.next_frame(&mut socket).await? {
            Some(ServerFrame::Welcome {
                device,
                role,
                feed: relay_feed,
                ..
            }) => {
                tracing::info!(%device, role = role.as_str(), "connected to the relay");
                if relay_feed != feed {
                    // Another changefeed (the relay restored, its database failed over): the
                    // relay sends it all from the start, and the cursor starts again with it.
                    if !feed.is_empty() {
                        tracing::warn!(
                            was = feed,
                            now = relay_feed,
                            "the relay's changefeed is another one now; following it from its start"
                        );
                        self.cursor = 0;
                        self.seen_cursor = 0;
                    }
                    let reset = !feed.is_empty();
                    blocking(&self.store, move |s| {
                        s.with_tx(|tx| {
                            put_meta(tx, FEED_KEY, relay_feed.as_bytes())?;
                            if reset {
                                put_meta(tx, CURSOR_KEY, &0i64.to_be_bytes())?;
                            }
                            Ok(())
                        })
                    })
                    .await?;
                }
                if role == Role::Kiosk {
                    tracing::debug!("kiosk session: catalog only");
                }
            }
            Some(ServerFrame::Error { code, message }) => {
                return Err(if code == ErrorCode::Revoked {
                    SyncError::Revoked(message)
                } else {
                    SyncError::Refused(message)
                });
            }
            _ => return Err(SyncError::Protocol("expected Welcome".into())),
        }
        self.status.send_modify(|s| {
            s.connection = Connection::Online;
            s.since = now_ms();
            s.reason = None;
            // Catching up, with nothing counted yet: until the relay's first feed page says
            // what changed, the tablet does not know it is in sync.
            s.catch_up = Some((0, 0));
        });
        self.push_ahead(&mut socket).await?;
        let mut keepalive = tokio::time::interval(KEEPALIVE);
        keepalive.tick().await;
        loop {
            tokio::select! {
                frame = self.next_frame(&mut socket) => {
                    let Some(frame) = frame? else {
                        return Err(SyncError::Connect("the relay closed the connection".into()));
                    };
                    self.handle_burst(&mut socket, frame).await?;
                }
                () = nudge.notified() => self.push_ahead(&mut socket).await?,
                _ = stop.changed() => {
                    let _ = socket.close(None).await;
                    return Ok(());
                }
                _ = keepalive.tick() => {
                    socket.send(Message::Ping(Vec::new().into())).await.map_err(|e| SyncError::Connect(e.to_string()))?;
                    // A count skipped while frames arrived is brought up to date, and what
                    // is still ahead of the relay goes again: pushes follow the frames that
                    // can leave the tablet ahead, and this is the net under them.
                    self.refresh_pending(true).await?;
                    if self.status.borrow().pending > 0 {
                        self.push_ahead(&mut socket).await?;
                    }
                }
            }
        }
    }

    async fn next_frame(&self, socket: &mut Socket) -> Result<Option<ServerFrame>, SyncError> {
        loop {
            let Some(message) = socket.next().await else {
                return Ok(None);
            };
            match message.map_err(|e| SyncError::Connect(e.to_string()))? {
                Message::Binary(bytes) => {
                    let len = bytes.len() as u64;
                    self.status.send_modify(|s| s.bytes_received += len);
                    return ServerFrame::decode(&bytes)
                        .map(Some)
                        .map_err(|e| SyncError::Protocol(e.to_string()));
                }
                Message::Close(frame) => {
                    let revoked = frame
                        .as_ref()
                        .is_some_and(|f| u16::from(f.code) == CLOSE_REVOKED);
                    let reason = frame.map(|f| f.reason.to_string()).unwrap_or_default();
                    if revoked {
                        return Err(SyncError::Revoked(reason));
                    }
                    return Err(SyncError::Connect(format!("closed by the relay: {reason}")));
                }
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
                Message::Text(_) => {
                    return Err(SyncError::Protocol("unexpected text frame".into()));
                }
            }
        }
    }

    /// Handles a frame; a `Changes` or `CustomerSnapshots` frame is applied together with
    /// any further such frames that already arrived, in one transaction (a burst of live
    /// changes would otherwise cost a disk flush each, and a first sync one per frame).
    async fn handle_burst(
        &mut self,
        socket: &mut Socket,
        frame: ServerFrame,
    ) -> Result<(), SyncError> {
        let (mut docs, mut cursor) = match frame {
            ServerFrame::Changes { docs, cursor } => (incoming_changes(docs)?, cursor),
            ServerFrame::CustomerSnapshots { docs } => (incoming_snapshots(docs)?, None),
            frame => return self.handle(socket, frame).await,
        };
        let mut next = None;
        while docs.len() < 2_000 {
            match self.next_frame(socket).now_or_never() {
                Some(Ok(Some(ServerFrame::Changes {
                    docs: more,
                    cursor: c,
                }))) => {
                    docs.extend(incoming_changes(more)?);
                    cursor = cursor.max(c);
                }
                Some(Ok(Some(ServerFrame::CustomerSnapshots { docs: more }))) => {
                    docs.extend(incoming_snapshots(more)?);
                }
                Some(Ok(Some(other))) => {
                    next = Some(other);
                    break;
                }
                Some(Ok(None)) => {
                    return Err(SyncError::Connect("the relay closed the connection".into()));
                }
                Some(Err(e)) => return Err(e),
                None => break,
            }
        }
        self.apply(socket, docs, cursor).await?;
        self.refresh_pending(false).await?;
        match next {
            Some(frame) => self.handle(socket, frame).await,
            None => Ok(()),
        }
    }

    async fn handle(&mut self, socket: &mut Socket, frame: ServerFrame) -> Result<(), SyncError> {
        match frame {
            ServerFrame::Feed {
                items,
                cursor,
                remaining,
                done,
            } => {
                self.catch_up_total = self
                    .catch_up_total
                    .max(self.catch_up_done + items.len() as u64 + remaining);
                let feed: Vec<(DocId, Vec<ChangeHash>)> = items
                    .iter()
                    .filter_map(|i| Some((i.doc.parse().ok()?, heads_from_wire(&i.heads))))
                    .collect();
                let (behind, ahead) = blocking(&self.store, move |s| {
                    let mut behind = Vec::new();
                    let mut current = Vec::new();
                    let mut ahead = false;
                    for (doc, relay_heads) in feed {
                        let local = s.doc_heads(&doc)?;
                        if local == relay_heads {
                            current.push((doc, relay_heads));
                        } else if !local.is_empty() && s.has_heads(&doc, &relay_heads)? {
                            ahead = true;
                            current.push((doc, relay_heads));
                        } else {
                            behind.push(DocHeads {
                                doc: doc.to_string(),
                                heads: heads_to_wire(&local),
                            });
                        }
                    }
                    s.set_peer_heads(RELAY_PEER, &current)?;
                    Ok((behind, ahead))
                })
                .await?;
                tracing::debug!(
                    items = items.len(),
                    behind = behind.len(),
                    cursor,
                    done,
                    "feed page"
                );
                if cursor < self.cursor {
                    // The relay's feed started again below this tablet's cursor (it was
                    // restored from a backup): follow it from its start, or every change it
                    // numbers below the old cursor would be skipped.
                    tracing::warn!(
                        cursor,
                        was = self.cursor,
                        "the relay's changefeed moved backwards; following it from its start"
                    );
                    self.cursor = 0;
                    self.seen_cursor = 0;
                    blocking(&self.store, |s| s.set_meta(CURSOR_KEY, &0i64.to_be_bytes())).await?;
                }
                self.catch_up_done += (items.len() - behind.len()) as u64;
                for d in &behind {
                    if let Ok(doc) = d.doc.parse() {
                        self.outstanding.insert(doc);
                    }
                }
                self.seen_cursor = self.seen_cursor.max(cursor);
                if !behind.is_empty() {
                    self.send(socket, &ClientFrame::Pull { docs: behind })
                        .await?;
                }
                if done && self.catch_up_done >= self.catch_up_total {
                    self.catch_up_total = 0;
                    self.catch_up_done = 0;
                }
                if done && self.outstanding.is_empty() {
                    // Up to date with the relay, even when there was nothing new.
                    self.status
                        .send_modify(|s| s.last_synced_at = Some(now_ms()));
                }
                self.settle_cursor().await?;
                // A page can show the relay behind this tablet (a relay restored from a
                // backup lacks what it acknowledged since): send it what it lacks. Looking
                // for what to push scans every document, so not for each page of a first
                // sync, where the tablet is ahead of nothing.
                if ahead || done {
                    self.refresh_pending(done).await?;
                    self.push_ahead(socket).await?;
                }
            }
            ServerFrame::Changes { docs, cursor } => {
                self.apply(socket, incoming_changes(docs)?, cursor).await?;
            }
            ServerFrame::CustomerSnapshots { docs } => {
                self.apply(socket, incoming_snapshots(docs)?, None).await?;
            }
            ServerFrame::Ack { docs } => {
                tracing::debug!(docs = docs.len(), "acknowledged");
                let acked: Vec<(DocId, Vec<ChangeHash>)> = docs
                    .iter()
                    .filter_map(|d| Some((d.doc.parse().ok()?, heads_from_wire(&d.heads))))
                    .collect();
                for (doc, _) in &acked {
                    self.in_flight.remove(doc);
                }
                blocking(&self.store, move |s| {
                    let docs: Vec<DocId> = acked.iter().map(|(doc, _)| doc.clone()).collect();
                    s.set_peer_heads(RELAY_PEER, &acked)?;
                    s.clear_push_refusals(&docs)
                })
                .await?;
                self.status
                    .send_modify(|s| s.last_synced_at = Some(now_ms()));
                // Changes made while the push was in flight go now.
                self.push_ahead(socket).await?;
                self.refresh_pending(true).await?;
            }
            ServerFrame::NeedFrom { docs } => {
                let wanted: Vec<(DocId, Vec<ChangeHash>)> = docs
                    .iter()
                    .filter_map(|d| Some((d.doc.parse().ok()?, heads_from_wire(&d.heads))))
                    .collect();
                let pushes = blocking(&self.store, move |s| {
                    let mut out = Vec::new();
                    for (doc, relay_heads) in wanted {
                        if let Some((heads, changes)) = s.changes_since(&doc, &relay_heads)? {
                            out.push(DocChanges {
                                doc: doc.to_string(),
                                heads: heads_to_wire(&heads),
                                changes,
                            });
                        }
                    }
                    Ok(out)
                })
                .await?;
                self.send(socket, &ClientFrame::Push { docs: pushes })
                    .await?;
            }
            ServerFrame::Refused { docs } => {
                // The document stays in flight at the refused heads, so it is not offered
                // again this session; the stored refusal keeps it back after a reconnect.
                for d in &docs {
                    tracing::warn!(doc = %d.doc, reason = %d.message, "the relay refused a change");
                }
                let refused = blocking(&self.store, move |s| {
                    for d in &docs {
                        let doc: DocId = d.doc.parse()?;
                        s.record_push_refusal(
                            &doc,
                            &heads_from_wire(&d.heads),
                            d.code,
                            &d.message,
                        )?;
                    }
                    s.push_refusals()
                })
                .await?;
                self.status.send_modify(|s| s.refused = refused);
            }
            ServerFrame::Gone { doc } => {
                let doc: DocId = doc.parse()?;
                blocking(&self.store, move |s| s.drop_doc(&doc)).await?;
            }
            ServerFrame::Error { code, message } => {
                return Err(if code == ErrorCode::Revoked {
                    SyncError::Revoked(message)
                } else {
                    SyncError::Protocol(format!("{} ({})", message, code.as_str()))
                });
            }
            ServerFrame::Welcome { .. } => {
                return Err(SyncError::Protocol("a second Welcome".into()));
            }
        }
        self.refresh_pending(false).await
    }

    async fn apply(
        &mut self,
        socket: &mut Socket,
        incoming: Vec<Incoming>,
        cursor: Option<i64>,
    ) -> Result<(), SyncError> {
        for item in &incoming {
            self.outstanding.remove(&item.doc);
            if self.catch_up_total > 0 {
                self.catch_up_done += 1;
            }
        }
        let applied = blocking(&self.store, move |s| {
            s.apply_from_peer(Some(RELAY_PEER), incoming, &Unchecked, None)
        })
        .await?;
        tracing::debug!(applied = applied.len(), "applied relay changes");
        let merged_ahead = applied.iter().any(|a| a.ahead_of_sender);
        let mut again = Vec::new();
        // Pulled again from this side's heads: changes waiting for ones never received, or
        // relay heads this side lacks (a change the relay sent before this session, or to
        // another tablet, beside the one it sends now). Once per document and session.
        for a in applied
            .into_iter()
            .filter(|a| a.missing_deps || a.behind_sender)
        {
            if self.repulled.insert(a.doc.clone()) {
                self.outstanding.insert(a.doc.clone());
                again.push(DocHeads {
                    doc: a.doc.to_string(),
                    heads: heads_to_wire(&a.heads),
                });
            } else {
                tracing::warn!(doc = %a.doc, "still missing changes after a pull this session");
            }
        }
        if !again.is_empty() {
            self.send(socket, &ClientFrame::Pull { docs: again })
                .await?;
        }
        if let Some(c) = cursor {
            self.seen_cursor = self.seen_cursor.max(c);
        }
        self.status
            .send_modify(|s| s.last_synced_at = Some(now_ms()));
        self.settle_cursor().await?;
        // A merge can leave this tablet with changes the relay lacks.
        if merged_ahead {
            self.push_ahead(socket).await?;
            self.refresh_pending(true).await?;
        }
        Ok(())
    }

    /// Persists the highest changefeed position once nothing before it is outstanding.
    async fn settle_cursor(&mut self) -> Result<(), SyncError> {
        if self.outstanding.is_empty() && self.seen_cursor > self.cursor {
            let cursor = self.seen_cursor;
            blocking(&self.store, move |s| {
                s.set_meta(CURSOR_KEY, &cursor.to_be_bytes())
            })
            .await?;
            self.cursor = cursor;
        }
        let (done, total) = (self.catch_up_done, self.catch_up_total);
        self.status.send_modify(|s| {
            s.catch_up = (total > 0 && done < total).then_some((done, total));
        });
        Ok(())
    }

    /// Pushes documents with changes the relay does not have, except those already in flight.
    async fn push_ahead(&mut self, socket: &mut Socket) -> Result<(), SyncError> {
        // An acknowledgement long overdue is taken as lost: pushing again is harmless (the
        // relay applies a change once), and the document would otherwise wait for ever.
        let in_flight: HashMap<DocId, Vec<ChangeHash>> = self
            .in_flight
            .iter()
            .filter(|(_, (_, at))| at.elapsed() < ACK_PATIENCE)
            .map(|(doc, (heads, _))| (doc.clone(), heads.clone()))
            .collect();
        let pushes = blocking(&self.store, move |s| {
            let refused = s.refused_heads()?;
            let mut frames = Vec::new();
            let mut current = Vec::new();
            let mut size = 0;
            let mut pushed = Vec::new();
            for doc in s.docs_ahead_of(RELAY_PEER, 5_000)? {
                let heads = s.doc_heads(&doc)?;
                if in_flight.get(&doc) == Some(&heads) || refused.get(&doc) == Some(&heads) {
                    continue;
                }
                let base = s.peer_heads(RELAY_PEER, &doc)?;
                let Some((heads, changes)) = s.changes_since(&doc, &base)? else {
                    continue;
                };
                size += changes.len();
                pushed.push((doc.clone(), heads.clone()));
                current.push(DocChanges {
                    doc: doc.to_string(),
                    heads: heads_to_wire(&heads),
                    changes,
                });
                if current.len() == MAX_DOCS_PER_FRAME || size >= PUSH_FRAME_TARGET {
                    frames.push(std::mem::take(&mut current));
                    size = 0;
                }
            }
            if !current.is_empty() {
                frames.push(current);
            }
            Ok((frames, pushed))
        })
        .await?;
        let (frames, pushed) = pushes;
        for (doc, heads) in pushed {
            self.in_flight.insert(doc, (heads, Instant::now()));
        }
        for docs in frames {
            tracing::debug!(docs = docs.len(), "pushing");
            self.send(socket, &ClientFrame::Push { docs }).await?;
        }
        Ok(())
    }

    /// Counts the documents the relay lacks, for the status. The count scans every
    /// document, so between relay frames it runs at most once per [`PENDING_RECOUNT`] unless
    /// `now` (the end of a catch-up, an acknowledgement).
    async fn refresh_pending(&mut self, now: bool) -> Result<(), SyncError> {
        if !now
            && self
                .pending_counted_at
                .is_some_and(|at| at.elapsed() < PENDING_RECOUNT)
        {
            return Ok(());
        }
        self.pending_counted_at = Some(Instant::now());
        let pending = blocking(&self.store, |s| s.count_docs_ahead_of(RELAY_PEER)).await?;
        self.status.send_modify(|s| s.pending = pending);
        Ok(())
    }
}
