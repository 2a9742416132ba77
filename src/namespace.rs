//! Namespaces: separate channels multiplexed over one connection, each with its connection
//! handler, its connect middlewares, its sockets and its adapter.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::adapter::{Adapter, NamespaceHandle};
use crate::core::ConnectionStateRecovery;
use crate::core::ack::AckFuture;
use crate::core::delivery::LocalSockets;
use crate::core::error::ConnectError;
use crate::core::sync::{lock, read, write};
use crate::engine::{Frame, Sid};
use crate::handler::table::SharedTables;
use crate::handler::{
    BoxedConnectHandler, BoxedConnectMiddleware, ConnectHandler, ConnectMiddleware,
};
use crate::io::ServerCore;
use crate::socket::SocketRef;

/// A listener of events from other server nodes.
pub(crate) type ServerSideListener = Arc<dyn Fn(Vec<Value>) -> Option<Value> + Send + Sync>;

/// What runs when a socket joins: middlewares, then the connection handler. Dynamic namespaces
/// matched by one pattern share one set (Node's parent namespace).
#[derive(Default)]
pub(crate) struct NamespaceHandlers {
    connect: RwLock<Option<BoxedConnectHandler>>,
    middlewares: RwLock<Vec<BoxedConnectMiddleware>>,
}

impl NamespaceHandlers {
    pub(crate) fn with_handler<H: ConnectHandler<T>, T: 'static>(handler: H) -> Arc<Self> {
        let handlers = NamespaceHandlers::default();
        *write(&handlers.connect) = Some(crate::handler::connect::boxed(handler));
        Arc::new(handlers)
    }

    pub(crate) fn has_middlewares(&self) -> bool {
        !read(&self.middlewares).is_empty()
    }

    /// Runs the middlewares in order; the first refusal wins.
    pub(crate) async fn run_middlewares(
        &self,
        socket: &SocketRef,
        auth: &Option<Value>,
    ) -> Result<(), ConnectError> {
        let middlewares = read(&self.middlewares).clone();
        for middleware in middlewares {
            middleware.call(socket.clone(), auth.clone()).await?;
        }
        Ok(())
    }

    pub(crate) fn call_connect(&self, socket: SocketRef, auth: Option<Value>) {
        let handler = read(&self.connect).clone();
        if let Some(handler) = handler {
            let _span = socket.span().entered();
            handler.call(socket, auth);
        }
    }
}

/// One namespace.
pub(crate) struct Namespace {
    pub(crate) name: String,
    pub(crate) handlers: Arc<NamespaceHandlers>,
    /// The event handler tables its sockets share.
    pub(crate) handler_tables: SharedTables,
    pub(crate) adapter: Arc<dyn Adapter>,
    sockets: RwLock<HashMap<Sid, SocketRef>>,
    ack_ids: AtomicU64,
    pub(crate) ack_timeout: std::time::Duration,
    pub(crate) parser: crate::parser::Parser,
    /// Connection state recovery's options, when it is on (the adapter keeps the sessions).
    pub(crate) recovery: Option<ConnectionStateRecovery>,
    /// The extensions of disconnected sessions, by private id: they cannot be serialized into
    /// an adapter's session, so this node keeps them for a session that recovers here.
    kept_extensions: Mutex<HashMap<Sid, (http::Extensions, Instant)>>,
    /// The name, shared by the packets broadcast here.
    shared_name: Arc<str>,
    core: Weak<ServerCore>,
    server_side: RwLock<HashMap<String, ServerSideListener>>,
    /// Created on demand for a dynamic pattern; removed again once empty.
    pub(crate) dynamic: bool,
    /// Instrumentation, once installed (see [`crate::observe`]).
    observer: crate::observe::SocketObserverSlot,
    /// Its metrics' handles (nothing without the `metrics` feature).
    pub(crate) metrics: crate::metrics::NamespaceMetrics,
}

