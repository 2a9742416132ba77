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
//! - **Everything that may span nodes is asynchronous and returns a typed [`AdapterError`]**:
//!   broadcast (with or without acks), fetching sockets, remote join/leave/disconnect,
//!   server-side emit, all rooms, server count. The Redis adapter (wire-compatible with Node's
//!   `@socket.io/redis-adapter`) publishes the operation, then does the local part with
//!   [`LocalAdapter`]; requests carry a timeout and fail with [`AdapterError::Timeout`].
//! - **A broadcast arrives as a [`BroadcastPacket`]: the logical packet (event, JSON
//!   arguments, attachments) for other nodes, which re-encode it in their own format
//!   (msgpack on Redis), and the frames encoded once for local receivers**, shared by all of
//!   them (`Bytes`), never re-encoded per socket.
//! - **Connection state recovery** fits behind `persist_session` / `restore_session`: the
//!   in-memory adapter keeps sessions and a bounded log of packets with their offsets; the
//!   Redis Streams adapter keeps sessions as expiring keys and the log in a stream. The
//!   broadcast path is where an adapter records a packet and its offset, since every event to a
//!   recoverable socket passes through it.
//!
//! [`LocalAdapter`] is public so other adapters reuse the same room bookkeeping and local
//! delivery rather than rewriting them.

mod local;
mod memory;
#[cfg(feature = "redis")]
pub mod redis;

pub use local::LocalAdapter;
pub use memory::MemoryAdapter;

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;

use crate::ack::BroadcastAckFuture;
use crate::engine::{Frame, Sid};
use crate::errors::AdapterError;
use crate::namespace::Namespace;
use crate::socket::SocketRef;

/// A room name. Every socket is in the room named after its own id.
///
/// ```
/// use tower_socketio::adapter::Room;
///
/// let fixed: Room = "lobby".into();
/// let dynamic: Room = format!("user:{}", 42).into();
/// assert_ne!(fixed, dynamic);
/// ```
pub type Room = Cow<'static, str>;

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

/// Which sockets an operation targets and how.
///
/// ```
/// use tower_socketio::adapter::BroadcastOptions;
///
/// let opts = BroadcastOptions::default();
/// assert!(opts.rooms.is_empty()); // no rooms: the whole namespace
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BroadcastOptions {
    /// Target the sockets in any of these rooms; empty means every socket.
    pub rooms: Vec<Room>,
    /// Leave out the sockets in any of these rooms.
    pub except: Vec<Room>,
    /// Only this node's sockets.
    pub local: bool,
    /// Drop the packet for receivers that cannot take it right now.
    pub volatile: bool,
    /// Whether the sender asked for compression (Node's `compress` flag).
    pub compress: bool,
}

/// A packet to broadcast: the logical packet, for other nodes, and its frames, encoded once for
/// this node's receivers.
///
/// ```
/// # fn f(packet: tower_socketio::adapter::BroadcastPacket) {
/// // An adapter forwarding to other nodes sends the logical packet…
/// let args: Vec<serde_json::Value> =
///     serde_json::from_str(&format!("[{}]", packet.args_json)).unwrap_or_default();
/// // …and hands the shared frames to local sockets.
/// let bytes: usize = packet.frames.iter().map(|f| f.len()).sum();
/// # let _ = (args, bytes);
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct BroadcastPacket {
    /// The event name.
    pub event: String,
    /// The arguments as JSON, comma-separated without the surrounding brackets (binary
    /// attachments appear as placeholders); other nodes parse it when they need it.
    pub args_json: String,
    /// The binary attachments.
    pub attachments: Vec<Bytes>,
    /// The ack id, for a broadcast with ack.
    pub id: Option<u64>,
    /// The encoded frames, shared by every local receiver.
    pub frames: Vec<Frame>,
    /// Whether the packet goes to sockets that may recover (connection state recovery is on,
    /// the packet has no ack id and is not volatile). An adapter that
    /// [persists sessions](Adapter::persists_sessions) gives such a packet an offset and sends
    /// [`frames_with_offset`](Self::frames_with_offset) instead of `frames`.
    pub recoverable: bool,
}

