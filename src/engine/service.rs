//! The tower [`Layer`] and [`Service`] that put an Engine.IO server in front of any service.
//!
//! Requests under the configured path are answered by the engine; every other request goes to
//! the inner service untouched.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body, Frame as BodyFrame, SizeHint};
use http_body_util::Full;
use pin_project::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use super::{Engine, EngineConfig, EngineHandler};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type EngineFuture = Pin<Box<dyn Future<Output = Response<Full<Bytes>>> + Send>>;

/// Serves Engine.IO under a path in front of an inner service.
///
/// ```
/// use tower_socketio::engine::{CloseReason, EngineConfig, EngineHandler, EngineIoLayer, Message, Session};
///
/// struct Quiet;
/// impl EngineHandler for Quiet {
///     type State = ();
///     fn on_open(&self, _: &Session) {}
///     fn on_message(&self, _: &(), _: &Session, _: Message) {}
///     fn on_close(&self, _: &(), _: &Session, _: CloseReason) {}
/// }
///
/// let layer = EngineIoLayer::new(Quiet, EngineConfig::default().path("/engine.io/"));
/// let app: axum::Router = axum::Router::new().layer(layer.clone());
/// // Later, on shutdown:
/// layer.shutdown();
/// ```
pub struct EngineIoLayer<H: EngineHandler> {
    engine: Arc<Engine<H>>,
}

impl<H: EngineHandler> Clone for EngineIoLayer<H> {
    fn clone(&self) -> Self {
        EngineIoLayer {
            engine: self.engine.clone(),
        }
    }
}

impl<H: EngineHandler> EngineIoLayer<H> {
    /// An Engine.IO server with this handler and configuration.
    pub fn new(handler: H, config: EngineConfig) -> Self {
        EngineIoLayer {
            engine: Engine::new(handler, config),
        }
    }

    pub(crate) fn from_engine(engine: Arc<Engine<H>>) -> Self {
        EngineIoLayer { engine }
    }

    /// The handler given to [`EngineIoLayer::new`].
    pub fn handler(&self) -> &H {
        &self.engine.handler
    }

    /// How many sessions are open.
    pub fn session_count(&self) -> usize {
        self.engine.len()
    }

    /// Closes every session with "server shutting down" after flushing what is queued, and
    /// refuses new handshakes.
    pub fn shutdown(&self) {
        self.engine.shutdown();
    }
}

impl<S, H: EngineHandler> Layer<S> for EngineIoLayer<H> {
    type Service = EngineIoService<S, H>;

    fn layer(&self, inner: S) -> Self::Service {
        EngineIoService {
            inner,
            engine: self.engine.clone(),
        }
    }
}

/// The [`Service`] made by [`EngineIoLayer`].
///
/// It is what [`EngineIoLayer`] wraps a service in; any tower stack can use it:
///
/// ```
/// use tower::ServiceBuilder;
/// use tower_socketio::engine::{CloseReason, EngineConfig, EngineHandler, EngineIoLayer, Message, Session};
///
/// struct Quiet;
/// impl EngineHandler for Quiet {
///     type State = ();
///     fn on_open(&self, _: &Session) {}
///     fn on_message(&self, _: &(), _: &Session, _: Message) {}
///     fn on_close(&self, _: &(), _: &Session, _: CloseReason) {}
/// }
///
/// let service = ServiceBuilder::new()
///     .layer(EngineIoLayer::new(Quiet, EngineConfig::default()))
///     .service(tower::service_fn(|_req: http::Request<axum::body::Body>| async {
///         Ok::<_, std::convert::Infallible>(http::Response::new(axum::body::Body::empty()))
///     }));
/// # let _ = service;
/// ```
pub struct EngineIoService<S, H: EngineHandler> {
    inner: S,
    engine: Arc<Engine<H>>,
}

impl<S: Clone, H: EngineHandler> Clone for EngineIoService<S, H> {
    fn clone(&self) -> Self {
        EngineIoService {
            inner: self.inner.clone(),
            engine: self.engine.clone(),
        }
    }
}

impl<S, H, ReqBody, ResBody> Service<Request<ReqBody>> for EngineIoService<S, H>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    H: EngineHandler,
    ReqBody: Body + Send + 'static,
    ReqBody::Data: Send,
    ReqBody::Error: Into<BoxError>,
    ResBody: Body<Data = Bytes>,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        if req
            .uri()
            .path()
            .starts_with(self.engine.config.path.as_str())
        {
            let engine = self.engine.clone();
            ResponseFuture {
                kind: FutureKind::Engine {
                    future: Box::pin(engine.handle(req)),
                },
            }
        } else {
            ResponseFuture {
                kind: FutureKind::Inner {
                    future: self.inner.call(req),
                },
            }
        }
    }
}

/// The response future of [`EngineIoService`].
///
/// ```
/// # use tower_socketio::engine::ResponseFuture;
/// fn is_future<F: std::future::Future>(_: &F) {}
/// # fn f<F: std::future::Future<Output = Result<http::Response<()>, ()>>>(fut: ResponseFuture<F>) { is_future(&fut); }
/// ```
#[pin_project]
pub struct ResponseFuture<F> {
    #[pin]
    kind: FutureKind<F>,
}

#[pin_project(project = FutureKindProj)]
enum FutureKind<F> {
    Engine {
        future: EngineFuture,
    },
    Inner {
        #[pin]
        future: F,
    },
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            FutureKindProj::Engine { future } => future
                .as_mut()
                .poll(cx)
                .map(|res| Ok(res.map(|body| ResponseBody::engine(body)))),
            FutureKindProj::Inner { future } => future
                .poll(cx)
                .map(|res| res.map(|res| res.map(|body| ResponseBody::inner(body)))),
        }
    }
}

/// The response body of [`EngineIoService`]: the engine's own or the inner service's.
///
/// ```
/// # use tower_socketio::engine::ResponseBody;
/// fn is_body<B: http_body::Body>(_: &B) {}
/// # fn f(body: ResponseBody<axum::body::Body>) { is_body(&body); }
/// ```
#[pin_project]
pub struct ResponseBody<B> {
    #[pin]
    kind: BodyKind<B>,
}

#[pin_project(project = BodyKindProj)]
enum BodyKind<B> {
    Engine {
        #[pin]
        body: Full<Bytes>,
    },
    Inner {
        #[pin]
        body: B,
    },
}

impl<B> ResponseBody<B> {
    fn engine(body: Full<Bytes>) -> Self {
        ResponseBody {
            kind: BodyKind::Engine { body },
        }
    }

    fn inner(body: B) -> Self {
        ResponseBody {
            kind: BodyKind::Inner { body },
        }
    }
}

/// An empty body, for layers such as tower-http's CORS that answer on their own.
impl<B> Default for ResponseBody<B> {
    fn default() -> Self {
        ResponseBody::engine(Full::default())
    }
}

impl<B> Body for ResponseBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<BodyFrame<Bytes>, BoxError>>> {
        match self.project().kind.project() {
            BodyKindProj::Engine { body } => body
                .poll_frame(cx)
                .map(|f| f.map(|f| f.map_err(|never| match never {}))),
            BodyKindProj::Inner { body } => body
                .poll_frame(cx)
                .map(|f| f.map(|f| f.map_err(Into::into))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            BodyKind::Engine { body } => body.is_end_stream(),
            BodyKind::Inner { body } => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            BodyKind::Engine { body } => body.size_hint(),
            BodyKind::Inner { body } => body.size_hint(),
        }
    }
}
