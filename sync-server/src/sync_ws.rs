//! The WebSocket sync endpoint: one connection per device, every document multiplexed on it.
//! See `aisle_core::protocol` for the conversation. Each frame is parsed with limits and each
//! document in it checked against the device's rights; a malformed, oversized or forbidden
//! frame closes that connection with a reason and touches nothing else.

use aisle_core::DocId;
use aisle_core::automerge::ActorId;
use aisle_core::automerge::ChangeHash;
use aisle_core::model::{ApiError, ErrorCode};
use aisle_core::protocol::{
    CLOSE_BAD_FRAME, CLOSE_FORBIDDEN, CLOSE_GOING_AWAY, CLOSE_RETRY, CLOSE_REVOKED, ClientFrame,
    DocChanges, DocHeads, DocRefusal, DocSnapshot, FeedItem, MAX_DOCS_PER_FRAME, MAX_FRAME_BYTES,
    ServerFrame, heads_from_wire, heads_to_wire,
};
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};
use tokio::sync::broadcast::error::RecvError;
use tracing::{Instrument, debug, info};

use crate::acl::{self, DocFacts};
use crate::registry::Device;
use crate::state::{AppState, SessionSlot};
use crate::storage::RelayStorage;

/// Frames a device may send per second, sustained, and in a burst.
const RATE_PER_SECOND: f64 = 200.0;
const RATE_BURST: f64 = 2_000.0;
/// Bytes of document changes per outgoing frame.
const FRAME_PAYLOAD_TARGET: usize = 4 * 1024 * 1024;
const HELLO_TIMEOUT: Duration = Duration::from_secs(15);
/// Documents of a `Pull` answered at a time.
const PULL_PART_DOCS: usize = 128;

/// The sync endpoint: a WebSocket upgrade with the device's bearer token; frames as in
/// `aisle_core::protocol` (docs/sync.md).
#[utoipa::path(get, path = "/v1/sync", tag = "sync", security(("device" = [])), responses((status = 101, description = "Switching to the sync protocol over WebSocket"), (status = 401, description = "Unknown or revoked device", body = aisle_core::model::ApiError)))]
pub async fn upgrade(
    State(state): State<AppState>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let device = match crate::auth::authenticate(&state, &headers).await {
        Ok(device) => device,
        Err(refused) => return refused.into_response(),
    };
    let Some(slot) = state.open_session(&device.id) else {
        return crate::error::HttpError::new(
            ErrorCode::Busy,
            format!(
                "this device already has {} sync connections open",
                crate::state::MAX_SESSIONS_PER_DEVICE
            ),
        )
        .into_response();
    };
    ws.max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .on_upgrade(move |socket| {
            let span = tracing::info_span!("sync", device = %device.id, store = %device.store);
            session(socket, device, state, slot).instrument(span)
        })
}

/// Why a session ended early.
struct Closing {
    code: u16,
    error: ErrorCode,
    reason: String,
}

impl Closing {
    fn new(code: u16, error: ErrorCode, reason: impl Into<String>) -> Self {
        Self {
            code,
            error,
            reason: reason.into(),
        }
    }
}

struct Session {
    device: Device,
    actor: ActorId,
    scopes: Vec<String>,
    state: AppState,
    socket: WebSocket,
    tokens: f64,
    refilled: Instant,
}

async fn session(socket: WebSocket, device: Device, state: AppState, slot: SessionSlot) {
    info!("device connected");
    state.metrics.connected_devices.inc();
    let _ = state
        .with_storage({
            let id = device.id.clone();
            move |s| s.touch(&id)
        })
        .await;
    let mut session = Session {
        actor: ActorId::from(device.actor.clone()),
        scopes: acl::scopes(&device),
        device,
        state: state.clone(),
        socket,
        tokens: RATE_BURST,
        refilled: Instant::now(),
    };
    let outcome = session.run().await;
    state.metrics.connected_devices.dec();
    let _ = state
        .with_storage({
            let id = session.device.id.clone();
            move |s| s.touch(&id)
        })
        .await;
    match outcome {
        Ok(()) => info!("device disconnected"),
        Err(closing) => {
            info!(reason = %closing.reason, "closing the connection");
            let frame = ServerFrame::Error {
                code: closing.error,
                message: closing.reason.clone(),
            };
            let _ = session.send(&frame).await;
            let _ = session
                .socket
                .send(Message::Close(Some(CloseFrame {
                    code: closing.code,
                    reason: closing.reason.chars().take(120).collect::<String>().into(),
                })))
                .await;
        }
    }
    // Last: the relay waits for this before it counts as stopped.
    drop(slot);
}

