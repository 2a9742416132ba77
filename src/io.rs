//! The server handle: namespaces, shared state, and operations on the whole server.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock, Weak};
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;

use crate::adapter::{AdapterBuilder, MemoryAdapter, Room};
use crate::client::SioHandler;
use crate::config::SocketIoConfig;
use crate::core::error::{AdapterError, EmitError};
use crate::core::sync::{read, write};
use crate::engine::Engine;
use crate::handler::ConnectHandler;
use crate::namespace::{Namespace, NamespaceBuilder, NamespaceHandlers};
use crate::operators::{BroadcastOperators, IntoRooms};
use crate::remote_socket::RemoteSocket;

type NamespaceMatcher = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// What the server shares among its namespaces and connections.
pub(crate) struct ServerCore {
    pub(crate) config: SocketIoConfig,
    pub(crate) adapter_builder: Box<dyn AdapterBuilder>,
    namespaces: RwLock<HashMap<String, Arc<Namespace>>>,
    dynamic: RwLock<Vec<(NamespaceMatcher, Arc<NamespaceHandlers>)>>,
    state: RwLock<http::Extensions>,
    engine: OnceLock<Weak<Engine<SioHandler>>>,
    /// Wakes standalone listeners on shutdown.
    pub(crate) shutdown: Arc<tokio::sync::Notify>,
    /// Instrumentation points, empty until something observes the server.
    pub(crate) hooks: crate::observe::Hooks,
}

impl ServerCore {
    /// The namespace a CONNECT names: a static one, or a new child of the first dynamic
    /// pattern that matches.
    pub(crate) fn resolve_namespace(self: &Arc<Self>, name: &str) -> Option<Arc<Namespace>> {
        if let Some(ns) = read(&self.namespaces).get(name) {
            return Some(ns.clone());
        }
        // The patterns and the adapter builder are application code: neither runs under a lock.
        let patterns = read(&self.dynamic).clone();
        let handlers = patterns
            .iter()
            .find(|(matches, _)| matches(name))
            .map(|(_, handlers)| handlers.clone())?;
        let ns = Namespace::new(name.to_owned(), handlers, self, true);
        // Another CONNECT may have created it meanwhile: theirs wins, this one is dropped.
        Some(self.register_namespace(name, ns))
    }

    /// Registers `ns` under `name` unless a namespace of that name is already there; returns
    /// the one registered.
    fn register_namespace(&self, name: &str, ns: Arc<Namespace>) -> Arc<Namespace> {
        write(&self.namespaces)
            .entry(name.to_owned())
            .or_insert(ns)
            .clone()
    }

    /// The namespace of this name, created without a handler when missing.
    pub(crate) fn resolve_or_create(self: &Arc<Self>, name: &str) -> Arc<Namespace> {
        if let Some(ns) = self.resolve_namespace(name) {
            return ns;
        }
        let handlers = Arc::new(NamespaceHandlers::default());
        let ns = Namespace::new(name.to_owned(), handlers, self, false);
        self.register_namespace(name, ns)
    }

    /// Every namespace that exists now.
    #[cfg_attr(not(feature = "admin-ui"), allow(dead_code))] // for instrumentation only
    pub(crate) fn namespaces(&self) -> Vec<Arc<Namespace>> {
        read(&self.namespaces).values().cloned().collect()
    }

    pub(crate) fn remove_dynamic_namespace(&self, name: &str) {
        let mut namespaces = write(&self.namespaces);
        let empty = namespaces
            .get(name)
            .is_some_and(|ns| ns.dynamic && ns.sockets().is_empty());
        if empty {
            namespaces.remove(name);
        }
    }

    pub(crate) fn engine(self: &Arc<Self>) -> Arc<Engine<SioHandler>> {
        if let Some(engine) = self.engine.get().and_then(Weak::upgrade) {
            return engine;
        }
        let engine = Engine::observed(
            SioHandler { core: self.clone() },
            self.config.engine.clone(),
            self.hooks.engine.clone(),
        );
        // A second layer built from the same server shares the first engine when it still
        // lives; otherwise the new one takes its place.
        let _ = self.engine.set(Arc::downgrade(&engine));
        engine
    }
}

