//! Adapters: who is in which room, and how broadcasts and cluster queries reach every node.
//!
//! Every namespace owns one [`Adapter`]. The default, [`MemoryAdapter`], serves a single node:
//! rooms live in memory and a broadcast goes straight to the local sockets. A multi-node
//! adapter implements the same trait and additionally forwards each operation to the other
//! nodes.
//!
//! ## Why the trait looks like this
//!
//! - **Room membership is local and synchronous** (`add_all`, `del`, `del_all`,
//!   `socket_rooms`): a node only ever knows the rooms of its own sockets, exactly as in Node,
//!   where remote joins travel as requests. Joining never waits on the network.
//! - **Fire-and-forget operations are synchronous and return a typed [`AdapterError`]**
//!   (broadcast, remote join/leave/disconnect, server-side emit): the local part is done and
//!   the remote part queued, in order, before they return, as emits are in Node. Nothing polls
//!   anything behind them, so an adapter that needs I/O queues it to a task of its own.
//! - **Requests are futures** (broadcast with acks, fetching sockets, server-side emit with
//!   acks, all rooms, server count, readiness), polled to the end by the caller; they carry a
//!   timeout and fail with [`AdapterError::Timeout`].
//! - **An adapter reaches this node's sockets through its [`NamespaceHandle`] only**: frames to
//!   socket ids, acks, descriptions for a fetch ([`SocketInfo`]), disconnects. It knows no
//!   socket or namespace type, so it cannot hold a socket's lock or run a handler by accident.
//! - **A broadcast arrives as a [`BroadcastPacket`]: the logical packet (event, arguments,
//!   attachments, read with [`BroadcastPacket::data`]) for other nodes, which re-encode it in
//!   their own format (msgpack on Redis), and the frames encoded once for local receivers**,
//!   shared by all of them (`Bytes`), never re-encoded per socket.
//! - **Connection state recovery is the adapter's** (`persists_sessions`, `persist_session`,
//!   `restore_session`): the [`MemoryAdapter`] keeps sessions and the packet log in this node's
//!   memory with a [`SessionStore`], the Redis Streams adapter keeps sessions as expiring keys
//!   and the log in a stream. The broadcast path is where an adapter gives a packet its offset,
//!   since every event to a recoverable socket passes through it (an emit to one socket is a
//!   broadcast to its own room); the rest of the crate never asks where recovery lives.
//! - **What other nodes say is typed** (the crate's `adapter::cluster` module, shared by every remote adapter): a message
//!   that does not decode is logged and ignored.
//!
//! [`LocalAdapter`] is public so other adapters reuse the same room bookkeeping and local
//! delivery rather than rewriting them.

#[cfg(any(feature = "redis", feature = "postgres"))]
pub(crate) mod cluster;
mod local;
mod memory;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "redis")]
pub mod redis;
mod sessions;

pub use local::LocalAdapter;
pub use memory::MemoryAdapter;
pub use sessions::SessionStore;

pub use crate::core::{BroadcastOptions, Room, SocketInfo};

use crate::core::ConnectionStateRecovery;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;

use crate::core::ack::BroadcastAckFuture;
use crate::core::delivery::LocalSockets;
use crate::core::error::AdapterError;
use crate::engine::{Frame, Sid};

/// What an adapter operation returns.
///
/// ```
/// use tower_socketio::adapter::AdapterFuture;
///
/// fn ready(count: usize) -> AdapterFuture<'static, usize> {
///     Box::pin(std::future::ready(Ok(count)))
/// }
/// # let _ = ready(1);
/// ```
pub type AdapterFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, AdapterError>> + Send + 'a>>;

