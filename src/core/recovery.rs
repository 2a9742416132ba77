//! Connection state recovery's options, and the rule every session store applies to decide
//! which logged packets a session missed.

use std::time::Duration;

use super::broadcast::{BroadcastOptions, Room};

/// Options of connection state recovery, with Node's defaults.
///
/// A client that reconnects within [`max_disconnection_duration`](Self::max_disconnection_duration)
/// gets back its socket id, its rooms, its data and every packet sent to it meanwhile. The
/// namespace's adapter keeps the sessions and the packet log: the default
/// [`MemoryAdapter`](crate::adapter::MemoryAdapter) in this node's memory, the Redis Streams
/// adapter in Redis, for every node.
///
/// ```
/// use std::time::Duration;
/// use tower_socketio::{ConnectionStateRecovery, SocketIo};
///
/// let io = SocketIo::builder()
///     .connection_state_recovery(ConnectionStateRecovery {
///         max_disconnection_duration: Duration::from_secs(60),
///         ..Default::default()
///     })
///     .build();
/// # let _ = io;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionStateRecovery {
    /// How long a disconnected socket may come back (default 2 minutes).
    pub max_disconnection_duration: Duration,
    /// Whether a recovered socket skips the connect middlewares (default true).
    pub skip_middlewares: bool,
    /// How many packets an in-memory log keeps at most, per namespace (default 10 000): past
    /// that, the oldest go first, and a client that missed them gets a fresh connection instead.
    pub max_packets: usize,
}

impl Default for ConnectionStateRecovery {
    fn default() -> Self {
        ConnectionStateRecovery {
            max_disconnection_duration: Duration::from_secs(120),
            skip_middlewares: true,
            max_packets: 10_000,
        }
    }
}

/// Node's `shouldIncludePacket`: whether a packet broadcast with `opts` (to every socket when
/// it names no room) reaches a session in `session_rooms`.
pub(crate) fn reaches(session_rooms: &[Room], opts: &BroadcastOptions) -> bool {
    reaches_rooms(session_rooms, &opts.rooms, &opts.except)
}

/// [`reaches`], with the rooms and exceptions apart (as a log entry keeps them).
pub(crate) fn reaches_rooms(session_rooms: &[Room], rooms: &[Room], except: &[Room]) -> bool {
    let included = rooms.is_empty() || session_rooms.iter().any(|r| rooms.contains(r));
    let excluded = session_rooms.iter().any(|r| except.contains(r));
    included && !excluded
}
