//! Serving the router over TCP, one task per connection: TLS when configured, HTTP/1.1 with
//! WebSocket upgrades, and a deadline for the TLS handshake and a request's headers.
//! `axum::serve` has no such deadline, so a client sending its headers a byte at a time could
//! hold connections open for as long as it liked.
//!
//! Behind a TLS-terminating proxy, connections come from the proxy: from a trusted proxy's
//! address only, the client's address is read from `X-Forwarded-For`.

use axum::extract::{ConnectInfo, Request};
use axum::middleware::Next;
use axum::{Extension, Router};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, warn};

/// How long a client has to send a request's headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How connections are taken: with TLS or without, and which peers are proxies.
#[derive(Clone, Default)]
pub struct Connections {
    pub tls: Option<TlsAcceptor>,
    pub trusted_proxies: Arc<[IpAddr]>,
}

/// Serves `app` on `listener` until `stopping` turns true, then lets requests in progress
/// finish. Upgraded sync sessions run on their own and end through the same signal.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    mut stopping: watch::Receiver<bool>,
    connections_are: Connections,
) -> anyhow::Result<()> {
    let mut connections = JoinSet::new();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, say: the next accept may work.
                    warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = stopped(&mut stopping) => break,
        };
        // Sync frames are small and latency matters more than packet count.
        let _ = stream.set_nodelay(true);
        // Handlers that limit by address (enrolment) read it as axum's `ConnectInfo`: the peer,
        // or behind a trusted proxy the client it names, set once per request.
        let app = if is_trusted(&connections_are.trusted_proxies, peer.ip()) {
            let trusted = connections_are.trusted_proxies.clone();
            app.clone().layer(axum::middleware::from_fn(
                move |mut request: Request, next: Next| {
                    let client = forwarded_client(&request, peer, &trusted);
                    request.extensions_mut().insert(ConnectInfo(client));
                    next.run(request)
                },
            ))
        } else {
            app.clone().layer(Extension(ConnectInfo(peer)))
        };
        let tls = connections_are.tls.clone();
        let stop = stopping.clone();
        connections.spawn(async move {
            match tls {
                None => serve_connection(stream, app, peer, stop).await,
                Some(acceptor) => {
                    match tokio::time::timeout(HEADER_READ_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => serve_connection(stream, app, peer, stop).await,
                        // Scanners, plain HTTP sent to the TLS port, clients that refuse the
                        // certificate: nothing the relay can act on.
                        Ok(Err(e)) => debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => debug!(%peer, "TLS handshake timed out"),
                    }
                }
            }
        });
        while connections.try_join_next().is_some() {}
    }
    while connections.join_next().await.is_some() {}
    Ok(())
}

async fn serve_connection<I>(io: I, app: Router, peer: SocketAddr, mut stop: watch::Receiver<bool>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let connection = builder
        .serve_connection(TokioIo::new(io), TowerToHyperService::new(app))
        .with_upgrades();
    tokio::pin!(connection);
    let outcome = tokio::select! {
        outcome = connection.as_mut() => outcome,
        () = stopped(&mut stop) => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(e) = outcome {
        debug!(%peer, error = %e, "connection ended with an error");
    }
}

/// The client behind a trusted proxy: the right-most address in `X-Forwarded-For` that is not
/// itself a trusted proxy (entries to its left are whatever the client claimed). Without the
/// header, the proxy itself.
fn forwarded_client(request: &Request, peer: SocketAddr, trusted: &[IpAddr]) -> SocketAddr {
    let hops = request
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    for hop in hops.iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(ip) if is_trusted(trusted, ip) => continue,
            Ok(ip) => return SocketAddr::new(ip, 0),
            // A malformed entry ends what can be believed.
            Err(_) => break,
        }
    }
    peer
}

/// An IPv4 proxy reaching a dual-stack listener shows up as `::ffff:a.b.c.d`.
fn is_trusted(trusted: &[IpAddr], ip: IpAddr) -> bool {
    let ip = ip.to_canonical();
    trusted.iter().any(|t| t.to_canonical() == ip)
}

/// Resolves once `stopping` is true (or its sender is gone).
async fn stopped(stopping: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is dropped here, not held across the caller's awaits.
    let _ = stopping.wait_for(|stop| *stop).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client_of(forwarded: &[&str]) -> SocketAddr {
        let mut request = Request::new(axum::body::Body::empty());
        for value in forwarded {
            request.headers_mut().append(
                "x-forwarded-for",
                value.parse().unwrap_or_else(|_| unreachable!()),
            );
        }
        let proxy: IpAddr = [10, 0, 0, 2].into();
        let inner: IpAddr = [10, 0, 0, 3].into();
        forwarded_client(&request, SocketAddr::new(proxy, 443), &[proxy, inner])
    }

    #[test]
    fn the_client_is_the_last_address_no_trusted_proxy_wrote() {
        let client = |ip: [u8; 4]| SocketAddr::new(IpAddr::from(ip), 0);
        assert_eq!(client_of(&["203.0.113.9"]), client([203, 0, 113, 9]));
        // What the client put first is its own claim; the proxies appended the rest.
        assert_eq!(
            client_of(&["1.2.3.4, 203.0.113.9, 10.0.0.3"]),
            client([203, 0, 113, 9])
        );
        assert_eq!(
            client_of(&["1.2.3.4", "203.0.113.9"]),
            client([203, 0, 113, 9])
        );
        // No header, or nothing believable: the proxy's own address.
        let proxy = SocketAddr::new(IpAddr::from([10, 0, 0, 2]), 443);
        assert_eq!(client_of(&[]), proxy);
        assert_eq!(client_of(&["not-an-address"]), proxy);
    }
}
