//! Standalone mode: serve a [`SocketIo`] server on an address without a router of your own
//! (Node's `io.listen(3000)`).

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower_layer::Layer;

use crate::{SocketIo, SocketIoLayer};

impl SocketIo {
    /// Serves this server alone on `addr` until [`shutdown`](Self::shutdown): requests under
    /// the path go to Socket.IO, every other request gets 404 (Node's `io.listen(3000)`).
    ///
    /// ```no_run
    /// use tower_socketio::extract::SocketRef;
    /// use tower_socketio::SocketIo;
    ///
    /// #[tokio::main]
    /// async fn main() -> std::io::Result<()> {
    ///     let io = SocketIo::new();
    ///     io.ns("/", |socket: SocketRef| { socket.emit("hello", &"world").ok(); });
    ///     io.listen("127.0.0.1:3000").await
    /// }
    /// ```
    pub async fn listen(&self, addr: impl tokio::net::ToSocketAddrs) -> std::io::Result<()> {
        let listener = TcpListener::bind(addr).await?;
        self.serve(listener).await
    }

    /// Like [`listen`](Self::listen), on a listener already bound (port 0, say).
    ///
    /// ```no_run
    /// # async fn f() -> std::io::Result<()> {
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// println!("on {}", listener.local_addr()?);
    /// tower_socketio::SocketIo::new().serve(listener).await
    /// # }
    /// ```
    pub async fn serve(&self, listener: TcpListener) -> std::io::Result<()> {
        let layer = SocketIoLayer::new(self.clone());
        let shutdown = self.0.shutdown.clone();
        let stopped = shutdown.notified();
        tokio::pin!(stopped);
        loop {
            let (stream, remote) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(err) => {
                        // Out of file descriptors and the like: pause instead of spinning.
                        tracing::warn!(%err, "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                },
                _ = &mut stopped => return Ok(()),
            };
            let _ = stream.set_nodelay(true);
            let service = layer.layer(tower::service_fn(not_found));
            let service =
                tower::util::MapRequest::new(service, move |req| with_remote(req, remote));
            tokio::spawn(async move {
                let served = auto::Builder::new(TokioExecutor::new())
                    .serve_connection_with_upgrades(
                        TokioIo::new(stream),
                        TowerToHyperService::new(service),
                    )
                    .await;
                if let Err(err) = served {
                    tracing::debug!(%err, %remote, "connection ended with an error");
                }
            });
        }
    }
}

/// Records the peer's address where the handshake looks for it.
fn with_remote(mut req: Request<Incoming>, remote: SocketAddr) -> Request<Incoming> {
    req.extensions_mut()
        .insert(axum::extract::ConnectInfo(remote));
    req
}

async fn not_found(_: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut res = Response::new(Full::new(Bytes::new()));
    *res.status_mut() = StatusCode::NOT_FOUND;
    Ok(res)
}
