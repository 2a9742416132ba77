//! The tower [`Layer`] that serves a [`SocketIo`] server in front of any service.

use std::task::{Context, Poll};

use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use crate::SocketIo;
use crate::client::SioHandler;
use crate::engine::{EngineIoLayer, EngineIoService, ResponseBody, ResponseFuture};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Serves Socket.IO under its path (default `/socket.io/`); every other request goes to the
/// inner service untouched.
///
/// ```
/// use tower_socketio::extract::SocketRef;
/// use tower_socketio::{SocketIo, SocketIoLayer};
///
/// let io = SocketIo::new();
/// io.ns("/", |socket: SocketRef| { socket.emit("hello", &"world").ok(); });
///
/// let app = axum::Router::new()
///     .route("/", axum::routing::get(|| async { "hello" }))
///     .layer(SocketIoLayer::new(io));
/// # let _: axum::Router = app;
/// ```
#[derive(Clone)]
pub struct SocketIoLayer {
    engine: EngineIoLayer<SioHandler>,
}

impl SocketIoLayer {
    /// A layer serving this server.
    pub fn new(io: SocketIo) -> Self {
        SocketIoLayer {
            engine: EngineIoLayer::from_engine(io.0.engine()),
        }
    }
}

impl std::fmt::Debug for SocketIoLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocketIoLayer").finish_non_exhaustive()
    }
}

/// The service made by [`SocketIoLayer`].
///
/// With hyper alone, without axum:
///
/// ```no_run
/// use tower_socketio::{SocketIo, SocketIoLayer};
/// use tower::Layer;
///
/// let io = SocketIo::new();
/// let service = SocketIoLayer::new(io).layer(tower::service_fn(|_req: http::Request<hyper::body::Incoming>| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Empty::<bytes::Bytes>::new()))
/// }));
/// // Serve `service` with hyper_util's `TowerToHyperService` and an auto connection builder.
/// # let _ = service;
/// ```
pub struct SocketIoService<S> {
    inner: EngineIoService<S, SioHandler>,
}

impl<S: Clone> Clone for SocketIoService<S> {
    fn clone(&self) -> Self {
        SocketIoService {
            inner: self.inner.clone(),
        }
    }
}

impl<S> std::fmt::Debug for SocketIoService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocketIoService").finish_non_exhaustive()
    }
}

impl<S> Layer<S> for SocketIoLayer {
    type Service = SocketIoService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SocketIoService {
            inner: self.engine.layer(inner),
        }
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for SocketIoService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ReqBody: http_body::Body + Send + 'static,
    ReqBody::Data: Send,
    ReqBody::Error: Into<BoxError>,
    ResBody: http_body::Body<Data = bytes::Bytes>,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        self.inner.call(req)
    }
}
