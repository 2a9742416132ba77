//! One namespace's Redis adapter: its shared state, the helpers every format uses (packets and
//! sockets to and from their wire form, server-side emits, broadcasts with ack from other
//! nodes), the routing of incoming messages, and the [`Adapter`] impl.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use serde_json::Value;
use tokio::sync::mpsc;

use super::RedisMode;
use super::channels::Names;
use super::driver::Outgoing;
use super::outgoing::{Operation, server_side_message};
use super::ready::Readiness;
use super::requests::{AckEvent, AckGuard, AckReply, Pending, collect_cluster_acks};
use super::restore::Restore;
use super::streams;
use super::transport::Transport;
use crate::adapter::cluster::codec::{self as wire, Decoded};
use crate::adapter::cluster::message::{Body, ClusterMessage};
use crate::adapter::cluster::{ClusterError, WireOpts, WirePacket, WireSocket};
use crate::adapter::{
    Adapter, AdapterFuture, BroadcastOptions, BroadcastPacket, LocalAdapter, NamespaceHandle,
    RecoverySession, RestoredSession, Room, SessionStore, SocketInfo,
};
use crate::core::ack::{AckResponse, BroadcastAckFuture};
use crate::core::error::AdapterError;
use crate::core::sync::lock;
use crate::engine::Sid;
use crate::extract::Args;
use crate::parser;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A random id for a node or a request: 16 hexadecimal digits.
pub(super) fn random_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// The state of one namespace's adapter, shared with the router and the tasks it starts.
pub(crate) struct NsShared {
    pub(super) id: u64,
    pub(super) driver: Arc<dyn Transport>,
    pub(super) ns: NamespaceHandle,
    pub(super) local: LocalAdapter,
    pub(super) uid: String,
    pub(super) names: OnceLock<Names>,
    pub(super) requests: Mutex<HashMap<String, Pending>>,
    pub(super) ack_requests: Mutex<HashMap<String, mpsc::UnboundedSender<AckEvent>>>,
    /// Sharded dynamic mode: the rooms whose own channel this node listens to.
    pub(super) room_channels: Mutex<HashSet<String>>,
    /// Streams mode: sessions being restored, and restored ones whose replay the stream reader
    /// may not have passed yet. Every delivery of a stream entry happens under this lock.
    pub(super) restores: Mutex<HashMap<Sid, Restore>>,
    /// Streams mode: the copies a retried batch of another node added are skipped.
    pub(super) copies: Mutex<streams::Copies>,
    /// Set by the driver once Redis confirmed the namespace's subscriptions.
    pub(crate) subscribed: Readiness,
    /// Classic and sharded modes with recovery on: this node's sessions and packet log, in
    /// memory, as the memory adapter keeps them (a client recovers on the node it left).
    pub(super) sessions: Option<SessionStore>,
}

/// A namespace's Redis adapter, built by [`RedisAdapterBuilder`](super::RedisAdapterBuilder).
///
/// Rooms live in memory like with the [`MemoryAdapter`](crate::adapter::MemoryAdapter); every
/// operation that spans nodes is published on Redis in the format of Node's
/// `@socket.io/redis-adapter` 8.x, so Rust and Node nodes can share a cluster. See the
/// [module docs](super) for the channels and messages.
///
/// ```no_run
/// use tower_socketio::SocketIo;
/// use tower_socketio::adapter::redis::{RedisAdapter, RedisAdapterConfig};
///
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// let builder = RedisAdapter::connect(RedisAdapterConfig::new("redis://127.0.0.1:6379")).await?;
/// let io = SocketIo::builder().adapter(builder).build();
/// io.emit("hello", &"every client of every node").ok();
/// # Ok(()) }
/// ```
pub struct RedisAdapter {
    shared: Arc<NsShared>,
}

impl std::fmt::Debug for RedisAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisAdapter")
            .field("uid", &self.shared.uid)
            .field("names", &self.shared.names.get())
            .finish_non_exhaustive()
    }
}

impl Drop for RedisAdapter {
    fn drop(&mut self) {
        self.shared.driver.unregister(self.shared.id);
    }
}

