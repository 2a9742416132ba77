//! One socket: a client's presence in one namespace, with its handlers, acks and rooms.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::oneshot;

use crate::adapter::RecoverySession;
use crate::adapter::Room;
use crate::core::ack::{AckFuture, AckResponse, AckWaiters, PendingAcks};
use crate::core::error::EmitError;
use crate::core::sync::{read, write};
use crate::engine::{Frame, Session, Sid};
use crate::handler::table::HandlerTable;
use crate::handler::{BoxedDisconnectHandler, DisconnectHandler, MessageHandler, MessageParts};
use crate::namespace::Namespace;
use crate::operators::{BroadcastOperators, IntoRooms};
use crate::parser::{self, EncodedArgs, Packet, PacketType};

mod handshake;

pub use handshake::Handshake;

/// Why a socket left its namespace, with the reason strings Node's `socket.io` gives.
///
/// ```
/// use tower_socketio::DisconnectReason;
///
/// assert_eq!(DisconnectReason::ClientNamespaceDisconnect.as_str(), "client namespace disconnect");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DisconnectReason {
    /// The connection was closed (the client went away).
    TransportClose,
    /// The connection failed.
    TransportError,
    /// The client missed its heartbeat.
    PingTimeout,
    /// The client sent an Engine.IO packet that could not be decoded.
    ParseError,
    /// The connection was closed by the server at the Engine.IO level (including for a
    /// malformed Socket.IO packet, as Node does).
    ForcedClose,
    /// The server closed the client's whole connection (`disconnect(true)`, or a packet that
    /// breaks the protocol's rules).
    ForcedServerClose,
    /// The server is shutting down.
    ServerShuttingDown,
    /// The server disconnected the socket from this namespace.
    ServerNamespaceDisconnect,
    /// The client left the namespace.
    ClientNamespaceDisconnect,
    /// The client could not keep up with what was sent to it and was disconnected.
    SlowConsumer,
}

impl DisconnectReason {
    /// The reason as Node names it.
    pub fn as_str(self) -> &'static str {
        match self {
            DisconnectReason::TransportClose => "transport close",
            DisconnectReason::TransportError => "transport error",
            DisconnectReason::PingTimeout => "ping timeout",
            DisconnectReason::ParseError => "parse error",
            DisconnectReason::ForcedClose => "forced close",
            DisconnectReason::ForcedServerClose => "forced server close",
            DisconnectReason::ServerShuttingDown => "server shutting down",
            DisconnectReason::ServerNamespaceDisconnect => "server namespace disconnect",
            DisconnectReason::ClientNamespaceDisconnect => "client namespace disconnect",
            DisconnectReason::SlowConsumer => "slow consumer",
        }
    }

    /// Whether a socket that left for this reason may recover its session on reconnection
    /// (the client did not leave on purpose).
    ///
    /// As in Node: every reason but a namespace disconnect by either side (and a parse error,
    /// which a well-behaved client never causes). A slow consumer may recover: that is how it
    /// gets what it could not take in time.
    pub fn is_recoverable(self) -> bool {
        !matches!(
            self,
            DisconnectReason::ClientNamespaceDisconnect
                | DisconnectReason::ServerNamespaceDisconnect
                | DisconnectReason::ParseError
        )
    }
}

impl std::fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<crate::engine::CloseReason> for DisconnectReason {
    fn from(reason: crate::engine::CloseReason) -> Self {
        use crate::engine::CloseReason as C;
        match reason {
            C::TransportClose => DisconnectReason::TransportClose,
            C::TransportError => DisconnectReason::TransportError,
            C::PingTimeout => DisconnectReason::PingTimeout,
            C::ForcedClose => DisconnectReason::ForcedClose,
            C::ServerShuttingDown => DisconnectReason::ServerShuttingDown,
            C::ParseError => DisconnectReason::ParseError,
            C::SlowConsumer => DisconnectReason::SlowConsumer,
        }
    }
}

type AnyHandler = Arc<dyn Fn(&SocketRef, &str, &[Value]) + Send + Sync>;
type PacketMiddleware = Arc<dyn Fn(&SocketRef, &str, &[Value]) -> Result<(), String> + Send + Sync>;

