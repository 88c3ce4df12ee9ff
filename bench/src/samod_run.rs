//! The same workloads through samod 0.16: its own axum WebSocket server holding the documents,
//! and a fresh samod repo dialling it. Bytes are counted on the client's transport.

use aisle_core::automerge::{Automerge, ROOT, transaction::Transactable};
use anyhow::Context;
use axum::extract::ws::WebSocketUpgrade;
use futures::future::BoxFuture;
use futures_util::{SinkExt, StreamExt, TryStreamExt};
use samod::{BackoffConfig, DialError, Dialer, DocHandle, DocumentId, Repo, Transport};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

pub struct FirstSync {
    pub docs: usize,
    pub done: usize,
    pub time: Duration,
}

impl FirstSync {
    pub fn seconds(&self) -> f64 {
        self.time.as_secs_f64()
    }

    pub fn describe(&self) -> String {
        if self.done == self.docs {
            format!("{:.2} s", self.seconds())
        } else {
            format!(
                "> {:.0} s (stopped: {} of {} documents)",
                self.seconds(),
                self.done,
                self.docs
            )
        }
    }
}

pub struct SamodResult {
    pub first_sync: FirstSync,
    /// Time and wire bytes ÷ change bytes, when the first sync finished.
    pub reconnect: Option<(Duration, f64)>,
}

#[derive(Default)]
struct Counters {
    sent: AtomicU64,
    received: AtomicU64,
}

impl Counters {
    fn total(&self) -> u64 {
        self.sent.load(Ordering::Relaxed) + self.received.load(Ordering::Relaxed)
    }
    fn reset(&self) {
        self.sent.store(0, Ordering::Relaxed);
        self.received.store(0, Ordering::Relaxed);
    }
}

/// A WebSocket dialer (tokio-tungstenite, no TLS) that counts the bytes it carries.
struct CountingDialer {
    url: samod::Url,
    counters: Arc<Counters>,
}

impl Dialer for CountingDialer {
    type Error = std::convert::Infallible;

    fn url(&self) -> samod::Url {
        self.url.clone()
    }

    fn connect(&self) -> BoxFuture<'static, Result<Transport, DialError<Self::Error>>> {
        let url = self.url.clone();
        let counters = self.counters.clone();
        Box::pin(async move {
            let (socket, _) = tokio_tungstenite::connect_async(url.as_str())
                .await
                .map_err(DialError::transient)?;
            let (sink, stream) = socket.split();
            let received = counters.clone();
            let stream = Box::pin(stream.try_filter_map(move |message| {
                let received = received.clone();
                async move {
                    Ok(match message {
                        Message::Binary(bytes) => {
                            received
                                .received
                                .fetch_add(bytes.len() as u64, Ordering::Relaxed);
                            Some(bytes.to_vec())
                        }
                        _ => None,
                    })
                }
            }));
            let sent = counters.clone();
            let sink = Box::pin(sink.with(move |bytes: Vec<u8>| {
                sent.sent.fetch_add(bytes.len() as u64, Ordering::Relaxed);
                futures::future::ready(Ok::<_, tokio_tungstenite::tungstenite::Error>(
                    Message::Binary(bytes.into()),
                ))
            }));
            Ok(Transport::new(stream, sink))
        })
    }
}

