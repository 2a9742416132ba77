//! Socket.IO on a bare hyper 1 server: no axum, no router. The layer wraps a plain
//! `tower::service_fn`, and hyper-util's connection builder serves it.
//!
//! ```text
//! cargo run --example hyper_server          # http://127.0.0.1:3000, PORT to change it
//! ```
//!
//! Two things matter when you serve the layer with hyper yourself:
//! - serve connections with `serve_connection_with_upgrades`, or WebSocket upgrades (HTTP 101)
//!   cannot happen and clients stay on long-polling;
//! - the layer takes any request body (`hyper::body::Incoming` here) and hands every request
//!   that is not under `/socket.io/` to the inner service untouched.
//!
//! `tests/engine/framework_examples.rs` serves [`service`] with [`serve`] and runs the real
//! `socket.io-client` against it.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use serde_json::Value;
use tokio::net::TcpListener;
use tower::{Layer, Service};
use tower_socketio::engine::ResponseBody;
use tower_socketio::extract::{AckSender, Args, Bin, Data, SocketRef};
use tower_socketio::{SocketIo, SocketIoLayer};

/// The application's own HTTP handler: everything the Socket.IO layer does not take.
async fn app(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let response = match req.uri().path() {
        "/" => Response::builder()
            .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .body(Full::new(Bytes::from_static(
                b"tower-socketio on a bare hyper server: point a socket.io client here\n",
            ))),
        _ => Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Full::new(Bytes::from_static(b"not found\n"))),
    };
    Ok(response.expect("valid response"))
}

/// The whole service: Socket.IO (`io`) in front of [`app`].
pub fn service(
    io: SocketIo,
) -> impl Service<
    Request<Incoming>,
    Response = Response<ResponseBody<Full<Bytes>>>,
    Error = Infallible,
    Future: Send + 'static,
> + Clone
+ Send
+ 'static {
    SocketIoLayer::new(io).layer(tower::service_fn(app))
}

/// Accepts connections on `listener` forever and serves [`service`] on each, HTTP/1.1 (with
/// upgrades, for WebSocket) or HTTP/2.
pub async fn serve(listener: TcpListener, io: SocketIo) {
    let service = service(io);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                // Out of file descriptors and the like: wait, do not spin or die.
                tracing::warn!(%err, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(service.clone());
        tokio::spawn(async move {
            let served = auto::Builder::new(TokioExecutor::new())
                .serve_connection_with_upgrades(TokioIo::new(stream), service)
                .await;
            if let Err(err) = served {
                tracing::debug!(%peer, %err, "connection ended with an error");
            }
        });
    }
}

/// An echo server: `message` comes back as `message-back`, `message-with-ack` is acked with
/// its own arguments, binary included.
#[cfg_attr(test, allow(dead_code))] // the test brings its own handlers
fn socket_io() -> SocketIo {
    let io = SocketIo::new();
    io.ns("/", |socket: SocketRef, Data(auth): Data<Value>| {
        tracing::info!(id = %socket.id(), %auth, "connected");
        socket.on("message", |socket: SocketRef, args: Args, Bin(bin): Bin| {
            socket.bin(bin).emit("message-back", &args).ok();
        });
        socket.on(
            "message-with-ack",
            |args: Args, Bin(bin): Bin, ack: AckSender| {
                ack.bin(bin).send(&args).ok();
            },
        );
    });
    io
}

#[cfg_attr(test, allow(dead_code))] // tests/engine/framework_examples.rs includes this file
#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3000);
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    tracing::info!("listening on http://{}", listener.local_addr()?);
    let io = socket_io();
    tokio::select! {
        () = serve(listener, io.clone()) => {}
        _ = tokio::signal::ctrl_c() => io.shutdown().await,
    }
    Ok(())
}
