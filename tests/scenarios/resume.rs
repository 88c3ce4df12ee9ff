//! Resuming by changefeed cursor over a real relay: a tablet that synced its store and went
//! offline is offered, on reconnecting, only the documents that changed meanwhile, not the
//! whole store again. The tablet talks to the relay through a proxy that decodes every frame
//! and counts the documents named in them; as a control, the same tablet with its stored
//! cursor reset to 0 is offered every document. And a live change the tablet never received
//! (the proxy drops it, as a reconnect racing the relay's feed can) still reaches it within
//! the session: by the next change of that document either side makes.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

use aisle_core::DocId;
use aisle_core::model::AssociateId;
use aisle_core::protocol::{ClientFrame, ServerFrame};
use aisle_tablet::sync_client::RELAY_PEER;
use aisle_tests::{RelayAddress, Tablet};
use futures_util::{SinkExt, StreamExt};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};

/// Where the sync client keeps its changefeed position (`aisle_core::client`'s meta key).
const CURSOR_KEY: &str = "relay_cursor";

/// What one connection through the proxy carried.
#[derive(Debug, Default)]
struct Session {
    /// The cursor in the tablet's `Hello`.
    hello: Option<i64>,
    /// Documents the relay listed in `Feed` pages.
    offered: Vec<String>,
    /// Documents the tablet asked for.
    pulled: Vec<String>,
    /// Documents whose changes the relay sent.
    received: Vec<String>,
}

type Sessions = Arc<Mutex<Vec<Session>>>;

/// A document whose next `Changes` frame from the relay the proxy drops, and how many it
/// dropped.
#[derive(Debug, Default)]
struct DropNext {
    doc: Option<String>,
    dropped: usize,
}

type Drops = Arc<Mutex<DropNext>>;

fn record(sessions: &Sessions, f: impl FnOnce(&mut Session)) {
    let mut sessions = sessions.lock().unwrap();
    if let Some(session) = sessions.last_mut() {
        f(session);
    }
}

/// A WebSocket proxy in front of the relay's `/v1/sync` that passes every message through
/// unchanged (but the one `drops` names) and records the documents each frame names. Returns
/// its address. The tablet talks plain WebSocket to the proxy (on loopback), the proxy TLS to
/// the relay.
async fn counting_proxy(relay: RelayAddress, sessions: Sessions, drops: Drops) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let sessions = sessions.clone();
            let drops = drops.clone();
            let relay = relay.clone();
            tokio::spawn(async move {
                let mut authorization = None;
                // Tungstenite's callback signature, whose error is a whole HTTP response.
                #[allow(clippy::result_large_err)]
                let keep_token = |request: &Request, response: Response| {
                    authorization = request.headers().get("authorization").cloned();
                    Ok(response)
                };
                let tablet = tokio_tungstenite::accept_hdr_async(stream, keep_token)
                    .await
                    .unwrap();
                let mut request = relay.sync_url().unwrap().into_client_request().unwrap();
                if let Some(value) = authorization {
                    request.headers_mut().insert("authorization", value);
                }
                let (upstream, _) = tokio_tungstenite::connect_async_tls_with_config(
                    request,
                    None,
                    false,
                    Some(relay.ws_connector()),
                )
                .await
                .unwrap();
                sessions.lock().unwrap().push(Session::default());
                let (mut to_tablet, mut from_tablet) = tablet.split();
                let (mut to_relay, mut from_relay) = upstream.split();
                let up = async {
                    while let Some(Ok(message)) = from_tablet.next().await {
                        if let Message::Binary(bytes) = &message {
                            match ClientFrame::decode(bytes).unwrap() {
                                ClientFrame::Hello { cursor, .. } => {
                                    record(&sessions, |s| s.hello = Some(cursor));
                                }
                                ClientFrame::Pull { docs } => record(&sessions, |s| {
                                    s.pulled.extend(docs.into_iter().map(|d| d.doc));
                                }),
                                ClientFrame::Push { .. } => {}
                            }
                        }
                        if to_relay.send(message).await.is_err() {
                            break;
                        }
                    }
                };
                let down = async {
                    while let Some(Ok(message)) = from_relay.next().await {
                        if let Message::Binary(bytes) = &message {
                            match ServerFrame::decode(bytes).unwrap() {
                                ServerFrame::Feed { items, .. } => record(&sessions, |s| {
                                    s.offered.extend(items.into_iter().map(|i| i.doc));
                                }),
                                ServerFrame::Changes { docs, .. } => {
                                    let mut drops = drops.lock().unwrap();
                                    if let Some(doc) = &drops.doc
                                        && docs.iter().any(|d| d.doc == *doc)
                                    {
                                        drops.doc = None;
                                        drops.dropped += 1;
                                        continue;
                                    }
                                    record(&sessions, |s| {
                                        s.received.extend(docs.into_iter().map(|d| d.doc));
                                    });
                                }
                                ServerFrame::CustomerSnapshots { docs } => {
                                    record(&sessions, |s| {
                                        s.received.extend(docs.into_iter().map(|d| d.doc));
                                    });
                                }
                                _ => {}
                            }
                        }
                        if to_tablet.send(message).await.is_err() {
                            break;
                        }
                    }
                };
                // Either side closing ends the connection, as it would without the proxy.
                tokio::select! {
                    () = up => {}
                    () = down => {}
                }
            });
        }
    });
    addr
}