/// A packet to broadcast: the logical packet (event, arguments, binary attachments, ack id),
/// for other nodes, and its frames, encoded once and shared by every local receiver.
///
/// The arguments are kept as the server encoded them, once, for the frames; an adapter that
/// forwards the packet reads them typed with [`data`](Self::data).
///
/// ```
/// # fn f(packet: tower_socketio::adapter::BroadcastPacket) -> Result<(), serde_json::Error> {
/// // An adapter forwarding to other nodes sends the logical packet…
/// let data: Vec<serde_json::Value> = packet.data()?; // [event, ...args]
/// let binary = packet.attachments();
/// // …and hands the shared frames to local sockets.
/// let bytes: usize = packet.frames().iter().map(|f| f.len()).sum();
/// # let _ = (data, binary, bytes);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct BroadcastPacket {
    /// The event name.
    pub event: String,
    /// The arguments, encoded once (binary ones as placeholders, their bytes beside).
    args: crate::parser::EncodedArgs,
    /// The ack id, for a broadcast with ack.
    pub id: Option<u64>,
    /// Whether the packet goes to sockets that may recover (connection state recovery is on,
    /// the packet has no ack id and is not volatile). An adapter that
    /// [persists sessions](Adapter::persists_sessions) gives such a packet an offset and sends
    /// [`frames_with_offset`](Self::frames_with_offset) instead of [`frames`](Self::frames).
    pub recoverable: bool,
    /// How the frames are written: the server's packet format and the namespace.
    parser: crate::parser::Parser,
    nsp: Arc<str>,
    /// The frames, encoded on first use: an adapter that gives the packet an offset, or only
    /// forwards it, never pays for the plain encoding.
    frames: std::sync::OnceLock<Vec<Frame>>,
}

impl BroadcastPacket {
    pub(crate) fn new(
        event: String,
        args: crate::parser::EncodedArgs,
        id: Option<u64>,
        recoverable: bool,
        parser: crate::parser::Parser,
        nsp: Arc<str>,
    ) -> Self {
        BroadcastPacket {
            event,
            args,
            id,
            recoverable,
            parser,
            nsp,
            frames: std::sync::OnceLock::new(),
        }
    }

    /// The encoded frames, shared by every local receiver (encoded once, on first use).
    pub fn frames(&self) -> &[Frame] {
        self.frames.get_or_init(|| self.encode(&self.args))
    }

    fn encode(&self, args: &crate::parser::EncodedArgs) -> Vec<Frame> {
        crate::parser::encode(
            self.parser,
            crate::parser::PacketType::Event,
            &self.nsp,
            self.id,
            Some(&self.event),
            args,
        )
    }

    /// The packet's data as Socket.IO carries it between nodes: `[event, ...args]`, binary
    /// arguments as `{"_placeholder":true,"num":n}` pointing into
    /// [`attachments`](Self::attachments).
    pub fn data(&self) -> Result<Vec<Value>, serde_json::Error> {
        let args: Vec<Value> = serde_json::from_str(&format!("[{}]", self.args.json))?;
        let mut data = Vec::with_capacity(args.len() + 1);
        data.push(Value::String(self.event.clone()));
        data.extend(args);
        Ok(data)
    }

    /// The binary attachments, in placeholder order.
    pub fn attachments(&self) -> &[Bytes] {
        &self.args.attachments
    }

    /// The packet encoded with `offset` as its last argument, as Node sends an event to a
    /// recoverable socket.
    ///
    /// ```
    /// # fn f(packet: tower_socketio::adapter::BroadcastPacket) {
    /// let frames = packet.frames_with_offset("1700000000000-0");
    /// # let _ = frames;
    /// # }
    /// ```
    pub fn frames_with_offset(&self, offset: &str) -> Vec<Frame> {
        self.encode(&self.args.clone().with_trailing_string(offset))
    }

    /// This packet with `offset` as its last argument in its frames: what an adapter that gave
    /// it an offset delivers locally.
    #[cfg(feature = "redis")]
    pub(crate) fn into_offset(self, offset: &str) -> Self {
        let frames = self.frames_with_offset(offset);
        BroadcastPacket {
            frames: std::sync::OnceLock::from(frames),
            ..self
        }
    }

    /// The frames, owned.
    #[cfg(feature = "redis")]
    pub(crate) fn into_frames(mut self) -> Vec<Frame> {
        match self.frames.take() {
            Some(frames) => frames,
            None => self.encode(&self.args),
        }
    }
}

/// A disconnected socket kept for connection state recovery by an adapter that
/// [persists sessions](Adapter::persists_sessions) (Node's `Session`).
///
/// ```
/// use tower_socketio::adapter::RecoverySession;
///
/// let session = RecoverySession {
///     sid: "AAAAAAAAAAAAAAAAAAAA".parse().unwrap(),
///     pid: "BBBBBBBBBBBBBBBBBBBB".parse().unwrap(),
///     rooms: vec!["lobby".into()],
///     data: serde_json::json!({ "user": 7 }),
/// };
/// assert_eq!(session.rooms.len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RecoverySession {
    /// The socket's public id, given back on recovery.
    pub sid: Sid,
    /// The private id the client recovers with.
    pub pid: Sid,
    /// Its rooms (its own room included).
    pub rooms: Vec<Room>,
    /// Its data ([`Socket::data`](crate::Socket::data), Node's `socket.data`).
    pub data: Value,
}

