//! What the UI may do: emit, make sockets join or leave a room, disconnect them; on one socket
//! (the filter is its id, which is also a room), a room, or a whole namespace, on every node
//! through the adapter (Node's `socketsJoin`, `socketsLeave`, `disconnectSockets`).
//!
//! Arguments are read one by one with their types; a malformed action is logged and ignored.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::SocketIo;
use crate::extract::{Args, Bin, SocketRef};
use crate::operators::BroadcastOperators;

/// The features the actions make available (Socket.IO v4's: the `M` ones act on many sockets).
pub(crate) const FEATURES: [&str; 7] = [
    "EMIT",
    "JOIN",
    "LEAVE",
    "DISCONNECT",
    "MJOIN",
    "MLEAVE",
    "MDISCONNECT",
];

/// Registers the action handlers on an admin socket (not called for a read-only UI, whose
/// actions then reach no handler, as in Node).
pub(crate) fn register(socket: &SocketRef) {
    socket.on(
        "emit",
        |io: SocketIo, Args(args): Args, Bin(binary): Bin| {
            // emit(nsp, filter, event, ...args)
            let (Some(nsp), Some(event)) = (arg::<String>(&args, 0), arg::<String>(&args, 2))
            else {
                return tracing::debug!("Admin UI: malformed emit");
            };
            let Some(selected) = select(&io, &nsp, arg(&args, 1)) else {
                return;
            };
            let rest = Args(args.into_iter().skip(3).collect());
            if let Err(error) = selected.bin(binary).emit(&event, &rest) {
                tracing::debug!(%error, "Admin UI: emit failed");
            }
        },
    );
    socket.on("join", |io: SocketIo, Args(args): Args| {
        // join(nsp, room, filter?)
        let (Some(nsp), Some(room)) = (arg::<String>(&args, 0), arg::<String>(&args, 1)) else {
            return tracing::debug!("Admin UI: malformed join");
        };
        if let Some(selected) = select(&io, &nsp, arg(&args, 2))
            && let Err(error) = selected.join(room)
        {
            tracing::debug!(%error, "Admin UI: join failed");
        }
    });
    socket.on("leave", |io: SocketIo, Args(args): Args| {
        // leave(nsp, room, filter?)
        let (Some(nsp), Some(room)) = (arg::<String>(&args, 0), arg::<String>(&args, 1)) else {
            return tracing::debug!("Admin UI: malformed leave");
        };
        if let Some(selected) = select(&io, &nsp, arg(&args, 2))
            && let Err(error) = selected.leave(room)
        {
            tracing::debug!(%error, "Admin UI: leave failed");
        }
    });
    socket.on("_disconnect", |io: SocketIo, Args(args): Args| {
        // _disconnect(nsp, close, filter?)
        let Some(nsp) = arg::<String>(&args, 0) else {
            return tracing::debug!("Admin UI: malformed _disconnect");
        };
        let close = arg::<bool>(&args, 1).unwrap_or(false);
        if let Some(selected) = select(&io, &nsp, arg(&args, 2))
            && let Err(error) = selected.disconnect(close)
        {
            tracing::debug!(%error, "Admin UI: disconnect failed");
        }
    });
}

/// Argument `index` as a `T`; `None` when missing, `null` or of another type.
fn arg<T: DeserializeOwned>(args: &[Value], index: usize) -> Option<T> {
    args.get(index)
        .filter(|value| !value.is_null())
        .and_then(|value| T::deserialize(value).ok())
}

/// The sockets of namespace `nsp`, within the room `filter` when there is one. A namespace
/// that does not exist here has no socket to act on (Node would create it).
fn select(io: &SocketIo, nsp: &str, filter: Option<String>) -> Option<BroadcastOperators> {
    let all = io.of(nsp)?;
    Some(match filter {
        Some(room) if !room.is_empty() => all.within(room),
        _ => all,
    })
}