impl BroadcastPacket {
    /// The packet encoded again for namespace `ns` with `offset` as its last argument, as Node
    /// sends an event to a recoverable socket.
    ///
    /// ```
    /// # fn f(packet: tower_socketio::adapter::BroadcastPacket, ns: &tower_socketio::adapter::NamespaceHandle) {
    /// let frames = packet.frames_with_offset(ns, "1700000000000-0");
    /// # let _ = frames;
    /// # }
    /// ```
    pub fn frames_with_offset(&self, ns: &NamespaceHandle, offset: &str) -> Vec<Frame> {
        let args = crate::parser::EncodedArgs {
            json: self.args_json.clone(),
            attachments: self.attachments.clone(),
        }
        .with_trailing_string(offset);
        crate::parser::encode(
            ns.parser(),
            crate::parser::PacketType::Event,
            ns.name(),
            self.id,
            Some(&self.event),
            &args,
        )
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

/// A socket found by [`Adapter::fetch_sockets`], on this node or another.
///
/// ```no_run
/// # async fn f(io: tower_socketio::SocketIo) -> Result<(), tower_socketio::AdapterError> {
/// for socket in io.within("lobby").fetch_sockets().await? {
///     println!("{} is in {:?}", socket.id, socket.rooms);
///     // Emit to it, make it join a room, wherever it lives:
///     socket.emit("hello", &"from the server").ok();
///     socket.join("vip").await?;
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct RemoteSocket {
    /// The socket id.
    pub id: Sid,
    /// Its rooms.
    pub rooms: Vec<Room>,
    /// Its handshake, as the other node reported it.
    pub handshake: Value,
    /// The socket itself when it lives on this node.
    pub local: Option<SocketRef>,
    ns: NamespaceHandle,
}

impl RemoteSocket {
    /// A socket of namespace `ns`, wherever it lives.
    pub fn new(
        ns: NamespaceHandle,
        id: Sid,
        rooms: Vec<Room>,
        handshake: Value,
        local: Option<SocketRef>,
    ) -> Self {
        RemoteSocket {
            id,
            rooms,
            handshake,
            local,
            ns,
        }
    }

    /// Operators that select this socket alone, on whichever node it lives.
    fn select(&self) -> Option<crate::operators::BroadcastOperators> {
        let ns = self.ns.ns.upgrade()?;
        Some(crate::operators::BroadcastOperators::new(ns).within(self.id))
    }

    /// Emits an event to this socket (Node's `remoteSocket.emit`).
    pub fn emit<T: serde::Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<(), crate::EmitError> {
        match self.select() {
            Some(selected) => selected.emit(event, data),
            None => Err(crate::EmitError::Disconnected),
        }
    }

    /// Makes this socket join rooms.
    pub async fn join(&self, rooms: impl crate::operators::IntoRooms) -> Result<(), AdapterError> {
        match self.select() {
            Some(selected) => selected.join(rooms).await,
            None => Ok(()),
        }
    }

    /// Makes this socket leave rooms.
    pub async fn leave(&self, rooms: impl crate::operators::IntoRooms) -> Result<(), AdapterError> {
        match self.select() {
            Some(selected) => selected.leave(rooms).await,
            None => Ok(()),
        }
    }

    /// Disconnects this socket (closing its connection with `close`).
    pub async fn disconnect(&self, close: bool) -> Result<(), AdapterError> {
        match self.select() {
            Some(selected) => selected.disconnect(close).await,
            None => Ok(()),
        }
    }
}

/// Holds rooms and carries broadcasts and cluster queries for one namespace. See the
/// [module docs](self) for why it is shaped this way.
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
/// use tower_socketio::BroadcastAckFuture;
///
/// struct Logged(LocalAdapter);
///
/// impl Adapter for Logged {
///     fn add_all(&self, sid: Sid, rooms: Vec<Room>) { self.0.add_all(sid, rooms) }
///     fn del(&self, sid: Sid, room: &Room) { self.0.del(sid, room) }
///     fn del_all(&self, sid: Sid) { self.0.del_all(sid) }
///     fn socket_rooms(&self, sid: Sid) -> Vec<Room> { self.0.socket_rooms(sid) }
///     fn broadcast(&self, packet: BroadcastPacket, opts: BroadcastOptions) -> AdapterFuture<'_, ()> {
///         println!("broadcast {} to {:?}", packet.event, opts.rooms);
///         self.0.broadcast(&packet, &opts);
///         Box::pin(std::future::ready(Ok(())))
///     }
///     fn broadcast_with_ack(&self, packet: BroadcastPacket, opts: BroadcastOptions, timeout: Duration)
///         -> AdapterFuture<'_, BroadcastAckFuture> {
///         Box::pin(std::future::ready(Ok(self.0.broadcast_with_ack(&packet, &opts, timeout))))
///     }
///     fn fetch_sockets(&self, opts: BroadcastOptions) -> AdapterFuture<'_, Vec<RemoteSocket>> {
///         Box::pin(std::future::ready(Ok(self.0.fetch_sockets(&opts))))
///     }
///     fn add_sockets(&self, opts: BroadcastOptions, rooms: Vec<Room>) -> AdapterFuture<'_, ()> {
///         self.0.add_sockets(&opts, &rooms);
///         Box::pin(std::future::ready(Ok(())))
///     }
///     fn del_sockets(&self, opts: BroadcastOptions, rooms: Vec<Room>) -> AdapterFuture<'_, ()> {
///         self.0.del_sockets(&opts, &rooms);
///         Box::pin(std::future::ready(Ok(())))
///     }
///     fn disconnect_sockets(&self, opts: BroadcastOptions, close: bool) -> AdapterFuture<'_, ()> {
///         self.0.disconnect_sockets(&opts, close);
///         Box::pin(std::future::ready(Ok(())))
///     }
///     fn server_side_emit(&self, _: String, _: Vec<Value>, _: bool, _: Duration) -> AdapterFuture<'_, Vec<Value>> {
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
    /// Contract: by the time this returns, the local delivery is done and anything for other
    /// nodes is queued in order (emits are synchronous for users, as in Node); the future only
    /// reports how the remote part went, and may be dropped unpolled. One exception: an adapter
    /// that [persists sessions](Self::persists_sessions) learns a recoverable packet's offset
    /// from its store, so it may defer that packet's local delivery until then, keeping the
    /// order of broadcasts.
    ///
    /// When connection state recovery keeps its log in memory (the adapter does not persist
    /// sessions), a recoverable packet is recorded and handed to this method under the log's
    /// lock, which a restored socket's replay and join take too: that is what makes it get
    /// each packet exactly once. So this must only deliver (queueing frames never calls out)
    /// and publish; it must not emit or disconnect sockets itself.
    fn broadcast(&self, packet: BroadcastPacket, opts: BroadcastOptions) -> AdapterFuture<'_, ()>;
    /// Sends a packet with an ack id and collects each receiver's answer within `timeout`.
    fn broadcast_with_ack(
        &self,
        packet: BroadcastPacket,
        opts: BroadcastOptions,
        timeout: Duration,
    ) -> AdapterFuture<'_, BroadcastAckFuture>;
    /// The targeted sockets.
    fn fetch_sockets(&self, opts: BroadcastOptions) -> AdapterFuture<'_, Vec<RemoteSocket>>;
    /// Makes the targeted sockets join rooms.
    fn add_sockets(&self, opts: BroadcastOptions, rooms: Vec<Room>) -> AdapterFuture<'_, ()>;
    /// Makes the targeted sockets leave rooms.
    fn del_sockets(&self, opts: BroadcastOptions, rooms: Vec<Room>) -> AdapterFuture<'_, ()>;
    /// Disconnects the targeted sockets (closing their connections with `close`).
    fn disconnect_sockets(&self, opts: BroadcastOptions, close: bool) -> AdapterFuture<'_, ()>;
    /// Emits an event to the other nodes' `server_side_emit` handlers; resolves to their
    /// answers when an ack is wanted.
    fn server_side_emit(
        &self,
        event: String,
        args: Vec<Value>,
        want_ack: bool,
        timeout: Duration,
    ) -> AdapterFuture<'_, Vec<Value>>;
    /// Every room with at least one socket, on every node.
    fn all_rooms(&self) -> AdapterFuture<'_, Vec<Room>>;
    /// How many nodes share this namespace (1 for the memory adapter).
    fn server_count(&self) -> AdapterFuture<'_, usize>;

    /// The server is shutting down (Node's `adapter.close()`): leave the cluster now, so other
    /// nodes stop counting and asking this one, even while connections still drain. By
    /// default there is nothing to do.
    fn close(&self) {}

    /// Whether this adapter keeps connection state recovery itself: sessions, and the offsets
    /// and log of the packets sent to recoverable sockets (as a store shared by every node
    /// does). By default it does not, and each namespace keeps them in memory.
    fn persists_sessions(&self) -> bool {
        false
    }

    /// Keeps the session of a socket that left without meaning to, for `ttl` (Node's
    /// `persistSession`). Only called when [`persists_sessions`](Self::persists_sessions).
    fn persist_session(&self, session: RecoverySession, ttl: Duration) -> AdapterFuture<'_, ()> {
        let _ = (session, ttl);
        Box::pin(std::future::ready(Ok(())))
    }

