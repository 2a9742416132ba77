//! A Redis adapter, wire-compatible with Node's [`@socket.io/redis-adapter`] 8.x and
//! `@socket.io/redis-streams-adapter` 0.3: Rust and Node server nodes share one cluster (feature
//! `redis`).
//!
//! ```no_run
//! use tower_socketio::adapter::redis::{RedisAdapter, RedisAdapterConfig};
//! use tower_socketio::{SocketIo, SocketIoLayer};
//!
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! let adapter = RedisAdapter::connect(RedisAdapterConfig::new("redis://127.0.0.1:6379")).await?;
//! let io = SocketIo::builder().adapter(adapter).build();
//! io.ns("/", |socket: tower_socketio::extract::SocketRef| { let _ = socket; });
//! // Before telling a load balancer: Redis confirmed the subscriptions of every namespace.
//! io.ready().await?;
//! // Every operator now spans the cluster:
//! io.to("room").emit("news", &"to the room's members on every node").ok();
//! let everyone = io.fetch_sockets().await?;
//! let nodes = io.server_count().await?;
//! # let _ = (everyone, nodes);
//! let app: axum::Router = axum::Router::new().layer(SocketIoLayer::new(io));
//! # Ok(()) }
//! ```
//!
//! # Three formats
//!
//! **Classic** (the default, Node's `createAdapter`), with `<prefix>` = `socket.io` unless
//! [`RedisAdapterConfig::key`] says otherwise:
//!
//! - broadcasts: MessagePack `[uid, packet, {rooms, except, flags}]` published on
//!   `<prefix>#<nsp>#`, or `<prefix>#<nsp>#<room>#` when it targets exactly one room; every node
//!   listens with `PSUBSCRIBE <prefix>#<nsp>#*` and skips rooms it has no member of;
//! - requests on `<prefix>-request#<nsp>#` (JSON, MessagePack for a broadcast with ack): all
//!   sockets (0, answered only), all rooms (1), remote join (2), remote leave (3), remote
//!   disconnect (4), fetch sockets (5), server-side emit (6, with or without acks), broadcast with
//!   ack (7);
//! - responses on `<prefix>-response#<nsp>#` (or `<prefix>-response#<nsp>#<uid>#` with
//!   [`RedisAdapterConfig::publish_on_specific_response_channel`]), including the client count
//!   (8) and the acks (9, MessagePack) of a broadcast with ack;
//! - the server count is `PUBSUB NUMSUB <prefix>-request#<nsp>#`.
//!
//! **Sharded** ([`RedisAdapterConfig::sharded`], Node's `createShardedAdapter`, Redis 7 sharded
//! Pub/Sub): messages `{uid, nsp, type, data}` in the cluster-adapter format of `socket.io-adapter`
//! (broadcast 3, join 4, leave 5, disconnect 6, fetch 7 and its response 8, server-side emit 9
//! and its response 10, client count 11, ack 12), JSON unless they carry binary data, published
//! with `SPUBLISH` on `<prefix>#<nsp>#`, on a room's own channel `<prefix>#<nsp>#<room>#` per
//! the [`SubscriptionMode`], and answered on `<prefix>#<nsp>#<uid>#`; the server count is
//! `PUBSUB SHARDNUMSUB`. The cluster format has no all-rooms request: `all_rooms` gathers the
//! rooms of every socket instead.
//!
//! **Streams** ([`RedisStreamsAdapter`], [`RedisMode::Streams`], Node's
//! `@socket.io/redis-streams-adapter` 0.3): the same cluster messages, but what must not be lost
//! (broadcasts without ack, joins, leaves, disconnects) is added to one stream shared by every
//! namespace, `XADD <stream> MAXLEN ~ <max_len> * uid <uid> nsp <nsp> type <n> data <data>`
//! (`data` JSON, or base64 MessagePack when binary), and read back by every node with
//! `XREAD BLOCK <block_time> COUNT <read_count>` from where it last read; requests and their
//! answers (broadcasts with ack, fetch sockets, server-side emits) are MessagePack on Pub/Sub
//! (`PUBLISH <prefix>#<nsp>#`, answers on `<prefix>#<nsp>#<uid>#`); the server count is
//! `PUBSUB NUMSUB <prefix>#<nsp>#`. This mode also keeps connection state recovery in Redis, so
//! a client can recover on any node: an event to a recoverable socket carries its stream entry's
//! id as offset (it is delivered locally once Redis gave that id, in order), a socket that left
//! without meaning to is stored as `SET <session_key_prefix><pid> <base64 MessagePack {sid, pid,
//! rooms, data}> PX <max_disconnection_duration>`, and a reconnecting client gets it back with
//! `GETDEL`, if its offset is still in the stream, with every broadcast after that offset that
//! targeted its rooms (`XRANGE`, at most 100 reads of 1 000 entries). How far back a session can
//! recover is bounded by [`RedisAdapterConfig::max_len`]. When Redis goes away, entries wait in
//! the publish queue and are retried for up to 30 s, and the reader resumes after the last entry
//! it read, so a restart loses nothing Redis kept (run it with an append-only file: a Redis that
//! forgets its data on restart also forgets the stream). A Rust node numbers its entries (an
//! extra `seq` field, which Node ignores) so that the copies a batch leaves when Redis took it
//! but could not answer before going away are skipped. Node's `streamCount` (one stream per
//! namespace hash) and `useShardedPubSub` are not offered.
//!
//! # Redis Sentinel
//!
//! [`RedisAdapterConfig::sentinel`] takes the sentinels' URLs and the master's name instead of
//! a URL, in any mode. The adapter connects to the master the sentinels name (the `redis`
//! crate's `sentinel` feature, which checks the master's `ROLE`), and a task checks twice a
//! second that it still answers `ROLE` with `master`. When it does not, the task asks the
//! sentinels again; once they name another master, every connection of the server (publisher,
//! subscriber, stream reader) is moved to it and the subscriber subscribes everything again.
//! Emits never wait for it; messages queued meanwhile are retried as across a Redis restart
//! (2 s, 30 s for stream entries), then dropped with a log line; requests in flight end with
//! their timeout. The stream reader goes on from the last entry it read.
//! # Redis Cluster
//!
//! [`RedisAdapterConfig::cluster`] takes seed nodes instead of one URL; every mode works on
//! it, as Node's adapters do on node-redis's `createCluster`, and on the wire nothing differs.
//! The classic mode keeps one publishing and one subscribing connection, each to one master
//! (Pub/Sub spans the cluster), so a node's messages keep their order; both move to another
//! master when theirs fails. The sharded mode sends each `SPUBLISH` to the master of its
//! channel's slot and subscribes each shard channel there, one per `SSUBSCRIBE` (never one
//! spanning slots: `CROSSSLOT`); the slot map is read again every second, and a channel whose
//! master died or whose slot moved is subscribed again on the new owner. In streams mode the
//! stream's master carries the node's `XADD`s and `PUBLISH`es and the reader, and session keys
//! go to their own slots' masters. We route ourselves rather than use the `redis` crate's
//! cluster client: it sends a keyless `PUBLISH` by its channel's hash (one node's broadcasts
//! would leave through several masters and could be reordered) and, after a failover,
//! resubscribes a node's shard channels in one `SSUBSCRIBE` that Redis refuses with `CROSSSLOT`.
//!
//! # Readiness
//!
//! [`RedisAdapter::connect`] returns once Redis is reached (in streams mode, once the reader
//! knows where the stream ends: it reads every entry added after that). A namespace's adapter
//! subscribes its channels in the background; [`Adapter::ready`]
//! resolves once Redis confirmed them (those that failed are retried every second), and
//! [`SocketIo::ready`](crate::SocketIo::ready) waits for every namespace. A node that is ready
//! misses nothing another node publishes after that. A client's CONNECT is answered only once
//! its namespace is ready. Readiness is about the start and stays resolved: after a Redis
//! restart the subscriptions are replayed by themselves, and Pub/Sub messages published while
//! Redis was away are lost (stream entries are not). In the sharded dynamic mode, a room's own
//! channel is subscribed in the background when a first local socket joins the room, as in
//! Node: a broadcast to that room published right after the join may miss it.
//!
//! Every request waits at most [`RedisAdapterConfig::requests_timeout`] (5 s by default) for the
//! other nodes' answers and then fails with [`AdapterError::Timeout`](crate::AdapterError); so
//! does a request in flight when Redis goes away.
//!
//! # How it works
//!
//! One server shares two connections among its namespaces, as Node shares `pubClient` and
//! `subClient`. Emits stay synchronous: local delivery happens at once through
//! [`LocalAdapter`](crate::adapter::LocalAdapter), and what goes to other nodes is queued, in
//! order, to a publisher task that sends it in pipelines (a bounded queue: when Redis has been
//! gone long enough to fill it, emits report [`AdapterError::QueueFull`](crate::AdapterError::QueueFull)
//! and their remote part is dropped, with a log line). Incoming messages are handed to the
//! namespaces in order; a broadcast from another node is encoded once and its frames shared by
//! every local receiver. Anything on the channels that does not decode, or is not for this
//! namespace, is ignored (with a log line for what is malformed).
//!
//! Acks from other nodes' clients carry no socket id on the wire (Node sends only the answer);
//! in a broadcast with ack's results they appear under [`remote_ack_sid`].
//!
//! # Why the `redis` crate
//!
//! The adapter uses [`redis`](https://docs.rs/redis) (redis-rs, the most used Redis client for
//! Rust, maintained under the redis-rs organisation with Redis Inc.'s support) rather than `fred`.
//! Its `ConnectionManager` reconnects by itself with exponential backoff, and over RESP3 it keeps
//! track of the channels, patterns and shard channels a connection is subscribed to and replays
//! them on every new connection, so Pub/Sub survives a Redis restart without code of ours; the
//! same connection carries subscriptions as push messages, and `SSUBSCRIBE`/`SPUBLISH` are plain
//! commands. `fred` offers the same (plus cluster-aware sharded Pub/Sub) but is mostly one
//! person's work and a heavier dependency. RESP3 means Redis 6 or newer (7 for the sharded mode).
//! A connection the manager gave up on while idle is retried by a once-a-second `PING`.
//!
//! [`@socket.io/redis-adapter`]: https://github.com/socketio/socket.io-redis-adapter