/// A Socket.IO server: register namespaces and handlers on it, then serve it with
/// [`SocketIoLayer`](crate::SocketIoLayer). Cheap to clone; every clone is the same server.
///
/// ```
/// use serde_json::Value;
/// use tower_socketio::extract::{AckSender, Data, SocketRef};
/// use tower_socketio::{SocketIo, SocketIoLayer};
///
/// let io = SocketIo::new();
/// io.ns("/", |socket: SocketRef| {
///     socket.on("message", |socket: SocketRef, Data(msg): Data<Value>| {
///         socket.broadcast().emit("message", &msg).ok();
///     });
///     socket.on("ping", |ack: AckSender| {
///         ack.send(&"pong").ok();
///     });
/// });
/// let app: axum::Router = axum::Router::new().layer(SocketIoLayer::new(io));
/// ```
#[derive(Clone)]
pub struct SocketIo(pub(crate) Arc<ServerCore>);

impl std::fmt::Debug for SocketIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocketIo")
            .field("config", &self.0.config)
            .finish_non_exhaustive()
    }
}

impl Default for SocketIo {
    fn default() -> Self {
        SocketIo::new()
    }
}

impl SocketIo {
    /// A server with the default options and the in-memory adapter.
    pub fn new() -> Self {
        SocketIo::builder().build()
    }

    /// A server with options.
    pub fn builder() -> SocketIoBuilder {
        SocketIoBuilder {
            config: SocketIoConfig::default(),
            adapter: Box::new(MemoryAdapter::builder()),
        }
    }

    pub(crate) fn from_core(core: Arc<ServerCore>) -> Self {
        SocketIo(core)
    }

    /// The server's options.
    pub fn config(&self) -> &SocketIoConfig {
        &self.0.config
    }