/// A session taken back by [`Adapter::restore_session`], with what the socket missed.
///
/// ```
/// # fn f(restored: tower_socketio::adapter::RestoredSession) {
/// println!("{} missed {} frames", restored.session.sid, restored.missed.len());
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct RestoredSession {
    /// The session as it was persisted.
    pub session: RecoverySession,
    /// The events sent to the socket after the client's offset, in order, encoded for this
    /// namespace with their offsets.
    pub missed: Vec<Frame>,
}

/// Holds rooms and carries broadcasts and cluster queries for one namespace. See the
/// [module docs](self) for why it is shaped this way.
///
/// The contract, in short:
/// - **Rooms** (`add_all`, `del`, `del_all`, `socket_rooms`) are this node's, synchronous.
/// - **Fire-and-forget operations** (`broadcast`, `add_sockets`, `del_sockets`,
///   `disconnect_sockets`, `server_side_emit`) are synchronous: the local part is done and the
///   remote part queued, in the order of calls, before they return. Nothing polls anything
///   behind them, so an adapter that needs I/O queues it to a task of its own.
/// - **Requests** (`broadcast_with_ack`, `fetch_sockets`, `server_side_emit_with_ack`,
///   `all_rooms`, `server_count`) are futures: they wait for other nodes and are polled to the
///   end by the caller.
///
/// A custom adapter usually wraps [`LocalAdapter`] and adds its transport; the shape of
/// such an adapter, doing only local work:
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use serde_json::Value;
/// use tower_socketio::adapter::*;
/// use tower_socketio::engine::Sid;
/// use tower_socketio::{AdapterError, BroadcastAckFuture};
///
/// struct Logged(LocalAdapter);
///
/// impl Adapter for Logged {
///     fn add_all(&self, sid: Sid, rooms: Vec<Room>) { self.0.add_all(sid, rooms) }
///     fn del(&self, sid: Sid, room: &Room) { self.0.del(sid, room) }
///     fn del_all(&self, sid: Sid) { self.0.del_all(sid) }
///     fn socket_rooms(&self, sid: Sid) -> Vec<Room> { self.0.socket_rooms(sid) }
///     fn broadcast(&self, packet: BroadcastPacket, opts: BroadcastOptions) -> Result<(), AdapterError> {
///         println!("broadcast {} to {:?}", packet.event, opts.rooms);
///         self.0.broadcast(&packet, &opts);
///         Ok(())
///     }
///     fn broadcast_with_ack(&self, packet: BroadcastPacket, opts: BroadcastOptions, timeout: Duration)
///         -> AdapterFuture<'_, BroadcastAckFuture> {
///         Box::pin(std::future::ready(Ok(self.0.broadcast_with_ack(&packet, &opts, timeout))))
///     }
///     fn fetch_sockets(&self, opts: BroadcastOptions) -> AdapterFuture<'_, Vec<SocketInfo>> {
///         Box::pin(std::future::ready(Ok(self.0.fetch_sockets(&opts))))
///     }
///     fn add_sockets(&self, opts: BroadcastOptions, rooms: Vec<Room>) -> Result<(), AdapterError> {
///         self.0.add_sockets(&opts, &rooms);
///         Ok(())
///     }
///     fn del_sockets(&self, opts: BroadcastOptions, rooms: Vec<Room>) -> Result<(), AdapterError> {
///         self.0.del_sockets(&opts, &rooms);
///         Ok(())
///     }
///     fn disconnect_sockets(&self, opts: BroadcastOptions, close: bool) -> Result<(), AdapterError> {
///         self.0.disconnect_sockets(&opts, close);
///         Ok(())
///     }
///     fn server_side_emit(&self, _: String, _: Vec<Value>) -> Result<(), AdapterError> {
///         Ok(()) // no other node to hear it
///     }
///     fn server_side_emit_with_ack(&self, _: String, _: Vec<Value>, _: Duration) -> AdapterFuture<'_, Vec<Value>> {
///         Box::pin(std::future::ready(Ok(Vec::new())))
///     }
///     fn all_rooms(&self) -> AdapterFuture<'_, Vec<Room>> {
///         Box::pin(std::future::ready(Ok(self.0.rooms())))
///     }
///     fn server_count(&self) -> AdapterFuture<'_, usize> {
///         Box::pin(std::future::ready(Ok(1)))
///     }
/// }
///
/// let io = tower_socketio::SocketIo::builder()
///     .adapter(|ns: NamespaceHandle| Arc::new(Logged(LocalAdapter::new(ns))) as Arc<dyn Adapter>)
///     .build();
/// # let _ = io;
/// ```
pub trait Adapter: Send + Sync + 'static {
    /// Puts a socket in rooms.
    fn add_all(&self, sid: Sid, rooms: Vec<Room>);
    /// Takes a socket out of a room.
    fn del(&self, sid: Sid, room: &Room);
    /// Takes a socket out of every room.
    fn del_all(&self, sid: Sid);
    /// The rooms of a local socket.
    fn socket_rooms(&self, sid: Sid) -> Vec<Room>;

    /// Sends a packet to the targeted sockets.
    ///
    /// Fire and forget, as in Node: by the time this returns, the local delivery is done and
    /// anything for other nodes is queued, in the order of calls; an error says the remote part
    /// could not even be queued. One exception: an adapter that
    /// [persists sessions](Self::persists_sessions) learns a recoverable packet's offset from
    /// its store, so it may defer that packet's local delivery until then, keeping the order of
    /// broadcasts.
    ///
    /// It must only deliver (queueing frames through the [`NamespaceHandle`] never calls out)
    /// and publish; it must not emit or disconnect sockets itself. An adapter that persists
    /// sessions usually logs and fans out a recoverable packet under one lock, which a restored
    /// socket's join takes too (see [`SessionStore`]).
    fn broadcast(
        &self,
        packet: BroadcastPacket,
        opts: BroadcastOptions,
    ) -> Result<(), AdapterError>;
    /// Sends a packet with an ack id and collects each receiver's answer within `timeout`.
    fn broadcast_with_ack(
        &self,
        packet: BroadcastPacket,
        opts: BroadcastOptions,
        timeout: Duration,
    ) -> AdapterFuture<'_, BroadcastAckFuture>;
    /// The targeted sockets, described.
    fn fetch_sockets(&self, opts: BroadcastOptions) -> AdapterFuture<'_, Vec<SocketInfo>>;
    /// Makes the targeted sockets join rooms. Fire and forget, like
    /// [`broadcast`](Self::broadcast): the local part is done and the remote part queued.
    fn add_sockets(&self, opts: BroadcastOptions, rooms: Vec<Room>) -> Result<(), AdapterError>;
    /// Makes the targeted sockets leave rooms. Fire and forget.
    fn del_sockets(&self, opts: BroadcastOptions, rooms: Vec<Room>) -> Result<(), AdapterError>;
    /// Disconnects the targeted sockets (closing their connections with `close`). Fire and
    /// forget.
    fn disconnect_sockets(&self, opts: BroadcastOptions, close: bool) -> Result<(), AdapterError>;
    /// Emits an event to the other nodes' [`on_server_side`](crate::SocketIo::on_server_side)
    /// listeners. Fire and forget.
    fn server_side_emit(&self, event: String, args: Vec<Value>) -> Result<(), AdapterError>;
    /// Emits an event to the other nodes' listeners and resolves to their answers, within
    /// `timeout`.
    fn server_side_emit_with_ack(
        &self,
        event: String,
        args: Vec<Value>,
        timeout: Duration,
    ) -> AdapterFuture<'_, Vec<Value>>;
    /// Every room with at least one socket, on every node.
    fn all_rooms(&self) -> AdapterFuture<'_, Vec<Room>>;
    /// How many nodes share this namespace (1 for the memory adapter).
    fn server_count(&self) -> AdapterFuture<'_, usize>;

    /// Resolves once this adapter receives what other nodes publish for its namespace: a node
    /// that is ready misses nothing published after that (Node has no such signal). Servers
    /// wait for it through [`SocketIo::ready`](crate::SocketIo::ready), and a client's CONNECT
    /// is answered only once its namespace's adapter is ready (within the connect timeout), so
    /// a client that was told it is connected gets every broadcast published after that.
    ///
    /// An adapter that subscribes to its messages asynchronously resolves once its
    /// subscriptions are confirmed; by default (a single-node adapter) it is ready at once.
    /// It is about the start: it stays resolved afterwards.
    fn ready(&self) -> AdapterFuture<'_, ()> {
        Box::pin(std::future::ready(Ok(())))
    }

    /// Whether [`ready`](Self::ready) would resolve at once, so that a CONNECT is answered on
    /// the spot rather than from a task waiting for it (the usual case, once started). By
    /// default (a single-node adapter) it is.
    fn is_ready(&self) -> bool {
        true
    }

    /// The server is shutting down (Node's `adapter.close()`): leave the cluster now, so other
    /// nodes stop counting and asking this one, even while connections still drain. By
    /// default there is nothing to do.
    fn close(&self) {}

    /// Whether this adapter keeps connection state recovery: sessions, and the offsets and log
    /// of the packets sent to recoverable sockets, in memory ([`MemoryAdapter`], with a
    /// [`SessionStore`]) or in a store shared by every node (the Redis Streams adapter). By
    /// default it does not, and clients that ask to recover get a new connection.
    fn persists_sessions(&self) -> bool {
        false
    }

    /// Keeps the session of a socket that left without meaning to, for `ttl` (Node's
    /// `persistSession`). Only called when [`persists_sessions`](Self::persists_sessions).
    ///
    /// Fire and forget, like a broadcast: the session is kept, or its storing queued, by the
    /// time this returns, so that a client reconnecting at once finds it.
    fn persist_session(&self, session: RecoverySession, ttl: Duration) -> Result<(), AdapterError> {
        let _ = (session, ttl);
        Ok(())
    }

    /// A recoverable socket's session as it is now: once it connected and joined its rooms, and
    /// whenever its data changes. An adapter that keeps the sessions of connected sockets (so
    /// that they survive a crash of this node) stores it; the rooms are its own to follow. By
    /// default a session is kept only once its socket leaves
    /// ([`persist_session`](Self::persist_session)). Only called when
    /// [`persists_sessions`](Self::persists_sessions).
    fn track_session(&self, session: RecoverySession) {
        let _ = session;
    }

    /// Takes back a session and the packets its socket missed after `offset` (Node's
    /// `restoreSession`); `None` when the session or the offset is unknown or expired, and the
    /// client gets a new connection. Only called when
    /// [`persists_sessions`](Self::persists_sessions).
    ///
    /// `offset` is `None` when the client never received a packet with one (Node refuses to
    /// recover it): an adapter that knows where the session started gives back every packet
    /// sent to it since, else `None`.
    fn restore_session(
        &self,
        pid: String,
        offset: Option<String>,
    ) -> AdapterFuture<'_, Option<RestoredSession>> {
        let _ = (pid, offset);
        Box::pin(std::future::ready(Ok(None)))
    }
}