impl RedisAdapter {
    pub(crate) fn new(driver: Arc<dyn Transport>, ns: NamespaceHandle) -> Self {
        let in_memory = driver.config().mode != RedisMode::Streams;
        let sessions = ns.recovery().filter(|_| in_memory).map(SessionStore::new);
        let shared = Arc::new(NsShared {
            sessions,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            driver,
            local: LocalAdapter::new(ns.clone()),
            ns,
            uid: random_id(),
            names: OnceLock::new(),
            requests: Mutex::new(HashMap::new()),
            ack_requests: Mutex::new(HashMap::new()),
            room_channels: Mutex::new(HashSet::new()),
            restores: Mutex::new(HashMap::new()),
            copies: Mutex::new(streams::Copies::default()),
            subscribed: Readiness::new(),
        });
        shared.driver.register(shared.id, Arc::downgrade(&shared));
        RedisAdapter { shared }
    }
}

pub(super) fn ready<'a, T: Send + 'a>(value: Result<T, AdapterError>) -> AdapterFuture<'a, T> {
    Box::pin(std::future::ready(value))
}

/// The `[event, ...args]` array of a packet from this crate.
pub(super) fn packet_data(packet: &BroadcastPacket) -> Option<Vec<Value>> {
    match packet.data() {
        Ok(data) => Some(data),
        Err(err) => {
            tracing::warn!(error = %err, "broadcast arguments are not JSON; not sent to other nodes");
            None
        }
    }
}

/// The packet object this node sends other nodes: `{type: 2, data, nsp}` (the namespace too,
/// as the classic adapter does, in every format).
pub(super) fn wire_packet(nsp: &str, packet: &BroadcastPacket) -> Option<WirePacket> {
    Some(WirePacket {
        nsp: Some(nsp.to_owned()),
        ..WirePacket::event(packet_data(packet)?)
    })
}

/// The options of a broadcast with ack carry its timeout, in milliseconds.
pub(super) fn wire_opts(opts: &BroadcastOptions, timeout: Option<Duration>) -> WireOpts {
    let ms = timeout.map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX));
    WireOpts::from_options(opts, ms)
}

pub(super) fn room_names(rooms: &[Room]) -> Vec<String> {
    rooms.iter().map(|r| r.to_string()).collect()
}

pub(super) fn rooms_of(names: &[String]) -> Vec<Room> {
    names.iter().map(|r| Room::Owned(r.clone())).collect()
}

/// A copy of a packet with one more argument at the end of its `data`: where connection state
/// recovery puts the offset.
pub(super) fn with_trailing_arg(packet: &WirePacket, arg: &str) -> WirePacket {
    let mut packet = packet.clone();
    packet.data.push(Value::String(arg.to_owned()));
    packet
}

/// The first argument of an answer, with its binary data back in place: what Node's ack
/// callback receives and forwards.
pub(super) fn first_arg(response: &AckResponse) -> Option<Value> {
    response.args.first().cloned()
}

pub(super) fn ack_response(value: Option<Value>, attachments: Vec<Bytes>) -> AckResponse {
    AckResponse {
        args: value.into_iter().collect(),
        attachments,
    }
}

/// Another node's socket, as a fetch answer describes it.
pub(super) fn remote_socket(socket: WireSocket) -> Option<SocketInfo> {
    let Ok(id) = socket.id.parse::<Sid>() else {
        tracing::debug!(
            id = socket.id,
            "ignoring a remote socket whose id is not a socket id"
        );
        return None;
    };
    Some(SocketInfo {
        id,
        rooms: rooms_of(&socket.rooms),
        handshake: socket.handshake,
        data: socket.data,
    })
}

impl NsShared {
    pub(super) fn mode(&self) -> RedisMode {
        self.driver.config().mode
    }

    pub(super) fn sharded(&self) -> bool {
        matches!(self.mode(), RedisMode::Sharded(_))
    }

    pub(super) fn streams(&self) -> bool {
        self.mode() == RedisMode::Streams
    }

    /// Delivers a broadcast to this node's sockets, through the session store when it keeps
    /// recovery in memory (it gives a recoverable packet its offset and logs it).
    pub(super) fn deliver_local(&self, packet: &BroadcastPacket, opts: &BroadcastOptions) {
        match &self.sessions {
            Some(sessions) => sessions.broadcast(&self.local, packet, opts),
            None => self.local.broadcast(packet, opts),
        }
    }

    /// Puts a local socket in rooms, through the session store when there is one (a restored
    /// socket's hand-over happens there).
    pub(super) fn join_local(&self, sid: Sid, rooms: Vec<Room>) {
        match &self.sessions {
            Some(sessions) => sessions.add_all(&self.local, sid, rooms),
            None => self.local.add_all(sid, rooms),
        }
    }