    /// Registers a namespace and its connection handler (Node's `io.of(name).on("connection")`).
    pub fn ns<H: ConnectHandler<T>, T: 'static>(
        &self,
        name: impl Into<String>,
        handler: H,
    ) -> NamespaceBuilder {
        let mut name = name.into();
        if !name.starts_with('/') {
            name.insert(0, '/');
        }
        let handlers = NamespaceHandlers::with_handler(handler);
        let ns = Namespace::new(name.clone(), handlers.clone(), &self.0, false);
        if let Some(replaced) = write(&self.0.namespaces).insert(name, ns.clone()) {
            ns.inherit_server_side_listeners(&replaced);
        }
        NamespaceBuilder { handlers }
    }

    /// Registers dynamic namespaces: any name `matches` accepts at connect time gets a
    /// namespace of its own, all sharing this handler and these middlewares (Node's
    /// `io.of(regex | function)`). Empty ones are removed again.
    ///
    /// ```
    /// use tower_socketio::extract::SocketRef;
    /// use tower_socketio::SocketIo;
    ///
    /// let io = SocketIo::new();
    /// io.dyn_ns(|name| name.starts_with("/team-"), |socket: SocketRef| {
    ///     println!("joined {}", socket.ns());
    /// });
    /// ```
    pub fn dyn_ns<H: ConnectHandler<T>, T: 'static>(
        &self,
        matches: impl Fn(&str) -> bool + Send + Sync + 'static,
        handler: H,
    ) -> NamespaceBuilder {
        let handlers = NamespaceHandlers::with_handler(handler);
        write(&self.0.dynamic).push((Arc::new(matches), handlers.clone()));
        NamespaceBuilder { handlers }
    }

    /// Operators on a namespace, if it exists.
    pub fn of(&self, name: &str) -> Option<BroadcastOperators> {
        read(&self.0.namespaces)
            .get(name)
            .map(|ns| BroadcastOperators::new(ns.clone()))
    }

    fn main(&self) -> BroadcastOperators {
        BroadcastOperators::new(self.0.resolve_or_create("/"))
    }

    /// Targets rooms of the main namespace.
    pub fn to(&self, rooms: impl IntoRooms) -> BroadcastOperators {
        self.main().to(rooms)
    }

    /// Targets rooms of the main namespace (Node's `io.in`).
    pub fn within(&self, rooms: impl IntoRooms) -> BroadcastOperators {
        self.main().within(rooms)
    }

    /// Everyone in the main namespace but these rooms.
    pub fn except(&self, rooms: impl IntoRooms) -> BroadcastOperators {
        self.main().except(rooms)
    }

    /// Only this node's sockets of the main namespace.
    pub fn local(&self) -> BroadcastOperators {
        self.main().local()
    }

    /// A broadcast that may be dropped for receivers that cannot take it now.
    pub fn volatile(&self) -> BroadcastOperators {
        self.main().volatile()
    }

    /// Sets the timeout of a broadcast with ack.
    pub fn timeout(&self, timeout: Duration) -> BroadcastOperators {
        self.main().timeout(timeout)
    }

    /// Attaches binary data to a broadcast.
    pub fn bin(
        &self,
        attachments: impl IntoIterator<Item = impl Into<Bytes>>,
    ) -> BroadcastOperators {
        self.main().bin(attachments)
    }

    /// Emits to every socket of the main namespace.
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, data: &T) -> Result<(), EmitError> {
        self.main().emit(event, data)
    }

    /// Every socket of the main namespace, on every node.
    pub async fn fetch_sockets(&self) -> Result<Vec<RemoteSocket>, AdapterError> {
        self.main().fetch_sockets().await
    }

    /// Makes every socket of the main namespace join rooms (Node's `io.socketsJoin`).
    pub fn sockets_join(&self, rooms: impl IntoRooms) -> Result<(), AdapterError> {
        self.main().join(rooms)
    }

    /// Makes every socket of the main namespace leave rooms (Node's `io.socketsLeave`).
    pub fn sockets_leave(&self, rooms: impl IntoRooms) -> Result<(), AdapterError> {
        self.main().leave(rooms)
    }

    /// Disconnects every socket of the main namespace (Node's `io.disconnectSockets`).
    pub fn disconnect_sockets(&self, close: bool) -> Result<(), AdapterError> {
        self.main().disconnect(close)
    }

    /// Emits to the other server nodes (Node's `io.serverSideEmit`): their
    /// [`on_server_side`](Self::on_server_side) listeners receive it. With the in-memory adapter
    /// there are no other nodes.
    pub fn server_side_emit<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<(), EmitError> {
        let args = server_side_args(data)?;
        let ns = self.0.resolve_or_create("/");
        Ok(ns.adapter.server_side_emit(event.to_owned(), args)?)
    }

    /// Emits to the other server nodes and collects their answers (Node's
    /// `io.serverSideEmitWithAck`), within the ack timeout.
    pub async fn server_side_emit_with_ack<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<Vec<serde_json::Value>, EmitError> {
        let args = server_side_args(data)?;
        Ok(self.main().server_side_emit(event.to_owned(), args).await?)
    }

    /// Listens for an event that other server nodes send with
    /// [`server_side_emit`](Self::server_side_emit); what the listener returns is its answer
    /// to `server_side_emit_with_ack` (Node's `io.on(event, (...args, ack) => ...)`).
    ///
    /// ```
    /// use tower_socketio::SocketIo;
    ///
    /// let io = SocketIo::new();
    /// io.on_server_side("hello", |args| Some(serde_json::json!({ "got": args.len() })));
    /// ```
    pub fn on_server_side(
        &self,
        event: impl Into<String>,
        listener: impl Fn(Vec<serde_json::Value>) -> Option<serde_json::Value> + Send + Sync + 'static,
    ) {
        self.0
            .resolve_or_create("/")
            .add_server_side_listener(event.into(), Arc::new(listener));
    }

    /// This node's id and the address other nodes forward requests to, in a cluster without
    /// sticky sessions ([`SocketIoBuilder::without_sticky_sessions`]); `None` before a layer
    /// serves the server, or when it could not listen.
    ///
    /// ```
    /// let io = tower_socketio::SocketIo::new();
    /// assert!(io.forwarding_node().is_none());
    /// ```
    #[cfg(feature = "no-sticky")]
    pub fn forwarding_node(&self) -> Option<(crate::engine::NodeId, std::net::SocketAddr)> {
        self.0
            .engine
            .get()
            .and_then(Weak::upgrade)?
            .forwarding_identity()
    }

    /// Resolves once the adapter of every namespace that exists when this is first polled is
    /// ready, i.e. receives what other nodes publish (see [`Adapter::ready`]): await it before
    /// announcing the node to a load balancer, a health check or a log. With the in-memory
    /// adapter it is ready at once; with the Redis adapter once Redis confirmed each
    /// namespace's subscriptions. Fails when an adapter is closed first
    /// ([`shutdown`](Self::shutdown)).
    ///
    /// A namespace registered later is covered by awaiting this again. A dynamic namespace is
    /// created by its first client, whose CONNECT is answered only once the namespace's adapter
    /// is ready (within the connect timeout), as for every client.
    ///
    /// ```
    /// use tower_socketio::extract::SocketRef;
    /// use tower_socketio::SocketIo;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tower_socketio::AdapterError> {
    /// let io = SocketIo::new();
    /// io.ns("/", |socket: SocketRef| { let _ = socket; });
    /// io.ns("/admin", |socket: SocketRef| { let _ = socket; });
    /// io.ready().await?;
    /// println!("ready: tell the load balancer");
    /// # Ok(()) }
    /// ```
    ///
    /// [`Adapter::ready`]: crate::adapter::Adapter::ready
    pub async fn ready(&self) -> Result<(), AdapterError> {
        let namespaces: Vec<Arc<Namespace>> = read(&self.0.namespaces).values().cloned().collect();
        for ns in namespaces {
            ns.adapter.ready().await?;
        }
        Ok(())
    }

    /// Every room of the main namespace, on every node.
    pub async fn all_rooms(&self) -> Result<Vec<Room>, AdapterError> {
        self.main().all_rooms().await
    }

    /// How many server nodes share the main namespace.
    pub async fn server_count(&self) -> Result<usize, AdapterError> {
        self.main().server_count().await
    }

    /// Adds shared state for the [`State`](crate::extract::State) extractor.
    pub fn insert_state<T: Clone + Send + Sync + 'static>(&self, value: T) {
        write(&self.0.state).insert(value);
    }

    /// The shared state of this type, if any was added.
    pub fn state<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        read(&self.0.state).get::<T>().cloned()
    }

    /// How many clients are connected.
    pub fn client_count(&self) -> usize {
        self.0
            .engine
            .get()
            .and_then(Weak::upgrade)
            .map_or(0, |engine| engine.len())
    }

    /// Disconnects every client with "server shutting down" after flushing what is queued to
    /// them, and refuses new connections. It starts at once; await the returned [`Shutdown`]
    /// to wait until every session has finished (a polling client has come back for its last
    /// packets), which takes at most a few seconds. Hook it into axum's graceful shutdown:
    ///
    /// ```no_run
    /// # async fn f(listener: tokio::net::TcpListener, app: axum::Router, io: tower_socketio::SocketIo) {
    /// axum::serve(listener, app)
    ///     .with_graceful_shutdown(async move {
    ///         let _ = tokio::signal::ctrl_c().await;
    ///         io.shutdown().await;
    ///     })
    ///     .await
    ///     .unwrap();
    /// # }
    /// ```
    pub fn shutdown(&self) -> Shutdown {
        let engine = self.0.engine.get().and_then(Weak::upgrade);
        if let Some(engine) = &engine {
            engine.shutdown();
        }
        // Adapters are application code (or talk to Redis): not called under the registry lock.
        let namespaces: Vec<_> = read(&self.0.namespaces).values().cloned().collect();
        for ns in namespaces {
            ns.adapter.close();
        }
        self.0.shutdown.notify_waiters();
        Shutdown(Box::pin(async move {
            let Some(engine) = engine else {
                return;
            };
            // Each session finishes within its grace period (5 s at most); this is a backstop.
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            while engine.len() > 0 && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }))
    }
}

