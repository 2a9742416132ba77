//! Engine.IO: the transport layer under Socket.IO, usable on its own like the `engine.io` npm
//! package.
//!
//! A connection opens as HTTP long-polling (or directly as a WebSocket), upgrades to WebSocket
//! once a probe proves it works, and is kept alive by a heartbeat. The application sees only
//! sessions and messages through an [`EngineHandler`]; the engine knows nothing of Socket.IO.
//!
//! ```no_run
//! use tower_socketio::engine::{CloseReason, EngineConfig, EngineHandler, EngineIoLayer, Message, Session};
//!
//! /// Echoes every message back to its sender.
//! struct Echo;
//!
//! impl EngineHandler for Echo {
//!     type State = ();
//!     fn on_open(&self, _session: &Session) {}
//!     fn on_message(&self, _: &(), session: &Session, message: Message) {
//!         let _ = match message {
//!             Message::Text(text) => session.send_text(&text),
//!             Message::Binary(data) => session.send_binary(data),
//!         };
//!     }
//!     fn on_close(&self, _: &(), _session: &Session, _reason: CloseReason) {}
//! }
//!
//! # async fn run() {
//! let app = axum::Router::new().layer(EngineIoLayer::new(Echo, EngineConfig::default()));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await.unwrap();
//! axum::serve(listener, app).await.unwrap();
//! # }
//! ```

mod burst;
mod config;
mod error;
#[cfg(feature = "no-sticky")]
mod forward;
mod head;
pub(crate) mod observe;
mod packet;
mod payload;
mod polling;
mod query;
mod read_ahead;
mod service;
mod session;
mod sid;
mod v3;
mod websocket;
mod ws_link;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, header};
use http_body_util::Full;
use tracing::Instrument;

pub use config::{EngineConfig, Transports};
pub use error::{CloseReason, RequestError, SendError};
#[cfg(feature = "no-sticky")]
pub use forward::{Forwarding, InvalidNodeId, NodeId, NodeLocator};
pub use packet::{Frame, Message, PacketError, Text};
pub use query::TransportKind;
pub use service::{EngineIoLayer, EngineIoService, ResponseBody, ResponseFuture};
pub use session::Session;
pub use sid::{InvalidSid, Sid};

pub(crate) use query::pairs as query_pairs;

pub(crate) use burst::Burst;
use error::empty_response;
pub(crate) use head::RequestHead;
use packet::Packet;
use session::SessionHost;

/// The Engine.IO protocol version a client speaks (`EIO` in the query).
///
/// ```
/// # fn f(session: tower_socketio::engine::Session) {
/// use tower_socketio::engine::ProtocolVersion;
///
/// if session.protocol() == ProtocolVersion::V3 {
///     println!("a Socket.IO v2 client");
/// }
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProtocolVersion {
    /// Engine.IO v3 (Socket.IO v2 clients), when enabled with [`EngineConfig::allow_eio3`].
    V3,
    /// Engine.IO v4 (Socket.IO v3 and v4 clients).
    V4,
}

/// The application side of an Engine.IO server: what happens when sessions open, send and
/// close.
///
/// Callbacks run on the connection's own task, in the order packets arrived, and must not
/// block: queue work elsewhere if it takes time. See the [module docs](self) for an example.
pub trait EngineHandler: Send + Sync + 'static {
    /// What the application keeps for each session.
    type State: Send + Sync + 'static;

    /// A session opened (after the open packet was queued); returns its state.
    fn on_open(&self, session: &Session) -> Self::State;

    /// A message arrived.
    fn on_message(&self, state: &Self::State, session: &Session, message: Message);

    /// The session closed; nothing more will arrive.
    fn on_close(&self, state: &Self::State, session: &Session, reason: CloseReason);

    /// The session moved from long-polling to WebSocket. Nothing to do by default.
    fn on_upgrade(&self, state: &Self::State, session: &Session) {
        let _ = (state, session);
    }
}

/// A session and what the application keeps for it.
pub(crate) struct Entry<S> {
    pub(crate) session: Session,
    pub(crate) state: S,
}