/// Builds a namespace's adapter; the namespace is handed over (weakly) so the adapter can reach
/// its sockets.
///
/// Any `Fn(NamespaceHandle) -> Arc<dyn Adapter>` is a builder:
///
/// ```
/// use std::sync::Arc;
/// use tower_socketio::adapter::{Adapter, MemoryAdapter, NamespaceHandle};
///
/// let io = tower_socketio::SocketIo::builder()
///     .adapter(|ns: NamespaceHandle| Arc::new(MemoryAdapter::new(ns)) as Arc<dyn Adapter>)
///     .build();
/// # let _ = io;
/// ```
pub trait AdapterBuilder: Send + Sync + 'static {
    /// Builds the adapter of one namespace.
    fn build(&self, ns: NamespaceHandle) -> Arc<dyn Adapter>;
}

impl<F> AdapterBuilder for F
where
    F: Fn(NamespaceHandle) -> Arc<dyn Adapter> + Send + Sync + 'static,
{
    fn build(&self, ns: NamespaceHandle) -> Arc<dyn Adapter> {
        self(ns)
    }
}

/// A weak handle on a namespace, for its adapter: its name and packet format, and this node's
/// sockets, reached by id.
///
/// Every call is safe under the adapter's own locks: none runs user code or closes a socket on
/// the caller's stack.
///
/// ```
/// use tower_socketio::adapter::{BroadcastOptions, LocalAdapter, NamespaceHandle};
///
/// fn shout(local: &LocalAdapter, frames: &[tower_socketio::engine::Frame]) {
///     // The adapter knows the rooms; the handle reaches the sockets.
///     let everyone = local.targets(&BroadcastOptions::default());
///     local.namespace().send(&everyone, frames, false);
/// }
/// ```
#[derive(Clone)]
pub struct NamespaceHandle {
    sockets: Weak<dyn LocalSockets>,
    name: Arc<str>,
    parser: crate::parser::Parser,
    recovery: Option<ConnectionStateRecovery>,
    /// Instrumentation, once installed (see `core::observe`).
    observer: crate::core::observe::AdapterObserverSlot,
}

