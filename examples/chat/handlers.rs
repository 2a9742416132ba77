//! The chat's Socket.IO handlers: names, rooms, messages with acknowledgements, typing notices,
//! and what happens when a connection drops and comes back.
//!
//! Every event the page receives carries one object: with connection state recovery on, a
//! broadcast's last argument is its offset (a string), and objects keep the two apart.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tower_socketio::extract::{AckSender, Data, SocketRef, State};
use tower_socketio::{DisconnectReason, SocketIo};

/// The rooms the page offers.
pub const ROOMS: [&str; 3] = ["general", "rust", "random"];

/// How many sockets are connected, for the header's "N online".
#[derive(Clone, Default)]
pub struct Online(Arc<AtomicUsize>);

/// Who a socket is and where it talks: kept in the socket's extensions, so a recovered socket
/// gets it back with its rooms.
#[derive(Clone)]
struct Member {
    name: String,
    room: &'static str,
}

/// `join`: the page asks for a name and a room (also to switch rooms).
#[derive(Deserialize)]
struct JoinRequest {
    name: String,
    room: String,
}

/// The answer to `join`, also sent as a `room` event.
#[derive(Serialize)]
struct Joined<'a> {
    name: &'a str,
    room: &'a str,
}

/// `say`: a message from the page.
#[derive(Deserialize)]
struct Said {
    text: String,
}

/// A message, as the other members of the room receive it.
#[derive(Serialize)]
struct Message<'a> {
    from: &'a str,
    text: &'a str,
    /// Milliseconds since the Unix epoch, as the server received it.
    at: u64,
}

/// A notice about someone: joined, left, went offline, came back, is typing.
#[derive(Serialize)]
struct Notice<'a> {
    name: &'a str,
    room: &'a str,
}

/// The header's count.
#[derive(Serialize)]
struct Count {
    online: usize,
}

/// Runs for every connection, a recovered one included (`socket.recovered()`), as in Node.
pub fn on_connect(socket: SocketRef, State(online): State<Online>, io: SocketIo) {
    let count = online.0.fetch_add(1, Ordering::SeqCst) + 1;
    io.emit("online", &Count { online: count }).ok();
    if socket.recovered() {
        // Same id, rooms and member data as before the drop; what the room said meanwhile is
        // replayed to the page by the server, after this handler.
        if let Some(member) = socket.extension::<Member>() {
            notify(&socket, "back", &member);
        }
    }

    socket.on("join", on_join);
    socket.on("say", on_say);
    socket.on("typing", |socket: SocketRef| {
        if let Some(member) = socket.extension::<Member>() {
            // A lost typing notice does no harm: volatile, and never replayed.
            let notice = Notice {
                name: &member.name,
                room: member.room,
            };
            socket
                .to(member.room)
                .volatile()
                .emit("typing", &notice)
                .ok();
        }
    });
    socket.on_disconnect(on_disconnect);
}

/// Takes a name and a room, leaving the room the socket was in.
fn on_join(socket: SocketRef, Data(request): Data<JoinRequest>, ack: AckSender) {
    let name: String = request.name.trim().chars().take(32).collect();
    let name = if name.is_empty() {
        "anonymous".to_owned()
    } else {
        name
    };
    let room = ROOMS
        .into_iter()
        .find(|r| *r == request.room)
        .unwrap_or(ROOMS[0]);
    if let Some(before) = socket.extension::<Member>() {
        socket.leave(before.room);
        notify(&socket, "left", &before);
    }
    let member = Member { name, room };
    socket.join(room);
    socket.insert_extension(member.clone());
    let joined = Joined {
        name: &member.name,
        room,
    };
    ack.send(&joined).ok();
    // Also as an event: its recovery offset is later than anything this room said before the
    // socket was in it, so a recovery replays only what the room said since.
    socket.emit("room", &joined).ok();
    notify(&socket, "joined", &member);
}

/// Sends a message to the others in the room; the acknowledgement tells the page it arrived.
fn on_say(socket: SocketRef, Data(said): Data<Said>, ack: AckSender) {
    let Some(member) = socket.extension::<Member>() else {
        return;
    };
    let text: String = said.text.chars().take(2000).collect();
    let at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    socket
        .to(member.room)
        .emit(
            "said",
            &Message {
                from: &member.name,
                text: &text,
                at,
            },
        )
        .ok();
    ack.send(&at).ok();
}

fn on_disconnect(
    socket: SocketRef,
    reason: DisconnectReason,
    State(online): State<Online>,
    io: SocketIo,
) {
    let count = online.0.fetch_sub(1, Ordering::SeqCst).saturating_sub(1);
    io.emit("online", &Count { online: count }).ok();
    if let Some(member) = socket.extension::<Member>() {
        // A dropped connection may come back with its session: "offline", not "left".
        let event = if reason.is_recoverable() {
            "offline"
        } else {
            "left"
        };
        notify(&socket, event, &member);
    }
    tracing::info!(socket = %socket.id(), %reason, "disconnected");
}

/// Tells the others in the member's room.
fn notify(socket: &SocketRef, event: &str, member: &Member) {
    let notice = Notice {
        name: &member.name,
        room: member.room,
    };
    socket.to(member.room).emit(event, &notice).ok();
}