    /// Takes a local socket out of every room (and forgets its unfinished restore, if any).
    pub(super) fn leave_local(&self, sid: Sid) {
        match &self.sessions {
            Some(sessions) => sessions.del_all(&self.local, sid),
            None => self.local.del_all(sid),
        }
    }

    /// The streams adapter reads everything on Pub/Sub as MessagePack; the sharded adapter
    /// writes JSON unless there is binary data.
    pub(super) fn always_msgpack(&self) -> bool {
        self.streams()
    }

    pub(super) fn publish(&self, channel: String, payload: Vec<u8>) -> Result<(), AdapterError> {
        self.driver
            .publish(Outgoing::publish(channel, payload, self.sharded()))
    }

    /// `PUBSUB NUMSUB` of the request channel (classic) or `SHARDNUMSUB` of the main channel
    /// (sharded): every node, this one included.
    pub(super) async fn server_count(&self) -> Result<usize, AdapterError> {
        let Some(names) = self.names() else {
            return Ok(1);
        };
        match self.mode() {
            RedisMode::Classic => self.driver.numsub(&names.request, false).await,
            RedisMode::Sharded(_) => self.driver.numsub(&names.channel, true).await,
            RedisMode::Streams => self.driver.numsub(&names.channel, false).await,
        }
    }

    /// A cluster message from this node.
    pub(super) fn cluster_message(&self, nsp: &str, body: Body) -> ClusterMessage {
        ClusterMessage {
            uid: self.uid.clone(),
            nsp: nsp.to_owned(),
            body,
        }
    }

    /// The local sockets an operation targets, as fetch answers describe them (Node's shape:
    /// `{id, handshake, rooms, data}`).
    pub(super) fn local_sockets(&self, opts: &BroadcastOptions) -> Vec<WireSocket> {
        self.local
            .fetch_sockets(opts)
            .into_iter()
            .map(|socket| {
                let mut handshake = socket.handshake;
                if let Value::Object(map) = &mut handshake {
                    let issued = map.get("issued").and_then(Value::as_i64).unwrap_or(0);
                    let xdomain = map.get("headers").and_then(|h| h.get("origin")).is_some();
                    map.insert("time".into(), Value::String(wire::js_date_string(issued)));
                    map.insert("xdomain".into(), Value::Bool(xdomain));
                }
                WireSocket {
                    id: socket.id.as_str().to_owned(),
                    handshake,
                    rooms: room_names(&socket.rooms),
                    data: socket.data,
                }
            })
            .collect()
    }

    /// A message on one of this server's channels; ignored unless it is for this namespace.
    pub(crate) fn on_channel_message(self: &Arc<Self>, channel: &str, payload: &[u8]) {
        let Some(names) = self.names.get() else {
            return;
        };
        match self.mode() {
            RedisMode::Classic => {
                if let Some(rest) = channel.strip_prefix(names.channel.as_str()) {
                    self.on_classic_broadcast(names, channel, rest, payload);
                } else if channel == names.request {
                    self.on_classic_request(names, channel, payload);
                } else if channel == names.response || channel == names.specific_response {
                    self.on_classic_response(channel, payload);
                }
            }
            RedisMode::Sharded(_) | RedisMode::Streams => {
                if channel == names.response {
                    if let Some(Decoded { value, attachments }) = decode_logged(channel, payload)
                        && let Some(message) =
                            typed_logged(channel, ClusterMessage::from_value(value))
                    {
                        self.on_cluster_response(message.body, attachments);
                    }
                } else if channel.starts_with(names.channel.as_str())
                    && let Some(message) = decode_logged(channel, payload)
                {
                    self.on_cluster_message(names, message, None);
                }
            }
        }
    }

    /// Encodes a packet from another node for the local receivers: once, shared by all.
    pub(super) fn remote_packet(
        &self,
        names: &Names,
        packet: &WirePacket,
        attachments: Vec<Bytes>,
        ack_id: Option<u64>,
    ) -> Option<BroadcastPacket> {
        // EVENT, or BINARY_EVENT from an old sender.
        if !matches!(packet.kind, 2 | 5) {
            return None;
        }
        let (event, args) = packet.data.split_first()?;
        let event = match event {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return None,
        };
        let id = ack_id.or(packet.id);
        let args = parser::encode_args(&Args(args.to_vec()), attachments).ok()?;
        // A node that logs packets in memory logs what others broadcast too.
        let recoverable = self.sessions.is_some() && id.is_none();
        Some(BroadcastPacket::new(
            event,
            args,
            id,
            recoverable,
            names.parser,
            self.ns.shared_name(),
        ))
    }