/// The engine shared by every request: configuration, handler and the live sessions.
pub(crate) struct Engine<H: EngineHandler> {
    pub(crate) config: Arc<EngineConfig>,
    pub(crate) handler: H,
    sessions: RwLock<HashMap<Sid, Arc<Entry<H::State>>>>,
    shutting_down: AtomicBool,
    /// The runtime of the first session, for what a session defers when its caller is on no
    /// runtime (see [`SessionHost::runtime`]).
    runtime: std::sync::OnceLock<tokio::runtime::Handle>,
    /// Instrumentation, once installed (see [`observe`]).
    observer: observe::ObserverSlot,
    /// Serving any session from any node of a cluster (feature `no-sticky`).
    #[cfg(feature = "no-sticky")]
    forwarder: Option<forward::Forwarder>,
}

/// Where a request comes from: a client, or another node forwarding a client's request (which
/// is never forwarded again).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    Client,
    #[cfg(feature = "no-sticky")]
    Forwarded,
}

/// What a packet means for the connection that carried it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    Continue,
    Stop,
}

impl<H: EngineHandler> Engine<H> {
    pub(crate) fn new(handler: H, config: EngineConfig) -> Arc<Self> {
        Engine::observed(handler, config, observe::ObserverSlot::default())
    }

    /// An engine whose sessions report to the observer in `observer` once one is installed.
    pub(crate) fn observed(
        handler: H,
        config: EngineConfig,
        observer: observe::ObserverSlot,
    ) -> Arc<Self> {
        #[cfg(feature = "no-sticky")]
        let forwarder = config.forwarding.as_ref().map(|options| {
            forward::Forwarder::bind(options, config.ping_interval + config.ping_timeout)
        });
        let engine = Arc::new(Engine {
            config: Arc::new(config),
            handler,
            sessions: RwLock::new(HashMap::new()),
            shutting_down: AtomicBool::new(false),
            runtime: std::sync::OnceLock::new(),
            observer,
            #[cfg(feature = "no-sticky")]
            forwarder,
        });
        #[cfg(feature = "no-sticky")]
        engine.serve_forwarded_requests();
        engine
    }

    /// This node's id and the address it tells other nodes, in a cluster without sticky
    /// sessions.
    #[cfg(feature = "no-sticky")]
    pub(crate) fn forwarding_identity(&self) -> Option<(NodeId, std::net::SocketAddr)> {
        let forwarder = self.forwarder.as_ref()?;
        Some((forwarder.node, forwarder.advertised?))
    }

    /// Starts the internal listener once a runtime is there (at creation or on the first
    /// request), and tells the locator.
    #[cfg(feature = "no-sticky")]
    fn serve_forwarded_requests(self: &Arc<Self>) {
        let Some(forwarder) = self.forwarder.as_ref().filter(|f| !f.listener_taken()) else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if let Some((listener, stop)) = forwarder.take_listener() {
            runtime.spawn(forward::serve_internal(
                Arc::downgrade(self),
                listener,
                stop,
            ));
            if let (Some(locator), Some(advertised)) = (&forwarder.locator, forwarder.advertised) {
                locator.started(forwarder.node, advertised);
            }
        }
    }

    fn sessions_read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<Sid, Arc<Entry<H::State>>>> {
        self.sessions.read().unwrap_or_else(|p| p.into_inner())
    }

    fn sessions_write(
        &self,
    ) -> std::sync::RwLockWriteGuard<'_, HashMap<Sid, Arc<Entry<H::State>>>> {
        self.sessions.write().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn get(&self, sid: &Sid) -> Option<Arc<Entry<H::State>>> {
        self.sessions_read().get(sid).cloned()
    }

    /// How many sessions are open.
    pub(crate) fn len(&self) -> usize {
        self.sessions_read().len()
    }

    /// Every open session.
    pub(crate) fn sessions(&self) -> Vec<Arc<Entry<H::State>>> {
        self.sessions_read().values().cloned().collect()
    }

