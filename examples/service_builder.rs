//! The Socket.IO layer inside an existing `tower::ServiceBuilder` stack, between tower-http's
//! `TraceLayer` and `CorsLayer` and the application's own service, served by hyper.
//!
//! ```text
//! RUST_LOG=tower_http=debug,tower_socketio=debug cargo run --example service_builder
//! ```
//!
//! Order matters, outermost first:
//! - `TraceLayer` sees every request, Socket.IO's included (one span per HTTP request; with
//!   WebSocket, the span ends at the 101 response while the socket lives on);
//! - `CorsLayer` answers preflight requests and adds `Access-Control-Allow-Origin` to the
//!   long-polling responses, so a page from another origin can connect (Node's `cors` option);
//! - `SocketIoLayer` takes the requests under `/socket.io/` and passes the others on;
//! - the application's service gets the rest.
//!
//! `tests/engine/framework_examples.rs` serves [`service`] and runs the real `socket.io-client`
//! against it.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use serde_json::Value;
use tokio::net::TcpListener;
use tower::{Service, ServiceBuilder};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::trace::TraceLayer;
use tower_socketio::extract::{Data, SocketRef};
use tower_socketio::{SocketIo, SocketIoLayer};

/// The application's own service.
async fn app(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let response = match (req.method(), req.uri().path()) {
        (&Method::GET, "/health") => Response::new(Full::new(Bytes::from_static(b"ok\n"))),
        _ => Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Full::new(Bytes::from_static(b"not found\n")))
            .expect("valid response"),
    };
    Ok(response)
}

/// Which origins may connect from a browser: `origins`, or any origin when it is empty.
fn cors(origins: &[&str]) -> CorsLayer {
    let allow = if origins.is_empty() {
        AllowOrigin::mirror_request()
    } else {
        AllowOrigin::list(
            origins
                .iter()
                .map(|o| HeaderValue::from_str(o).expect("origin")),
        )
    };
    CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::CONTENT_TYPE])
        // socket.io-client's `withCredentials: true` sends cookies (sticky sessions)
        .allow_credentials(true)
}

/// The stack: tracing, CORS (for `origins`, or any when empty), Socket.IO, then the app.
pub fn service(
    io: SocketIo,
    origins: &[&str],
) -> impl Service<
    Request<Incoming>,
    Response = Response<
        impl http_body::Body<Data = Bytes, Error: Into<Box<dyn std::error::Error + Send + Sync>>>
        + Send
        + 'static,
    >,
    Error = Infallible,
    Future: Send + 'static,
> + Clone
+ Send
+ 'static {
    ServiceBuilder::new()
        .layer(TraceLayer::new_for_http())
        .layer(cors(origins))
        .layer(SocketIoLayer::new(io))
        .service_fn(app)
}

/// Serves `service` on `listener` until the task is dropped.
pub async fn serve<S, B>(listener: TcpListener, service: S)
where
    S: Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                tracing::warn!(%err, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(service.clone());
        tokio::spawn(async move {
            // With upgrades: Socket.IO's WebSocket transport needs them.
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection_with_upgrades(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// A greeting on connection, and `echo` acked with its argument.
#[cfg_attr(test, allow(dead_code))] // the test brings its own handlers
fn socket_io() -> SocketIo {
    let io = SocketIo::new();
    io.ns("/", |socket: SocketRef| {
        socket.emit("welcome", &socket.id().to_string()).ok();
        socket.on(
            "echo",
            |Data(value): Data<Value>, ack: tower_socketio::extract::AckSender| {
                ack.send(&value).ok();
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
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "tower_http=debug,tower_socketio=info".into()),
        )
        .init();
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3000);
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    tracing::info!("listening on http://{}", listener.local_addr()?);
    let io = socket_io();
    // Pages served from http://localhost:8080 may connect from the browser.
    let service = service(io.clone(), &["http://localhost:8080"]);
    tokio::select! {
        () = serve(listener, service) => {}
        _ = tokio::signal::ctrl_c() => io.shutdown().await,
    }
    Ok(())
}
