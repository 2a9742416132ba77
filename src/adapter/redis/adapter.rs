//! One namespace's Redis adapter: what it publishes for each operation, and what it does with
//! what other nodes publish, in Node's three formats (classic, sharded, and the streams
//! adapter's).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use serde_json::{Map, Value, json};
use tokio::sync::{mpsc, oneshot};

use super::driver::{Driver, Outgoing, Subscription};
use super::ready::Readiness;
use super::streams::{self, StreamEntry};
use super::{RedisMode, SubscriptionMode, remote_ack_sid};
use crate::ack::{AckResponse, BroadcastAckFuture};
use crate::adapter::cluster::codec::{self as wire, Decoded};
use crate::adapter::{
    Adapter, AdapterFuture, BroadcastOptions, BroadcastPacket, LocalAdapter, NamespaceHandle,
    RecoverySession, RemoteSocket, RestoredSession, Room,
};
use crate::core::error::{AckError, AdapterError};
use crate::core::sync::lock;
use crate::engine::{Frame, Sid};
use crate::extract::Args;
use crate::parser::{self, PacketType};

/// Request types of the classic format (`@socket.io/redis-adapter`'s `RequestType`).
mod classic {
    pub const SOCKETS: u64 = 0;
    pub const ALL_ROOMS: u64 = 1;
    pub const REMOTE_JOIN: u64 = 2;
    pub const REMOTE_LEAVE: u64 = 3;
    pub const REMOTE_DISCONNECT: u64 = 4;
    pub const REMOTE_FETCH: u64 = 5;
    pub const SERVER_SIDE_EMIT: u64 = 6;
    pub const BROADCAST: u64 = 7;
    pub const BROADCAST_CLIENT_COUNT: u64 = 8;
    pub const BROADCAST_ACK: u64 = 9;
}

