//! A PostgreSQL adapter, wire-compatible with Node's [`@socket.io/postgres-adapter`] 0.5 and
//! `@socket.io/postgres-emitter` 0.1: Rust and Node server nodes share one cluster through
//! PostgreSQL's `LISTEN`/`NOTIFY` (feature `postgres`).
//!
//! ```no_run
//! use tower_socketio::adapter::postgres::{PostgresAdapter, PostgresAdapterConfig};
//! use tower_socketio::{SocketIo, SocketIoLayer};
//!
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! let config = PostgresAdapterConfig::new("host=127.0.0.1 user=postgres dbname=app");
//! let io = SocketIo::builder()
//!     .adapter(PostgresAdapter::connect(config).await?)
//!     .build();
//! io.ns("/", |socket: tower_socketio::extract::SocketRef| { let _ = socket; });
//! // Before telling a load balancer: PostgreSQL confirmed the LISTEN of every namespace.
//! io.ready().await?;
//! io.to("room").emit("news", &"to the room's members on every node").ok();
//! let nodes = io.server_count().await?;
//! # let _ = nodes;
//! let app: axum::Router = axum::Router::new().layer(SocketIoLayer::new(io));
//! # Ok(()) }
//! ```
//!
//! # The wire
//!
//! Every namespace has one channel, `<prefix>#<nsp>` (no trailing `#`; `<prefix>` is
//! `socket.io` unless [`PostgresAdapterConfig::channel_prefix`] says otherwise), on which every
//! node `LISTEN`s and publishes with `SELECT pg_notify($1, $2)`. A notification is the JSON
//! envelope of socket.io-adapter's `ClusterAdapterWithHeartbeat` (`{type, data, uid, nsp}`:
//! heartbeats 1 and 2, broadcast 3, join 4, leave 5, disconnect 6, fetch 7 and its answer 8,
//! server-side emit 9 and its answer 10, client count 11, ack 12, close 13). Answers are not
//! targeted: they go on the namespace's channel and only the requester keeps them.
//!
//! A message with binary data, or whose JSON is [`payload_threshold`] bytes or more (NOTIFY
//! refuses 8 000), goes through the attachments table instead:
//! `INSERT INTO socket_io_attachments (payload) VALUES ($1) RETURNING id` with the MessagePack
//! of the whole envelope (binary as `bin`), then a NOTIFY of the header
//! `{"uid":…,"type":…,"attachmentId":"<id>"}`; receivers `SELECT payload … WHERE id = $1`. Every
//! node deletes attachments older than [`cleanup_interval`] once per interval. The table is
//! created at start-up when missing (Node's adapter expects the application to create it; see
//! [`create_table`]).
//!
//! Nodes know each other from their messages: a node announces itself with an initial
//! heartbeat (the others answer with a heartbeat), sends a heartbeat every
//! [`heartbeat_interval`], and is forgotten [`heartbeat_timeout`] after its last message or at
//! once when it says it closes. The server count is 1 plus the nodes known; a request waits for
//! an answer from each of them (and stops waiting for one that leaves), at most
//! [`requests_timeout`].
//!
//! With connection state recovery on, each node keeps its sessions and packet log in memory
//! ([`SessionStore`](crate::adapter::SessionStore), as the Redis pub/sub modes do): a client
//! recovers on the node it left. Node's PostgreSQL adapter recovers no session.
//!
//! Node's `@socket.io/postgres-emitter` sends its messages without `nsp`: a Rust node takes the
//! namespace from the channel, so the emitter reaches its clients (Node's adapter 0.5 drops
//! them).
//!
//! # Where it differs from Node's adapter
//!
//! - **Each sender's messages stay in order.** Node's adapter publishes through a pool of
//!   connections, so the `NOTIFY`s of a burst commit in any order and broadcasts arrive out of
//!   order, even on the sender's own clients. This adapter publishes through **one** connection,
//!   one statement after the other: each `pg_notify` is its own transaction, committed before the
//!   next is sent, and PostgreSQL delivers notifications in commit order. An attachment's
//!   `INSERT` and its `NOTIFY` are sent before the next message, and receivers fetch attachments
//!   in the order the notifications came, so large and binary messages keep their place too.
//! - **Killed connections and restarts are survived.** The `LISTEN` connection is watched (a
//!   liveness query every heartbeat interval); when it ends (`pg_terminate_backend`, a restart,
//!   a network failure) it reconnects with a growing, jittered delay (0.1 s to 5 s), listens
//!   again and announces the node again. The publishing connection reconnects the same way and
//!   retries the message it was sending for up to 30 s, so nothing is sent twice and nothing
//!   after it overtakes it. Notifications sent while this node was not listening are lost, as
//!   in Node (PostgreSQL keeps none for absent listeners).
//! - **Junk on the channel is logged and ignored, and never counted as a node**: a uid counts
//!   only once its message decoded in full (Node counts any JSON with a `uid` for ~10 s).
//! - **Bounded**: notifications are under 8 000 bytes by PostgreSQL's rule, an attachment is
//!   read only if it is at most [`max_attachment_size`] (8 MiB by default), and the queues to
//!   and from PostgreSQL are bounded ([`queue_capacity`], [`incoming_capacity`]).
//!
//! # Why `tokio-postgres`, and why one publishing connection
//!
//! [`tokio-postgres`](https://docs.rs/tokio-postgres) is the asynchronous client under the
//! `postgres` crate, maintained in the rust-postgres project for years; it is the one async
//! client that exposes `LISTEN` notifications as they arrive (`Connection::poll_message`),
//! without a pool or an ORM around it. No pool is needed: the adapter uses exactly three
//! connections per server (listen, publish, fetch attachments), each owned by one task. One
//! publishing connection is the point: on one connection statements run one after the other, so
//! the commit order, which is the delivery order of notifications, is the order this node sent
//! them in. A pool would let two `NOTIFY`s race, which is how Node's adapter loses the order.
//!
//! [`@socket.io/postgres-adapter`]: https://github.com/socketio/socket.io-postgres-adapter
//! [`payload_threshold`]: PostgresAdapterConfig::payload_threshold
//! [`cleanup_interval`]: PostgresAdapterConfig::cleanup_interval
//! [`create_table`]: PostgresAdapterConfig::create_table
//! [`heartbeat_interval`]: PostgresAdapterConfig::heartbeat_interval
//! [`heartbeat_timeout`]: PostgresAdapterConfig::heartbeat_timeout
//! [`requests_timeout`]: PostgresAdapterConfig::requests_timeout
//! [`max_attachment_size`]: PostgresAdapterConfig::max_attachment_size
//! [`queue_capacity`]: PostgresAdapterConfig::queue_capacity
//! [`incoming_capacity`]: PostgresAdapterConfig::incoming_capacity