fn server_side_args<T: Serialize + ?Sized>(data: &T) -> Result<Vec<serde_json::Value>, EmitError> {
    let args = crate::parser::encode_args(data, Vec::new())?;
    Ok(serde_json::from_str(&format!("[{}]", args.json))?)
}

/// Resolves once every session of a server that is shutting down has finished; see
/// [`SocketIo::shutdown`]. The shutdown itself has already started: awaiting is optional.
///
/// ```no_run
/// # async fn f(io: tower_socketio::SocketIo) {
/// io.shutdown().await;
/// assert_eq!(io.client_count(), 0);
/// # }
/// ```
pub struct Shutdown(std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>);

impl std::future::Future for Shutdown {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        self.0.as_mut().poll(cx)
    }
}

impl std::fmt::Debug for Shutdown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shutdown").finish_non_exhaustive()
    }
}

/// Options for a [`SocketIo`] server, named after Node's.
///
/// ```
/// use std::time::Duration;
/// use tower_socketio::SocketIo;
///
/// let io = SocketIo::builder()
///     .ping_interval(Duration::from_secs(10))
///     .connect_timeout(Duration::from_secs(5))
///     .build();
/// # let _ = io;
/// ```
#[must_use]
pub struct SocketIoBuilder {
    config: SocketIoConfig,
    adapter: Box<dyn AdapterBuilder>,
}

