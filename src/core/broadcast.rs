//! Who a broadcast targets: rooms and broadcast options.

use std::borrow::Cow;

use crate::engine::Sid;

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

/// Room names, one or many.
///
/// ```
/// use tower_socketio::operators::IntoRooms;
///
/// assert_eq!("a".into_rooms().len(), 1);
/// assert_eq!(["a", "b"].into_rooms().len(), 2);
/// assert_eq!(vec![String::from("a")].into_rooms().len(), 1);
/// ```
pub trait IntoRooms {
    /// The rooms.
    fn into_rooms(self) -> Vec<Room>;
}

impl IntoRooms for &'static str {
    fn into_rooms(self) -> Vec<Room> {
        vec![Room::Borrowed(self)]
    }
}

impl IntoRooms for String {
    fn into_rooms(self) -> Vec<Room> {
        vec![Room::Owned(self)]
    }
}

impl IntoRooms for Room {
    fn into_rooms(self) -> Vec<Room> {
        vec![self]
    }
}

impl IntoRooms for Sid {
    fn into_rooms(self) -> Vec<Room> {
        vec![Room::Owned(self.to_string())]
    }
}

impl<T: IntoRooms> IntoRooms for Vec<T> {
    fn into_rooms(self) -> Vec<Room> {
        self.into_iter().flat_map(IntoRooms::into_rooms).collect()
    }
}

impl<T: IntoRooms, const N: usize> IntoRooms for [T; N] {
    fn into_rooms(self) -> Vec<Room> {
        self.into_iter().flat_map(IntoRooms::into_rooms).collect()
    }
}