/// The listeners a socket may register besides its event and disconnect handlers.
#[derive(Default)]
struct Listeners {
    any: Vec<AnyHandler>,
    any_outgoing: Vec<AnyHandler>,
    middlewares: Vec<PacketMiddleware>,
    on_disconnecting: Option<BoxedDisconnectHandler>,
}

/// A socket in a namespace. Handlers receive it as [`SocketRef`].
///
/// ```
/// use tower_socketio::extract::{Data, SocketRef};
/// use tower_socketio::SocketIo;
///
/// let io = SocketIo::new();
/// io.ns("/", |socket: SocketRef| {
///     socket.join("lobby");
///     socket.on("chat", |socket: SocketRef, Data(text): Data<String>| {
///         socket.to("lobby").emit("chat", &text).ok();
///     });
/// });
/// ```
pub struct Socket {
    id: Sid,
    /// The private id a recoverable socket reconnects with; never shown to other clients.
    pid: Option<Sid>,
    recovered: bool,
    pub(crate) ns: Arc<Namespace>,
    pub(crate) session: Session,
    handshake: Handshake,
    connected: AtomicBool,
    closing: AtomicBool,
    /// Shared with the namespace's other sockets while they registered the same handlers.
    handlers: RwLock<Arc<HandlerTable>>,
    /// What few sockets register, boxed on first use: every idle socket pays for its size.
    listeners: RwLock<Option<Box<Listeners>>>,
    on_disconnect: RwLock<Option<BoxedDisconnectHandler>>,
    pub(crate) acks: PendingAcks,
    extensions: RwLock<http::Extensions>,
    /// Node's `socket.data`: serializable, so other nodes see it and it survives recovery.
    /// Boxed once set (`None` is `null`).
    data: RwLock<Option<Box<Value>>>,
    /// The client connection this socket belongs to, to leave or close it.
    pub(crate) client: std::sync::Weak<crate::client::Client>,
}

/// A handle on a [`Socket`], cheap to clone; this is what handlers extract.
///
/// ```
/// use tower_socketio::SocketRef;
///
/// fn greet(socket: SocketRef) {
///     let again = socket.clone(); // the same socket
///     again.emit("hi", &()).ok();
/// }
/// ```
pub type SocketRef = Arc<Socket>;

impl Socket {
    pub(crate) fn new(
        ns: Arc<Namespace>,
        session: Session,
        auth: Option<Value>,
        client: std::sync::Weak<crate::client::Client>,
        restored: Option<RecoverySession>,
        id: Option<Sid>,
    ) -> SocketRef {
        let handshake = Handshake::new(&session, auth);
        let handlers = ns.handler_tables.empty();
        let recovery_enabled = ns.recovery.is_some();
        let (id, pid, extensions, data, recovered) = match restored {
            Some(s) => (s.sid, Some(s.pid), ns.take_extensions(s.pid), s.data, true),
            None => (
                id.unwrap_or_default(),
                recovery_enabled.then(Sid::new),
                http::Extensions::new(),
                Value::Null,
                false,
            ),
        };
        Arc::new(Socket {
            id,
            pid,
            recovered,
            ns,
            session,
            handshake,
            connected: AtomicBool::new(false),
            closing: AtomicBool::new(false),
            handlers: RwLock::new(handlers),
            listeners: RwLock::new(None),
            on_disconnect: RwLock::new(None),
            acks: PendingAcks::default(),
            extensions: RwLock::new(extensions),
            data: RwLock::new((!data.is_null()).then(|| Box::new(data))),
            client,
        })
    }

    /// The socket id: random, per namespace connection, never the Engine.IO session id.
    pub fn id(&self) -> Sid {
        self.id
    }

    /// Whether this socket came back through connection state recovery, with its id, rooms,
    /// data and missed packets (Node's `socket.recovered`).
    pub fn recovered(&self) -> bool {
        self.recovered
    }

    pub(crate) fn pid(&self) -> Option<Sid> {
        self.pid
    }

    /// The namespace's name.
    pub fn ns(&self) -> &str {
        &self.ns.name
    }

    /// What the client said when it connected.
    pub fn handshake(&self) -> &Handshake {
        &self.handshake
    }