// Layout: `config` (options and errors), `wire` (channel names, what a notification carries,
// how a message is sent), `listener` (the LISTEN connection, reconnecting, and the dispatch of
// notifications), `publisher` (the one publishing connection), `attachments` (the table's SQL),
// `heartbeat` (known nodes, heartbeats, server count), `driver` (what one server shares among
// its namespaces), `adapter` (a namespace's adapter). The messages are
// `crate::adapter::cluster`'s types and codec.
mod adapter;
pub(crate) mod attachments;
pub(crate) mod config;
mod driver;
mod heartbeat;
pub(crate) mod listener;
mod publisher;
pub(crate) mod wire;

pub use adapter::PostgresAdapter;
pub use config::{PostgresAdapterConfig, PostgresAdapterError};

use std::sync::Arc;

use crate::adapter::{Adapter, AdapterBuilder, NamespaceHandle};

/// The connections of one server, shared by all its namespaces: hand it to
/// [`SocketIoBuilder::adapter`](crate::SocketIoBuilder::adapter). Cheap to clone.
///
/// ```no_run
/// use tower_socketio::SocketIo;
/// use tower_socketio::adapter::postgres::{PostgresAdapter, PostgresAdapterConfig};
///
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// let config = PostgresAdapterConfig::new("postgresql://postgres@127.0.0.1/app");
/// let builder = PostgresAdapter::connect(config).await?;
/// let io = SocketIo::builder().adapter(builder.clone()).build();
/// # let _ = io;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct PostgresAdapterBuilder {
    driver: Arc<driver::Driver>,
}

impl AdapterBuilder for PostgresAdapterBuilder {
    fn build(&self, ns: NamespaceHandle) -> Arc<dyn Adapter> {
        Arc::new(PostgresAdapter::new(self.driver.clone(), ns))
    }
}

impl PostgresAdapter {
    /// Connects to PostgreSQL (the publishing connection, creating the attachments table if
    /// asked) and returns the builder to hand to
    /// [`SocketIoBuilder::adapter`](crate::SocketIoBuilder::adapter). Must run inside a Tokio
    /// runtime, which the adapter's tasks then live on. The namespaces' `LISTEN`s come later:
    /// await [`SocketIo::ready`](crate::SocketIo::ready) before announcing the node.
    ///
    /// ```no_run
    /// use tower_socketio::adapter::postgres::{PostgresAdapter, PostgresAdapterConfig};
    ///
    /// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
    /// let config = PostgresAdapterConfig::new("host=127.0.0.1 user=postgres").channel_prefix("chat");
    /// let builder = PostgresAdapter::connect(config).await?;
    /// # let _ = builder;
    /// # Ok(()) }
    /// ```
    pub async fn connect(
        config: PostgresAdapterConfig,
    ) -> Result<PostgresAdapterBuilder, PostgresAdapterError> {
        Ok(PostgresAdapterBuilder {
            driver: driver::Driver::connect(config).await?,
        })
    }
}

/// The socket id under which answers from other nodes' clients appear in a broadcast with ack's
/// results: Node's format carries only the answer, not who gave it.
///
/// ```
/// use tower_socketio::adapter::postgres::remote_ack_sid;
///
/// assert_eq!(remote_ack_sid().as_str(), "AAAAAAAAAAAAAAAAAAAA");
/// ```
pub fn remote_ack_sid() -> crate::engine::Sid {
    "AAAAAAAAAAAAAAAAAAAA".parse().unwrap_or_default()
}