#[cfg(feature = "no-sticky")]
impl SocketIoBuilder {
    /// Runs this node in a cluster **without sticky sessions** (feature `no-sticky`): the load
    /// balancer may send any request of any client to any node. A polling request or a
    /// WebSocket upgrade for a session another node holds is forwarded to that node over an
    /// internal HTTP hop signed with the cluster secret; nodes find each other through the
    /// adapter, which must be a remote one (Redis, ...) shared by every node. See the README
    /// section "Running without sticky sessions".
    ///
    /// ```no_run
    /// # #[cfg(feature = "redis")]
    /// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
    /// use tower_socketio::adapter::redis::{RedisAdapter, RedisAdapterConfig};
    /// use tower_socketio::engine::Forwarding;
    /// use tower_socketio::SocketIo;
    ///
    /// let secret = std::env::var("CLUSTER_SECRET")?;
    /// let redis = RedisAdapter::connect(RedisAdapterConfig::new("redis://10.0.0.2/")).await?;
    /// let io = SocketIo::builder()
    ///     .adapter(redis)
    ///     .without_sticky_sessions(Forwarding::new(secret).listen("0.0.0.0:7000".parse()?))
    ///     .build();
    /// # let _ = io;
    /// # Ok(())
    /// # }
    /// ```
    pub fn without_sticky_sessions(mut self, forwarding: crate::engine::Forwarding) -> Self {
        self.config.engine.forwarding = Some(forwarding);
        self
    }
}

impl std::fmt::Debug for SocketIoBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocketIoBuilder")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl SocketIoBuilder {
    /// Replaces all options.
    pub fn config(mut self, config: SocketIoConfig) -> Self {
        self.config = config;
        self
    }

    /// The path (default `/socket.io/`).
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.config.engine = self.config.engine.path(path);
        self
    }

    /// How often the server pings (default 25 s).
    pub fn ping_interval(mut self, interval: Duration) -> Self {
        self.config.engine = self.config.engine.ping_interval(interval);
        self
    }

    /// How long a pong may take (default 20 s).
    pub fn ping_timeout(mut self, timeout: Duration) -> Self {
        self.config.engine = self.config.engine.ping_timeout(timeout);
        self
    }

    /// The largest message accepted, in bytes (default 1 000 000).
    pub fn max_http_buffer_size(mut self, bytes: usize) -> Self {
        self.config.engine = self.config.engine.max_http_buffer_size(bytes);
        self
    }

    /// Accept Socket.IO v2 clients over Engine.IO v3 (off by default).
    pub fn allow_eio3(mut self, allow: bool) -> Self {
        self.config.engine = self.config.engine.allow_eio3(allow);
        self
    }

    /// How long a client may stay without joining a namespace (default 45 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.config = self.config.connect_timeout(timeout);
        self
    }

    /// The default ack timeout (default 5 s).
    pub fn ack_timeout(mut self, timeout: Duration) -> Self {
        self.config = self.config.ack_timeout(timeout);
        self
    }

    /// The packet format (default: JSON).
    pub fn parser(mut self, parser: crate::parser::Parser) -> Self {
        self.config = self.config.parser(parser);
        self
    }

    /// Turns on connection state recovery: clients that reconnect within
    /// `max_disconnection_duration` get back their id, rooms, data and missed packets.
    pub fn connection_state_recovery(mut self, options: crate::ConnectionStateRecovery) -> Self {
        self.config = self.config.connection_state_recovery(options);
        self
    }

    /// The adapter of every namespace (default: in memory).
    pub fn adapter(mut self, builder: impl AdapterBuilder) -> Self {
        self.adapter = Box::new(builder);
        self
    }

    /// Builds the server.
    #[cfg_attr(not(feature = "no-sticky"), allow(unused_mut))]
    pub fn build(mut self) -> SocketIo {
        // Nodes find each other through the adapter, unless a locator of the application's own
        // was given.
        #[cfg(feature = "no-sticky")]
        let locator = match self.config.engine.forwarding.take() {
            Some(forwarding) if forwarding.locator.is_none() => {
                let locator = Arc::new(crate::node_registry::AdapterLocator::default());
                self.config.engine.forwarding = Some(forwarding.locator(locator.clone()));
                Some(locator)
            }
            given => {
                self.config.engine.forwarding = given;
                None
            }
        };
        let io = SocketIo(Arc::new(ServerCore {
            config: self.config,
            adapter_builder: self.adapter,
            namespaces: RwLock::new(HashMap::new()),
            dynamic: RwLock::new(Vec::new()),
            state: RwLock::new(http::Extensions::new()),
            engine: OnceLock::new(),
            shutdown: Arc::new(tokio::sync::Notify::new()),
            hooks: crate::observe::Hooks::default(),
        }));
        #[cfg(feature = "no-sticky")]
        if let Some(locator) = locator {
            locator.attach(&io);
        }
        io
    }
}