// Layout: `adapter` (a namespace's state and the `Adapter` impl), `channels` (every channel
// name), `classic` and `cluster_format` (what other nodes send, per format, and the answers),
// `outgoing` (what this node sends), `requests` (pending requests, ack collection), `rooms`
// (room bookkeeping and room channels), `streams` and `restore` (the stream and connection
// state recovery), `transport` (what the adapter needs from Redis) over `driver` (the `redis`
// crate side). The messages themselves are `crate::adapter::cluster`'s types and codec.
mod adapter;
mod channels;
mod classic;
pub(crate) mod cluster;
mod cluster_format;
pub(crate) mod conns;
mod driver;
mod live;
pub(crate) mod master;
mod outgoing;
mod requests;
mod restore;
mod rooms;
pub(crate) mod streams;
mod subscriber;
#[cfg(test)]
mod tests;
mod transport;

pub use adapter::RedisAdapter;

use std::sync::Arc;
use std::time::Duration;

use crate::adapter::{Adapter, AdapterBuilder, NamespaceHandle};
use crate::engine::Sid;

/// Which of Node's formats the adapter speaks.
///
/// ```
/// use tower_socketio::adapter::redis::{RedisMode, SubscriptionMode};
///
/// assert_eq!(RedisMode::default(), RedisMode::Classic);
/// let sharded = RedisMode::Sharded(SubscriptionMode::Dynamic);
/// # let _ = sharded;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RedisMode {
    /// Node's `createAdapter`: `PUBLISH`/`PSUBSCRIBE`, request and response channels.
    #[default]
    Classic,
    /// Node's `createShardedAdapter`: Redis 7 sharded Pub/Sub and the cluster-adapter messages.
    Sharded(SubscriptionMode),
    /// Node's `@socket.io/redis-streams-adapter` 0.3: the cluster-adapter messages through a
    /// Redis stream, sessions for connection state recovery in Redis (see
    /// [`RedisStreamsAdapter`]).
    Streams,
}