    /// Closes every session with "server shutting down", flushing their queues first, and
    /// refuses new handshakes.
    pub(crate) fn shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
        for entry in self.sessions() {
            entry
                .session
                .close_with(CloseReason::ServerShuttingDown, true);
        }
    }

    /// Answers one request under the engine's path.
    pub(crate) async fn handle<B>(self: Arc<Self>, req: Request<B>) -> Response<Full<Bytes>>
    where
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        #[cfg(feature = "no-sticky")]
        self.serve_forwarded_requests();
        self.handle_from(req, Origin::Client).await
    }

    async fn handle_from<B>(
        self: Arc<Self>,
        req: Request<B>,
        origin: Origin,
    ) -> Response<Full<Bytes>>
    where
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let is_upgrade = websocket::is_upgrade_request(&req);
        let routed = match query::parse(req.uri().query()) {
            Ok(query) => {
                let span = request_span(&req, &query);
                self.route(req, query, is_upgrade, origin)
                    .instrument(span)
                    .await
            }
            Err(err) => Err(err),
        };
        match routed {
            Ok(res) => res,
            Err(err) => {
                tracing::debug!(error = %err, "request refused");
                if is_upgrade {
                    err.into_upgrade_response()
                } else {
                    err.into_response()
                }
            }
        }
    }

    async fn route<B>(
        self: &Arc<Self>,
        req: Request<B>,
        query: query::EngineQuery,
        is_upgrade: bool,
        origin: Origin,
    ) -> Result<Response<Full<Bytes>>, RequestError>
    where
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let enabled = match query.transport {
            TransportKind::Polling => self.config.transports.polling,
            TransportKind::WebSocket => self.config.transports.websocket,
        };
        if !enabled {
            return Err(RequestError::UnknownTransport);
        }
        match query.sid {
            Some(sid) => {
                let Some(entry) = sid.ok().and_then(|sid| self.get(&sid)) else {
                    return self.not_here(sid.ok(), req, is_upgrade, origin).await;
                };
                // Node counts anything but `EIO=4` as v3, and a session keeps its revision.
                if query.protocol.unwrap_or(ProtocolVersion::V3) != entry.session.protocol() {
                    return Err(RequestError::BadRequest);
                }
                if is_upgrade {
                    if query.transport != TransportKind::WebSocket || !self.config.allow_upgrades {
                        return Err(RequestError::BadRequest);
                    }
                    return websocket::upgrade(self.clone(), entry, req);
                }
                if entry.session.transport() != query.transport
                    || query.transport != TransportKind::Polling
                {
                    return Err(RequestError::BadRequest);
                }
                Ok(match *req.method() {
                    Method::GET => polling::get(self, &entry, req.headers()).await,
                    Method::POST => polling::post(self, &entry, req).await,
                    _ => empty_response(http::StatusCode::INTERNAL_SERVER_ERROR),
                })
            }
            None => {
                if origin != Origin::Client {
                    // Other nodes forward only requests for existing sessions.
                    return Err(RequestError::BadRequest);
                }
                if req.method() != Method::GET {
                    return Err(RequestError::BadHandshakeMethod);
                }
                if query.transport == TransportKind::WebSocket && !is_upgrade {
                    return Err(RequestError::BadRequest);
                }
                let (parts, body) = req.into_parts();
                if let Some(allow) = &self.config.allow_request
                    && !allow(&parts).await
                {
                    return Err(RequestError::Forbidden);
                }
                let protocol = match query.protocol {
                    Some(ProtocolVersion::V4) => ProtocolVersion::V4,
                    Some(ProtocolVersion::V3) if self.config.allow_eio3 => ProtocolVersion::V3,
                    _ => return Err(RequestError::UnsupportedProtocolVersion),
                };
                if self.shutting_down.load(Ordering::SeqCst) {
                    return Err(RequestError::BadRequest);
                }
                let mut req = Request::from_parts(parts, body);
                let upgrade = match query.transport {
                    TransportKind::WebSocket => Some(websocket::accept(&mut req)?),
                    TransportKind::Polling => None,
                };
                let (parts, _body) = req.into_parts();
                let accept_encoding = parts.headers.get(header::ACCEPT_ENCODING).cloned();
                let entry = self.open(parts, protocol, query.b64, query.transport);
                match upgrade {
                    Some((response, on_upgrade)) => {
                        websocket::spawn(self.clone(), entry, on_upgrade, false);
                        Ok(response)
                    }
                    None => {
                        let mut res = polling::drain_now(&entry.session, accept_encoding);
                        if let Some(name) = &self.config.cookie {
                            set_cookie(&mut res, name, entry.session.sid());
                        }
                        Ok(res)
                    }
                }
            }
        }
    }

    /// A request for a session this node does not hold: forwarded to its owner when it is
    /// another node of a cluster without sticky sessions, unknown otherwise.
    #[cfg_attr(not(feature = "no-sticky"), allow(unused_variables))]
    async fn not_here<B>(
        &self,
        sid: Option<Sid>,
        req: Request<B>,
        is_upgrade: bool,
        origin: Origin,
    ) -> Result<Response<Full<Bytes>>, RequestError>
    where
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        #[cfg(feature = "no-sticky")]
        if let (Some(forwarder), Some(sid), Origin::Client) = (&self.forwarder, sid, origin) {
            return forward::to_owner(forwarder, sid, req, is_upgrade, &self.config).await;
        }
        Err(RequestError::UnknownSid)
    }

    /// Creates a session: queues the open packet, lets the application set up its state,
    /// registers the session and starts its heartbeat.
    fn open(
        self: &Arc<Self>,
        parts: http::request::Parts,
        protocol: ProtocolVersion,
        b64: bool,
        transport: TransportKind,
    ) -> Arc<Entry<H::State>> {
        #[cfg(feature = "no-sticky")]
        let sid = match &self.forwarder {
            Some(forwarder) => Sid::with_node(forwarder.node.bytes()),
            None => Sid::new(),
        };
        #[cfg(not(feature = "no-sticky"))]
        let sid = Sid::new();
        if self.runtime.get().is_none()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let _ = self.runtime.set(runtime);
        }
        let host: Arc<dyn SessionHost> = self.clone();
        let session = Session::new(
            sid,
            protocol,
            b64,
            transport,
            self.config.clone(),
            Arc::new(RequestHead::new(parts)),
            Arc::downgrade(&host),
        );
        session
            .state()
            .push_control(Frame::from_packet_text(self.open_packet(sid, transport)));
        tracing::debug!(%sid, transport = transport.as_str(), ?protocol, "session opened");
        if let Some(observer) = &session.0.observer {
            observer.session_opened(transport);
        }
        crate::metrics::global()
            .sessions(transport == TransportKind::WebSocket)
            .increment(1.0);
        let state = self.handler.on_open(&session);
        let entry = Arc::new(Entry {
            session: session.clone(),
            state,
        });
        if session.is_open() {
            self.sessions_write().insert(sid, entry.clone());
            // A session born on a WebSocket has its heartbeat run by the connection's task.
            if transport == TransportKind::Polling {
                tokio::spawn(session::heartbeat(session));
            }
        }
        entry
    }

    fn open_packet(&self, sid: Sid, transport: TransportKind) -> Vec<u8> {
        let upgrades = if transport == TransportKind::Polling
            && self.config.allow_upgrades
            && self.config.transports.websocket
        {
            r#"["websocket"]"#
        } else {
            "[]"
        };
        format!(
            r#"0{{"sid":"{}","upgrades":{},"pingInterval":{},"pingTimeout":{},"maxPayload":{}}}"#,
            sid,
            upgrades,
            self.config.ping_interval.as_millis(),
            self.config.ping_timeout.as_millis(),
            self.config.max_http_buffer_size
        )
        .into_bytes()
    }

    /// Acts on one packet from the client, whichever transport carried it.
    pub(crate) fn on_packet(
        &self,
        entry: &Entry<H::State>,
        packet: Packet,
        via: TransportKind,
    ) -> Flow {
        let session = &entry.session;
        if !session.is_open() {
            return Flow::Stop;
        }
        match packet {
            Packet::Message(message) => {
                tracing::trace!(sid = %session.sid(), ?message, "message in");
                if let Some(observer) = &session.0.observer {
                    observer.message_in(message.len());
                }
                crate::metrics::global().message_received(message.len());
                self.handler.on_message(&entry.state, session, message);
            }
            Packet::Pong { .. } if !session.is_v3() => session.0.heartbeat.notify_one(),
            Packet::Ping { .. } if session.is_v3() => {
                session.state().push_control(Frame::pong());
                session.wake_transports();
                session.0.heartbeat.notify_one();
            }
            // A probe belongs on a candidate WebSocket; on the transport carrying a v4 session it
            // is a ping in the wrong direction, as Node judges it.
            Packet::Ping { .. } | Packet::Pong { .. } => {
                // A heartbeat in the wrong direction for the protocol version.
                session.close(CloseReason::TransportError);
                return Flow::Stop;
            }
            // Node acts on `1` only over polling; a WebSocket client closes the socket instead.
            Packet::Close if via == TransportKind::Polling => {
                session.close(CloseReason::TransportClose);
                return Flow::Stop;
            }
            Packet::Close => {}
            Packet::Open | Packet::Noop | Packet::Upgrade => {}
        }
        Flow::Continue
    }

    /// Acts on a packet that could not be decoded.
    pub(crate) fn on_parse_error(&self, session: &Session, error: PacketError) -> Flow {
        tracing::warn!(sid = %session.sid(), %error, "parse error");
        session.close(CloseReason::ParseError);
        Flow::Stop
    }
}

