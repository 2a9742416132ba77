//! A TCP proxy to a local `redis-server` that holds back what its clients send, as a far-away
//! Redis would: a command reaches Redis `delay` after it was sent (answers come back at once,
//! and order is kept). With it, a node's subscriptions take a while to be confirmed, so a
//! test sees whether the node waited for them.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// The proxy; it stops accepting when dropped.
pub struct SlowProxy {
    pub port: u16,
    accept: tokio::task::JoinHandle<()>,
}

impl SlowProxy {
    /// A proxy to `127.0.0.1:<upstream>` that delays every connection by `delay`.
    pub async fn start(upstream: u16, delay: Duration) -> SlowProxy {
        SlowProxy::start_with(upstream, move |_| delay).await
    }

    /// A proxy whose `n`th connection (from 0, in the order they are accepted) is delayed by
    /// `delay(n)`.
    pub async fn start_with(
        upstream: u16,
        delay: impl Fn(usize) -> Duration + Send + 'static,
    ) -> SlowProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let n = accepted.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(relay(client, upstream, delay(n)));
            }
        });
        SlowProxy { port, accept }
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for SlowProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Copies answers back as they come; holds each chunk the client sends for `delay`, in order.
async fn relay(client: TcpStream, upstream: u16, delay: Duration) {
    let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)).await else {
        return;
    };
    let (mut from_client, mut to_client) = client.into_split();
    let (mut from_server, mut to_server) = server.into_split();
    tokio::spawn(async move {
        let _ = tokio::io::copy(&mut from_server, &mut to_client).await;
    });
    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    tokio::spawn(async move {
        while let Some((sent, chunk)) = rx.recv().await {
            tokio::time::sleep_until(sent + delay).await;
            if to_server.write_all(&chunk).await.is_err() {
                return;
            }
        }
    });
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match from_client.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if tx.send((Instant::now(), buf[..n].to_vec())).is_err() {
                    return;
                }
            }
        }
    }
}