/// Which channels a sharded adapter listens to (Node's `subscriptionMode`).
///
/// ```
/// use tower_socketio::adapter::redis::SubscriptionMode;
///
/// assert_eq!(SubscriptionMode::default(), SubscriptionMode::Dynamic);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SubscriptionMode {
    /// Only the namespace's channel.
    Static,
    /// Also each public room's own channel (not the rooms named after a socket), while the room
    /// has members here; a broadcast to one such room goes to its channel.
    #[default]
    Dynamic,
    /// Also each room's own channel, private rooms included.
    DynamicPrivate,
}

/// How to reach Redis and how to talk to the other nodes.
///
/// ```
/// use std::time::Duration;
/// use tower_socketio::adapter::redis::RedisAdapterConfig;
///
/// let config = RedisAdapterConfig::new("redis://127.0.0.1:6379/0")
///     .key("my-app")
///     .requests_timeout(Duration::from_secs(2));
/// # let _ = config;
/// ```
#[derive(Debug, Clone)]
pub struct RedisAdapterConfig {
    pub(crate) url: String,
    /// The seed nodes of a Redis Cluster; empty for one Redis server.
    pub(crate) seeds: Vec<String>,
    pub(crate) key: String,
    pub(crate) requests_timeout: Duration,
    pub(crate) publish_on_specific_response_channel: bool,
    pub(crate) mode: RedisMode,
    pub(crate) queue_capacity: usize,
    pub(crate) incoming_capacity: usize,
    pub(crate) streams: StreamsOptions,
    /// Where the master is when Sentinel knows it (`url` is then unused). Boxed: rarely set, and
    /// it keeps the configuration small.
    pub(crate) sentinel: Option<Box<master::SentinelOptions>>,
}

