//! Emitting from outside a server: an [`Emitter`] sends to the clients of a cluster's server
//! nodes, Rust and Node alike, through Redis or PostgreSQL, from a worker, a cron job or any
//! other service that is not a Socket.IO server (Node's `@socket.io/redis-emitter`, feature
//! `redis`; Node's `@socket.io/postgres-emitter`, feature `postgres`).
//!
//! ```no_run
//! # #[cfg(feature = "redis")]
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! use tower_socketio::adapter::redis::RedisAdapterConfig;
//! use tower_socketio::emitter::Emitter;
//!
//! // The same configuration as the servers' adapter: same Redis, prefix and mode.
//! let emitter = Emitter::redis(RedisAdapterConfig::new("redis://127.0.0.1:6379")).await?;
//!
//! emitter.emit("news", &"to every client of namespace /").await?;
//! emitter.to("room1").except("room2").emit("news", &("several", "arguments")).await?;
//! emitter.of("/admin").volatile().emit("tick", &42).await?;
//! emitter
//!     .to("uploads")
//!     .bin([bytes::Bytes::from_static(b"\x00\x01")])
//!     .emit("file", &serde_json::json!({ "data": tower_socketio::placeholder(0) }))
//!     .await?;
//!
//! emitter.to("room1").sockets_join("room2").await?;
//! emitter.to("room2").sockets_leave("room1").await?;
//! emitter.to("banned").disconnect_sockets(true).await?;
//! emitter.server_side_emit("reload-config", &"from a cron job").await?;
//! # Ok(()) }
//! ```
//!
//! Through PostgreSQL, with the servers' `PostgresAdapterConfig`: the same operations.
//!
//! ```no_run
//! # #[cfg(feature = "postgres")]
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! use tower_socketio::adapter::postgres::PostgresAdapterConfig;
//! use tower_socketio::emitter::Emitter;
//!
//! let config = PostgresAdapterConfig::new("host=127.0.0.1 user=postgres dbname=app");
//! let emitter = Emitter::postgres(config).await?;
//! emitter.to("room1").emit("news", &"to room1's members on every node").await?;
//! # Ok(()) }
//! ```
//!
//! # Formats
//!
//! An emitter writes what the servers' adapter reads ([`EmitterFormat`], picked from the
//! servers' configuration by `Emitter::redis` or `Emitter::postgres`):
//!
//! - **classic** (`createAdapter`): byte for byte what `@socket.io/redis-emitter` 5.x
//!   publishes: a broadcast is MessagePack `["emitter", {type: 2, data, nsp}, {rooms, flags,
//!   except}]` on `<key>#<nsp>#` (`<key>#<nsp>#<room>#` when it targets exactly one room), join,
//!   leave, disconnect and server-side emits are JSON requests on `<key>-request#<nsp>#`;
//! - **sharded** (`createShardedAdapter`): the cluster messages `{type, data, uid: "emitter",
//!   nsp}` the sharded adapter reads (JSON, MessagePack when there is binary data), with
//!   `SPUBLISH` on `<prefix>#<nsp>#`, or on a room's own channel when the servers' subscription
//!   mode listens there (Node has no emitter for this mode);
//! - **Streams** (`@socket.io/redis-streams-adapter`): entries of the stream, as
//!   `@socket.io/redis-streams-emitter` adds them (`XADD <stream> MAXLEN ~ <max_len> * uid
//!   emitter nsp <nsp> type <n> data <data>`), so a Redis restart loses nothing Redis kept and
//!   connection state recovery replays them like any broadcast;
//! - **PostgreSQL** (`@socket.io/postgres-adapter`): what `@socket.io/postgres-emitter` 0.1
//!   notifies, `{type, data, uid: "emitter", nsp}` on `<prefix>#<nsp>` (`pg_notify`), with the
//!   namespace, which Node's emitter leaves out and Node's adapter needs; binary data and
//!   messages of 8 000 bytes of JSON or more go to the attachments table (MessagePack), and the
//!   notification names the row. The row and its notification are written by one statement.
//!
//! Where each operation goes, in the classic format (through a backend that only records
//! what it is asked to publish):
//!
//! ```
//! # use std::sync::{Arc, Mutex};
//! # use tower_socketio::emitter::{BackendFuture, EmitterBackend};
//! # #[derive(Clone, Default)]
//! # struct Recorder(Arc<Mutex<Vec<String>>>);
//! # impl EmitterBackend for Recorder {
//! #     fn publish(&self, channel: String, _payload: bytes::Bytes) -> BackendFuture<'_> {
//! #         self.0.lock().unwrap().push(channel);
//! #         Box::pin(std::future::ready(Ok(())))
//! #     }
//! # }
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! use tower_socketio::emitter::{Emitter, EmitterFormat};
//!
//! let recorder = Recorder::default();
//! let format = EmitterFormat::RedisClassic { key: "socket.io".into() };
//! let emitter = Emitter::new(recorder.clone(), format);
//! emitter.to("room1").emit("a", &()).await?; // one room: that room's channel
//! emitter.to(["room1", "room2"]).emit("b", &()).await?; // several: the namespace's
//! emitter.of("admin").to("room1").sockets_join("vip").await?; // requests
//! assert_eq!(
//!     *recorder.0.lock().unwrap(),
//!     ["socket.io#/#room1#", "socket.io#/#", "socket.io-request#/admin#"]
//! );
//! # Ok::<(), tower_socketio::emitter::EmitterError>(())
//! # }).unwrap();
//! ```
//!
//! # What it does and does not do
//!
//! Every operation resolves once Redis (or PostgreSQL) took the message, or fails with
//! [`EmitterError::Backend`]; nothing is queued or retried behind your back. Operations
//! awaited one after the other reach each node in that order (through one Redis server or one
//! PostgreSQL connection; the futures of operations started together are sent in the order
//! they are first polled; Node's PostgreSQL adapter hands on messages from the attachments
//! table when it has read them, after those behind them). As in
//! Node, an emitter
//! subscribes to nothing, so it cannot collect acks, fetch sockets or count servers, and
//! servers do not count it as a node; `volatile` and `compress` are its only flags. Reserved
//! event names (`connect`, `disconnect`, …) are refused with [`EmitterError::ReservedEvent`].
//!
//! The transport is an [`EmitterBackend`]: bring your own with [`Emitter::new`].