async fn server(
    docs: &[(String, Vec<u8>)],
) -> anyhow::Result<(Repo, Vec<DocumentId>, std::net::SocketAddr)> {
    let repo = Repo::build_tokio().load().await;
    let mut ids = Vec::with_capacity(docs.len());
    for (_, bytes) in docs {
        let doc = Automerge::load(bytes)?;
        let handle = repo
            .create(doc)
            .await
            .map_err(|_| anyhow::anyhow!("samod stopped"))?;
        ids.push(handle.document_id().clone());
    }
    let acceptor = repo
        .make_acceptor(samod::Url::parse("ws://127.0.0.1/")?)
        .map_err(|_| anyhow::anyhow!("samod stopped"))?;
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(move |ws: WebSocketUpgrade| {
            let acceptor = acceptor.clone();
            async move {
                ws.on_upgrade(move |socket| async move {
                    let _ = acceptor.accept_axum(socket, None);
                })
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((repo, ids, addr))
}

fn edit(handle: &DocHandle, text: &str) -> Vec<u8> {
    handle.with_document(|doc| {
        let before = doc.get_heads();
        let mut tx = doc.transaction();
        let _ = tx.put(ROOT, "bench_note", text);
        tx.commit();
        doc.save_after(&before)
    })
}

/// First sync of `docs`, then (if it finished) a reconnect after `changed_per_side` documents
/// changed on each side while offline.
pub async fn run(
    docs: &[(String, Vec<u8>)],
    changed_per_side: usize,
    timeout: Duration,
) -> anyhow::Result<SamodResult> {
    let n = changed_per_side;
    let (server_repo, ids, addr) = server(docs).await?;
    let counters = Arc::new(Counters::default());
    let url = samod::Url::parse(&format!("ws://{addr}/"))?;
    let client = Repo::build_tokio().load().await;
    let dialer = client
        .dial(
            BackoffConfig::default(),
            Arc::new(CountingDialer {
                url: url.clone(),
                counters: counters.clone(),
            }),
        )
        .map_err(|_| anyhow::anyhow!("samod stopped"))?;
    dialer
        .established()
        .await
        .map_err(|e| anyhow::anyhow!("samod dial failed: {e:?}"))?;

    // (a) fetch every document.
    let started = Instant::now();
    let mut handles = Vec::with_capacity(ids.len());
    let mut finds = futures::stream::iter(ids.clone())
        .map(|id| client.find(id))
        .buffer_unordered(64);
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            next = finds.next() => match next {
                Some(Ok(Some(handle))) => handles.push(handle),
                Some(_) => anyhow::bail!("samod could not find a document"),
                None => break,
            },
            () = &mut deadline => break,
        }
    }
    drop(finds);
    let first_sync = FirstSync {
        docs: ids.len(),
        done: handles.len(),
        time: started.elapsed(),
    };
    if first_sync.done < first_sync.docs || handles.len() < 2 * n {
        dialer.close();
        client.stop().await;
        server_repo.stop().await;
        return Ok(SamodResult {
            first_sync,
            reconnect: None,
        });
    }

    // (b) offline, `n` changes on each side, reconnect.
    dialer.close();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut own_bytes = 0usize;
    let local: Vec<DocHandle> = handles[..n].to_vec();
    for h in &local {
        own_bytes += edit(h, "Asked for the navy parka in M; call when it is back").len();
    }
    let mut remote = Vec::new();
    for h in &handles[n..2 * n] {
        let server_handle = server_repo
            .find(h.document_id().clone())
            .await
            .map_err(|_| anyhow::anyhow!("samod stopped"))?
            .context("server lost a document")?;
        own_bytes += edit(
            &server_handle,
            "Tried the trail runners in 42; wants to think about it",
        )
        .len();
        remote.push((h.clone(), server_handle));
    }
    let mut pushed = Vec::new();
    for h in &local {
        let server_handle = server_repo
            .find(h.document_id().clone())
            .await
            .map_err(|_| anyhow::anyhow!("samod stopped"))?
            .context("server lost a document")?;
        pushed.push((h.clone(), server_handle));
    }
    counters.reset();
    let started = Instant::now();
    let dialer = client
        .dial(
            BackoffConfig::default(),
            Arc::new(CountingDialer {
                url,
                counters: counters.clone(),
            }),
        )
        .map_err(|_| anyhow::anyhow!("samod stopped"))?;
    dialer
        .established()
        .await
        .map_err(|e| anyhow::anyhow!("samod dial failed: {e:?}"))?;
    let settled = loop {
        let done = remote
            .iter()
            .chain(pushed.iter())
            .all(|(c, s)| c.with_document(|d| d.get_heads()) == s.with_document(|d| d.get_heads()));
        if done {
            break Some(started.elapsed());
        }
        if started.elapsed() > timeout {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let reconnect = settled.map(|time| (time, counters.total() as f64 / own_bytes.max(1) as f64));
    dialer.close();
    client.stop().await;
    server_repo.stop().await;
    Ok(SamodResult {
        first_sync,
        reconnect,
    })
}