/// The options of the streams mode, with the defaults of `@socket.io/redis-streams-adapter`.
#[derive(Debug, Clone)]
pub(crate) struct StreamsOptions {
    pub(crate) stream_name: String,
    pub(crate) max_len: u64,
    pub(crate) read_count: u64,
    pub(crate) block_time: Duration,
    pub(crate) session_key_prefix: String,
    pub(crate) live_sessions: bool,
}

impl Default for StreamsOptions {
    fn default() -> Self {
        StreamsOptions {
            stream_name: "socket.io".into(),
            max_len: 10_000,
            read_count: 100,
            block_time: Duration::from_millis(5000),
            session_key_prefix: "sio:session:".into(),
            live_sessions: true,
        }
    }
}

impl RedisAdapterConfig {
    /// The defaults, with the Redis URL (`redis://[user:password@]host[:port][/db]`).
    ///
    /// ```
    /// # use tower_socketio::adapter::redis::RedisAdapterConfig;
    /// let config = RedisAdapterConfig::new("redis://:secret@127.0.0.1:6379/0");
    /// # let _ = config;
    /// ```
    pub fn new(url: impl Into<String>) -> Self {
        RedisAdapterConfig {
            url: url.into(),
            seeds: Vec::new(),
            key: "socket.io".into(),
            requests_timeout: Duration::from_millis(5000),
            publish_on_specific_response_channel: false,
            mode: RedisMode::Classic,
            queue_capacity: 65_536,
            incoming_capacity: 65_536,
            streams: StreamsOptions::default(),
            sentinel: None,
        }
    }

    /// The defaults, with the Redis master found through Redis Sentinel: the sentinels' URLs
    /// (`redis://host:port`; user and password, if any, are used for the master too) and the
    /// name they monitor the master under (`sentinel monitor <name> ...`). Any mode works
    /// ([`sharded`](Self::sharded), [`mode`](Self::mode)).
    ///
    /// The adapter connects to the master the sentinels name, checks twice a second that it is
    /// still the master, and after a failover moves every connection to the new one and
    /// subscribes again: broadcasts resume a few seconds after the old master died (Sentinel's
    /// `down-after-milliseconds` plus the failover). Pub/Sub messages published meanwhile are
    /// lost, as across a Redis restart; requests in flight time out; stream entries that
    /// reached the new master are read from where the node left off.
    ///
    /// ```
    /// # use tower_socketio::adapter::redis::{RedisAdapterConfig, RedisMode};
    /// let sentinels = ["redis://10.0.0.1:26379", "redis://10.0.0.2:26379", "redis://10.0.0.3:26379"];
    /// let config = RedisAdapterConfig::sentinel(sentinels, "mymaster").mode(RedisMode::Streams);
    /// # let _ = config;
    /// ```
    pub fn sentinel(
        sentinels: impl IntoIterator<Item = impl Into<String>>,
        master_name: impl Into<String>,
    ) -> Self {
        let sentinels: Vec<String> = sentinels.into_iter().map(Into::into).collect();
        RedisAdapterConfig {
            sentinel: Some(Box::new(master::SentinelOptions {
                sentinels,
                master_name: master_name.into(),
            })),
            ..RedisAdapterConfig::new(String::new())
        }
    }