impl std::fmt::Debug for NamespaceHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NamespaceHandle")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl NamespaceHandle {
    pub(crate) fn new(
        sockets: Weak<dyn LocalSockets>,
        name: &str,
        parser: crate::parser::Parser,
        recovery: Option<ConnectionStateRecovery>,
    ) -> Self {
        NamespaceHandle {
            sockets,
            name: name.into(),
            parser,
            recovery,
            observer: Default::default(),
        }
    }

    /// Reports room changes and deliveries to the observer in `slot` once one is installed.
    pub(crate) fn observed_by(mut self, slot: crate::core::observe::AdapterObserverSlot) -> Self {
        self.observer = slot;
        self
    }

    /// The installed observer, if any.
    pub(crate) fn observer(&self) -> Option<&Arc<dyn crate::core::observe::AdapterObserver>> {
        self.observer.get()
    }

    /// Whether connection state recovery is on: an adapter that
    /// [persists sessions](Adapter::persists_sessions) then gives offsets to what it delivers.
    pub fn recovers(&self) -> bool {
        self.recovery.is_some()
    }

    /// Connection state recovery's options, when it is on.
    pub fn recovery(&self) -> Option<ConnectionStateRecovery> {
        self.recovery
    }

    /// The namespace's name (known from the start, while the adapter is being built).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The namespace's name, shared.
    #[cfg(any(feature = "redis", feature = "postgres"))]
    pub(crate) fn shared_name(&self) -> Arc<str> {
        self.name.clone()
    }

    /// The packet format the server writes, to encode packets from other nodes for local
    /// receivers.
    pub fn parser(&self) -> crate::parser::Parser {
        self.parser
    }

    /// Queues `frames` to each of these local sockets still connected (shared, never copied
    /// per socket). Volatile frames are dropped for a socket that cannot take them now; a
    /// socket whose queue is full is closed as a slow consumer, later and elsewhere.
    pub fn send(&self, sids: &[Sid], frames: &[Frame], volatile: bool) {
        if let Some(sockets) = self.sockets.upgrade() {
            sockets.send(sids, frames, volatile);
        }
    }

    /// Queues `frames` to one local socket past its queue bound (a recovered socket's replay).
    pub fn send_unbounded(&self, sid: Sid, frames: Vec<Frame>) {
        if let Some(sockets) = self.sockets.upgrade() {
            sockets.send_unbounded(sid, frames);
        }
    }

    /// Queues `frames`, which carry ack `id`, to each of these local sockets and returns one
    /// future per socket that took them, resolving to its answer within `timeout`.
    pub fn send_with_ack(
        &self,
        sids: &[Sid],
        frames: &[Frame],
        id: u64,
        timeout: Duration,
    ) -> Vec<crate::AckFuture> {
        match self.sockets.upgrade() {
            Some(sockets) => sockets.send_with_ack(sids, frames, id, timeout),
            None => Vec::new(),
        }
    }

    /// Disconnects these local sockets (closing their whole connections with `close`).
    pub fn disconnect(&self, sids: &[Sid], close: bool) {
        if let Some(sockets) = self.sockets.upgrade() {
            sockets.disconnect(sids, close);
        }
    }

    /// The handshake and data of each of these local sockets still connected, as
    /// `(id, handshake, data)`, for a fetch.
    pub fn describe(&self, sids: &[Sid]) -> Vec<(Sid, Value, Value)> {
        self.sockets
            .upgrade()
            .map(|sockets| sockets.describe(sids))
            .unwrap_or_default()
    }

    /// Whether a socket with this id is connected on this node.
    pub fn contains(&self, sid: Sid) -> bool {
        self.sockets.upgrade().is_some_and(|s| s.contains(sid))
    }

    /// Hands an event from another node to this node's
    /// [`on_server_side`](crate::SocketIo::on_server_side) listener; `None` when nobody listens,
    /// else the listener's answer.
    pub fn on_server_side(&self, event: &str, args: Vec<Value>) -> Option<Option<Value>> {
        self.sockets.upgrade()?.server_side(event, args)
    }

    /// A fresh ack id from the namespace's counter (shared by emits and broadcasts), for a
    /// broadcast with ack that another node asked for; `None` once the namespace is gone.
    pub fn next_ack_id(&self) -> Option<u64> {
        self.sockets.upgrade().map(|sockets| sockets.next_ack_id())
    }
}
