//! A TCP load balancer on loopback, as a chain puts in front of its relays: each connection
//! goes to the next backend in turn that accepts it, bytes passed through untouched (TLS ends
//! at the relays, which share one certificate). A dead backend is skipped.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};

pub struct Balancer {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Balancer {
    pub async fn start(backends: Vec<SocketAddr>) -> anyhow::Result<Self> {
        Self::start_on("127.0.0.1:0".parse()?, backends).await
    }

    /// On a given address (one the relays were told is theirs, `--public-url`).
    pub async fn start_on(listen: SocketAddr, backends: Vec<SocketAddr>) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let backends = Arc::new(backends);
        let next = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let (backends, next) = (backends.clone(), next.clone());
                tokio::spawn(async move {
                    let first = next.fetch_add(1, Ordering::Relaxed);
                    for i in 0..backends.len() {
                        let backend = backends[(first + i) % backends.len()];
                        let connected = tokio::time::timeout(
                            Duration::from_secs(1),
                            TcpStream::connect(backend),
                        )
                        .await;
                        if let Ok(Ok(mut upstream)) = connected {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                            return;
                        }
                    }
                });
            }
        });
        Ok(Self { addr, task })
    }

    /// `https://<addr>`.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