impl<H: EngineHandler> Engine<H> {
    /// A session finished its upgrade to WebSocket.
    pub(crate) fn on_upgraded(&self, entry: &Entry<H::State>) {
        if let Some(observer) = &entry.session.0.observer {
            observer.session_upgraded();
        }
        crate::metrics::global().upgraded();
        self.handler.on_upgrade(&entry.state, &entry.session);
    }
}

impl<H: EngineHandler> SessionHost for Engine<H> {
    fn session_closed(&self, sid: Sid, reason: CloseReason) {
        if let Some(entry) = self.get(&sid) {
            self.handler.on_close(&entry.state, &entry.session, reason);
        }
    }

    fn session_finished(&self, sid: Sid) {
        self.sessions_write().remove(&sid);
    }

    fn runtime(&self) -> Option<tokio::runtime::Handle> {
        self.runtime.get().cloned()
    }

    fn observer(&self) -> Option<Arc<dyn observe::EngineObserver>> {
        self.observer.get().cloned()
    }
}

/// A session owner that is never there: sessions built for benchmarks without an engine.
#[cfg(feature = "internals")]
pub(crate) struct DetachedHost;

#[cfg(feature = "internals")]
impl SessionHost for DetachedHost {
    fn session_closed(&self, _: Sid, _: CloseReason) {}
    fn session_finished(&self, _: Sid) {}
    fn runtime(&self) -> Option<tokio::runtime::Handle> {
        None
    }
}