impl std::fmt::Debug for Namespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Namespace")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Namespace {
    pub(crate) fn new(
        name: String,
        handlers: Arc<NamespaceHandlers>,
        core: &Arc<ServerCore>,
        dynamic: bool,
    ) -> Arc<Self> {
        Arc::new_cyclic(|weak: &Weak<Namespace>| {
            let sockets: Weak<dyn LocalSockets> = weak.clone();
            let handle =
                NamespaceHandle::new(sockets, &name, core.config.parser, core.config.recovery)
                    .observed_by(core.hooks.adapter.clone());
            let adapter = core.adapter_builder.build(handle);
            Namespace {
                shared_name: name.as_str().into(),
                metrics: crate::metrics::NamespaceMetrics::new(&name, dynamic),
                kept_extensions: Mutex::new(HashMap::new()),
                adapter,
                name,
                handlers,
                handler_tables: SharedTables::default(),
                sockets: RwLock::new(HashMap::new()),
                ack_ids: AtomicU64::new(0),
                ack_timeout: core.config.ack_timeout,
                parser: core.config.parser,
                recovery: core.config.recovery,
                core: Arc::downgrade(core),
                server_side: RwLock::new(HashMap::new()),
                dynamic,
                observer: core.hooks.sockets.clone(),
            }
        })
    }

    pub(crate) fn get_socket(&self, sid: Sid) -> Option<SocketRef> {
        read(&self.sockets).get(&sid).cloned()
    }

    /// Looks sockets up under one read lock: a broadcast resolves all its receivers at once.
    pub(crate) fn get_sockets(&self, ids: &[Sid]) -> Vec<SocketRef> {
        let sockets = read(&self.sockets);
        ids.iter()
            .filter_map(|id| sockets.get(id).cloned())
            .collect()
    }

    pub(crate) fn sockets(&self) -> Vec<SocketRef> {
        read(&self.sockets).values().cloned().collect()
    }

    /// How many sockets are connected here.
    #[cfg_attr(not(feature = "admin-ui"), allow(dead_code))] // for instrumentation only
    pub(crate) fn socket_count(&self) -> usize {
        read(&self.sockets).len()
    }

    pub(crate) fn insert_socket(&self, socket: SocketRef) {
        write(&self.sockets).insert(socket.id(), socket);
    }

    pub(crate) fn remove_socket(&self, sid: Sid) {
        write(&self.sockets).remove(&sid);
        self.forget_if_unused();
    }

    /// A dynamic namespace left without sockets (or whose every join was refused) is removed,
    /// so clients cannot grow the registry by naming namespaces.
    pub(crate) fn forget_if_unused(&self) {
        if self.dynamic
            && read(&self.sockets).is_empty()
            && let Some(core) = self.core.upgrade()
        {
            core.remove_dynamic_namespace(&self.name);
        }
    }

    pub(crate) fn add_server_side_listener(&self, event: String, listener: ServerSideListener) {
        write(&self.server_side).insert(event, listener);
    }

    /// Takes over the server-side listeners of the namespace this one replaces (registered
    /// with `on_server_side` before `ns()` named the main namespace), unless it has its own.
    pub(crate) fn inherit_server_side_listeners(&self, replaced: &Namespace) {
        let inherited = read(&replaced.server_side).clone();
        let mut own = write(&self.server_side);
        for (event, listener) in inherited {
            own.entry(event).or_insert(listener);
        }
    }

    /// Runs this node's listener of a server-side event; `None` when there is none.
    pub(crate) fn on_server_side(&self, event: &str, args: Vec<Value>) -> Option<Option<Value>> {
        let listener = read(&self.server_side).get(event).cloned()?;
        Some(listener(args))
    }

    /// Encodes an event once for all its receivers.
    pub(crate) fn encode_event(
        &self,
        event: &str,
        args: &crate::parser::EncodedArgs,
        id: Option<u64>,
    ) -> Vec<crate::engine::Frame> {
        crate::parser::encode(
            self.parser,
            crate::parser::PacketType::Event,
            &self.name,
            id,
            Some(event),
            args,
        )
    }

    /// A packet for the adapter to broadcast, encoded when it is first delivered.
    pub(crate) fn packet(
        &self,
        event: &str,
        args: crate::parser::EncodedArgs,
        id: Option<u64>,
        recoverable: bool,
    ) -> crate::adapter::BroadcastPacket {
        crate::adapter::BroadcastPacket::new(
            event.to_owned(),
            args,
            id,
            recoverable,
            self.parser,
            self.shared_name.clone(),
        )
    }

    /// Keeps a disconnected session's extensions on this node, for as long as it may recover.
    pub(crate) fn keep_extensions(&self, pid: Sid, extensions: http::Extensions) {
        let Some(config) = self.recovery else { return };
        let mut kept = lock(&self.kept_extensions);
        let now = Instant::now();
        kept.retain(|_, (_, at)| now.duration_since(*at) <= config.max_disconnection_duration);
        if !extensions.is_empty() {
            kept.insert(pid, (extensions, now));
        }
    }

    /// The installed observer, if any (see [`crate::observe`]).
    pub(crate) fn observer(&self) -> Option<&Arc<dyn crate::observe::SocketObserver>> {
        self.observer.get()
    }

    /// The extensions of a recovered session, if it disconnected from this node.
    pub(crate) fn take_extensions(&self, pid: Sid) -> http::Extensions {
        lock(&self.kept_extensions)
            .remove(&pid)
            .map(|(extensions, _)| extensions)
            .unwrap_or_default()
    }

    /// Ack ids are per namespace, shared by emits to one socket and broadcasts, as in Node.
    pub(crate) fn next_ack_id(&self) -> u64 {
        self.ack_ids.fetch_add(1, Ordering::Relaxed)
    }

    /// The server, while it exists.
    pub(crate) fn io(&self) -> Option<crate::SocketIo> {
        self.core.upgrade().map(crate::SocketIo::from_core)
    }
}