    /// The defaults, for a Redis Cluster reached through these seed nodes (any of its nodes,
    /// masters or replicas; the first that answers names the others, and the credentials of the
    /// first URL are used for every node). Every mode works on a cluster: see "Redis Cluster" in
    /// the [module docs](self).
    ///
    /// ```
    /// # use tower_socketio::adapter::redis::{RedisAdapterConfig, SubscriptionMode};
    /// let config = RedisAdapterConfig::cluster(["redis://127.0.0.1:7000", "redis://127.0.0.1:7001"])
    ///     .sharded(SubscriptionMode::Dynamic);
    /// # let _ = config;
    /// ```
    pub fn cluster<S: Into<String>>(seeds: impl IntoIterator<Item = S>) -> Self {
        let seeds: Vec<String> = seeds.into_iter().map(Into::into).collect();
        let mut config = RedisAdapterConfig::new(seeds.first().cloned().unwrap_or_default());
        config.seeds = seeds;
        config
    }

    /// The channel prefix (Node's `key` / `channelPrefix`; default `socket.io`).
    ///
    /// ```
    /// # use tower_socketio::adapter::redis::RedisAdapterConfig;
    /// let config = RedisAdapterConfig::new("redis://127.0.0.1").key("chat");
    /// # let _ = config;
    /// ```
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = key.into();
        self
    }

    /// How long a request waits for the other nodes' answers (Node's `requestsTimeout`; default
    /// 5 000 ms).
    ///
    /// ```
    /// # use tower_socketio::adapter::redis::RedisAdapterConfig;
    /// let config = RedisAdapterConfig::new("redis://127.0.0.1")
    ///     .requests_timeout(std::time::Duration::from_secs(2));
    /// # let _ = config;
    /// ```
    pub fn requests_timeout(mut self, timeout: Duration) -> Self {
        self.requests_timeout = timeout;
        self
    }

    /// Answer each request on the requester's own response channel rather than the shared one
    /// (Node's `publishOnSpecificResponseChannel`; default off).
    ///
    /// ```
    /// # use tower_socketio::adapter::redis::RedisAdapterConfig;
    /// let config = RedisAdapterConfig::new("redis://127.0.0.1")
    ///     .publish_on_specific_response_channel(true);
    /// # let _ = config;
    /// ```
    pub fn publish_on_specific_response_channel(mut self, on: bool) -> Self {
        self.publish_on_specific_response_channel = on;
        self
    }

    /// Speaks the sharded format (Node's `createShardedAdapter`) with this subscription mode.
    ///
    /// ```
    /// # use tower_socketio::adapter::redis::{RedisAdapterConfig, SubscriptionMode};
    /// let config = RedisAdapterConfig::new("redis://127.0.0.1").sharded(SubscriptionMode::Dynamic);
    /// # let _ = config;
    /// ```
    pub fn sharded(mut self, mode: SubscriptionMode) -> Self {
        self.mode = RedisMode::Sharded(mode);
        self
    }

    /// The format (classic by default).
    ///
    /// ```
    /// # use tower_socketio::adapter::redis::{RedisAdapterConfig, RedisMode};
    /// let config = RedisAdapterConfig::new("redis://127.0.0.1").mode(RedisMode::Classic);
    /// # let _ = config;
    /// ```
    pub fn mode(mut self, mode: RedisMode) -> Self {
        self.mode = mode;
        self
    }

    /// How many messages for other nodes may wait for Redis (default 65 536); past that, emits
    /// fail their remote part with a transport error.
    ///
    /// ```
    /// # use tower_socketio::adapter::redis::RedisAdapterConfig;
    /// let config = RedisAdapterConfig::new("redis://127.0.0.1").queue_capacity(1 << 20);
    /// # let _ = config;
    /// ```
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = capacity;
        self
    }

    /// Streams mode: the stream's name (Node's `streamName`; default `socket.io`).
    ///
    /// ```
    /// # use tower_socketio::adapter::redis::RedisAdapterConfig;
    /// let config = RedisAdapterConfig::new("redis://127.0.0.1").stream_name("chat-stream");
    /// # let _ = config;
    /// ```
    pub fn stream_name(mut self, name: impl Into<String>) -> Self {
        self.streams.stream_name = name.into();
        self
    }

    /// Streams mode: about how many entries the stream keeps (`XADD MAXLEN ~`, Node's `maxLen`;
    /// default 10 000). It bounds how far back a session can recover.
    ///
    /// ```
    /// # use tower_socketio::adapter::redis::RedisAdapterConfig;
    /// let config = RedisAdapterConfig::new("redis://127.0.0.1").max_len(100_000);
    /// # let _ = config;
    /// ```
    pub fn max_len(mut self, max_len: u64) -> Self {
        self.streams.max_len = max_len;
        self
    }

    /// Streams mode: how many entries one `XREAD` takes at most (Node's `readCount`; default
    /// 100).
    ///
    /// ```
    /// # use tower_socketio::adapter::redis::RedisAdapterConfig;
    /// let config = RedisAdapterConfig::new("redis://127.0.0.1").read_count(500);
    /// # let _ = config;
    /// ```
    pub fn read_count(mut self, count: u64) -> Self {
        self.streams.read_count = count.max(1);
        self
    }

    /// Streams mode: how long one `XREAD` blocks (Node's `blockTimeInMs`; default 5 s).
    ///
    /// ```
    /// # use tower_socketio::adapter::redis::RedisAdapterConfig;
    /// let config = RedisAdapterConfig::new("redis://127.0.0.1")
    ///     .block_time(std::time::Duration::from_secs(1));
    /// # let _ = config;
    /// ```
    pub fn block_time(mut self, block_time: Duration) -> Self {
        self.streams.block_time = block_time.max(Duration::from_millis(1));
        self
    }

    /// Streams mode: the prefix of the session keys (Node's `sessionKeyPrefix`; default
    /// `sio:session:`).
    ///
    /// ```
    /// # use tower_socketio::adapter::redis::RedisAdapterConfig;
    /// let config = RedisAdapterConfig::new("redis://127.0.0.1").session_key_prefix("chat:s:");
    /// # let _ = config;
    /// ```
    pub fn session_key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.streams.session_key_prefix = prefix.into();
        self
    }

    /// Streams mode with connection state recovery: whether the session of each connected
    /// recoverable socket is kept in Redis while it lives (default true), so that the clients
    /// of a node that crashes recover on another node. It costs one `SET` per socket when it
    /// connects, one per change of its rooms or data (coalesced over 100 ms), one per third of
    /// `max_disconnection_duration` to keep it from expiring, and a `DEL` when it leaves for
    /// good. Off, sessions are stored only when their sockets leave, as Node does, and a crash
    /// loses them.
    ///
    /// ```
    /// # use tower_socketio::adapter::redis::{RedisAdapterConfig, RedisMode};
    /// let config = RedisAdapterConfig::new("redis://127.0.0.1")
    ///     .mode(RedisMode::Streams)
    ///     .live_sessions(false);
    /// # let _ = config;
    /// ```
    pub fn live_sessions(mut self, keep: bool) -> Self {
        self.streams.live_sessions = keep;
        self
    }

    /// How many incoming messages may wait to be handled (default 65 536); past that, incoming
    /// messages are dropped with a log line.
    ///
    /// ```
    /// # use tower_socketio::adapter::redis::RedisAdapterConfig;
    /// let config = RedisAdapterConfig::new("redis://127.0.0.1").incoming_capacity(1 << 20);
    /// # let _ = config;
    /// ```
    pub fn incoming_capacity(mut self, capacity: usize) -> Self {
        self.incoming_capacity = capacity;
        self
    }
}