/// Message types of the sharded format (`socket.io-adapter`'s `ClusterAdapter`).
pub(crate) mod cluster {
    pub const INITIAL_HEARTBEAT: u64 = 1;
    pub const HEARTBEAT: u64 = 2;
    pub const BROADCAST: u64 = 3;
    pub const SOCKETS_JOIN: u64 = 4;
    pub const SOCKETS_LEAVE: u64 = 5;
    pub const DISCONNECT_SOCKETS: u64 = 6;
    pub const FETCH_SOCKETS: u64 = 7;
    pub const FETCH_SOCKETS_RESPONSE: u64 = 8;
    pub const SERVER_SIDE_EMIT: u64 = 9;
    pub const SERVER_SIDE_EMIT_RESPONSE: u64 = 10;
    pub const BROADCAST_CLIENT_COUNT: u64 = 11;
    pub const BROADCAST_ACK: u64 = 12;
    pub const ADAPTER_CLOSE: u64 = 13;
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A random id for a node or a request: 16 hexadecimal digits.
fn random_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// The channels of one namespace.
#[derive(Debug)]
struct Names {
    nsp: String,
    /// The server's packet format, for the frames of packets from other nodes.
    parser: parser::Parser,
    /// `<prefix>#<nsp>#`: broadcasts (classic), everything (sharded).
    channel: String,
    /// `<prefix>-request#<nsp>#` (classic).
    request: String,
    /// `<prefix>-response#<nsp>#` (classic), `<prefix>#<nsp>#<uid>#` (sharded).
    response: String,
    /// `<prefix>-response#<nsp>#<uid>#` (classic).
    specific_response: String,
}

/// A request waiting for other nodes' answers.
struct Pending {
    kind: PendingKind,
    expected: usize,
    received: usize,
    values: Vec<Value>,
    done: Option<oneshot::Sender<Vec<Value>>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PendingKind {
    /// Each answer holds `sockets`, an array.
    Sockets,
    /// Each answer holds `rooms`, an array.
    Rooms,
    /// Each answer is one value.
    ServerSide,
}

/// What other nodes report about a broadcast with ack.
enum AckEvent {
    ClientCount(usize),
    Ack(AckResponse),
}

/// The state of one namespace's adapter, shared with the router and the tasks it starts.
pub(crate) struct NsShared {
    id: u64,
    driver: Arc<Driver>,
    ns: NamespaceHandle,
    local: LocalAdapter,
    uid: String,
    names: OnceLock<Names>,
    requests: Mutex<HashMap<String, Pending>>,
    ack_requests: Mutex<HashMap<String, mpsc::UnboundedSender<AckEvent>>>,
    /// Sharded dynamic mode: the rooms whose own channel this node listens to.
    room_channels: Mutex<HashSet<String>>,
    /// Streams mode: sessions being restored, and restored ones whose replay the stream reader
    /// may not have passed yet. Every delivery of a stream entry happens under this lock.
    restores: Mutex<HashMap<Sid, Restore>>,
    /// Streams mode: the copies a retried batch of another node added are skipped.
    copies: Mutex<streams::Copies>,
    /// Set by the driver once Redis confirmed the namespace's subscriptions.
    pub(crate) subscribed: Readiness,
}

/// A session restored from the stream, from the start of its replay until live delivery has
/// certainly caught up with it.
///
/// The replay (`XRANGE`) and live delivery (the reader, and this node's own broadcasts once
/// Redis gave them an id) overlap: an entry may come through both, or, while the socket has not
/// joined its rooms yet, through neither. So entries delivered during the replay are buffered
/// for the session; when the socket joins its rooms, the buffer is flushed minus what the replay
/// already had; and after that, live entries the replay already had are not delivered to it
/// again.
struct Restore {
    rooms: Vec<Room>,
    /// The last entry the replay read; `None` while it runs.
    replayed_to: Option<(u64, u64)>,
    /// Entries delivered during the replay, for the session's rooms.
    buffer: Vec<((u64, u64), Vec<Frame>)>,
    joined: bool,
    since: std::time::Instant,
}

/// How long a restore may wait for its socket to join (it was abandoned after that), and how
/// long a joined one keeps filtering replayed entries out of live delivery.
const RESTORE_HANDOVER: Duration = Duration::from_secs(30);
/// How many entries a restore buffers at most; past that it gives up buffering.
const RESTORE_BUFFER_MAX: usize = 100_000;

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
    pub(crate) fn new(driver: Arc<Driver>, ns: NamespaceHandle) -> Self {
        let shared = Arc::new(NsShared {
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

fn ready<'a, T: Send + 'a>(value: Result<T, AdapterError>) -> AdapterFuture<'a, T> {
    Box::pin(std::future::ready(value))
}

/// Escapes the glob characters of a `PSUBSCRIBE` pattern.
fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn rooms_json(rooms: &[Room]) -> Value {
    Value::Array(rooms.iter().map(|r| Value::String(r.to_string())).collect())
}

fn flags_json(opts: &BroadcastOptions, timeout: Option<Duration>) -> Value {
    let mut flags = Map::new();
    if opts.volatile {
        flags.insert("volatile".into(), Value::Bool(true));
    }
    if opts.compress {
        flags.insert("compress".into(), Value::Bool(true));
    }
    if let Some(timeout) = timeout {
        let ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        flags.insert("timeout".into(), Value::Number(ms.into()));
    }
    Value::Object(flags)
}

fn opts_json(opts: &BroadcastOptions, timeout: Option<Duration>) -> Value {
    json!({
        "rooms": rooms_json(&opts.rooms),
        "except": rooms_json(&opts.except),
        "flags": flags_json(opts, timeout),
    })
}

/// `{rooms, except}`, as the classic requests carry them.
fn target_json(opts: &BroadcastOptions) -> Value {
    json!({ "rooms": rooms_json(&opts.rooms), "except": rooms_json(&opts.except) })
}

/// Rooms from another node: strings, or numbers (Node rooms may be numbers).
fn parse_rooms(value: Option<&Value>) -> Vec<Room> {
    match value {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| match v {
                Value::String(s) => Some(Room::Owned(s.clone())),
                Value::Number(n) => Some(Room::Owned(n.to_string())),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn parse_opts(value: Option<&Value>) -> BroadcastOptions {
    let flags = value.and_then(|v| v.get("flags"));
    let flag = |name: &str| flags.and_then(|f| f.get(name)).and_then(Value::as_bool) == Some(true);
    BroadcastOptions {
        rooms: parse_rooms(value.and_then(|v| v.get("rooms"))),
        except: parse_rooms(value.and_then(|v| v.get("except"))),
        local: false,
        volatile: flag("volatile"),
        compress: flag("compress"),
    }
}

fn flags_timeout(value: Option<&Value>) -> Option<Duration> {
    value
        .and_then(|v| v.get("flags"))
        .and_then(|f| f.get("timeout"))
        .and_then(Value::as_u64)
        .map(Duration::from_millis)
}

/// The `[event, ...args]` array of a packet from this crate.
fn packet_data(packet: &BroadcastPacket) -> Option<Vec<Value>> {
    let args: Vec<Value> = match serde_json::from_str(&format!("[{}]", packet.args_json)) {
        Ok(args) => args,
        Err(err) => {
            tracing::warn!(error = %err, "broadcast arguments are not JSON; not sent to other nodes");
            return None;
        }
    };
    let mut data = Vec::with_capacity(args.len() + 1);
    data.push(Value::String(packet.event.clone()));
    data.extend(args);
    Some(data)
}

/// The packet object Node's adapters exchange: `{type: 2, data, nsp}`.
fn packet_json(nsp: &str, data: Vec<Value>) -> Value {
    json!({ "type": 2, "data": Value::Array(data), "nsp": nsp })
}

use wire::encode;

/// A copy of a packet `{type, data, nsp}` with one more argument at the end of its `data`: where
/// connection state recovery puts the offset.
fn with_trailing_arg(packet: &Value, arg: &str) -> Value {
    let mut packet = packet.clone();
    if let Some(Value::Array(data)) = packet.get_mut("data") {
        data.push(Value::String(arg.to_owned()));
    }
    packet
}

fn request_id(value: &Value) -> Option<String> {
    match value.get("requestId")? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The first argument of an answer, with its binary data back in place: what Node's ack
/// callback receives and forwards.
fn first_arg(response: &AckResponse) -> Option<Value> {
    response.args.first().cloned()
}

fn ack_response(value: Option<Value>, attachments: Vec<Bytes>) -> AckResponse {
    AckResponse {
        args: value.into_iter().collect(),
        attachments,
    }
}

/// Another node's socket, as a fetch answer describes it (`{id, handshake, rooms, data}`).
fn remote_socket(ns: &NamespaceHandle, value: &Value) -> Option<RemoteSocket> {
    let id = value.get("id")?.as_str()?;
    let Ok(id) = id.parse::<Sid>() else {
        tracing::debug!(id, "ignoring a remote socket whose id is not a socket id");
        return None;
    };
    Some(
        RemoteSocket::new(
            ns.clone(),
            id,
            parse_rooms(value.get("rooms")),
            value.get("handshake").cloned().unwrap_or(Value::Null),
            None,
        )
        .with_data(value.get("data").cloned().unwrap_or(Value::Null)),
    )
}

impl NsShared {
    fn mode(&self) -> RedisMode {
        self.driver.config.mode
    }

    fn sharded(&self) -> bool {
        matches!(self.mode(), RedisMode::Sharded(_))
    }

    fn streams(&self) -> bool {
        self.mode() == RedisMode::Streams
    }

    /// The streams adapter reads everything on Pub/Sub as MessagePack; the sharded adapter
    /// writes JSON unless there is binary data.
    fn always_msgpack(&self) -> bool {
        self.streams()
    }

    fn names(&self) -> Option<&Names> {
        if let Some(names) = self.names.get() {
            return Some(names);
        }
        let (nsp, parser) = (self.ns.name().to_owned(), self.ns.parser());
        let prefix = &self.driver.config.key;
        let channel = format!("{prefix}#{nsp}#");
        let names = match self.mode() {
            RedisMode::Classic => {
                let response = format!("{prefix}-response#{nsp}#");
                Names {
                    request: format!("{prefix}-request#{nsp}#"),
                    specific_response: format!("{response}{}#", self.uid),
                    response,
                    channel,
                    nsp,
                    parser,
                }
            }
            RedisMode::Sharded(_) | RedisMode::Streams => Names {
                response: format!("{channel}{}#", self.uid),
                request: String::new(),
                specific_response: String::new(),
                channel,
                nsp,
                parser,
            },
        };
        Some(self.names.get_or_init(|| names))
    }

    /// The namespace's channels, once it can be named. The adapter is built while its namespace
    /// is being created, when the name cannot be read yet; this waits (briefly) for it.
    pub(crate) async fn resolve_subscriptions(&self) -> Option<Vec<Subscription>> {
        for _ in 0..200 {
            if let Some(names) = self.names() {
                return Some(match self.mode() {
                    RedisMode::Classic => vec![
                        Subscription::Pattern(format!("{}*", glob_escape(&names.channel))),
                        Subscription::Channel(names.request.clone()),
                        Subscription::Channel(names.response.clone()),
                        Subscription::Channel(names.specific_response.clone()),
                    ],
                    RedisMode::Sharded(_) => vec![
                        Subscription::Shard(names.channel.clone()),
                        Subscription::Shard(names.response.clone()),
                    ],
                    RedisMode::Streams => vec![
                        Subscription::Channel(names.channel.clone()),
                        Subscription::Channel(names.response.clone()),
                    ],
                });
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tracing::warn!("Redis adapter: the namespace never became available; not subscribed");
        None
    }

    fn publish(&self, channel: String, payload: Vec<u8>) -> Result<(), AdapterError> {
        self.driver
            .publish(Outgoing::publish(channel, payload, self.sharded()))
    }

    /// `PUBSUB NUMSUB` of the request channel (classic) or `SHARDNUMSUB` of the main channel
    /// (sharded): every node, this one included.
    async fn server_count(&self) -> Result<usize, AdapterError> {
        let Some(names) = self.names() else {
            return Ok(1);
        };
        match self.mode() {
            RedisMode::Classic => self.driver.numsub(&names.request, false).await,
            RedisMode::Sharded(_) => self.driver.numsub(&names.channel, true).await,
            RedisMode::Streams => self.driver.numsub(&names.channel, false).await,
        }
    }

    /// A sharded message: `{uid, nsp, type, data}`.
    fn cluster_message(&self, nsp: &str, kind: u64, data: Value) -> Value {
        json!({ "uid": self.uid, "nsp": nsp, "type": kind, "data": data })
    }

    /// Publishes a request and waits for `expected` answers within `timeout`.
    async fn request(
        &self,
        kind: PendingKind,
        expected: usize,
        timeout: Duration,
        make: impl FnOnce(&str) -> (String, Vec<u8>),
    ) -> Result<Vec<Value>, AdapterError> {
        let id = random_id();
        let (tx, rx) = oneshot::channel();
        lock(&self.requests).insert(
            id.clone(),
            Pending {
                kind,
                expected,
                received: 0,
                values: Vec::new(),
                done: Some(tx),
            },
        );
        let _guard = PendingGuard {
            shared: self,
            id: &id,
        };
        let (channel, payload) = make(&id);
        self.publish(channel, payload)?;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(values)) => Ok(values),
            Ok(Err(_)) => Err(AdapterError::Closed),
            Err(_) => Err(AdapterError::Timeout),
        }
    }

    // ---- local room bookkeeping (sharded dynamic mode subscribes to rooms' own channels) ----

    fn room_channel_wanted(&self, room: &str, joining: Sid) -> bool {
        match self.mode() {
            RedisMode::Sharded(SubscriptionMode::DynamicPrivate) => true,
            RedisMode::Sharded(SubscriptionMode::Dynamic) => {
                // A socket's own room is private: broadcasts to it use the main channel.
                room != joining.as_str()
                    && !room
                        .parse::<Sid>()
                        .is_ok_and(|sid| !self.local.socket_rooms(sid).is_empty())
            }
            _ => false,
        }
    }

    fn dynamic_rooms(&self) -> bool {
        matches!(
            self.mode(),
            RedisMode::Sharded(SubscriptionMode::Dynamic | SubscriptionMode::DynamicPrivate)
        )
    }

    fn add_all(&self, sid: Sid, rooms: Vec<Room>) {
        if self.streams() {
            let mut restores = lock(&self.restores);
            self.local.add_all(sid, rooms);
            if let Some(restore) = restores.get_mut(&sid) {
                self.hand_over(sid, restore);
            }
            return;
        }
        if !self.dynamic_rooms() {
            self.local.add_all(sid, rooms);
            return;
        }
        let mut subscribed = lock(&self.room_channels);
        let new: Vec<String> = rooms
            .iter()
            .filter(|room| {
                !subscribed.contains(room.as_ref()) && self.room_channel_wanted(room, sid)
            })
            .map(|room| room.to_string())
            .collect();
        self.local.add_all(sid, rooms);
        if new.is_empty() {
            return;
        }
        let Some(names) = self.names() else { return };
        let subs = new
            .into_iter()
            .map(|room| {
                let sub = Subscription::Shard(format!("{}{room}#", names.channel));
                subscribed.insert(room);
                sub
            })
            .collect();
        self.driver.subscribe(self.id, subs);
    }

    /// After rooms may have emptied: stops listening on the channels of those now gone.
    fn forget_rooms<'a>(&self, rooms: impl IntoIterator<Item = &'a str>) {
        let mut subscribed = lock(&self.room_channels);
        let Some(names) = self.names() else { return };
        let subs: Vec<Subscription> = rooms
            .into_iter()
            .filter(|room| !self.local.has_room(room) && subscribed.remove(*room))
            .map(|room| Subscription::Shard(format!("{}{room}#", names.channel)))
            .collect();
        if !subs.is_empty() {
            self.driver.unsubscribe(self.id, subs);
        }
    }

    fn del(&self, sid: Sid, room: &Room) {
        self.local.del(sid, room);
        if self.dynamic_rooms() {
            self.forget_rooms([room.as_ref()]);
        }
    }

    fn del_all(&self, sid: Sid) {
        if self.streams() {
            // A socket that leaves (or never got to join) ends its restore, if any.
            lock(&self.restores).remove(&sid);
        }
        if !self.dynamic_rooms() {
            self.local.del_all(sid);
            return;
        }
        let rooms = self.local.socket_rooms(sid);
        self.local.del_all(sid);
        self.forget_rooms(rooms.iter().map(|r| r.as_ref()));
    }

    fn add_sockets_local(&self, opts: &BroadcastOptions, rooms: &[Room]) {
        for sid in self.local.targets(opts) {
            self.add_all(sid, rooms.to_vec());
        }
    }

    fn del_sockets_local(&self, opts: &BroadcastOptions, rooms: &[Room]) {
        for sid in self.local.targets(opts) {
            for room in rooms {
                self.del(sid, room);
            }
        }
    }

    /// The local sockets an operation targets, as fetch answers describe them (Node's shape:
    /// `{id, handshake, rooms, data}`).
    fn local_sockets_json(&self, opts: &BroadcastOptions) -> Vec<Value> {
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
                json!({
                    "id": socket.id.as_str(),
                    "handshake": handshake,
                    "rooms": rooms_json(&socket.rooms),
                    "data": socket.local.as_ref().map_or(Value::Null, |s| s.data_value()),
                })
            })
            .collect()
    }

    // ---- incoming ----

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
                    if let Some(message) = decode_logged(channel, payload) {
                        self.on_cluster_response(&message);
                    }
                } else if channel.starts_with(names.channel.as_str())
                    && let Some(message) = decode_logged(channel, payload)
                {
                    self.on_cluster_message(names, message, None);
                }
            }
        }
    }