    /// Hands a server-side emit (`[event, ...args]`) to this node's listener; its answer, if it
    /// gave one.
    pub(super) fn run_server_side(&self, mut args: Vec<Value>) -> Option<Value> {
        if args.is_empty() {
            return None;
        }
        let event = match args.remove(0) {
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            _ => return None,
        };
        self.ns.on_server_side(&event, args).flatten()
    }

    /// Another node's broadcast with ack: deliver it with an ack id of this namespace, report how
    /// many clients got it, then forward each answer as it comes.
    pub(super) fn on_broadcast_with_ack<F>(
        self: &Arc<Self>,
        names: &Names,
        packet: &WirePacket,
        opts: &WireOpts,
        attachments: Vec<Bytes>,
        reply: F,
    ) where
        F: Fn(&NsShared, AckReply) + Send + 'static,
    {
        let timeout = opts
            .flags
            .timeout
            .map_or(self.driver.config().requests_timeout, Duration::from_millis);
        let opts = opts.to_options();
        let Some(ack_id) = self.ns.next_ack_id() else {
            return;
        };
        let Some(packet) = self.remote_packet(names, packet, attachments, Some(ack_id)) else {
            return tracing::warn!("ignoring a broadcast with ack whose packet is malformed");
        };
        let waiting = self.local.broadcast_with_ack_each(&packet, &opts, timeout);
        reply(self, AckReply::Count(waiting.len()));
        if waiting.is_empty() {
            return;
        }
        let shared = self.clone();
        tokio::spawn(async move {
            let mut waiting: FuturesUnordered<_> = waiting.into_iter().collect();
            while let Some(answer) = waiting.next().await {
                if let Ok(response) = answer {
                    reply(&shared, AckReply::Ack(response));
                }
            }
        });
    }
}

/// Logs a message that does not fit its type (everything on a shared channel is hostile) and
/// drops it.
pub(super) fn typed_logged<T>(channel: &str, decoded: Result<T, ClusterError>) -> Option<T> {
    match decoded {
        Ok(message) => Some(message),
        Err(err) => {
            tracing::warn!(channel, error = %err, "ignoring a malformed Redis message");
            None
        }
    }
}

pub(super) fn decode_logged(channel: &str, payload: &[u8]) -> Option<Decoded> {
    match wire::decode_message(payload) {
        Ok(decoded) if decoded.value.is_object() => Some(decoded),
        Ok(_) => {
            tracing::warn!(channel, "ignoring a Redis message that is not an object");
            None
        }
        Err(err) => {
            tracing::warn!(channel, error = %err, "ignoring a malformed Redis message");
            None
        }
    }
}

impl Adapter for RedisAdapter {
    fn add_all(&self, sid: Sid, rooms: Vec<Room>) {
        self.shared.add_all(sid, rooms);
    }

    fn del(&self, sid: Sid, room: &Room) {
        self.shared.del(sid, room);
    }

    fn del_all(&self, sid: Sid) {
        self.shared.del_all(sid);
    }

    fn socket_rooms(&self, sid: Sid) -> Vec<Room> {
        self.shared.local.socket_rooms(sid)
    }

    fn broadcast(
        &self,
        packet: BroadcastPacket,
        opts: BroadcastOptions,
    ) -> Result<(), AdapterError> {
        let shared = &self.shared;
        if shared.streams() && !opts.local {
            return shared.broadcast_to_stream(packet, opts);
        }
        shared.deliver_local(&packet, &opts);
        if opts.local {
            return Ok(());
        }
        let Some(names) = shared.names() else {
            return Ok(());
        };
        match shared.broadcast_message(names, &packet, &opts) {
            Some((channel, payload)) => shared.publish(channel, payload),
            None => Ok(()),
        }
    }