    /// The Engine.IO session under this socket.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Whether the socket is still in its namespace.
    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }

    pub(crate) fn set_connected(&self) {
        self.connected.store(true, Ordering::Release);
    }

    /// Registers the handler of an event, replacing any earlier one.
    pub fn on<H, T>(&self, event: impl Into<String>, handler: H)
    where
        H: MessageHandler<T>,
        T: 'static,
    {
        let mut table = write(&self.handlers);
        let replaced = self
            .ns
            .handler_tables
            .insert(&mut table, event.into(), handler);
        drop(table);
        drop(replaced);
    }

    /// Removes the handler of an event.
    pub fn off(&self, event: &str) {
        let mut table = write(&self.handlers);
        let removed = if table.contains_key(event) {
            Arc::make_mut(&mut table).remove(event)
        } else {
            None
        };
        drop(table);
        drop(removed);
    }

    /// Registers a catch-all listener, called with the event name and arguments of every
    /// incoming event before its own handler (Node's `socket.onAny`).
    pub fn on_any(&self, listener: impl Fn(&SocketRef, &str, &[Value]) + Send + Sync + 'static) {
        self.listeners_mut(|l| l.any.push(Arc::new(listener)));
    }

    /// Registers a catch-all listener for every event this socket emits (Node's
    /// `socket.onAnyOutgoing`).
    pub fn on_any_outgoing(
        &self,
        listener: impl Fn(&SocketRef, &str, &[Value]) + Send + Sync + 'static,
    ) {
        self.listeners_mut(|l| l.any_outgoing.push(Arc::new(listener)));
    }

    /// Adds a packet middleware (Node's `socket.use`): it sees every incoming event before any
    /// handler and may refuse it with an error message, in which case no handler runs and the
    /// socket's `error` handler (an event handler registered as `"error"`) is called with it.
    pub fn use_middleware(
        &self,
        middleware: impl Fn(&SocketRef, &str, &[Value]) -> Result<(), String> + Send + Sync + 'static,
    ) {
        self.listeners_mut(|l| l.middlewares.push(Arc::new(middleware)));
    }

    /// Registers the disconnect handler.
    pub fn on_disconnect<H: DisconnectHandler<T>, T: 'static>(&self, handler: H) {
        *write(&self.on_disconnect) = Some(crate::handler::disconnect::boxed(handler));
    }

    /// Registers the `disconnecting` handler: it runs before the socket leaves its rooms.
    pub fn on_disconnecting<H: DisconnectHandler<T>, T: 'static>(&self, handler: H) {
        let handler = crate::handler::disconnect::boxed(handler);
        let replaced = self.listeners_mut(|l| l.on_disconnecting.replace(handler));
        drop(replaced);
    }

    /// Changes the listeners, boxing them first if need be.
    fn listeners_mut<R>(&self, change: impl FnOnce(&mut Listeners) -> R) -> R {
        change(write(&self.listeners).get_or_insert_with(Box::default))
    }

    /// A copy of some of the listeners, taken under the lock and used after it.
    fn listeners<T: Default>(&self, pick: impl FnOnce(&Listeners) -> T) -> T {
        read(&self.listeners)
            .as_deref()
            .map(pick)
            .unwrap_or_default()
    }

    /// Emits an event to this client. A tuple spreads into several arguments, `()` sends none,
    /// anything else is one argument.
    pub fn emit<T: Serialize + ?Sized>(
        self: &Arc<Self>,
        event: &str,
        data: &T,
    ) -> Result<(), EmitError> {
        self.emitter().emit(event, data)
    }

    /// Emits an event and waits for the client's acknowledgement (default timeout:
    /// [`SocketIoConfig::ack_timeout`](crate::SocketIoConfig::ack_timeout)).
    pub fn emit_with_ack<T: Serialize + ?Sized>(
        self: &Arc<Self>,
        event: &str,
        data: &T,
    ) -> Result<AckFuture, EmitError> {
        self.emitter().emit_with_ack(event, data)
    }

    /// Attaches binary data to the next emit; the JSON refers to it with
    /// [`placeholder`](crate::placeholder)s.
    pub fn bin(
        self: &Arc<Self>,
        attachments: impl IntoIterator<Item = impl Into<Bytes>>,
    ) -> Emitter {
        self.emitter().bin(attachments)
    }

    /// Sets the ack timeout of the next emit.
    pub fn timeout(self: &Arc<Self>, timeout: Duration) -> Emitter {
        self.emitter().timeout(timeout)
    }

    fn emitter(self: &Arc<Self>) -> Emitter {
        Emitter {
            socket: self.clone(),
            attachments: Vec::new(),
            timeout: None,
            volatile: false,
        }
    }

    /// Joins rooms.
    pub fn join(&self, rooms: impl IntoRooms) {
        self.ns.adapter.add_all(self.id, rooms.into_rooms());
    }

    /// Leaves rooms.
    pub fn leave(&self, rooms: impl IntoRooms) {
        for room in rooms.into_rooms() {
            self.ns.adapter.del(self.id, &room);
        }
    }

    /// Leaves every room (including its own).
    pub fn leave_all(&self) {
        self.ns.adapter.del_all(self.id);
    }

    /// The rooms the socket is in.
    pub fn rooms(&self) -> Vec<Room> {
        self.ns.adapter.socket_rooms(self.id)
    }

    /// Broadcasts to these rooms, except this socket.
    pub fn to(self: &Arc<Self>, rooms: impl IntoRooms) -> BroadcastOperators {
        self.broadcast().to(rooms)
    }

    /// The same as [`to`](Self::to) (Node's `socket.in`): this socket is left out.
    pub fn within(self: &Arc<Self>, rooms: impl IntoRooms) -> BroadcastOperators {
        self.to(rooms)
    }

    /// Broadcasts to everyone in the namespace except these rooms and this socket.
    pub fn except(self: &Arc<Self>, rooms: impl IntoRooms) -> BroadcastOperators {
        self.broadcast().except(rooms)
    }

    /// Broadcasts to everyone in the namespace but this socket.
    pub fn broadcast(self: &Arc<Self>) -> BroadcastOperators {
        BroadcastOperators::new(self.ns.clone()).except_socket(self.id)
    }

    /// Broadcasts only to sockets on this node (with a multi-node adapter).
    pub fn local(self: &Arc<Self>) -> BroadcastOperators {
        self.broadcast().local()
    }

    /// Marks the next emit to this client as volatile: dropped if the connection cannot take
    /// it right now (Node's `socket.volatile.emit`). For a volatile broadcast, use
    /// `socket.broadcast().volatile()`.
    pub fn volatile(self: &Arc<Self>) -> Emitter {
        Emitter {
            volatile: true,
            ..self.emitter()
        }
    }

    /// Disconnects the socket from its namespace ("server namespace disconnect"); with
    /// `close`, closes the client's whole connection instead.
    pub fn disconnect(self: &Arc<Self>, close: bool) {
        if !self.connected() {
            return;
        }
        if close {
            if let Some(client) = self.client.upgrade() {
                client.disconnect_all();
            }
            return;
        }
        let frames = parser::encode(
            self.ns.parser,
            PacketType::Disconnect,
            &self.ns.name,
            None,
            None,
            &EncodedArgs::default(),
        );
        let _ = self.session.send_frames(frames);
        self.on_close(DisconnectReason::ServerNamespaceDisconnect);
    }

    /// A value stored on the socket (by a connect middleware, for instance).
    pub fn extension<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        read(&self.extensions).get::<T>().cloned()
    }

    /// Stores a value on the socket, returning the previous one. Extensions stay on this node:
    /// for what other nodes should see and recovery on another node should bring back, use
    /// [`set_data`](Self::set_data).
    pub fn insert_extension<T: Clone + Send + Sync + 'static>(&self, value: T) -> Option<T> {
        write(&self.extensions).insert(value)
    }

    /// The socket's data (Node's `socket.data`) as a `T`; `None` when unset or not a `T`.
    ///
    /// ```
    /// # fn f(socket: tower_socketio::SocketRef) -> Result<(), serde_json::Error> {
    /// #[derive(serde::Serialize, serde::Deserialize)]
    /// struct User { name: String }
    ///
    /// socket.set_data(&User { name: "ada".into() })?;
    /// let user: Option<User> = socket.data();
    /// assert_eq!(user.map(|u| u.name).as_deref(), Some("ada"));
    /// # Ok(()) }
    /// ```
    pub fn data<T: serde::de::DeserializeOwned>(&self) -> Option<T> {
        let data = read(&self.data);
        T::deserialize(&**data.as_ref()?).ok()
    }

    /// Sets the socket's data (Node's `socket.data`). Unlike an extension, it is serialized:
    /// [`fetch_sockets`](crate::operators::BroadcastOperators::fetch_sockets) on another node
    /// sees it, and a session recovered on another node gets it back.
    pub fn set_data<T: Serialize + ?Sized>(&self, data: &T) -> Result<(), serde_json::Error> {
        let data = serde_json::to_value(data)?;
        let replaced = std::mem::replace(
            &mut *write(&self.data),
            (!data.is_null()).then(|| Box::new(data)),
        );
        drop(replaced);
        if self.connected() {
            self.track_session();
        }
        if let Some(observer) = self.ns.observer() {
            observer.data_changed(self);
        }
        Ok(())
    }

    /// Tells the adapter this recoverable socket's session as it is now (see
    /// [`Adapter::track_session`](crate::adapter::Adapter::track_session)).
    pub(crate) fn track_session(&self) {
        let Some(pid) = self.pid else { return };
        if !self.ns.adapter.persists_sessions() {
            return;
        }
        self.ns.adapter.track_session(RecoverySession {
            sid: self.id,
            pid,
            rooms: self.rooms(),
            data: self.data_value(),
        });
    }

    /// Node's `socket.emit` with recovery on and an adapter that persists sessions: a
    /// broadcast to the socket's own room, so the adapter gives it an offset and logs it.
    fn emit_through_adapter(&self, event: &str, args: EncodedArgs) -> Result<(), EmitError> {
        if !self.connected() {
            return Err(EmitError::Disconnected);
        }
        let packet = self.ns.packet(event, args, None, true);
        let opts = crate::adapter::BroadcastOptions {
            rooms: self.id.into_rooms(),
            ..Default::default()
        };
        Ok(self.ns.adapter.broadcast(packet, opts)?)
    }

    /// The data as JSON, `null` when unset.
    pub(crate) fn data_value(&self) -> Value {
        read(&self.data).as_deref().cloned().unwrap_or(Value::Null)
    }

    /// Queues frames for this client.
    pub(crate) fn send_frames(
        &self,
        frames: impl IntoIterator<Item = Frame>,
    ) -> Result<(), EmitError> {
        if !self.connected() {
            return Err(EmitError::Disconnected);
        }
        self.session.send_frames(frames).map_err(EmitError::from)
    }

    /// Queues frames that carry ack `id` and returns the future of the answer, which times out
    /// after `timeout`; the waiter is registered before the frames can reach the client.
    pub(crate) fn send_awaiting_ack(
        self: &Arc<Self>,
        frames: impl IntoIterator<Item = Frame>,
        id: u64,
        timeout: Duration,
    ) -> Result<AckFuture, EmitError> {
        let (tx, rx) = oneshot::channel();
        self.acks.insert(id, tx);
        if let Err(err) = self.send_frames(frames) {
            self.acks.remove(id);
            return Err(err);
        }
        Ok(AckFuture::new(rx, timeout, self.clone(), id))
    }

    /// Tells the observer, if any, of an event sent to this socket alone (one sent through the
    /// adapter is observed where the adapter delivers it).
    fn observe_sent(self: &Arc<Self>, event: &str, args: &EncodedArgs) {
        if let Some(observer) = self.ns.observer() {
            observer.event_sent(self, event, args);
        }
    }

    pub(crate) fn notify_outgoing(self: &Arc<Self>, event: &str, args: &EncodedArgs) {
        tracing::trace!(socket = %self.id, ns = %self.ns.name, event, "event out");
        let listeners = self.listeners(|l| l.any_outgoing.clone());
        if listeners.is_empty() {
            return;
        }
        let values: Vec<Value> =
            serde_json::from_str(&format!("[{}]", args.json)).unwrap_or_default();
        for listener in listeners {
            listener(self, event, &values);
        }
    }

    /// Handles a packet the client sent to this namespace.
    pub(crate) fn on_packet(self: &Arc<Self>, packet: Packet) {
        match packet.kind {
            PacketType::Event | PacketType::BinaryEvent => {
                if let Some((event, args)) = parser::split_event(packet.data) {
                    self.on_event(MessageParts {
                        event,
                        args,
                        attachments: packet.attachments,
                        ack_id: packet.id,
                    });
                }
            }
            PacketType::Ack | PacketType::BinaryAck => {
                if let Some(id) = packet.id {
                    let args = match packet.data {
                        Some(Value::Array(args)) => args,
                        _ => Vec::new(),
                    };
                    self.acks.resolve(
                        id,
                        AckResponse {
                            args,
                            attachments: packet.attachments,
                        },
                    );
                }
            }
            PacketType::Disconnect => self.on_close(DisconnectReason::ClientNamespaceDisconnect),
            // The client routes these elsewhere; they never reach a connected socket.
            PacketType::Connect | PacketType::ConnectError => {}
        }
    }

    /// The span handlers of this socket run in.
    pub(crate) fn span(&self) -> tracing::Span {
        tracing::debug_span!("socket.io", ns = %self.ns.name, socket = %self.id)
    }

    fn on_event(self: &Arc<Self>, parts: MessageParts) {
        let _span = self.span().entered();
        tracing::trace!(socket = %self.id, ns = %self.ns.name, event = %parts.event, "event in");
        if let Some(observer) = self.ns.observer() {
            observer.event_received(self, &parts.event, &parts.args, &parts.attachments);
        }
        // Catch-all listeners see every event, refused ones included (Node's order).
        let any = self.listeners(|l| l.any.clone());
        for listener in any {
            listener(self, &parts.event, &parts.args);
        }
        let middlewares = self.listeners(|l| l.middlewares.clone());
        for middleware in middlewares {
            if let Err(message) = middleware(self, &parts.event, &parts.args) {
                let handler = read(&self.handlers).get("error").cloned();
                if let Some(handler) = handler {
                    handler.call(
                        self.clone(),
                        MessageParts {
                            event: "error".into(),
                            args: vec![Value::String(message)],
                            ..MessageParts::default()
                        },
                    );
                }
                return;
            }
        }
        let handler = read(&self.handlers).get(&parts.event).cloned();
        match handler {
            Some(handler) => handler.call(self.clone(), parts),
            None => tracing::debug!(event = %parts.event, "no handler"),
        }
    }

    /// Hands this socket's session, in `rooms`, to the adapter for its client to recover; its
    /// extensions stay on this node.
    fn persist(&self, config: &crate::ConnectionStateRecovery, pid: Sid, rooms: Vec<Room>) {
        if !self.ns.adapter.persists_sessions() {
            return;
        }
        // Cloned: the disconnect handlers, which run after this, still see them.
        self.ns.keep_extensions(pid, read(&self.extensions).clone());
        let session = RecoverySession {
            sid: self.id,
            pid,
            rooms,
            data: self.data_value(),
        };
        let ttl = config.max_disconnection_duration;
        if let Err(err) = self.ns.adapter.persist_session(session, ttl) {
            tracing::warn!(error = %err, "the session could not be persisted");
        }
    }

    /// Leaves the namespace: `disconnecting`, rooms, registry, then `disconnect`.
    pub(crate) fn on_close(self: &Arc<Self>, reason: DisconnectReason) {
        if !self.connected() || self.closing.swap(true, Ordering::AcqRel) {
            return;
        }
        tracing::debug!(socket = %self.id, ns = %self.ns.name, %reason, "socket disconnected");
        // `disconnecting` still sees the rooms and may still emit: the socket is connected
        // until it returns (or first awaits), as in Node.
        let disconnecting = write(&self.listeners)
            .as_mut()
            .and_then(|l| l.on_disconnecting.take());
        if let Some(handler) = disconnecting {
            handler.call(self.clone(), reason);
        }
        self.connected.store(false, Ordering::Release);
        self.ns.metrics.sockets.decrement(1.0);
        if let Some(observer) = self.ns.observer() {
            observer.socket_disconnected(self, reason);
        }
        let recovery = (self.ns.recovery.as_ref(), self.pid);
        let rooms = match recovery {
            (Some(_), Some(_)) if reason.is_recoverable() => self.rooms(),
            _ => Vec::new(),
        };
        self.ns.adapter.del_all(self.id);
        self.ns.remove_socket(self.id);
        // Only once this socket is out of its rooms and the registry: a client that recovers
        // the session at once gets a socket of the same id, which those would take out again.
        if let (Some(recovery), Some(pid)) = recovery
            && reason.is_recoverable()
        {
            self.persist(recovery, pid, rooms);
        }
        if let Some(client) = self.client.upgrade() {
            client.remove_socket(&self.ns.name);
        }
        self.acks.fail_all();
        let disconnect = write(&self.on_disconnect).take();
        if let Some(handler) = disconnect {
            handler.call(self.clone(), reason);
        }
        let empty = self.ns.handler_tables.empty();
        let handlers = std::mem::replace(&mut *write(&self.handlers), empty);
        drop(handlers);
    }
}