mod backend;
mod format;
mod operators;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "redis")]
mod redis;

pub use backend::{BackendFuture, EmitterBackend};
pub use format::EmitterFormat;
pub use operators::EmitterOperators;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use serde::Serialize;
use serde_json::Value;

use crate::core::IntoRooms;
use format::{Operation, Outgoing};

/// What an emitter operation returns: encoded already, sent when awaited, done once the
/// transport took the message. It owns what it sends, so it can be spawned.
///
/// ```no_run
/// # async fn f(emitter: tower_socketio::emitter::Emitter) {
/// let sent: tower_socketio::emitter::EmitFuture = emitter.emit("ping", &());
/// tokio::spawn(sent);
/// # }
/// ```
pub type EmitFuture = Pin<Box<dyn Future<Output = Result<(), EmitterError>> + Send + 'static>>;

/// An emitter could not send.
///
/// ```
/// use tower_socketio::emitter::EmitterError;
///
/// let err = EmitterError::ReservedEvent("connect".into());
/// assert_eq!(err.to_string(), r#""connect" is a reserved event name"#);
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmitterError {
    /// The data could not be serialized to JSON.
    #[error("could not serialize the data: {0}")]
    Serialize(#[from] serde_json::Error),
    /// The event name means something to Socket.IO itself (`connect`, `connect_error`,
    /// `disconnect`, `disconnecting`, `newListener`, `removeListener`).
    #[error("\"{0}\" is a reserved event name")]
    ReservedEvent(String),
    /// The backend cannot do what the format needs.
    #[error("the emitter's backend does not support {0}")]
    Unsupported(&'static str),
    /// The transport failed (Redis unreachable, the command refused…).
    #[error("emitter backend: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl EmitterError {
    /// A transport failure caused by `err`.
    ///
    /// ```
    /// use tower_socketio::emitter::EmitterError;
    ///
    /// let err = EmitterError::backend("connection refused");
    /// assert!(err.to_string().contains("connection refused"));
    /// ```
    pub fn backend(err: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        EmitterError::Backend(err.into())
    }
}

/// The transport and format, shared by every emitter derived from one.
struct Shared {
    backend: Box<dyn EmitterBackend>,
    format: EmitterFormat,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emitter")
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

/// Sends to the clients of a cluster's servers without being a server: Node's
/// `@socket.io/redis-emitter` and `@socket.io/postgres-emitter`. See the [module docs](self). Cheap to clone; every clone
/// shares the connection.
///
/// It names a namespace (`/` at first, another with [`of`](Self::of)); [`to`](Self::to),
/// [`within`](Self::within), [`except`](Self::except), [`volatile`](Self::volatile),
/// [`compress`](Self::compress) and [`bin`](Self::bin) start an [`EmitterOperators`] that
/// narrows the selection.
///
/// ```
/// # use tower_socketio::emitter::{BackendFuture, Emitter, EmitterBackend, EmitterFormat};
/// # struct Nowhere;
/// # impl EmitterBackend for Nowhere {
/// #     fn publish(&self, _: String, _: bytes::Bytes) -> BackendFuture<'_> {
/// #         Box::pin(std::future::ready(Ok(())))
/// #     }
/// # }
/// # let emitter = Emitter::new(Nowhere, EmitterFormat::RedisClassic { key: "socket.io".into() });
/// let admin = emitter.of("admin");
/// assert_eq!(admin.namespace(), "/admin");
/// assert_eq!(emitter.namespace(), "/");
/// ```
#[derive(Debug, Clone)]
pub struct Emitter {
    shared: Arc<Shared>,
    nsp: Arc<str>,
}

impl Emitter {
    /// An emitter on a transport of your own, writing `format` (the format of the servers'
    /// adapter). `Emitter::redis` and `Emitter::postgres` build both.
    pub fn new(backend: impl EmitterBackend, format: EmitterFormat) -> Emitter {
        Emitter {
            shared: Arc::new(Shared {
                backend: Box::new(backend),
                format,
            }),
            nsp: Arc::from("/"),
        }
    }

    /// The same emitter for namespace `nsp` (a missing leading `/` is added, as in Node).
    pub fn of(&self, nsp: &str) -> Emitter {
        let nsp = match nsp.starts_with('/') {
            true => Arc::from(nsp),
            false => Arc::from(format!("/{nsp}")),
        };
        Emitter {
            shared: self.shared.clone(),
            nsp,
        }
    }

    /// The namespace it sends to.
    pub fn namespace(&self) -> &str {
        &self.nsp
    }

    /// The format it writes.
    pub fn format(&self) -> &EmitterFormat {
        &self.shared.format
    }

    fn operators(&self) -> EmitterOperators {
        EmitterOperators::new(self.clone())
    }

    /// Targets the sockets in these rooms (Node's `to`); chain more with
    /// [`EmitterOperators::to`].
    pub fn to(&self, rooms: impl IntoRooms) -> EmitterOperators {
        self.operators().to(rooms)
    }

    /// The same as [`to`](Self::to) (Node's `in`).
    pub fn within(&self, rooms: impl IntoRooms) -> EmitterOperators {
        self.operators().to(rooms)
    }

    /// Leaves out the sockets in these rooms.
    pub fn except(&self, rooms: impl IntoRooms) -> EmitterOperators {
        self.operators().except(rooms)
    }

    /// Lets servers drop the packet for clients that cannot take it right now.
    pub fn volatile(&self) -> EmitterOperators {
        self.operators().volatile()
    }

    /// Sets the compress flag (Node's `compress(bool)`).
    pub fn compress(&self, compress: bool) -> EmitterOperators {
        self.operators().compress(compress)
    }

    /// Attaches binary data; the emitted JSON refers to it with
    /// [`placeholder`](crate::placeholder)s.
    pub fn bin(&self, attachments: impl IntoIterator<Item = impl Into<Bytes>>) -> EmitterOperators {
        self.operators().bin(attachments)
    }

    /// Emits to every client of the namespace. `data` is the arguments: a tuple spreads into
    /// several, `()` is none, anything else is one (as [`SocketRef::emit`](crate::SocketRef)).
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, data: &T) -> EmitFuture {
        self.operators().emit(event, data)
    }

    /// Makes every socket of the namespace, on every node, join `rooms`.
    pub fn sockets_join(&self, rooms: impl IntoRooms) -> EmitFuture {
        self.operators().sockets_join(rooms)
    }

    /// Makes every socket of the namespace, on every node, leave `rooms`.
    pub fn sockets_leave(&self, rooms: impl IntoRooms) -> EmitFuture {
        self.operators().sockets_leave(rooms)
    }

    /// Disconnects every socket of the namespace, on every node; with `close`, their
    /// connections are closed too.
    pub fn disconnect_sockets(&self, close: bool) -> EmitFuture {
        self.operators().disconnect_sockets(close)
    }

    /// Sends an event to the servers' own listeners
    /// ([`SocketIo::on_server_side`](crate::SocketIo::on_server_side), Node's
    /// `io.on(event, …)`), on every node. Acks are not possible: the emitter listens to
    /// nothing. The classic format only reaches namespace `/`'s listeners, as in Node.
    pub fn server_side_emit<T: Serialize + ?Sized>(&self, event: &str, data: &T) -> EmitFuture {
        let data = event_data(event, data, Vec::new()).map(|(data, _)| data);
        self.send(data.map(|data| Operation::ServerSideEmit { data }))
    }

    /// Encodes `operation` now and sends it when awaited.
    pub(super) fn send(&self, operation: Result<Operation, EmitterError>) -> EmitFuture {
        let outgoing = operation.map(|op| self.shared.format.encode(&self.nsp, op));
        let shared = self.shared.clone();
        Box::pin(async move {
            match outgoing? {
                Outgoing::Publish { channel, payload } => {
                    shared.backend.publish(channel, payload).await
                }
                #[cfg(feature = "redis")]
                Outgoing::Append {
                    stream,
                    max_len,
                    fields,
                } => shared.backend.append(stream, max_len, fields).await,
                #[cfg(feature = "postgres")]
                Outgoing::Attach {
                    channel,
                    kind,
                    payload,
                } => {
                    shared
                        .backend
                        .publish_attachment(channel, kind, payload)
                        .await
                }
            }
        })
    }
}

/// `[event, ...args]` as nodes carry it, with the attachments its placeholders point to.
pub(super) fn event_data<T: Serialize + ?Sized>(
    event: &str,
    data: &T,
    attachments: Vec<Bytes>,
) -> Result<(Vec<Value>, Vec<Bytes>), EmitterError> {
    if crate::parser::RESERVED_EVENTS.contains(&event) {
        return Err(EmitterError::ReservedEvent(event.to_owned()));
    }
    let encoded = crate::parser::encode_args(data, attachments)?;
    let args: Vec<Value> = serde_json::from_str(&format!("[{}]", encoded.json))?;
    let mut all = Vec::with_capacity(args.len() + 1);
    all.push(Value::String(event.to_owned()));
    all.extend(args);
    Ok((all, encoded.attachments))
}