/// A namespace being set up: add connect middlewares with [`with`](Self::with).
///
/// ```
/// use tower_socketio::extract::SocketRef;
/// use tower_socketio::SocketIo;
///
/// let io = SocketIo::new();
/// io.ns("/admin", |socket: SocketRef| { let _ = socket; })
///     .with(|socket: SocketRef| -> Result<(), &'static str> {
///         socket.handshake().headers().get("x-admin").map(|_| ()).ok_or("admins only")
///     });
/// ```
#[derive(Clone)]
pub struct NamespaceBuilder {
    pub(crate) handlers: Arc<NamespaceHandlers>,
}

impl NamespaceBuilder {
    /// Adds a connect middleware (Node's `namespace.use`); they run in the order added.
    pub fn with<M: ConnectMiddleware<T>, T: 'static>(self, middleware: M) -> Self {
        write(&self.handlers.middlewares)
            .push(crate::handler::connect::boxed_middleware(middleware));
        self
    }
}

impl std::fmt::Debug for NamespaceBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NamespaceBuilder").finish_non_exhaustive()
    }
}

/// What the adapter may do to this namespace's sockets: deliver frames, wait for acks, describe
/// and disconnect them. Nothing here runs under the adapter's locks' callee: queueing frames
/// never calls out, and disconnects run the handlers after every lookup lock is released.
impl LocalSockets for Namespace {
    fn send(&self, sids: &[Sid], frames: &[Frame], volatile: bool) {
        for socket in self.get_sockets(sids) {
            let frames = frames.iter().cloned();
            // A refused frame is the receiver's own business: dropped when volatile, else its
            // socket is closed as a slow consumer (later, from a task of its own).
            if volatile {
                let _ = socket.session().send_volatile_frames(frames);
            } else {
                let _ = socket.send_frames(frames);
            }
        }
    }

    fn send_unbounded(&self, sid: Sid, frames: Vec<Frame>) {
        if let Some(socket) = self.get_socket(sid) {
            socket.session().send_frames_unbounded(frames);
        }
    }

    fn send_with_ack(
        &self,
        sids: &[Sid],
        frames: &[Frame],
        id: u64,
        timeout: Duration,
    ) -> Vec<AckFuture> {
        self.get_sockets(sids)
            .into_iter()
            .filter_map(|socket| {
                socket
                    .send_awaiting_ack(frames.iter().cloned(), id, timeout)
                    .ok()
            })
            .collect()
    }

    fn disconnect(&self, sids: &[Sid], close: bool) {
        for socket in self.get_sockets(sids) {
            socket.disconnect(close);
        }
    }

    fn describe(&self, sids: &[Sid]) -> Vec<(Sid, Value, Value)> {
        self.get_sockets(sids)
            .into_iter()
            .map(|socket| {
                let data = match self.observer() {
                    Some(observer) => observer.describe_data(&socket, socket.data_value()),
                    None => socket.data_value(),
                };
                (socket.id(), socket.handshake().node_json(), data)
            })
            .collect()
    }

    fn contains(&self, sid: Sid) -> bool {
        read(&self.sockets).contains_key(&sid)
    }

    fn server_side(&self, event: &str, args: Vec<Value>) -> Option<Option<Value>> {
        self.on_server_side(event, args)
    }

    fn next_ack_id(&self) -> u64 {
        Namespace::next_ack_id(self)
    }
}