impl AckWaiters for Socket {
    fn asked_id(&self) -> Sid {
        self.id
    }

    fn forget_ack(&self, id: u64) {
        self.acks.remove(id);
    }
}

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket")
            .field("id", &self.id)
            .field("ns", &self.ns.name)
            .field("connected", &self.connected())
            .finish_non_exhaustive()
    }
}

/// One emit to one socket, configured: binary attachments and an ack timeout.
///
/// ```no_run
/// # fn f(socket: tower_socketio::SocketRef) {
/// use tower_socketio::placeholder;
///
/// socket
///     .bin(vec![bytes::Bytes::from_static(b"\x01\x02")])
///     .emit("file", &serde_json::json!({ "name": "a.bin", "content": placeholder(0) }))
///     .ok();
/// # }
/// ```
#[derive(Debug)]
pub struct Emitter {
    socket: SocketRef,
    attachments: Vec<Bytes>,
    timeout: Option<Duration>,
    volatile: bool,
}

impl Emitter {
    /// Attaches binary data.
    pub fn bin(mut self, attachments: impl IntoIterator<Item = impl Into<Bytes>>) -> Self {
        self.attachments
            .extend(attachments.into_iter().map(Into::into));
        self
    }

    /// Sets the ack timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Emits the event.
    pub fn emit<T: Serialize + ?Sized>(self, event: &str, data: &T) -> Result<(), EmitError> {
        let args = parser::encode_args(data, self.attachments)?;
        self.socket.notify_outgoing(event, &args);
        let ns = &self.socket.ns;
        if self.volatile {
            self.socket.observe_sent(event, &args);
            let frames = ns.encode_event(event, &args, None);
            if self.socket.connected() {
                self.socket.session.send_volatile_frames(frames)?;
            }
            return Ok(());
        }
        // An adapter that persists sessions logs what goes to a recoverable socket: it goes
        // there as a broadcast to the socket's own room, which gives it its offset.
        if ns.recovery.is_some() && ns.adapter.persists_sessions() {
            return self.socket.emit_through_adapter(event, args);
        }
        self.socket.observe_sent(event, &args);
        self.socket.send_frames(ns.encode_event(event, &args, None))
    }

    /// Emits the event and waits for the acknowledgement.
    pub fn emit_with_ack<T: Serialize + ?Sized>(
        self,
        event: &str,
        data: &T,
    ) -> Result<AckFuture, EmitError> {
        let args = parser::encode_args(data, self.attachments)?;
        self.socket.notify_outgoing(event, &args);
        self.socket.observe_sent(event, &args);
        let id = self.socket.ns.next_ack_id();
        let frames = parser::encode(
            self.socket.ns.parser,
            PacketType::Event,
            &self.socket.ns.name,
            Some(id),
            Some(event),
            &args,
        );
        let timeout = self.timeout.unwrap_or(self.socket.ns.ack_timeout);
        self.socket.send_awaiting_ack(frames, id, timeout)
    }
}