    /// Takes back a session and the packets its socket missed after `offset` (Node's
    /// `restoreSession`); `None` when the session or the offset is unknown or expired, and the
    /// client gets a new connection. Only called when
    /// [`persists_sessions`](Self::persists_sessions).
    fn restore_session(
        &self,
        pid: String,
        offset: String,
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

/// A weak handle on a namespace, for its adapter.
///
/// ```
/// use tower_socketio::adapter::NamespaceHandle;
///
/// fn count_local(ns: &NamespaceHandle) -> usize {
///     ns.sockets().len()
/// }
/// ```
#[derive(Debug, Clone)]
pub struct NamespaceHandle {
    ns: Weak<Namespace>,
    name: Arc<str>,
    parser: crate::parser::Parser,
    recovers: bool,
}

impl NamespaceHandle {
    pub(crate) fn new(
        ns: Weak<Namespace>,
        name: &str,
        parser: crate::parser::Parser,
        recovers: bool,
    ) -> Self {
        NamespaceHandle {
            ns,
            name: name.into(),
            parser,
            recovers,
        }
    }

    /// Whether connection state recovery is on: an adapter that
    /// [persists sessions](Adapter::persists_sessions) then gives offsets to what it delivers.
    pub fn recovers(&self) -> bool {
        self.recovers
    }

    /// The namespace's name (known from the start, while the adapter is being built).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The packet format the server writes, to encode packets from other nodes for local
    /// receivers.
    pub fn parser(&self) -> crate::parser::Parser {
        self.parser
    }

    /// A local socket by id.
    pub fn socket(&self, sid: Sid) -> Option<SocketRef> {
        self.ns.upgrade()?.get_socket(sid)
    }

    /// Hands an event from another node to this node's
    /// [`on_server_side`](crate::SocketIo::on_server_side) listener; `None` when nobody listens,
    /// else the listener's answer.
    pub fn on_server_side(&self, event: &str, args: Vec<Value>) -> Option<Option<Value>> {
        self.ns.upgrade()?.on_server_side(event, args)
    }

    /// The local sockets with these ids (those still connected), looked up together.
    pub fn sockets_by_id(&self, ids: &[Sid]) -> Vec<SocketRef> {
        self.ns
            .upgrade()
            .map(|ns| ns.get_sockets(ids))
            .unwrap_or_default()
    }

    /// Every local socket.
    pub fn sockets(&self) -> Vec<SocketRef> {
        self.ns.upgrade().map(|ns| ns.sockets()).unwrap_or_default()
    }

    /// A fresh ack id from the namespace's counter (shared by emits and broadcasts), for a
    /// broadcast with ack that another node asked for; `None` once the namespace is gone.
    pub fn next_ack_id(&self) -> Option<u64> {
        self.ns.upgrade().map(|ns| ns.next_ack_id())
    }
}
