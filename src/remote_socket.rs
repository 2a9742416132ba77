//! A socket found by a fetch, on this node or another, and what can be done to it.

use std::sync::Weak;

use serde_json::Value;

use crate::adapter::{Room, SocketInfo};
use crate::core::error::{AdapterError, EmitError};
use crate::engine::Sid;
use crate::namespace::Namespace;
use crate::operators::{BroadcastOperators, IntoRooms};
use crate::socket::SocketRef;

/// A socket found by [`fetch_sockets`](crate::SocketIo::fetch_sockets), on this node or another
/// (Node's `RemoteSocket`).
///
/// ```no_run
/// # async fn f(io: tower_socketio::SocketIo) -> Result<(), tower_socketio::AdapterError> {
/// for socket in io.within("lobby").fetch_sockets().await? {
///     println!("{} is in {:?}", socket.id, socket.rooms);
///     let user: Option<serde_json::Value> = socket.data(); // Node's `socket.data`
///     // Emit to it, make it join a room, wherever it lives:
///     socket.emit("hello", &"from the server").ok();
///     socket.join("vip")?;
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct RemoteSocket {
    /// The socket id.
    pub id: Sid,
    /// Its rooms.
    pub rooms: Vec<Room>,
    /// Its handshake, as its node reported it.
    pub handshake: Value,
    /// The socket itself when it lives on this node.
    pub local: Option<SocketRef>,
    /// Its data as its node reported it (`null` when unset).
    data: Value,
    ns: Weak<Namespace>,
}

impl RemoteSocket {
    /// A socket of `ns` as an adapter described it; `local` when it lives on this node.
    pub(crate) fn new(ns: Weak<Namespace>, info: SocketInfo, local: Option<SocketRef>) -> Self {
        RemoteSocket {
            id: info.id,
            rooms: info.rooms,
            handshake: info.handshake,
            local,
            data: info.data,
            ns,
        }
    }

    /// Its data ([`Socket::data`](crate::Socket::data), Node's `socket.data`), deserialised on
    /// demand: the socket's current data when it lives on this node, else what its node
    /// reported when it was fetched. `None` when unset or not a `T`.
    ///
    /// Find a socket anywhere in the cluster by its data, then act on it:
    ///
    /// ```
    /// #[derive(serde::Deserialize)]
    /// struct User {
    ///     name: String,
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tower_socketio::AdapterError> {
    /// let io = tower_socketio::SocketIo::new();
    /// let sockets = io.fetch_sockets().await?;
    /// let ada = sockets
    ///     .iter()
    ///     .find(|s| s.data::<User>().is_some_and(|u| u.name == "ada"));
    /// if let Some(ada) = ada {
    ///     ada.emit("hello", &"ada").ok();
    ///     ada.join("admins")?;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn data<T: serde::de::DeserializeOwned>(&self) -> Option<T> {
        if let Some(local) = &self.local {
            return local.data();
        }
        if self.data.is_null() {
            return None;
        }
        T::deserialize(&self.data).ok()
    }

    /// Operators that select this socket alone, on whichever node it lives.
    fn select(&self) -> Option<BroadcastOperators> {
        let ns = self.ns.upgrade()?;
        Some(BroadcastOperators::new(ns).within(self.id))
    }

    /// Emits an event to this socket (Node's `remoteSocket.emit`).
    pub fn emit<T: serde::Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<(), EmitError> {
        match self.select() {
            Some(selected) => selected.emit(event, data),
            None => Err(EmitError::Disconnected),
        }
    }

    /// Makes this socket join rooms.
    pub fn join(&self, rooms: impl IntoRooms) -> Result<(), AdapterError> {
        match self.select() {
            Some(selected) => selected.join(rooms),
            None => Ok(()),
        }
    }

    /// Makes this socket leave rooms.
    pub fn leave(&self, rooms: impl IntoRooms) -> Result<(), AdapterError> {
        match self.select() {
            Some(selected) => selected.leave(rooms),
            None => Ok(()),
        }
    }

    /// Disconnects this socket (closing its connection with `close`).
    pub fn disconnect(&self, close: bool) -> Result<(), AdapterError> {
        match self.select() {
            Some(selected) => selected.disconnect(close),
            None => Ok(()),
        }
    }
}