    fn broadcast_with_ack(
        &self,
        packet: BroadcastPacket,
        opts: BroadcastOptions,
        timeout: Duration,
    ) -> AdapterFuture<'_, BroadcastAckFuture> {
        let shared = &self.shared;
        let local = shared.local.broadcast_with_ack(&packet, &opts, timeout);
        if opts.local {
            return ready(Ok(local));
        }
        let Some(names) = shared.names() else {
            return ready(Ok(local));
        };
        let id = random_id();
        let Some((channel, payload)) =
            shared.broadcast_with_ack_message(names, &id, &packet, &opts, timeout)
        else {
            return ready(Ok(local));
        };
        let (tx, rx) = mpsc::unbounded_channel();
        lock(&shared.ack_requests).insert(id.clone(), tx);
        let guard = AckGuard {
            shared: shared.clone(),
            id,
        };
        if let Err(err) = shared.publish(channel, payload) {
            drop(guard);
            tracing::warn!(error = %err, "broadcast with ack not sent to other nodes");
            return ready(Ok(local));
        }
        ready(Ok(Box::pin(collect_cluster_acks(
            guard, local, rx, timeout,
        ))))
    }

    fn fetch_sockets(&self, opts: BroadcastOptions) -> AdapterFuture<'_, Vec<SocketInfo>> {
        if opts.local {
            return ready(Ok(self.shared.local.fetch_sockets(&opts)));
        }
        Box::pin(self.shared.clone().fetch_remote(opts))
    }

    fn add_sockets(&self, opts: BroadcastOptions, rooms: Vec<Room>) -> Result<(), AdapterError> {
        self.shared.add_sockets_local(&opts, &rooms);
        if opts.local {
            return Ok(());
        }
        self.shared.queue_operation(Operation::Join(&rooms), &opts)
    }

    fn del_sockets(&self, opts: BroadcastOptions, rooms: Vec<Room>) -> Result<(), AdapterError> {
        self.shared.del_sockets_local(&opts, &rooms);
        if opts.local {
            return Ok(());
        }
        self.shared.queue_operation(Operation::Leave(&rooms), &opts)
    }

    fn disconnect_sockets(&self, opts: BroadcastOptions, close: bool) -> Result<(), AdapterError> {
        self.shared.local.disconnect_sockets(&opts, close);
        if opts.local {
            return Ok(());
        }
        self.shared
            .queue_operation(Operation::Disconnect(close), &opts)
    }

    fn server_side_emit(&self, event: String, args: Vec<Value>) -> Result<(), AdapterError> {
        let shared = &self.shared;
        let Some(names) = shared.names() else {
            return Ok(());
        };
        let mut data = Vec::with_capacity(args.len() + 1);
        data.push(Value::String(event));
        data.extend(args);
        let (channel, payload) = server_side_message(shared, names, data, None);
        shared.publish(channel, payload)
    }

    fn server_side_emit_with_ack(
        &self,
        event: String,
        args: Vec<Value>,
        timeout: Duration,
    ) -> AdapterFuture<'_, Vec<Value>> {
        Box::pin(self.shared.clone().server_side(event, args, timeout))
    }

    fn all_rooms(&self) -> AdapterFuture<'_, Vec<Room>> {
        Box::pin(self.shared.clone().all_rooms_remote())
    }

    fn server_count(&self) -> AdapterFuture<'_, usize> {
        Box::pin(self.shared.server_count())
    }

    fn ready(&self) -> AdapterFuture<'_, ()> {
        let subscribed = &self.shared.subscribed;
        if subscribed.is_set() {
            return ready(Ok(()));
        }
        Box::pin(subscribed.wait())
    }

    fn is_ready(&self) -> bool {
        self.shared.subscribed.is_set()
    }

    fn close(&self) {
        // Unsubscribes this namespace's channels (and stops routing to it); dropping the
        // adapter would do the same, but idle HTTP connections can keep the server alive.
        self.shared.driver.unregister(self.shared.id);
        self.shared.subscribed.close();
    }

    fn persists_sessions(&self) -> bool {
        self.shared.streams() || self.shared.sessions.is_some()
    }

    fn persist_session(&self, session: RecoverySession, ttl: Duration) -> Result<(), AdapterError> {
        if let Some(sessions) = &self.shared.sessions {
            sessions.persist(session);
            return Ok(());
        }
        // The `SET` is a round trip of its own; the reader and the publisher are not held up.
        let shared = self.shared.clone();
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| AdapterError::Closed)?;
        runtime.spawn(async move {
            if let Err(err) = shared.persist_session(session, ttl).await {
                tracing::warn!(error = %err, "the session could not be persisted");
            }
        });
        Ok(())
    }

    fn restore_session(
        &self,
        pid: String,
        offset: Option<String>,
    ) -> AdapterFuture<'_, Option<RestoredSession>> {
        if let Some(sessions) = &self.shared.sessions {
            return ready(Ok(sessions.restore(&pid, offset.as_deref())));
        }
        Box::pin(self.shared.clone().restore_session(pid, offset))
    }
}