impl Session {
    async fn send(&mut self, frame: &ServerFrame) -> Result<(), Closing> {
        let bytes = frame.encode();
        self.state.metrics.bytes_sent.inc_by(bytes.len() as u64);
        self.socket
            .send(Message::Binary(bytes.into()))
            .await
            .map_err(|e| {
                Closing::new(
                    CLOSE_RETRY,
                    ErrorCode::Internal,
                    format!("send failed: {e}"),
                )
            })
    }

    fn allow_frame(&mut self) -> bool {
        let now = Instant::now();
        let elapsed = now.duration_since(self.refilled).as_secs_f64();
        self.refilled = now;
        self.tokens = (self.tokens + elapsed * RATE_PER_SECOND).min(RATE_BURST);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Reads the next binary frame and decodes it; closes on anything else.
    async fn next_frame(&mut self) -> Result<Option<ClientFrame>, Closing> {
        loop {
            let Some(message) = self.socket.recv().await else {
                return Ok(None);
            };
            let message = message.map_err(|e| {
                Closing::new(
                    CLOSE_BAD_FRAME,
                    ErrorCode::InvalidInput,
                    format!("bad WebSocket message: {e}"),
                )
            })?;
            match message {
                Message::Binary(bytes) => return self.decode(&bytes).map(Some),
                Message::Close(_) => return Ok(None),
                Message::Ping(_) | Message::Pong(_) => continue,
                Message::Text(_) => {
                    self.state.metrics.frames_rejected.inc();
                    return Err(Closing::new(
                        CLOSE_BAD_FRAME,
                        ErrorCode::InvalidInput,
                        "text frames are not part of the protocol",
                    ));
                }
            }
        }
    }

    fn decode(&mut self, bytes: &[u8]) -> Result<ClientFrame, Closing> {
        self.state.metrics.frames_received.inc();
        self.state.metrics.bytes_received.inc_by(bytes.len() as u64);
        if !self.allow_frame() {
            self.state.metrics.frames_rejected.inc();
            return Err(Closing::new(
                CLOSE_RETRY,
                ErrorCode::Busy,
                "too many frames; slow down",
            ));
        }
        ClientFrame::decode(bytes).map_err(|e| {
            self.state.metrics.frames_rejected.inc();
            Closing::new(CLOSE_BAD_FRAME, ErrorCode::InvalidInput, e.to_string())
        })
    }

    async fn run(&mut self) -> Result<(), Closing> {
        // Subscribe before reading the backlog, so no change falls between the two.
        let mut live = self.state.hub.subscribe();
        let mut revocations = self.state.hub.revocations();
        // Revoked between authenticating and subscribing: the watcher's notice may already
        // have gone out. One query per connection, not per connection every few seconds.
        let id = self.device.id.clone();
        if let Ok(Ok(true)) = self.state.with_storage(move |s| s.is_revoked(&id)).await {
            return Err(Closing::new(
                CLOSE_REVOKED,
                ErrorCode::Revoked,
                "this device was revoked",
            ));
        }
        let mut erasures = self.state.hub.erasures();
        let mut shutdown = self.state.shutdown.subscribe();
        // A session upgraded while the relay was already stopping would never see the change:
        // treat the stop as new, so it closes right after the Welcome.
        if *shutdown.borrow() {
            shutdown.mark_changed();
        }
        let hello = match tokio::time::timeout(HELLO_TIMEOUT, self.next_frame()).await {
            Err(_) => {
                return Err(Closing::new(
                    CLOSE_BAD_FRAME,
                    ErrorCode::InvalidInput,
                    "no Hello in time",
                ));
            }
            Ok(frame) => frame?,
        };
        let (cursor, their_feed) = match hello {
            Some(ClientFrame::Hello { cursor, feed }) => (cursor, feed),
            Some(_) => {
                return Err(Closing::new(
                    CLOSE_BAD_FRAME,
                    ErrorCode::InvalidInput,
                    "the first frame must be Hello",
                ));
            }
            None => return Ok(()),
        };
        let feed = self
            .state
            .with_storage(|s| s.feed_id())
            .await
            .map_err(internal)?
            .map_err(|e| internal(e.to_api()))?;
        // A cursor of another feed is no place in this one: everything again, from the start.
        let cursor = if their_feed.is_empty() || their_feed == feed {
            cursor
        } else {
            tracing::warn!(
                device = %self.device.id,
                their_feed,
                "a cursor of another changefeed (restored or failed over): sending everything again"
            );
            0
        };
        self.send(&ServerFrame::Welcome {
            device: self.device.id.clone(),
            store: self.device.store.to_string(),
            role: self.device.role,
            feed,
        })
        .await?;
        self.send_backlog(cursor).await?;

        loop {
            tokio::select! {
                frame = self.next_frame() => {
                    let Some(frame) = frame? else { return Ok(()) };
                    let replies = self.handle(frame).await?;
                    for reply in replies {
                        self.send(&reply).await?;
                    }
                }
                published = live.recv() => match published {
                    Ok(published) => self.forward(published).await?,
                    Err(RecvError::Lagged(_)) => {
                        return Err(Closing::new(CLOSE_RETRY, ErrorCode::Busy, "fell behind the live feed; reconnect to catch up"));
                    }
                    Err(RecvError::Closed) => return Ok(()),
                },
                erased = erasures.recv() => {
                    if let Ok((doc, scope)) = erased {
                        self.forward_erasure(doc, scope).await?;
                    }
                }
                revoked = revocations.recv() => {
                    if matches!(revoked, Ok(ref id) if *id == self.device.id) {
                        return Err(Closing::new(CLOSE_REVOKED, ErrorCode::Revoked, "this device was revoked"));
                    }
                }
                _ = shutdown.changed() => {
                    return Err(Closing::new(CLOSE_GOING_AWAY, ErrorCode::Busy, "the relay is restarting; reconnect shortly"));
                }
            }
        }
    }

    /// Tells this device to purge an erased document it may hold.
    async fn forward_erasure(&mut self, doc: String, scope: String) -> Result<(), Closing> {
        let holds = self.scopes.contains(&scope) || {
            let (device, id) = (self.device.id.clone(), doc.clone());
            self.state
                .with_storage(move |s| {
                    let doc: DocId = id.parse()?;
                    s.is_granted(&device, &doc)
                })
                .await
                .map_err(internal)?
                .unwrap_or(false)
        };
        if holds {
            self.send(&ServerFrame::Gone { doc }).await?;
        }
        Ok(())
    }

    async fn send_backlog(&mut self, mut cursor: i64) -> Result<(), Closing> {
        let scopes = self.scopes.clone();
        let device = self.device.id.clone();
        // A cursor beyond anything written: the feed moved backwards under it (a restore).
        // The device is sent everything again, and takes the first page's lower cursor as the
        // sign to follow the feed from its start; what the relay lost, the device pushes back.
        let head = self
            .state
            .with_storage(|s| s.feed_head())
            .await
            .map_err(internal)?
            .map_err(|e| internal(e.to_api()))?;
        if cursor > head {
            tracing::warn!(
                device = %device,
                cursor,
                head,
                "a cursor beyond the changefeed: sending everything again"
            );
            cursor = 0;
        }
        // Erasures first: a device that was away purges what it must not keep.
        let erased = {
            let (scopes, device) = (scopes.clone(), device.clone());
            self.state
                .with_storage(move |s| s.erasures_since(cursor, &scopes, &device))
                .await
                .map_err(internal)?
                .map_err(|e| internal(e.to_api()))?
        };
        for doc in erased {
            self.send(&ServerFrame::Gone {
                doc: doc.to_string(),
            })
            .await?;
        }
        let mut remaining = {
            let (scopes, device) = (scopes.clone(), device.clone());
            self.state
                .with_storage(move |s| s.feed_count_since(cursor, &scopes, &device))
                .await
                .map_err(internal)?
                .map_err(|e| internal(e.to_api()))?
        };
        loop {
            let (scopes, device_id) = (scopes.clone(), device.clone());
            let page = self
                .state
                .with_storage(move |s| {
                    s.feed_since(cursor, &scopes, &device_id, MAX_DOCS_PER_FRAME)
                })
                .await
                .map_err(internal)?
                .map_err(|e| internal(e.to_api()))?;
            let done = page.len() < MAX_DOCS_PER_FRAME;
            if let Some(last) = page.last() {
                cursor = last.seq;
            }
            remaining = remaining.saturating_sub(page.len() as u64);
            let items = page
                .into_iter()
                .map(|e| FeedItem {
                    doc: e.doc.to_string(),
                    heads: heads_to_wire(&e.heads),
                })
                .collect();
            self.send(&ServerFrame::Feed {
                items,
                cursor,
                remaining,
                done,
            })
            .await?;
            if done {
                return Ok(());
            }
        }
    }

    /// Sends a change another device (or the relay) made, if this device may read it.
    async fn forward(&mut self, published: crate::hub::Published) -> Result<(), Closing> {
        if published.origin.as_deref() == Some(self.device.id.as_str()) {
            return Ok(());
        }
        let commit = published.commit;
        let in_scope = self.scopes.iter().any(|s| *s == commit.scope);
        let readable = if in_scope {
            acl::can_read(
                &self.device,
                &commit.change.doc,
                &DocFacts {
                    scope: Some(commit.scope.clone()),
                    granted: false,
                },
            )
        } else if matches!(commit.change.doc, DocId::Customer(_)) {
            let (device, doc) = (self.device.id.clone(), commit.change.doc.clone());
            self.state
                .with_storage(move |s| s.is_granted(&device, &doc))
                .await
                .map_err(internal)?
                .unwrap_or(false)
        } else {
            false
        };
        if !readable {
            return Ok(());
        }
        self.send(&ServerFrame::Changes {
            docs: vec![DocChanges {
                doc: commit.change.doc.to_string(),
                heads: heads_to_wire(&commit.change.heads),
                changes: commit.change.changes.clone(),
            }],
            cursor: Some(commit.seq),
        })
        .await
    }

    async fn handle(&mut self, frame: ClientFrame) -> Result<Vec<ServerFrame>, Closing> {
        match frame {
            ClientFrame::Hello { .. } => Err(Closing::new(
                CLOSE_BAD_FRAME,
                ErrorCode::InvalidInput,
                "Hello was already sent",
            )),
            ClientFrame::Push { docs } => self.push(docs).await,
            ClientFrame::Pull { docs } => self.pull(docs).await,
        }
    }

    async fn push(&mut self, docs: Vec<DocChanges>) -> Result<Vec<ServerFrame>, Closing> {
        let started = Instant::now();
        let device = self.device.clone();
        let actor = self.actor.clone();
        let outcome = self
            .state
            .with_storage(move |s| {
                let outcome = push_blocking(s, &device, &actor, docs);
                // Last heard from: what the manager's tablet list shows.
                let _ = s.touch(&device.id);
                outcome
            })
            .await
            .map_err(internal)??;
        let PushOutcome {
            acks,
            behind,
            need,
            refused,
            applied,
            gone,
        } = outcome;
        self.state.metrics.docs_applied.inc_by(applied);
        self.state
            .metrics
            .push_latency
            .observe(started.elapsed().as_secs_f64());
        let mut replies = Vec::new();
        if !acks.is_empty() {
            replies.push(ServerFrame::Ack { docs: acks });
        }
        if !need.is_empty() {
            replies.push(ServerFrame::NeedFrom { docs: need });
        }
        if !refused.is_empty() {
            replies.push(ServerFrame::Refused { docs: refused });
        }
        replies.extend(gone.into_iter().map(|doc| ServerFrame::Gone { doc }));
        if behind.is_empty() {
            return Ok(replies);
        }
        // Acknowledged first, so the device records the heads it pushed and then the relay's.
        for frame in &replies {
            self.send(frame).await?;
        }
        self.pull(behind).await
    }

    /// Answers a `Pull`. A document named twice is answered once (one small frame naming
    /// the catalog 500 times would otherwise build hundreds of megabytes), and the answer is
    /// built and sent a part at a time, so a pull holds one part's changes in memory.
    async fn pull(&mut self, docs: Vec<DocHeads>) -> Result<Vec<ServerFrame>, Closing> {
        let mut named = HashSet::new();
        let docs: Vec<DocHeads> = docs
            .into_iter()
            .filter(|d| named.insert(d.doc.clone()))
            .collect();
        for part in docs.chunks(PULL_PART_DOCS) {
            let (device, part) = (self.device.clone(), part.to_vec());
            let frames = self
                .state
                .with_storage(move |s| pull_blocking(s, &device, part))
                .await
                .map_err(internal)??;
            for frame in frames {
                self.send(&frame).await?;
            }
        }
        Ok(Vec::new())
    }
}

fn internal(e: ApiError) -> Closing {
    Closing::new(CLOSE_RETRY, e.code, e.message)
}

fn facts(s: &dyn RelayStorage, device: &Device, doc: &DocId) -> Result<DocFacts, Closing> {
    let scope = s.doc_scope(doc).map_err(|e| internal(e.to_api()))?;
    let granted = s
        .is_granted(&device.id, doc)
        .map_err(|e| internal(e.to_api()))?;
    Ok(DocFacts { scope, granted })
}

fn forbidden(doc: &DocId, what: &str) -> Closing {
    Closing::new(
        CLOSE_FORBIDDEN,
        ErrorCode::Forbidden,
        format!("this device may not {what} {doc}"),
    )
}

/// What a push did: documents the relay now has as the device does (acked), ones it needs
/// more of, how many documents changed, and erased documents the device pushed to.
struct PushOutcome {
    acks: Vec<DocHeads>,
    /// Acknowledged documents the relay holds more of than the device (another device's
    /// change it never received): the changes it lacks follow the acknowledgement, since the
    /// live feed leaves out the device's own writes.
    behind: Vec<DocHeads>,
    need: Vec<DocHeads>,
    refused: Vec<DocRefusal>,
    applied: u64,
    gone: Vec<String>,
}

fn push_blocking(
    s: &dyn RelayStorage,
    device: &Device,
    actor: &ActorId,
    docs: Vec<DocChanges>,
) -> Result<PushOutcome, Closing> {
    let mut batch = Vec::with_capacity(docs.len());
    let mut claimed = Vec::with_capacity(docs.len());
    let mut gone = Vec::new();
    for d in docs {
        // Doc ids were validated when the frame was decoded.
        let doc: DocId = d
            .doc
            .parse()
            .map_err(|e: aisle_core::CoreError| internal(e.to_api()))?;
        // Offline edits to an erased customer must not bring the document back.
        if s.is_erased(&doc).map_err(|e| internal(e.to_api()))? {
            gone.push(d.doc);
            continue;
        }
        if !acl::can_write(device, &doc, &facts(s, device, &doc)?) {
            return Err(forbidden(&doc, "write"));
        }
        claimed.push((doc.clone(), heads_from_wire(&d.heads)));
        batch.push((doc, d.changes));
    }
    let pushed = s
        .push(&device.id, device.role, batch, actor)
        .map_err(|e| Closing::new(CLOSE_BAD_FRAME, e.code(), e.to_string()))?;
    let mut acks = Vec::new();
    let mut behind = Vec::new();
    let mut need = Vec::new();
    let mut claimed: HashMap<DocId, Vec<ChangeHash>> = claimed.into_iter().collect();
    let refused = pushed
        .refused
        .into_iter()
        .map(|(doc, e)| {
            debug!(%doc, error = %e, "push refused");
            DocRefusal {
                heads: heads_to_wire(&claimed.remove(&doc).unwrap_or_default()),
                doc: doc.to_string(),
                code: e.code(),
                message: e.to_string(),
            }
        })
        .collect();
    for result in pushed.applied {
        let doc = result.doc.clone();
        let device_heads = claimed.remove(&doc).unwrap_or_default();
        let complete = !result.missing_deps
            && s.has_heads(&doc, &device_heads)
                .map_err(|e| internal(e.to_api()))?;
        if complete {
            // A customer this device created outside its store stays readable to it.
            if matches!(doc, DocId::Customer(_))
                && !acl::can_read(device, &doc, &facts(s, device, &doc)?)
            {
                s.grant(&device.id, &doc)
                    .map_err(|e| internal(e.to_api()))?;
            }
            if result.heads.iter().any(|h| !device_heads.contains(h)) {
                behind.push(DocHeads {
                    doc: doc.to_string(),
                    heads: heads_to_wire(&device_heads),
                });
            }
            acks.push(DocHeads {
                doc: doc.to_string(),
                heads: heads_to_wire(&device_heads),
            });
        } else {
            need.push(DocHeads {
                doc: doc.to_string(),
                heads: heads_to_wire(&result.heads),
            });
        }
    }
    // A tablet that had not heard of a merge wrote to the duplicate (a note taken offline):
    // fold it into the survivor so it is not lost there.
    for (doc, _) in acks.iter().chain(need.iter()).map(|d| (&d.doc, ())) {
        if let Ok(DocId::Customer(id)) = doc.parse::<DocId>() {
            s.carry_merged(&id).map_err(|e| internal(e.to_api()))?;
        }
    }
    debug!(acks = acks.len(), need = need.len(), "push applied");
    Ok(PushOutcome {
        acks,
        behind,
        need,
        refused,
        applied: pushed.changed as u64,
        gone,
    })
}

fn pull_blocking(
    s: &dyn RelayStorage,
    device: &Device,
    docs: Vec<DocHeads>,
) -> Result<Vec<ServerFrame>, Closing> {
    let mut frames = Vec::new();
    let mut current = Vec::new();
    let mut snapshots = Vec::new();
    let mut size = 0;
    let ids = docs
        .iter()
        .map(|d| d.doc.parse())
        .collect::<Result<Vec<DocId>, aisle_core::CoreError>>()
        .map_err(|e| internal(e.to_api()))?;
    let all_facts = s
        .access_facts(&device.id, &ids)
        .map_err(|e| internal(e.to_api()))?;
    if all_facts.len() != ids.len() {
        return Err(Closing::new(
            CLOSE_RETRY,
            ErrorCode::Internal,
            "the storage did not answer for every document pulled",
        ));
    }
    for ((d, doc), facts) in docs.into_iter().zip(ids).zip(all_facts) {
        if facts.scope.is_some() && !acl::can_read(device, &doc, &facts) {
            return Err(forbidden(&doc, "read"));
        }
        if facts.scope.is_none() && !acl::can_write(device, &doc, &facts) {
            return Err(forbidden(&doc, "read"));
        }
        // A customer the device has none of goes whole, with its fields: a first sync stores
        // it without loading it.
        if d.heads.is_empty()
            && facts.scope.is_some()
            && let Some(snapshot) = s
                .customer_snapshot(&doc)
                .map_err(|e| internal(e.to_api()))?
        {
            size += snapshot.bytes.len() + snapshot.indexed.len();
            snapshots.push(DocSnapshot {
                doc: d.doc,
                heads: heads_to_wire(&snapshot.heads),
                bytes: snapshot.bytes,
                indexed: snapshot.indexed,
            });
            if size >= FRAME_PAYLOAD_TARGET {
                flush(&mut frames, &mut current, &mut snapshots);
                size = 0;
            }
            continue;
        }
        // Not stored (or erased) as far as the relay's record goes: nothing to send, even if a
        // working copy that has not followed an erasure yet still holds it.
        let (heads, changes) = match facts.scope {
            None => Default::default(),
            Some(_) => s
                .changes_since(&doc, &heads_from_wire(&d.heads))
                .map_err(|e| internal(e.to_api()))?
                .unwrap_or_default(),
        };
        size += changes.len();
        current.push(DocChanges {
            doc: d.doc,
            heads: heads_to_wire(&heads),
            changes,
        });
        if size >= FRAME_PAYLOAD_TARGET {
            flush(&mut frames, &mut current, &mut snapshots);
            size = 0;
        }
    }
    flush(&mut frames, &mut current, &mut snapshots);
    Ok(frames)
}

/// Ends the frames being filled, if they hold anything.
fn flush(
    frames: &mut Vec<ServerFrame>,
    changes: &mut Vec<DocChanges>,
    snapshots: &mut Vec<DocSnapshot>,
) {
    if !changes.is_empty() {
        frames.push(ServerFrame::Changes {
            docs: std::mem::take(changes),
            cursor: None,
        });
    }
    if !snapshots.is_empty() {
        frames.push(ServerFrame::CustomerSnapshots {
            docs: std::mem::take(snapshots),
        });
    }
}
