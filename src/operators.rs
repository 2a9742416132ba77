//! Broadcast operators: who a broadcast goes to (`to`, `within`, `except`), how (`local`,
//! `volatile`, `compress`, `timeout`, `bin`), and the cluster-wide operations on that
//! selection (emit, emit with ack, fetch, join, leave, disconnect).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;

use crate::adapter::{BroadcastOptions, BroadcastPacket, Room};
// Where `IntoRooms` lives: `core`, so that the emitter (which knows no namespace) takes rooms alike.
pub use crate::core::IntoRooms;
use crate::core::ack::BroadcastAckFuture;
use crate::core::error::{AdapterError, EmitError};
use crate::engine::Sid;
use crate::namespace::Namespace;
use crate::parser;
use crate::remote_socket::RemoteSocket;

/// A selection of sockets in a namespace, and what to do with them.
///
/// ```
/// use tower_socketio::extract::SocketRef;
///
/// fn on_message(socket: SocketRef) {
///     // Everyone in "room1" or "room2" but this socket and those in "muted":
///     socket.to(["room1", "room2"]).except("muted").emit("news", &"hello").ok();
/// }
/// ```
#[must_use = "operators do nothing until an operation (emit, fetch_sockets, ...) is called"]
#[derive(Debug)]
pub struct BroadcastOperators {
    ns: Arc<Namespace>,
    opts: BroadcastOptions,
    attachments: Vec<Bytes>,
    timeout: Option<Duration>,
}

impl BroadcastOperators {
    pub(crate) fn new(ns: Arc<Namespace>) -> Self {
        BroadcastOperators {
            ns,
            opts: BroadcastOptions::default(),
            attachments: Vec::new(),
            timeout: None,
        }
    }

    /// Targets the sockets in these rooms (Node's `to`).
    pub fn to(mut self, rooms: impl IntoRooms) -> Self {
        self.opts.rooms.extend(rooms.into_rooms());
        self
    }

    /// The same as [`to`](Self::to) (Node's `in`).
    pub fn within(self, rooms: impl IntoRooms) -> Self {
        self.to(rooms)
    }

    /// Leaves out the sockets in these rooms.
    pub fn except(mut self, rooms: impl IntoRooms) -> Self {
        self.opts.except.extend(rooms.into_rooms());
        self
    }

    pub(crate) fn except_socket(self, sid: Sid) -> Self {
        self.except(sid)
    }

    /// Only this node's sockets.
    pub fn local(mut self) -> Self {
        self.opts.local = true;
        self
    }

    /// Drops the packet for receivers that cannot take it right now.
    pub fn volatile(mut self) -> Self {
        self.opts.volatile = true;
        self
    }

    /// Asks for compression (kept for parity with Node; polling responses are compressed by
    /// size anyway, and WebSocket compression is off).
    pub fn compress(mut self, compress: bool) -> Self {
        self.opts.compress = compress;
        self
    }

    /// How long [`emit_with_ack`](Self::emit_with_ack) waits for the answers.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Attaches binary data; the JSON refers to it with [`placeholder`](crate::placeholder)s.
    pub fn bin(mut self, attachments: impl IntoIterator<Item = impl Into<Bytes>>) -> Self {
        self.attachments
            .extend(attachments.into_iter().map(Into::into));
        self
    }

    fn packet(&self, event: &str, args: parser::EncodedArgs, id: Option<u64>) -> BroadcastPacket {
        let recoverable = self.ns.recovery.is_some() && id.is_none() && !self.opts.volatile;
        self.ns.packet(event, args, id, recoverable)
    }

    /// Emits to the selection. The packet is encoded once; local receivers share the bytes.
    ///
    /// Local delivery happens before this returns; with a multi-node adapter, what goes to other
    /// nodes is handed to the adapter in order and carried on in the background.
    pub fn emit<T: Serialize + ?Sized>(mut self, event: &str, data: &T) -> Result<(), EmitError> {
        let args = parser::encode_args(data, std::mem::take(&mut self.attachments))?;
        let packet = self.packet(event, args, None);
        Ok(self.ns.adapter.broadcast(packet, self.opts)?)
    }