#[cfg(feature = "internals")]
pub(crate) fn session_inner_size() -> usize {
    session::inner_size()
}

#[cfg(feature = "internals")]
pub(crate) fn decode_packet_for_internals(text: &str) -> bool {
    Packet::decode_text(Text::from(text)).is_ok()
}

#[cfg(feature = "internals")]
pub(crate) fn decode_payload_for_internals(body: Bytes, v3: bool, binary: bool) -> usize {
    let packets = if v3 {
        v3::decode_payload(body, binary)
    } else {
        payload::decode_v4(body)
    };
    packets.take_while(Result::is_ok).count()
}

#[cfg(feature = "internals")]
pub(crate) fn encode_payload_for_internals(frames: &[Frame]) -> Bytes {
    payload::encode_v4(frames, frames.iter().map(|f| f.len() + 2).sum())
}

#[cfg(feature = "internals")]
pub(crate) fn parse_query_for_internals(query: &str) -> bool {
    query::parse(Some(query)).is_ok()
}

/// A span per request naming the session (or the handshake) and the transport.
fn request_span<B>(req: &Request<B>, query: &query::EngineQuery) -> tracing::Span {
    tracing::debug_span!(
        "engine.io",
        sid = ?query.sid.and_then(Result::ok),
        transport = query.transport.as_str(),
        method = %req.method()
    )
}

fn set_cookie(res: &mut Response<Full<Bytes>>, name: &str, sid: Sid) {
    let cookie = format!("{name}={sid}; Path=/; HttpOnly; SameSite=Lax");
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        res.headers_mut().append(header::SET_COOKIE, value);
    }
}