    fn on_classic_broadcast(&self, names: &Names, channel: &str, rest: &str, payload: &[u8]) {
        let room = rest.strip_suffix('#').unwrap_or(rest);
        if !room.is_empty() && !self.local.has_room(room) {
            return tracing::trace!(room, "ignoring a broadcast to a room with no member here");
        }
        let decoded = match wire::decode_msgpack(payload) {
            Ok(decoded) => decoded,
            Err(err) => {
                return tracing::warn!(channel, error = %err, "ignoring a malformed Redis broadcast");
            }
        };
        let Decoded { value, attachments } = decoded;
        let Value::Array(mut parts) = value else {
            return tracing::warn!(
                channel,
                "ignoring a Redis broadcast that is not [uid, packet, opts]"
            );
        };
        if parts.len() < 3 {
            return tracing::warn!(
                channel,
                "ignoring a Redis broadcast that is not [uid, packet, opts]"
            );
        }
        let opts = parts.pop().unwrap_or(Value::Null);
        let packet = parts.pop().unwrap_or(Value::Null);
        if parts.first().and_then(Value::as_str) == Some(self.uid.as_str()) {
            return;
        }
        let nsp = packet.get("nsp").map_or(Some("/"), Value::as_str);
        if nsp != Some(names.nsp.as_str()) {
            return tracing::debug!(channel, "ignoring a broadcast for another namespace");
        }
        let opts_value = opts;
        let opts = parse_opts(Some(&opts_value));
        let Some(packet) = self.remote_packet(names, &packet, attachments, None) else {
            return tracing::warn!(
                channel,
                "ignoring a Redis broadcast whose packet is malformed"
            );
        };
        self.local.broadcast(&packet, &opts);
    }

    /// Encodes a packet from another node for the local receivers: once, shared by all.
    fn remote_packet(
        &self,
        names: &Names,
        packet: &Value,
        attachments: Vec<Bytes>,
        ack_id: Option<u64>,
    ) -> Option<BroadcastPacket> {
        let kind = packet.get("type").and_then(Value::as_u64);
        if !matches!(kind, Some(2 | 5)) {
            return None;
        }
        let Some(Value::Array(data)) = packet.get("data") else {
            return None;
        };
        let event = match data.first()? {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return None,
        };
        let id = ack_id.or_else(|| packet.get("id").and_then(Value::as_u64));
        let args = parser::encode_args(&Args(data.clone()), attachments).ok()?;
        let frames = parser::encode(names.parser, PacketType::Event, &names.nsp, id, None, &args);
        Some(BroadcastPacket {
            event,
            // Local delivery only needs the frames.
            args_json: String::new(),
            attachments: args.attachments,
            id,
            frames,
            recoverable: false,
        })
    }

    fn respond_classic(&self, names: &Names, request: &Value, response: Vec<u8>) {
        let channel = match request.get("uid").and_then(Value::as_str) {
            Some(uid) if self.driver.config.publish_on_specific_response_channel => {
                format!("{}{uid}#", names.response)
            }
            _ => names.response.clone(),
        };
        let _ = self.publish(channel, response);
    }

