//! A selection of sockets for an emitter: rooms, exceptions, flags and attachments, then the
//! operation.

use bytes::Bytes;
use serde::Serialize;

use super::format::Operation;
use super::{EmitFuture, Emitter, event_data};
use crate::adapter::cluster::{WireFlags, WireOpts};
use crate::core::IntoRooms;

/// Which sockets an [`Emitter`] operation targets, and how (Node's emitter
/// `BroadcastOperator`). Each method returns the narrowed selection; an operation ends it.
///
/// ```no_run
/// # async fn f(emitter: tower_socketio::emitter::Emitter) -> Result<(), tower_socketio::emitter::EmitterError> {
/// // The sockets in "room1" or "room2" but not in "muted", of namespace "/chat":
/// emitter
///     .of("/chat")
///     .to(["room1", "room2"])
///     .except("muted")
///     .compress(false)
///     .emit("news", &("hello", 1))
///     .await?;
/// # Ok(()) }
/// ```
#[must_use = "operators do nothing until an operation (emit, sockets_join, ...) is awaited"]
#[derive(Debug, Clone)]
pub struct EmitterOperators {
    emitter: Emitter,
    rooms: Vec<String>,
    except: Vec<String>,
    volatile: bool,
    compress: Option<bool>,
    attachments: Vec<Bytes>,
}

/// Adds rooms not there yet: Node keeps them in a `Set`, so a room named twice is one room
/// (which decides the channel of a one-room broadcast).
fn add_rooms(to: &mut Vec<String>, rooms: impl IntoRooms) {
    for room in rooms.into_rooms() {
        if !to.iter().any(|r| *r == room) {
            to.push(room.into_owned());
        }
    }
}

impl EmitterOperators {
    pub(super) fn new(emitter: Emitter) -> Self {
        EmitterOperators {
            emitter,
            rooms: Vec::new(),
            except: Vec::new(),
            volatile: false,
            compress: None,
            attachments: Vec::new(),
        }
    }

    /// Targets the sockets in these rooms too (Node's `to`).
    pub fn to(mut self, rooms: impl IntoRooms) -> Self {
        add_rooms(&mut self.rooms, rooms);
        self
    }

    /// The same as [`to`](Self::to) (Node's `in`).
    pub fn within(self, rooms: impl IntoRooms) -> Self {
        self.to(rooms)
    }

    /// Leaves out the sockets in these rooms.
    pub fn except(mut self, rooms: impl IntoRooms) -> Self {
        add_rooms(&mut self.except, rooms);
        self
    }

    /// Lets servers drop the packet for clients that cannot take it right now.
    pub fn volatile(mut self) -> Self {
        self.volatile = true;
        self
    }

    /// Sets the compress flag (Node's `compress(bool)`: `false` is sent as such).
    pub fn compress(mut self, compress: bool) -> Self {
        self.compress = Some(compress);
        self
    }

    /// Attaches binary data; the emitted JSON refers to it with
    /// [`placeholder`](crate::placeholder)s.
    pub fn bin(mut self, attachments: impl IntoIterator<Item = impl Into<Bytes>>) -> Self {
        self.attachments
            .extend(attachments.into_iter().map(Into::into));
        self
    }

    /// The targets with the flags an emit carries.
    fn opts(&self, with_flags: bool) -> WireOpts {
        let flags = match with_flags {
            true => WireFlags {
                volatile: self.volatile.then_some(true),
                compress: self.compress,
                ..WireFlags::default()
            },
            false => WireFlags::default(),
        };
        WireOpts {
            rooms: self.rooms.clone(),
            except: self.except.clone(),
            flags,
        }
    }

    /// Emits to the selected sockets, on every node. `data` is the arguments: a tuple spreads
    /// into several, `()` is none, anything else is one.
    ///
    /// The message is encoded at once (a serialization error or a reserved event name shows up
    /// when the future is awaited) and sent when the future is awaited: it resolves once Redis
    /// took it.
    pub fn emit<T: Serialize + ?Sized>(self, event: &str, data: &T) -> EmitFuture {
        let opts = self.opts(true);
        let operation = event_data(event, data, self.attachments).map(|(data, attachments)| {
            Operation::Broadcast {
                data,
                attachments,
                opts,
            }
        });
        self.emitter.send(operation)
    }

    /// Makes the selected sockets, on every node, join `rooms`.
    pub fn sockets_join(self, rooms: impl IntoRooms) -> EmitFuture {
        let operation = Operation::Join {
            opts: self.opts(false),
            rooms: room_names(rooms),
        };
        self.emitter.send(Ok(operation))
    }

    /// Makes the selected sockets, on every node, leave `rooms`.
    pub fn sockets_leave(self, rooms: impl IntoRooms) -> EmitFuture {
        let operation = Operation::Leave {
            opts: self.opts(false),
            rooms: room_names(rooms),
        };
        self.emitter.send(Ok(operation))
    }

    /// Disconnects the selected sockets, on every node; with `close`, their connections are
    /// closed too.
    pub fn disconnect_sockets(self, close: bool) -> EmitFuture {
        let operation = Operation::Disconnect {
            opts: self.opts(false),
            close,
        };
        self.emitter.send(Ok(operation))
    }
}

fn room_names(rooms: impl IntoRooms) -> Vec<String> {
    rooms
        .into_rooms()
        .into_iter()
        .map(|r| r.into_owned())
        .collect()
}