    /// Emits to the selection and collects every receiver's answer within the timeout (Node's
    /// `io.timeout(ms).emit(..., callback)`).
    pub async fn emit_with_ack<T: Serialize + ?Sized>(
        mut self,
        event: &str,
        data: &T,
    ) -> Result<BroadcastAckFuture, EmitError> {
        let id = self.ns.next_ack_id();
        let args = parser::encode_args(data, std::mem::take(&mut self.attachments))?;
        let packet = self.packet(event, args, Some(id));
        let timeout = self.timeout.unwrap_or(self.ns.ack_timeout);
        Ok(self
            .ns
            .adapter
            .broadcast_with_ack(packet, self.opts, timeout)
            .await?)
    }

    /// The selected sockets, on every node.
    pub async fn fetch_sockets(self) -> Result<Vec<RemoteSocket>, AdapterError> {
        let found = timed("fetch_sockets", self.ns.adapter.fetch_sockets(self.opts)).await?;
        let ids: Vec<Sid> = found.iter().map(|info| info.id).collect();
        let mut local: std::collections::HashMap<Sid, _> = self
            .ns
            .get_sockets(&ids)
            .into_iter()
            .map(|socket| (socket.id(), socket))
            .collect();
        let ns = Arc::downgrade(&self.ns);
        Ok(found
            .into_iter()
            .map(|info| {
                let socket = local.remove(&info.id);
                RemoteSocket::new(ns.clone(), info, socket)
            })
            .collect())
    }

    /// Makes the selected sockets join rooms (Node's `socketsJoin`): local sockets at once,
    /// the other nodes' as soon as the adapter carries the request there.
    pub fn join(self, rooms: impl IntoRooms) -> Result<(), AdapterError> {
        self.ns.adapter.add_sockets(self.opts, rooms.into_rooms())
    }

    /// Makes the selected sockets leave rooms (Node's `socketsLeave`), like
    /// [`join`](Self::join).
    pub fn leave(self, rooms: impl IntoRooms) -> Result<(), AdapterError> {
        self.ns.adapter.del_sockets(self.opts, rooms.into_rooms())
    }

    /// Emits to the other server nodes' `server_side_emit` listeners.
    pub(crate) async fn server_side_emit(
        self,
        event: String,
        args: Vec<serde_json::Value>,
    ) -> Result<Vec<serde_json::Value>, AdapterError> {
        let timeout = self.timeout.unwrap_or(self.ns.ack_timeout);
        let request = self
            .ns
            .adapter
            .server_side_emit_with_ack(event, args, timeout);
        timed("server_side_emit", request).await
    }

    /// Every room of the namespace, on every node.
    pub async fn all_rooms(self) -> Result<Vec<Room>, AdapterError> {
        timed("all_rooms", self.ns.adapter.all_rooms()).await
    }

    /// How many server nodes share the namespace.
    pub async fn server_count(self) -> Result<usize, AdapterError> {
        timed("server_count", self.ns.adapter.server_count()).await
    }

    /// Disconnects the selected sockets ("server namespace disconnect"), or closes their whole
    /// connections with `close` (Node's `disconnectSockets`), like [`join`](Self::join).
    pub fn disconnect(self, close: bool) -> Result<(), AdapterError> {
        self.ns.adapter.disconnect_sockets(self.opts, close)
    }
}

/// Awaits a cluster-wide request, recording how long it took or that it failed (metrics).
async fn timed<T>(
    request: &'static str,
    future: impl Future<Output = Result<T, AdapterError>>,
) -> Result<T, AdapterError> {
    let started = crate::metrics::Stopwatch::start();
    let result = future.await;
    crate::metrics::request_done(request, started, result.is_ok());
    result
}