    fn on_classic_request(self: &Arc<Self>, names: &Names, channel: &str, payload: &[u8]) {
        let Some(Decoded {
            value: request,
            attachments,
        }) = decode_logged(channel, payload)
        else {
            return;
        };
        let Some(kind) = request.get("type").and_then(Value::as_u64) else {
            return tracing::warn!(channel, "ignoring a Redis request without a type");
        };
        let own = request.get("uid").and_then(Value::as_str) == Some(self.uid.as_str());
        if own {
            // Done locally already; answers to ourselves are not awaited.
            return;
        }
        let id = request_id(&request);
        match kind {
            classic::SOCKETS => {
                let opts = BroadcastOptions {
                    rooms: parse_rooms(request.get("rooms")),
                    ..Default::default()
                };
                let sockets: Vec<Value> = self
                    .local
                    .targets(&opts)
                    .into_iter()
                    .map(|sid| Value::String(sid.to_string()))
                    .collect();
                let response = json!({ "requestId": id, "sockets": sockets });
                self.respond_classic(names, &request, encode(&response, &[], false));
            }
            classic::ALL_ROOMS => {
                let rooms = rooms_json(&self.local.rooms());
                let response = json!({ "requestId": id, "rooms": rooms });
                self.respond_classic(names, &request, encode(&response, &[], false));
            }
            classic::REMOTE_JOIN | classic::REMOTE_LEAVE | classic::REMOTE_DISCONNECT => {
                if request.get("opts").is_some() {
                    let opts = parse_opts(request.get("opts"));
                    let rooms = parse_rooms(request.get("rooms"));
                    match kind {
                        classic::REMOTE_JOIN => self.add_sockets_local(&opts, &rooms),
                        classic::REMOTE_LEAVE => self.del_sockets_local(&opts, &rooms),
                        _ => {
                            let close = request.get("close").and_then(Value::as_bool) == Some(true);
                            self.local.disconnect_sockets(&opts, close);
                        }
                    }
                    return;
                }
                // The older, one-socket form: `{sid, room}` and an answer.
                let Some(sid) = request
                    .get("sid")
                    .and_then(Value::as_str)
                    .and_then(|s| s.parse::<Sid>().ok())
                else {
                    return;
                };
                let Some(socket) = self.ns.socket(sid) else {
                    return;
                };
                let room = request
                    .get("room")
                    .and_then(Value::as_str)
                    .map(|r| Room::Owned(r.into()));
                match (kind, room) {
                    (classic::REMOTE_JOIN, Some(room)) => self.add_all(sid, vec![room]),
                    (classic::REMOTE_LEAVE, Some(room)) => self.del(sid, &room),
                    (classic::REMOTE_DISCONNECT, _) => {
                        socket.disconnect(
                            request.get("close").and_then(Value::as_bool) == Some(true),
                        );
                    }
                    _ => return,
                }
                let response = json!({ "requestId": id });
                self.respond_classic(names, &request, encode(&response, &[], false));
            }
            classic::REMOTE_FETCH => {
                let opts = parse_opts(request.get("opts"));
                let sockets = self.local_sockets_json(&opts);
                let response = json!({ "requestId": id, "sockets": sockets });
                self.respond_classic(names, &request, encode(&response, &[], false));
            }
            classic::SERVER_SIDE_EMIT => {
                let Some(answer) = self.run_server_side(request.get("data")) else {
                    return;
                };
                if id.is_none() {
                    return;
                }
                // Node always answers server-side emits on the shared response channel.
                let response = json!({
                    "type": classic::SERVER_SIDE_EMIT,
                    "requestId": id,
                    "data": answer,
                });
                let _ = self.publish(names.response.clone(), encode(&response, &[], false));
            }
            classic::BROADCAST => {
                let Some(id) = id else {
                    return tracing::warn!(
                        channel,
                        "ignoring a broadcast with ack without requestId"
                    );
                };
                if lock(&self.ack_requests).contains_key(&id) {
                    return;
                }
                let requester = request
                    .get("uid")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                let names_response = match requester {
                    Some(uid) if self.driver.config.publish_on_specific_response_channel => {
                        format!("{}{uid}#", names.response)
                    }
                    _ => names.response.clone(),
                };
                self.on_broadcast_with_ack(
                    names,
                    &request,
                    attachments,
                    move |shared: &NsShared, event: AckReply| {
                        let message = match event {
                            AckReply::Count(count) => encode(
                                &json!({
                                    "type": classic::BROADCAST_CLIENT_COUNT,
                                    "requestId": id,
                                    "clientCount": count,
                                }),
                                &[],
                                false,
                            ),
                            AckReply::Ack(response) => {
                                let mut map = Map::new();
                                map.insert("type".into(), classic::BROADCAST_ACK.into());
                                map.insert("requestId".into(), Value::String(id.clone()));
                                if let Some(arg) = first_arg(&response) {
                                    map.insert("packet".into(), arg);
                                }
                                encode(&Value::Object(map), &response.attachments, true)
                            }
                        };
                        let _ = shared.publish(names_response.clone(), message);
                    },
                );
            }
            other => tracing::debug!(
                channel,
                kind = other,
                "ignoring an unknown Redis request type"
            ),
        }
    }