/// The adapter could not be set up.
///
/// ```
/// use tower_socketio::adapter::redis::RedisAdapterError;
///
/// let err = RedisAdapterError::InvalidUrl("no host".into());
/// assert!(err.to_string().contains("no host"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedisAdapterError {
    /// The URL is not a Redis URL.
    #[error("invalid Redis URL: {0}")]
    InvalidUrl(String),
    /// Redis could not be reached (or refused RESP3: Redis 6 or newer is needed).
    #[error("could not connect to Redis: {0}")]
    Connect(String),
}

/// The connections of one server, shared by all its namespaces: hand it to
/// [`SocketIoBuilder::adapter`](crate::SocketIoBuilder::adapter). Cheap to clone.
///
/// ```no_run
/// use tower_socketio::SocketIo;
/// use tower_socketio::adapter::redis::{RedisAdapter, RedisAdapterConfig};
///
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// let builder = RedisAdapter::connect(RedisAdapterConfig::new("redis://127.0.0.1")).await?;
/// let io = SocketIo::builder().adapter(builder.clone()).build();
/// # let _ = io;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct RedisAdapterBuilder {
    driver: Arc<driver::Driver>,
}

impl AdapterBuilder for RedisAdapterBuilder {
    fn build(&self, ns: NamespaceHandle) -> Arc<dyn Adapter> {
        Arc::new(RedisAdapter::new(self.driver.clone(), ns))
    }
}