fn stored_cursor(tablet: &Tablet) -> i64 {
    tablet
        .with(|s| s.meta(CURSOR_KEY))
        .unwrap()
        .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
        .map(i64::from_be_bytes)
        .unwrap_or(0)
}

async fn until(what: &str, done: impl FnMut() -> bool) {
    aisle_tests::eventually(what, Duration::from_secs(30), done).await;
}

/// Reconnects `tablet` through the proxy, waits until it is in sync and holds `heads` of
/// each changed document, and returns what that session carried.
async fn reconnect(
    tablet: &mut Tablet,
    sessions: &Sessions,
    changed: &[(DocId, Vec<aisle_core::automerge::ChangeHash>)],
) -> Session {
    let before = sessions.lock().unwrap().len();
    tablet.start();
    tablet.wait_synced().await;
    until("the changed documents on the tablet", || {
        tablet.with(|s| {
            changed
                .iter()
                .all(|(doc, heads)| s.doc_heads(doc).is_ok_and(|h| h == *heads))
        })
    })
    .await;
    tablet.stop().await;
    let mut sessions = sessions.lock().unwrap();
    assert_eq!(sessions.len(), before + 1, "one connection per reconnect");
    sessions.pop().unwrap()
}

fn set(docs: &[String]) -> BTreeSet<&str> {
    docs.iter().map(String::as_str).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnecting_tablet_is_offered_only_what_changed() {
    let (dir, relay_dir, relay) = aisle_tests::demo_relay(100);
    let sessions = Sessions::default();
    let proxy = counting_proxy(relay.address(), sessions.clone(), Drops::default()).await;

    // The tablet syncs its store in full, directly, and goes offline.
    let mut tablet = Tablet::enrol(&relay, &relay_dir, dir.path(), "tablet", "associate").await;
    tablet.stop().await;
    tablet.config.relay = RelayAddress::new(format!("http://{proxy}"));
    let held = tablet.with(|s| s.stats()).unwrap().documents;
    let customers = tablet.with(|s| s.doc_ids("customer")).unwrap();
    assert!(customers.len() >= 20, "{} customers", customers.len());
    let cursor = stored_cursor(&tablet);
    assert!(cursor > 0, "the first sync stored a changefeed position");

    // Meanwhile another tablet of the store writes a note on three customers.
    let other = Tablet::enrol(&relay, &relay_dir, dir.path(), "other", "associate").await;
    let associate = AssociateId::parse("sam.k").unwrap();
    let changed: Vec<(DocId, _)> = customers[..3]
        .iter()
        .map(|doc| {
            let DocId::Customer(id) = doc else {
                unreachable!("customer documents")
            };
            other.with(|s| {
                s.add_note(id, "Asked for the parka in M", &associate, None)
                    .unwrap();
                (doc.clone(), s.doc_heads(doc).unwrap())
            })
        })
        .collect();
    other.with(|s| other.client.as_ref().unwrap().local_change(s));
    until("the relay acknowledging the notes", || {
        other.with(|s| s.count_docs_ahead_of(RELAY_PEER).unwrap()) == 0
    })
    .await;
    let changed_names: Vec<String> = changed.iter().map(|(d, _)| d.to_string()).collect();

    // Reconnecting from its cursor, the tablet is offered the three, pulls them and gets them.
    let resumed = reconnect(&mut tablet, &sessions, &changed).await;
    eprintln!(
        "resumed from {cursor}: offered {}, pulled {}, received {} of {held} documents held",
        resumed.offered.len(),
        resumed.pulled.len(),
        resumed.received.len()
    );
    assert_eq!(
        resumed.hello,
        Some(cursor),
        "the tablet resumed from its cursor"
    );
    assert_eq!(resumed.offered.len(), 3, "offered: {:?}", resumed.offered);
    assert_eq!(set(&resumed.offered), set(&changed_names));
    assert_eq!(resumed.pulled.len(), 3, "pulled: {:?}", resumed.pulled);
    assert_eq!(set(&resumed.pulled), set(&changed_names));
    assert_eq!(set(&resumed.received), set(&changed_names));
    assert!(stored_cursor(&tablet) > cursor, "the cursor moved on");

    // Control: with its cursor reset, the same tablet is offered every document it holds
    // again (it already has them all, so it pulls none).
    tablet
        .with(|s| s.set_meta(CURSOR_KEY, &0i64.to_be_bytes()))
        .unwrap();
    let from_zero = reconnect(&mut tablet, &sessions, &changed).await;
    eprintln!(
        "from 0: offered {}, pulled {}",
        from_zero.offered.len(),
        from_zero.pulled.len()
    );
    assert_eq!(from_zero.hello, Some(0));
    assert_eq!(set(&from_zero.offered).len() as u64, held);
    assert!(
        customers
            .iter()
            .all(|c| set(&from_zero.offered).contains(c.to_string().as_str())),
        "every customer is offered again"
    );
    assert!(
        from_zero.pulled.is_empty(),
        "pulled: {:?}",
        from_zero.pulled
    );
}

/// Waits until the relay holds `tablet`'s every change.
async fn acknowledged(tablet: &Tablet) {
    tablet.nudge();
    until("the relay acknowledging the tablet's changes", || {
        tablet.with(|s| s.count_docs_ahead_of(RELAY_PEER).unwrap()) == 0
    })
    .await;
}

/// Writes a note on the customer `doc` on `t`; its heads after.
fn note(t: &Tablet, doc: &DocId, text: &str) -> Vec<aisle_core::automerge::ChangeHash> {
    let DocId::Customer(id) = doc else {
        unreachable!("customer documents")
    };
    let associate = AssociateId::parse("sam.k").unwrap();
    t.with(|s| {
        s.add_note(id, text, &associate, None).unwrap();
        s.doc_heads(doc).unwrap()
    })
}

/// A note `other` writes on `doc` whose live change the proxy drops on its way to the
/// tablet; its heads.
async fn note_the_tablet_misses(
    other: &Tablet,
    drops: &Drops,
    doc: &DocId,
    text: &str,
) -> Vec<aisle_core::automerge::ChangeHash> {
    let dropped = {
        let mut drops = drops.lock().unwrap();
        drops.doc = Some(doc.to_string());
        drops.dropped
    };
    let heads = note(other, doc, text);
    acknowledged(other).await;
    until("the proxy dropping the live change", || {
        drops.lock().unwrap().dropped == dropped + 1
    })
    .await;
    heads
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_change_the_tablet_missed_reaches_it_with_the_documents_next_change() {
    let (dir, relay_dir, relay) = aisle_tests::demo_relay(100);
    let sessions = Sessions::default();
    let drops = Drops::default();
    let proxy = counting_proxy(relay.address(), sessions.clone(), drops.clone()).await;
    let mut tablet = Tablet::enrol(&relay, &relay_dir, dir.path(), "tablet", "associate").await;
    tablet.stop().await;
    tablet.config.relay = RelayAddress::new(format!("http://{proxy}"));
    tablet.start();
    tablet.wait_synced().await;
    let mut other = Tablet::enrol(&relay, &relay_dir, dir.path(), "other", "associate").await;
    let mut third = Tablet::enrol(&relay, &relay_dir, dir.path(), "third", "associate").await;
    let customers = tablet.with(|s| s.doc_ids("customer")).unwrap();
    let has = |t: &Tablet, doc: &DocId, heads: &[aisle_core::automerge::ChangeHash]| {
        t.with(|s| s.has_heads(doc, heads).unwrap())
    };

    // The relay sends a live change of a document whose earlier change the tablet missed:
    // the tablet lacks some of the heads it is told of, and pulls.
    let (first, second) = (&customers[0], &customers[1]);
    third.stop().await;
    let offline = note(&third, first, "Offline: prefers the navy");
    let missed = note_the_tablet_misses(&other, &drops, first, "Asked for the parka in M").await;
    third.start();
    acknowledged(&third).await;
    // Sooner than the keepalive (20 s) would offer the relay the tablet's document again,
    // which the relay would also answer with what the tablet lacks.
    aisle_tests::eventually(
        "the missed change on the tablet, in the same session",
        Duration::from_secs(10),
        || has(&tablet, first, &missed) && has(&tablet, first, &offline),
    )
    .await;

    // The tablet writes to a document whose live change it missed: the relay acknowledges
    // the push and sends what the tablet lacks (the feed leaves out the tablet's own write).
    let missed =
        note_the_tablet_misses(&other, &drops, second, "Booked a fitting for Saturday").await;
    let own = note(&tablet, second, "Collected the boots");
    acknowledged(&tablet).await;
    until("the missed change on the tablet after its own push", || {
        has(&tablet, second, &missed) && has(&tablet, second, &own)
    })
    .await;
    assert_eq!(
        sessions.lock().unwrap().len(),
        1,
        "healed within the one session, not by reconnecting"
    );
    for t in [&mut tablet, &mut other, &mut third] {
        t.stop().await;
    }
}