    /// Hands a server-side emit to this node's listener; its answer, if it gave one.
    fn run_server_side(&self, data: Option<&Value>) -> Option<Value> {
        let Some(Value::Array(data)) = data else {
            tracing::warn!("ignoring a server-side emit without data");
            return None;
        };
        let mut args = data.clone();
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
    fn on_broadcast_with_ack<F>(
        self: &Arc<Self>,
        names: &Names,
        request: &Value,
        attachments: Vec<Bytes>,
        reply: F,
    ) where
        F: Fn(&NsShared, AckReply) + Send + 'static,
    {
        let opts = parse_opts(request.get("opts"));
        let timeout =
            flags_timeout(request.get("opts")).unwrap_or(self.driver.config.requests_timeout);
        let Some(ack_id) = self.ns.next_ack_id() else {
            return;
        };
        let Some(packet) = request.get("packet") else {
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

    fn on_classic_response(&self, channel: &str, payload: &[u8]) {
        let Some(Decoded {
            value: response,
            attachments,
        }) = decode_logged(channel, payload)
        else {
            return;
        };
        let Some(id) = request_id(&response) else {
            return tracing::debug!(channel, "ignoring a Redis response without requestId");
        };
        let ack = lock(&self.ack_requests).get(&id).cloned();
        if let Some(ack) = ack {
            let event = match response.get("type").and_then(Value::as_u64) {
                Some(classic::BROADCAST_CLIENT_COUNT) => {
                    let count = response
                        .get("clientCount")
                        .and_then(Value::as_u64)
                        .unwrap_or(0);
                    AckEvent::ClientCount(usize::try_from(count).unwrap_or(0))
                }
                Some(classic::BROADCAST_ACK) => {
                    AckEvent::Ack(ack_response(response.get("packet").cloned(), attachments))
                }
                _ => return,
            };
            let _ = ack.send(event);
            return;
        }
        let value = match lock(&self.requests).get(&id).map(|p| p.kind) {
            Some(PendingKind::Sockets) => response.get("sockets").cloned(),
            Some(PendingKind::Rooms) => response.get("rooms").cloned(),
            Some(PendingKind::ServerSide) => {
                Some(response.get("data").cloned().unwrap_or(Value::Null))
            }
            None => return,
        };
        self.answer(&id, value);
    }

    /// Records one node's answer to a pending request; `None` (malformed) still counts, as in
    /// Node, so one bad answer does not hold the request until its timeout.
    fn answer(&self, id: &str, value: Option<Value>) {
        let mut requests = lock(&self.requests);
        let Some(pending) = requests.get_mut(id) else {
            return;
        };
        pending.received += 1;
        match (pending.kind, value) {
            (PendingKind::ServerSide, Some(v)) => pending.values.push(v),
            (_, Some(Value::Array(items))) => pending.values.extend(items),
            _ => {}
        }
        if pending.received >= pending.expected
            && let Some(mut pending) = requests.remove(id)
            && let Some(done) = pending.done.take()
        {
            let _ = done.send(pending.values);
        }
    }

    // ---- sharded (cluster) format ----

    fn respond_cluster(
        &self,
        names: &Names,
        requester: &str,
        kind: u64,
        data: Value,
        attachments: &[Bytes],
    ) {
        let message = self.cluster_message(&names.nsp, kind, data);
        let binary = self.always_msgpack()
            || matches!(
                kind,
                cluster::BROADCAST_ACK
                    | cluster::FETCH_SOCKETS_RESPONSE
                    | cluster::SERVER_SIDE_EMIT_RESPONSE
            ) && wire::has_binary(&message, attachments);
        let _ = self.publish(
            format!("{}{requester}#", names.channel),
            encode(&message, attachments, binary),
        );
    }

    fn on_cluster_message(self: &Arc<Self>, names: &Names, message: Decoded, offset: Option<&str>) {
        let Decoded {
            value: message,
            attachments,
        } = message;
        let Some(uid) = message.get("uid").and_then(Value::as_str) else {
            return tracing::warn!("ignoring a Redis cluster message without uid");
        };
        if uid == self.uid {
            return;
        }
        if message.get("nsp").and_then(Value::as_str) != Some(names.nsp.as_str()) {
            return tracing::debug!("ignoring a Redis cluster message for another namespace");
        }
        let data = message.get("data");
        let Some(kind) = message.get("type").and_then(Value::as_u64) else {
            return tracing::warn!("ignoring a Redis cluster message without type");
        };
        match kind {
            cluster::BROADCAST => {
                let Some(data) = data else { return };
                if let Some(id) = request_id(data) {
                    let requester = uid.to_owned();
                    let nsp = names.nsp.clone();
                    let channel = names.channel.clone();
                    self.on_broadcast_with_ack(names, data, attachments, move |shared, event| {
                        let (kind, data, attachments) = match event {
                            AckReply::Count(count) => (
                                cluster::BROADCAST_CLIENT_COUNT,
                                json!({ "requestId": id, "clientCount": count }),
                                Vec::new(),
                            ),
                            AckReply::Ack(response) => {
                                let mut map = Map::new();
                                map.insert("requestId".into(), Value::String(id.clone()));
                                if let Some(arg) = first_arg(&response) {
                                    map.insert("packet".into(), arg);
                                }
                                (
                                    cluster::BROADCAST_ACK,
                                    Value::Object(map),
                                    response.attachments,
                                )
                            }
                        };
                        let message = shared.cluster_message(&nsp, kind, data);
                        let binary =
                            shared.always_msgpack() || wire::has_binary(&message, &attachments);
                        let _ = shared.publish(
                            format!("{channel}{requester}#"),
                            encode(&message, &attachments, binary),
                        );
                    });
                } else {
                    let opts = parse_opts(data.get("opts"));
                    let Some(packet) = data.get("packet") else {
                        return;
                    };
                    // Node's `addOffsetIfNecessary`: what recovery may replay carries its offset.
                    let offset = offset.filter(|_| self.ns.recovers() && !opts.volatile);
                    let with_offset;
                    let packet = match offset {
                        Some(offset) => {
                            with_offset = with_trailing_arg(packet, offset);
                            &with_offset
                        }
                        None => packet,
                    };
                    match self.remote_packet(names, packet, attachments, None) {
                        Some(packet) => self.deliver_entry(&packet, &opts, offset),
                        None => {
                            tracing::warn!("ignoring a Redis broadcast whose packet is malformed")
                        }
                    }
                }
            }
            cluster::SOCKETS_JOIN | cluster::SOCKETS_LEAVE => {
                let Some(data) = data else { return };
                let opts = parse_opts(data.get("opts"));
                let rooms = parse_rooms(data.get("rooms"));
                if kind == cluster::SOCKETS_JOIN {
                    self.add_sockets_local(&opts, &rooms);
                } else {
                    self.del_sockets_local(&opts, &rooms);
                }
            }
            cluster::DISCONNECT_SOCKETS => {
                let Some(data) = data else { return };
                let opts = parse_opts(data.get("opts"));
                let close = data.get("close").and_then(Value::as_bool) == Some(true);
                self.local.disconnect_sockets(&opts, close);
            }
            cluster::FETCH_SOCKETS => {
                let Some(data) = data else { return };
                let opts = parse_opts(data.get("opts"));
                let sockets = self.local_sockets_json(&opts);
                let response = json!({ "requestId": request_id(data), "sockets": sockets });
                self.respond_cluster(names, uid, cluster::FETCH_SOCKETS_RESPONSE, response, &[]);
            }
            cluster::SERVER_SIDE_EMIT => {
                let Some(data) = data else { return };
                let Some(answer) = self.run_server_side(data.get("packet")) else {
                    return;
                };
                let Some(id) = request_id(data) else { return };
                let response = json!({ "requestId": id, "packet": answer });
                self.respond_cluster(
                    names,
                    uid,
                    cluster::SERVER_SIDE_EMIT_RESPONSE,
                    response,
                    &[],
                );
            }
            cluster::FETCH_SOCKETS_RESPONSE
            | cluster::SERVER_SIDE_EMIT_RESPONSE
            | cluster::BROADCAST_CLIENT_COUNT
            | cluster::BROADCAST_ACK => {
                let message = Decoded {
                    value: message,
                    attachments,
                };
                self.on_cluster_response(&message);
            }
            cluster::INITIAL_HEARTBEAT | cluster::HEARTBEAT | cluster::ADAPTER_CLOSE => {}
            other => tracing::debug!(
                kind = other,
                "ignoring an unknown Redis cluster message type"
            ),
        }
    }

    fn on_cluster_response(&self, message: &Decoded) {
        let Some(data) = message.value.get("data") else {
            return tracing::warn!("ignoring a Redis cluster response without data");
        };
        let Some(id) = request_id(data) else { return };
        match message.value.get("type").and_then(Value::as_u64) {
            Some(cluster::BROADCAST_CLIENT_COUNT) => {
                let count = data.get("clientCount").and_then(Value::as_u64).unwrap_or(0);
                if let Some(ack) = lock(&self.ack_requests).get(&id) {
                    let _ = ack.send(AckEvent::ClientCount(usize::try_from(count).unwrap_or(0)));
                }
            }
            Some(cluster::BROADCAST_ACK) => {
                if let Some(ack) = lock(&self.ack_requests).get(&id) {
                    let response =
                        ack_response(data.get("packet").cloned(), message.attachments.clone());
                    let _ = ack.send(AckEvent::Ack(response));
                }
            }
            Some(cluster::FETCH_SOCKETS_RESPONSE) => self.answer(&id, data.get("sockets").cloned()),
            Some(cluster::SERVER_SIDE_EMIT_RESPONSE) => {
                self.answer(
                    &id,
                    Some(data.get("packet").cloned().unwrap_or(Value::Null)),
                );
            }
            _ => tracing::debug!("ignoring an unknown Redis cluster response type"),
        }
    }

    // ---- streams mode ----

    /// An entry of the stream, if it is for this namespace.
    pub(crate) fn on_stream_entry(self: &Arc<Self>, entry: &StreamEntry) {
        let Some(names) = self.names.get() else {
            return;
        };
        if entry.nsp != names.nsp || lock(&self.copies).is_copy(entry) {
            return;
        }
        if let Some(message) = &entry.message {
            self.on_cluster_message(names, message.clone(), Some(&entry.id));
        }
    }

    /// Delivers a broadcast that came through the stream (or, from this node, went into it) as
    /// entry `offset`, minding the sessions being restored (see [`Restore`]).
    fn deliver_entry(
        &self,
        packet: &BroadcastPacket,
        opts: &BroadcastOptions,
        offset: Option<&str>,
    ) {
        let Some(id) = offset.and_then(streams::parse_id) else {
            self.local.broadcast(packet, opts);
            return;
        };
        let mut restores = lock(&self.restores);
        if restores.is_empty() {
            self.local.broadcast(packet, opts);
            return;
        }
        let mut already_replayed = Vec::new();
        for (sid, restore) in restores.iter_mut() {
            if !streams::includes(&restore.rooms, opts) {
                continue;
            }
            match restore.replayed_to {
                Some(last) if restore.joined => {
                    if id <= last {
                        already_replayed.push(Room::Owned(sid.as_str().to_owned()));
                    }
                }
                _ if restore.buffer.len() < RESTORE_BUFFER_MAX => {
                    restore.buffer.push((id, packet.frames.clone()));
                }
                _ => tracing::warn!(socket = %sid, "restore buffer full: a live packet is lost"),
            }
        }
        if already_replayed.is_empty() {
            self.local.broadcast(packet, opts);
        } else {
            let mut opts = opts.clone();
            opts.except.extend(already_replayed);
            self.local.broadcast(packet, &opts);
        }
    }

    /// The restored socket just joined its rooms: it gets what was delivered during its replay
    /// and the replay did not have; from now on live delivery reaches it.
    fn hand_over(&self, sid: Sid, restore: &mut Restore) {
        if restore.joined {
            return;
        }
        restore.joined = true;
        restore.since = std::time::Instant::now();
        let last = restore.replayed_to.unwrap_or_default();
        let mut buffered = std::mem::take(&mut restore.buffer);
        buffered.retain(|(id, _)| *id > last);
        buffered.sort_by_key(|(id, _)| *id);
        if buffered.is_empty() {
            return;
        }
        if let Some(socket) = self.ns.socket(sid) {
            socket
                .session()
                .send_frames_unbounded(buffered.into_iter().flat_map(|(_, f)| f).collect());
        }
    }

    /// Adds a broadcast to the stream. A recoverable packet is delivered here once Redis gave
    /// its entry an id, which becomes the packet's offset (Node's `addOffsetIfNecessary`); the
    /// publisher hands ids back in order, so broadcasts keep their order.
    fn broadcast_to_stream(
        self: &Arc<Self>,
        packet: BroadcastPacket,
        opts: BroadcastOptions,
    ) -> Result<(), AdapterError> {
        let (Some(names), Some(data)) = (self.names(), packet_data(&packet)) else {
            self.local.broadcast(&packet, &opts);
            return Ok(());
        };
        let body = json!({
            "packet": packet_json(&names.nsp, data),
            "opts": opts_json(&opts, None),
        });
        let fields = streams::entry_fields(
            &self.uid,
            &names.nsp,
            cluster::BROADCAST,
            &body,
            &packet.attachments,
        );
        if !(packet.recoverable && self.ns.recovers()) {
            self.local.broadcast(&packet, &opts);
            return self.driver.publish(Outgoing::stream_add(fields, None));
        }
        let shared = Arc::downgrade(self);
        let deliver = Box::new(move |offset: Option<String>| {
            let Some(shared) = shared.upgrade() else {
                return;
            };
            match offset {
                Some(offset) => {
                    let packet = BroadcastPacket {
                        frames: packet.frames_with_offset(&shared.ns, &offset),
                        ..packet
                    };
                    shared.deliver_entry(&packet, &opts, Some(&offset));
                }
                // Not in the stream: delivered all the same, without an offset.
                None => shared.local.broadcast(&packet, &opts),
            }
        });
        self.driver
            .publish(Outgoing::stream_add(fields, Some(deliver)))
    }

    /// `SET <prefix><pid> <base64 msgpack session> PX <ttl>` (Node's `persistSession`).
    async fn persist_session(
        &self,
        session: RecoverySession,
        ttl: Duration,
    ) -> Result<(), AdapterError> {
        let options = &self.driver.config.streams;
        let key = format!("{}{}", options.session_key_prefix, session.pid);
        let ttl = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut conn = self.driver.commands.clone();
        redis::cmd("SET")
            .arg(key)
            .arg(streams::encode_session(&session))
            .arg("PX")
            .arg(ttl)
            .query_async::<()>(&mut conn)
            .await
            .map_err(AdapterError::transport)
    }

    /// Node's `restoreSession`: takes the session (`GETDEL`), checks that the offset is still in
    /// the stream, then reads the stream after it for the broadcasts the session's rooms got.
    async fn restore_session(
        self: Arc<Self>,
        pid: String,
        offset: String,
    ) -> Result<Option<RestoredSession>, AdapterError> {
        let Some(names) = self.names() else {
            return Ok(None);
        };
        // Neither can name a session or an entry unless well formed: no round trip for those.
        if !streams::valid_offset(&offset) || pid.parse::<Sid>().is_err() {
            return Ok(None);
        }
        let options = &self.driver.config.streams;
        let transport = |e: redis::RedisError| AdapterError::transport(e);
        let mut conn = self.driver.commands.clone();
        let (raw, found): (Option<Vec<u8>>, redis::Value) = redis::pipe()
            .cmd("GETDEL")
            .arg(format!("{}{pid}", options.session_key_prefix))
            .cmd("XRANGE")
            .arg(&options.stream_name)
            .arg(&offset)
            .arg(&offset)
            .query_async(&mut conn)
            .await
            .map_err(transport)?;
        let Some(session) = raw.as_deref().and_then(streams::decode_session) else {
            return Ok(None);
        };
        if streams::parse_entries(&found).is_empty() {
            return Ok(None);
        }
        self.begin_restore(&session);
        let replay = self.replay(names, &session, offset).await;
        let mut restores = lock(&self.restores);
        match replay {
            Ok((missed, last)) => {
                if let Some(restore) = restores.get_mut(&session.sid) {
                    restore.replayed_to = streams::parse_id(&last);
                }
                Ok(Some(RestoredSession { session, missed }))
            }
            Err(err) => {
                restores.remove(&session.sid);
                Err(err)
            }
        }
    }

    /// Starts buffering live entries for a session about to be replayed (and forgets restores
    /// that are over or were abandoned).
    fn begin_restore(&self, session: &RecoverySession) {
        let mut restores = lock(&self.restores);
        restores.retain(|_, r| r.since.elapsed() < RESTORE_HANDOVER);
        restores.insert(
            session.sid,
            Restore {
                rooms: session.rooms.clone(),
                replayed_to: None,
                buffer: Vec::new(),
                joined: false,
                since: std::time::Instant::now(),
            },
        );
    }

    /// Reads the stream after `offset` for what the session missed; returns the frames and the
    /// id of the last entry read.
    async fn replay(
        &self,
        names: &Names,
        session: &RecoverySession,
        offset: String,
    ) -> Result<(Vec<Frame>, String), AdapterError> {
        let options = &self.driver.config.streams;
        let transport = |e: redis::RedisError| AdapterError::transport(e);
        let mut conn = self.driver.commands.clone();
        let mut missed = Vec::new();
        let mut copies = streams::Copies::default();
        let mut cursor = offset;
        for _ in 0..streams::RESTORE_MAX_RANGES {
            let Some(start) = streams::next_offset(&cursor) else {
                break;
            };
            let reply: redis::Value = redis::cmd("XRANGE")
                .arg(&options.stream_name)
                .arg(start)
                .arg("+")
                .arg("COUNT")
                .arg(streams::RESTORE_RANGE_COUNT)
                .query_async(&mut conn)
                .await
                .map_err(transport)?;
            let entries = streams::parse_entries(&reply);
            if entries.is_empty() {
                break;
            }
            for entry in entries {
                cursor.clone_from(&entry.id);
                if entry.nsp == names.nsp && !copies.is_copy(&entry) {
                    missed.extend(self.missed_frames(names, &session.rooms, entry));
                }
            }
        }
        Ok((missed, cursor))
    }

    /// The frames of a stream entry for a session in `rooms`: a broadcast that targeted them,
    /// with its offset.
    fn missed_frames(&self, names: &Names, rooms: &[Room], entry: StreamEntry) -> Vec<Frame> {
        let Some(Decoded { value, attachments }) = entry.message else {
            return Vec::new();
        };
        if value.get("type").and_then(Value::as_u64) != Some(cluster::BROADCAST) {
            return Vec::new();
        }
        let Some(data) = value.get("data") else {
            return Vec::new();
        };
        let opts = parse_opts(data.get("opts"));
        if opts.volatile || request_id(data).is_some() || !streams::includes(rooms, &opts) {
            return Vec::new();
        }
        let Some(packet) = data.get("packet") else {
            return Vec::new();
        };
        let packet = with_trailing_arg(packet, &entry.id);
        self.remote_packet(names, &packet, attachments, None)
            .map(|p| p.frames)
            .unwrap_or_default()
    }

    // ---- outgoing operations ----

    fn broadcast_message(
        &self,
        names: &Names,
        packet: &BroadcastPacket,
        opts: &BroadcastOptions,
    ) -> Option<(String, Vec<u8>)> {
        let data = packet_data(packet)?;
        let packet_value = packet_json(&names.nsp, data);
        match self.mode() {
            RedisMode::Classic => {
                let message = Value::Array(vec![
                    Value::String(self.uid.clone()),
                    packet_value,
                    opts_json(opts, None),
                ]);
                let channel = match opts.rooms.as_slice() {
                    [room] => format!("{}{room}#", names.channel),
                    _ => names.channel.clone(),
                };
                Some((channel, encode(&message, &packet.attachments, true)))
            }
            RedisMode::Streams => None,
            RedisMode::Sharded(mode) => {
                let message = self.cluster_message(
                    &names.nsp,
                    cluster::BROADCAST,
                    json!({ "packet": packet_value, "opts": opts_json(opts, None) }),
                );
                let channel = match opts.rooms.as_slice() {
                    [room]
                        if mode == SubscriptionMode::DynamicPrivate
                            || (mode == SubscriptionMode::Dynamic && room.len() != 20) =>
                    {
                        format!("{}{room}#", names.channel)
                    }
                    _ => names.channel.clone(),
                };
                Some((channel, encode(&message, &packet.attachments, false)))
            }
        }
    }

    fn broadcast_with_ack_message(
        &self,
        names: &Names,
        request_id: &str,
        packet: &BroadcastPacket,
        opts: &BroadcastOptions,
        timeout: Duration,
    ) -> Option<(String, Vec<u8>)> {
        let data = packet_data(packet)?;
        let packet_value = packet_json(&names.nsp, data);
        let opts = opts_json(opts, Some(timeout));
        Some(match self.mode() {
            RedisMode::Classic => {
                let message = json!({
                    "uid": self.uid,
                    "requestId": request_id,
                    "type": classic::BROADCAST,
                    "packet": packet_value,
                    "opts": opts,
                });
                (
                    names.request.clone(),
                    encode(&message, &packet.attachments, true),
                )
            }
            RedisMode::Sharded(_) | RedisMode::Streams => {
                let message = self.cluster_message(
                    &names.nsp,
                    cluster::BROADCAST,
                    json!({ "packet": packet_value, "requestId": request_id, "opts": opts }),
                );
                (
                    names.channel.clone(),
                    encode(&message, &packet.attachments, self.always_msgpack()),
                )
            }
        })
    }

    async fn fetch_remote(
        self: Arc<Self>,
        opts: BroadcastOptions,
    ) -> Result<Vec<RemoteSocket>, AdapterError> {
        let mut sockets = self.local.fetch_sockets(&opts);
        let Some(names) = self.names() else {
            return Ok(sockets);
        };
        let expected = self.server_count().await?.saturating_sub(1);
        if expected == 0 {
            return Ok(sockets);
        }
        let timeout = self.driver.config.requests_timeout;
        let values = self
            .request(PendingKind::Sockets, expected, timeout, |id| {
                match self.mode() {
                    RedisMode::Classic => {
                        let message = json!({
                            "uid": self.uid,
                            "requestId": id,
                            "type": classic::REMOTE_FETCH,
                            "opts": target_json(&opts),
                        });
                        (names.request.clone(), encode(&message, &[], false))
                    }
                    RedisMode::Sharded(_) | RedisMode::Streams => {
                        let message = self.cluster_message(
                            &names.nsp,
                            cluster::FETCH_SOCKETS,
                            json!({ "opts": opts_json(&opts, None), "requestId": id }),
                        );
                        let payload = encode(&message, &[], self.always_msgpack());
                        (names.channel.clone(), payload)
                    }
                }
            })
            .await?;
        sockets.extend(values.iter().filter_map(|v| remote_socket(&self.ns, v)));
        Ok(sockets)
    }

    /// Queues a join, leave or disconnect for the other nodes, in order with broadcasts.
    fn queue_operation(
        &self,
        classic_kind: u64,
        cluster_kind: u64,
        mut body: Map<String, Value>,
        opts: &BroadcastOptions,
    ) -> Result<(), AdapterError> {
        let Some(names) = self.names() else {
            return Ok(());
        };
        let (channel, message) = match self.mode() {
            RedisMode::Classic => {
                body.insert("uid".into(), Value::String(self.uid.clone()));
                body.insert("type".into(), classic_kind.into());
                body.insert("opts".into(), target_json(opts));
                (names.request.clone(), Value::Object(body))
            }
            RedisMode::Sharded(_) => {
                body.insert("opts".into(), opts_json(opts, None));
                let message = self.cluster_message(&names.nsp, cluster_kind, Value::Object(body));
                (names.channel.clone(), message)
            }
            RedisMode::Streams => {
                // Joins, leaves and disconnects are kept in the stream, in order with broadcasts.
                body.insert("opts".into(), opts_json(opts, None));
                let fields = streams::entry_fields(
                    &self.uid,
                    &names.nsp,
                    cluster_kind,
                    &Value::Object(body),
                    &[],
                );
                return self.driver.publish(Outgoing::stream_add(fields, None));
            }
        };
        self.publish(channel, encode(&message, &[], false))
    }

    async fn server_side(
        self: Arc<Self>,
        event: String,
        args: Vec<Value>,
        timeout: Duration,
    ) -> Result<Vec<Value>, AdapterError> {
        let Some(names) = self.names() else {
            return Ok(Vec::new());
        };
        let expected = self.server_count().await?.saturating_sub(1);
        if expected == 0 {
            return Ok(Vec::new());
        }
        let mut data = Vec::with_capacity(args.len() + 1);
        data.push(Value::String(event));
        data.extend(args);
        self.request(PendingKind::ServerSide, expected, timeout, |id| {
            server_side_message(&self, names, data, Some(id))
        })
        .await
    }

    async fn all_rooms_remote(self: Arc<Self>) -> Result<Vec<Room>, AdapterError> {
        let mut rooms: HashSet<String> = self.local.rooms().iter().map(|r| r.to_string()).collect();
        let Some(names) = self.names() else {
            return Ok(rooms.into_iter().map(Room::Owned).collect());
        };
        match self.mode() {
            RedisMode::Classic => {
                let expected = self.server_count().await?.saturating_sub(1);
                if expected > 0 {
                    let timeout = self.driver.config.requests_timeout;
                    let values = self
                        .request(PendingKind::Rooms, expected, timeout, |id| {
                            let message = json!({
                                "uid": self.uid,
                                "requestId": id,
                                "type": classic::ALL_ROOMS,
                            });
                            (names.request.clone(), encode(&message, &[], false))
                        })
                        .await?;
                    rooms.extend(
                        parse_rooms(Some(&Value::Array(values)))
                            .into_iter()
                            .map(|r| r.to_string()),
                    );
                }
            }
            RedisMode::Sharded(_) | RedisMode::Streams => {
                // The cluster format has no rooms request: every room with a member is the room
                // of some socket, so ask for every socket.
                let sockets = self
                    .clone()
                    .fetch_remote(BroadcastOptions::default())
                    .await?;
                rooms.extend(
                    sockets
                        .into_iter()
                        .flat_map(|s| s.rooms)
                        .map(|r| r.to_string()),
                );
            }
        }
        Ok(rooms.into_iter().map(Room::Owned).collect())
    }
}

/// A server-side emit, with a request id when answers are wanted.
fn server_side_message(
    shared: &NsShared,
    names: &Names,
    data: Vec<Value>,
    id: Option<&str>,
) -> (String, Vec<u8>) {
    match shared.mode() {
        RedisMode::Classic => {
            let mut message = json!({
                "uid": shared.uid,
                "type": classic::SERVER_SIDE_EMIT,
                "data": data,
            });
            if let (Some(id), Value::Object(map)) = (id, &mut message) {
                map.insert("requestId".into(), Value::String(id.to_owned()));
            }
            (names.request.clone(), encode(&message, &[], false))
        }
        RedisMode::Sharded(_) | RedisMode::Streams => {
            let mut body = json!({ "packet": data });
            if let (Some(id), Value::Object(map)) = (id, &mut body) {
                map.insert("requestId".into(), Value::String(id.to_owned()));
            }
            let message = shared.cluster_message(&names.nsp, cluster::SERVER_SIDE_EMIT, body);
            let payload = encode(&message, &[], shared.always_msgpack());
            (names.channel.clone(), payload)
        }
    }
}

/// What a node reports back about a broadcast with ack another node asked for.
enum AckReply {
    Count(usize),
    Ack(AckResponse),
}

fn decode_logged(channel: &str, payload: &[u8]) -> Option<Decoded> {
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

/// Forgets a pending request when its caller stops waiting.
struct PendingGuard<'a> {
    shared: &'a NsShared,
    id: &'a str,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        lock(&self.shared.requests).remove(self.id);
    }
}

/// Forgets a broadcast with ack when its collector is done (or dropped).
struct AckGuard {
    shared: Arc<NsShared>,
    id: String,
}

impl Drop for AckGuard {
    fn drop(&mut self) {
        lock(&self.shared.ack_requests).remove(&self.id);
    }
}

/// Waits for the local answers, the other nodes' client counts and their answers, until all are
/// in or the timeout runs out; answers that did not come are [`AckError::Timeout`].
async fn collect_cluster_acks(
    guard: AckGuard,
    local: BroadcastAckFuture,
    mut events: mpsc::UnboundedReceiver<AckEvent>,
    timeout: Duration,
) -> Vec<(Sid, Result<AckResponse, AckError>)> {
    let shared = guard.shared.clone();
    let deadline = tokio::time::Instant::now() + timeout;
    let mut local = local;
    let mut local_results = None;
    let count = async move { shared.server_count().await };
    tokio::pin!(count);
    let mut remote_servers: Option<usize> = None;
    let mut counts = 0usize;
    let mut expected = 0usize;
    let mut answers = Vec::new();
    let sleep = tokio::time::sleep_until(deadline);
    tokio::pin!(sleep);
    let mut events_open = true;
    loop {
        if local_results.is_some()
            && remote_servers.is_some_and(|n| counts >= n)
            && answers.len() >= expected
        {
            break;
        }
        tokio::select! {
            results = &mut local, if local_results.is_none() => local_results = Some(results),
            n = &mut count, if remote_servers.is_none() => {
                // Unknown when Redis did not answer: wait for the timeout.
                remote_servers = Some(n.map_or(usize::MAX, |n| n.saturating_sub(1)));
            }
            event = events.recv(), if events_open => match event {
                Some(AckEvent::ClientCount(n)) => {
                    counts += 1;
                    expected = expected.saturating_add(n);
                }
                Some(AckEvent::Ack(response)) => answers.push(response),
                None => events_open = false,
            },
            _ = &mut sleep => break,
        }
    }
    drop(guard);
    let mut results = match local_results {
        Some(results) => results,
        None => local.await,
    };
    let sid = remote_ack_sid();
    let missing = expected.saturating_sub(answers.len());
    results.extend(answers.into_iter().map(|a| (sid, Ok(a))));
    results.extend((0..missing).map(|_| (sid, Err(AckError::Timeout))));
    results
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
        shared.local.broadcast(&packet, &opts);
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

    fn fetch_sockets(&self, opts: BroadcastOptions) -> AdapterFuture<'_, Vec<RemoteSocket>> {
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
        let mut body = Map::new();
        body.insert("rooms".into(), rooms_json(&rooms));
        self.shared
            .queue_operation(classic::REMOTE_JOIN, cluster::SOCKETS_JOIN, body, &opts)
    }

    fn del_sockets(&self, opts: BroadcastOptions, rooms: Vec<Room>) -> Result<(), AdapterError> {
        self.shared.del_sockets_local(&opts, &rooms);
        if opts.local {
            return Ok(());
        }
        let mut body = Map::new();
        body.insert("rooms".into(), rooms_json(&rooms));
        self.shared
            .queue_operation(classic::REMOTE_LEAVE, cluster::SOCKETS_LEAVE, body, &opts)
    }

    fn disconnect_sockets(&self, opts: BroadcastOptions, close: bool) -> Result<(), AdapterError> {
        self.shared.local.disconnect_sockets(&opts, close);
        if opts.local {
            return Ok(());
        }
        let mut body = Map::new();
        body.insert("close".into(), Value::Bool(close));
        self.shared.queue_operation(
            classic::REMOTE_DISCONNECT,
            cluster::DISCONNECT_SOCKETS,
            body,
            &opts,
        )
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

    fn close(&self) {
        // Unsubscribes this namespace's channels (and stops routing to it); dropping the
        // adapter would do the same, but idle HTTP connections can keep the server alive.
        self.shared.driver.unregister(self.shared.id);
        self.shared.subscribed.close();
    }

    fn persists_sessions(&self) -> bool {
        self.shared.streams()
    }

    fn persist_session(&self, session: RecoverySession, ttl: Duration) -> AdapterFuture<'_, ()> {
        Box::pin(self.shared.persist_session(session, ttl))
    }

    fn restore_session(
        &self,
        pid: String,
        offset: String,
    ) -> AdapterFuture<'_, Option<RestoredSession>> {
        Box::pin(self.shared.clone().restore_session(pid, offset))
    }
}