impl RedisAdapter {
    /// Connects to Redis (both connections) and returns the builder to hand to
    /// [`SocketIoBuilder::adapter`](crate::SocketIoBuilder::adapter). Must run inside a Tokio
    /// runtime, which the adapter's tasks then live on. In streams mode it also reads where the
    /// stream ends, from which the node reads. The namespaces' subscriptions come later: await
    /// [`SocketIo::ready`](crate::SocketIo::ready) before announcing the node.
    ///
    /// ```no_run
    /// use tower_socketio::adapter::redis::{RedisAdapter, RedisAdapterConfig, SubscriptionMode};
    ///
    /// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
    /// let config = RedisAdapterConfig::new("redis://127.0.0.1").sharded(SubscriptionMode::Dynamic);
    /// let builder = RedisAdapter::connect(config).await?;
    /// # let _ = builder;
    /// # Ok(()) }
    /// ```
    pub async fn connect(
        config: RedisAdapterConfig,
    ) -> Result<RedisAdapterBuilder, RedisAdapterError> {
        Ok(RedisAdapterBuilder {
            driver: driver::Driver::connect(config).await?,
        })
    }
}

/// Node's `@socket.io/redis-streams-adapter`: [`RedisAdapter`] in [`RedisMode::Streams`]. See
/// the [module docs](self) for the format; the adapter also persists sessions for connection
/// state recovery, so a client can recover on any node.
///
/// ```no_run
/// use tower_socketio::adapter::redis::{RedisAdapterConfig, RedisStreamsAdapter};
/// use tower_socketio::{ConnectionStateRecovery, SocketIo};
///
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// let config = RedisAdapterConfig::new("redis://127.0.0.1:6379").stream_name("socket.io");
/// let io = SocketIo::builder()
///     .adapter(RedisStreamsAdapter::connect(config).await?)
///     .connection_state_recovery(ConnectionStateRecovery::default())
///     .build();
/// # let _ = io;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub enum RedisStreamsAdapter {}

impl RedisStreamsAdapter {
    /// Connects to Redis in [`RedisMode::Streams`] (whatever mode `config` named) and returns
    /// the builder to hand to [`SocketIoBuilder::adapter`](crate::SocketIoBuilder::adapter).
    pub async fn connect(
        config: RedisAdapterConfig,
    ) -> Result<RedisAdapterBuilder, RedisAdapterError> {
        RedisAdapter::connect(config.mode(RedisMode::Streams)).await
    }
}

/// The socket id under which answers from other nodes' clients appear in a broadcast with ack's
/// results: Node's format carries only the answer, not who gave it.
///
/// ```
/// use tower_socketio::adapter::redis::remote_ack_sid;
///
/// assert_eq!(remote_ack_sid().as_str(), "AAAAAAAAAAAAAAAAAAAA");
/// ```
pub fn remote_ack_sid() -> Sid {
    "AAAAAAAAAAAAAAAAAAAA".parse().unwrap_or_default()
}
