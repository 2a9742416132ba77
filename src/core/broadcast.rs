//! Who a broadcast targets: rooms and broadcast options.

use std::borrow::Cow;

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
