//! How an adapter reaches this node's sockets without knowing what a socket is.
//!
//! A namespace implements [`LocalSockets`]; its adapter holds it (weakly, through
//! [`NamespaceHandle`](crate::adapter::NamespaceHandle)) and calls it to hand frames to sockets
//! by id, wait for their acks, describe them for a fetch, or disconnect them. Room membership
//! stays the adapter's own business. None of these calls runs user code or closes a socket on
//! the caller's stack (a full queue closes its socket later, from a task of its own), so an
//! adapter may call them while it holds its own locks.

use std::time::Duration;

use serde_json::Value;

use crate::core::ack::AckFuture;
use crate::engine::{Frame, Sid};

/// What a fetch learns of a socket on this node or another: Node's `RemoteSocket` fields.
///
/// ```
/// use tower_socketio::adapter::SocketInfo;
///
/// let info = SocketInfo {
///     id: "AAAAAAAAAAAAAAAAAAAA".parse().unwrap(),
///     rooms: vec!["lobby".into()],
///     handshake: serde_json::json!({ "url": "/socket.io/" }),
///     data: serde_json::json!({ "user": "ada" }),
/// };
/// assert_eq!(info.rooms.len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct SocketInfo {
    /// The socket id.
    pub id: Sid,
    /// Its rooms (its own room included).
    pub rooms: Vec<crate::core::Room>,
    /// Its handshake, as Node's adapters exchange it.
    pub handshake: Value,
    /// Its data (Node's `socket.data`); `null` when unset.
    pub data: Value,
}

/// This node's sockets of one namespace, as its adapter may use them.
pub(crate) trait LocalSockets: Send + Sync + 'static {
    /// Queues `frames` to each of these sockets still connected; volatile frames are dropped
    /// for a socket that cannot take them right now.
    fn send(&self, sids: &[Sid], frames: &[Frame], volatile: bool);

    /// Queues `frames` to one socket past its queue bound: a recovered socket's replay, which
    /// must not close it as a slow consumer.
    fn send_unbounded(&self, sid: Sid, frames: Vec<Frame>);

    /// Queues `frames`, which carry ack `id`, to each of these sockets and waits for their
    /// answers within `timeout`: one future per socket that took the frames.
    fn send_with_ack(
        &self,
        sids: &[Sid],
        frames: &[Frame],
        id: u64,
        timeout: Duration,
    ) -> Vec<AckFuture>;

    /// Disconnects these sockets (closing their whole connections with `close`).
    fn disconnect(&self, sids: &[Sid], close: bool);

    /// The handshake and data of each of these sockets still connected, in order.
    fn describe(&self, sids: &[Sid]) -> Vec<(Sid, Value, Value)>;

    /// Whether a socket with this id is connected here.
    fn contains(&self, sid: Sid) -> bool;

    /// Hands an event from another node to the server-side listener: `None` when nobody
    /// listens, else the listener's answer.
    fn server_side(&self, event: &str, args: Vec<Value>) -> Option<Option<Value>>;

    /// A fresh ack id from the namespace's counter.
    fn next_ack_id(&self) -> u64;
}
