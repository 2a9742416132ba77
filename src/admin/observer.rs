//! What the Admin UI hears from the server's observation points (see `crate::observe`), and the
//! task that tells the admin namespace about it.
//!
//! The observation points sit on hot paths and some run under a caller's lock (a broadcast
//! recorded for recovery is delivered under the log's lock), so the observer only counts
//! (under a short lock of its own) and queues notices; a task of its own turns them into
//! events for the admin namespace, in the order they happened. The queue is bounded: when the
//! UI's task cannot keep up, notices are dropped and counted (it is a monitoring view).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::SystemTime;

use bytes::Bytes;
use serde_json::Value;
use tokio::sync::mpsc;

use super::Settings;
use super::stats::{EventBuffer, Traffic};
use super::wire::{
    AdminMeta, AggregatedEvent, SerializedHandshake, SerializedSocket, SocketUpdate, annotate_data,
    split_data,
};
use crate::adapter::Room;
use crate::core::observe::AdapterObserver;
use crate::core::sync::lock;
use crate::core::time::iso8601;
use crate::engine::observe::EngineObserver;
use crate::engine::{CloseReason, Sid, TransportKind};
use crate::io::ServerCore;
use crate::observe::SocketObserver;
use crate::operators::BroadcastOperators;
use crate::parser::EncodedArgs;
use crate::socket::{DisconnectReason, Socket, SocketRef};
use crate::{RemoteSocket, SocketIo};

/// Notices waiting for the task, at most.
const NOTICE_QUEUE: usize = 8_192;

/// Something the UI is told about, as it happened.
pub(crate) enum Notice {
    Connected(SocketRef, SystemTime),
    Disconnected {
        nsp: String,
        id: Sid,
        reason: &'static str,
        at: SystemTime,
    },
    Room {
        joined: bool,
        nsp: String,
        room: Room,
        id: Sid,
        at: SystemTime,
    },
    Updated(SocketUpdate),
    Received {
        nsp: String,
        id: Sid,
        args: Vec<Value>,
        binary: Vec<Bytes>,
        at: SystemTime,
    },
    Sent {
        nsp: String,
        ids: Vec<Sid>,
        event: String,
        args: EncodedArgs,
        at: SystemTime,
    },
}

/// The Admin UI's observer: counters for `server_stats`, notices for everything else.
pub(crate) struct AdminObserver {
    settings: Arc<Settings>,
    events: Mutex<EventBuffer>,
    traffic: Traffic,
    polling: AtomicUsize,
    notices: mpsc::Sender<Notice>,
    dropped: AtomicU64,
}

impl AdminObserver {
    pub(crate) fn new(settings: Arc<Settings>) -> (Self, mpsc::Receiver<Notice>) {
        let (notices, receiver) = mpsc::channel(NOTICE_QUEUE);
        let observer = AdminObserver {
            settings,
            events: Mutex::new(EventBuffer::default()),
            traffic: Traffic::default(),
            polling: AtomicUsize::new(0),
            notices,
            dropped: AtomicU64::new(0),
        };
        (observer, receiver)
    }

    /// Sessions on long-polling now.
    pub(crate) fn polling_clients(&self) -> usize {
        self.polling.load(Ordering::Relaxed)
    }

    /// Moves the traffic counted so far into the aggregated events.
    pub(crate) fn flush_traffic(&self) {
        self.traffic.flush_into(&mut lock(&self.events));
    }

    /// The aggregated events since the last call.
    pub(crate) fn take_events(&self) -> Vec<AggregatedEvent> {
        lock(&self.events).take()
    }

    fn one_fewer_polling(&self) {
        let _ = self
            .polling
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }

    /// Whether per-socket notices are wanted for namespace `ns`: in development mode; events
    /// of the admin namespace itself are left out (they would report themselves forever).
    fn watches_events_of(&self, ns: &str) -> bool {
        self.settings.development && ns != self.settings.namespace
    }

    fn notify(&self, notice: Notice) {
        if self.notices.try_send(notice).is_err() {
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if dropped.is_power_of_two() {
                tracing::warn!(dropped, "Admin UI: notices dropped, the UI cannot keep up");
            }
        }
    }
}

impl EngineObserver for AdminObserver {
    fn session_opened(&self, transport: TransportKind) {
        lock(&self.events).push("rawConnection", None, 1);
        if transport == TransportKind::Polling {
            self.polling.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn session_upgraded(&self) {
        self.one_fewer_polling();
    }

    fn session_closed(&self, transport: TransportKind, reason: CloseReason) {
        lock(&self.events).push("rawDisconnection", Some(reason.as_str()), 1);
        if transport == TransportKind::Polling {
            self.one_fewer_polling();
        }
    }

    fn message_in(&self, bytes: usize) {
        self.traffic.count_in(bytes);
    }

    fn messages_out(&self, count: usize, bytes: usize) {
        self.traffic.count_out(count, bytes);
    }
}

impl AdapterObserver for AdminObserver {
    fn room_joined(&self, ns: &str, room: &Room, sid: Sid) {
        self.room_changed(true, ns, room, sid);
    }

    fn room_left(&self, ns: &str, room: &Room, sid: Sid) {
        self.room_changed(false, ns, room, sid);
    }

    fn event_delivered(&self, ns: &str, sids: &[Sid], event: &str, args: &EncodedArgs) {
        if self.watches_events_of(ns) {
            self.notify(Notice::Sent {
                nsp: ns.to_owned(),
                ids: sids.to_vec(),
                event: event.to_owned(),
                args: args.clone(),
                at: SystemTime::now(),
            });
        }
    }
}

impl AdminObserver {
    fn room_changed(&self, joined: bool, ns: &str, room: &Room, sid: Sid) {
        if self.settings.development {
            self.notify(Notice::Room {
                joined,
                nsp: ns.to_owned(),
                room: room.clone(),
                id: sid,
                at: SystemTime::now(),
            });
        }
    }
}

impl SocketObserver for AdminObserver {
    fn socket_connected(&self, socket: &SocketRef) {
        if self.settings.development {
            self.notify(Notice::Connected(socket.clone(), SystemTime::now()));
        }
    }

    fn socket_disconnected(&self, socket: &SocketRef, reason: DisconnectReason) {
        if self.settings.development {
            self.notify(Notice::Disconnected {
                nsp: socket.ns().to_owned(),
                id: socket.id(),
                reason: reason.as_str(),
                at: SystemTime::now(),
            });
        }
    }

    fn event_received(&self, socket: &SocketRef, event: &str, args: &[Value], binary: &[Bytes]) {
        if self.watches_events_of(socket.ns()) {
            let mut all = Vec::with_capacity(args.len() + 1);
            all.push(Value::String(event.to_owned()));
            all.extend_from_slice(args);
            self.notify(Notice::Received {
                nsp: socket.ns().to_owned(),
                id: socket.id(),
                args: all,
                binary: binary.to_vec(),
                at: SystemTime::now(),
            });
        }
    }

    fn event_sent(&self, socket: &SocketRef, event: &str, args: &EncodedArgs) {
        if self.watches_events_of(socket.ns()) {
            self.notify(Notice::Sent {
                nsp: socket.ns().to_owned(),
                ids: vec![socket.id()],
                event: event.to_owned(),
                args: args.clone(),
                at: SystemTime::now(),
            });
        }
    }

    fn data_changed(&self, socket: &Socket) {
        if self.settings.development {
            self.notify(Notice::Updated(SocketUpdate {
                id: socket.id().to_string(),
                nsp: socket.ns().to_owned(),
                transport: None,
                data: Some(split_data(socket.data_value()).0),
            }));
        }
    }

    fn transport_upgraded(&self, socket: &SocketRef) {
        if self.settings.development {
            self.notify(Notice::Updated(SocketUpdate {
                id: socket.id().to_string(),
                nsp: socket.ns().to_owned(),
                transport: Some(TransportKind::WebSocket.as_str()),
                data: None,
            }));
        }
    }

    fn describe_data(&self, socket: &Socket, data: Value) -> Value {
        if !self.settings.development {
            return data;
        }
        annotate_data(data, &admin_meta(socket))
    }
}

/// What the UI shows of a socket's connection.
fn admin_meta(socket: &Socket) -> AdminMeta {
    let sid = socket.session().sid().to_string();
    AdminMeta {
        client_id: sid.chars().take(12).collect(),
        transport: socket.session().transport().as_str().to_owned(),
    }
}

/// A socket of this node as the UI lists it.
pub(crate) fn serialize_local(socket: &Socket) -> SerializedSocket {
    let meta = admin_meta(socket);
    SerializedSocket {
        id: socket.id().to_string(),
        client_id: Some(meta.client_id),
        transport: Some(meta.transport),
        nsp: socket.ns().to_owned(),
        data: split_data(socket.data_value()).0,
        handshake: SerializedHandshake::from_reported(&socket.handshake().node_json()),
        rooms: socket.rooms().iter().map(|r| r.to_string()).collect(),
    }
}

/// A socket of another node, as that node described it.
fn serialize_remote(socket: &RemoteSocket, nsp: &str) -> SerializedSocket {
    let (data, meta) = split_data(socket.data::<Value>().unwrap_or(Value::Null));
    SerializedSocket {
        id: socket.id.to_string(),
        client_id: meta.as_ref().map(|m| m.client_id.clone()),
        transport: meta.map(|m| m.transport),
        nsp: nsp.to_owned(),
        data,
        handshake: SerializedHandshake::from_reported(&socket.handshake),
        rooms: socket.rooms.iter().map(|r| r.to_string()).collect(),
    }
}

/// Every socket of every namespace, on every node (Node's `fetchAllSockets`). A namespace
/// whose fetch fails (another node timed out) is left out and logged.
pub(crate) async fn all_sockets(io: &SocketIo) -> Vec<SerializedSocket> {
    let fetches = io.0.namespaces().into_iter().map(|ns| async move {
        let name = ns.name.clone();
        match BroadcastOperators::new(ns).fetch_sockets().await {
            Ok(sockets) => sockets
                .iter()
                .map(|socket| match &socket.local {
                    Some(local) => serialize_local(local),
                    None => serialize_remote(socket, &name),
                })
                .collect(),
            Err(error) => {
                tracing::warn!(ns = %name, %error, "Admin UI: sockets not fetched");
                Vec::new()
            }
        }
    });
    futures_util::future::join_all(fetches)
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// Turns notices into events for the admin namespace until the server is gone.
pub(crate) async fn forward_notices(
    core: Weak<ServerCore>,
    settings: Arc<Settings>,
    mut notices: mpsc::Receiver<Notice>,
) {
    while let Some(notice) = notices.recv().await {
        let Some(core) = core.upgrade() else {
            return;
        };
        let io = SocketIo::from_core(core);
        if let Err(error) = forward(&io, &settings.namespace, notice) {
            tracing::debug!(%error, "Admin UI: event not sent");
        }
    }
}

fn forward(io: &SocketIo, admin: &str, notice: Notice) -> Result<(), crate::EmitError> {
    let Some(to_admins) = io.of(admin) else {
        return Ok(());
    };
    match notice {
        Notice::Connected(socket, at) => {
            to_admins.emit("socket_connected", &(serialize_local(&socket), iso8601(at)))
        }
        Notice::Disconnected {
            nsp,
            id,
            reason,
            at,
        } => to_admins.emit(
            "socket_disconnected",
            &(nsp, id.to_string(), reason, iso8601(at)),
        ),
        Notice::Room {
            joined,
            nsp,
            room,
            id,
            at,
        } => {
            let event = if joined { "room_joined" } else { "room_left" };
            to_admins.emit(event, &(nsp, room.to_string(), id.to_string(), iso8601(at)))
        }
        Notice::Updated(update) => to_admins.emit("socket_updated", &update),
        Notice::Received {
            nsp,
            id,
            args,
            binary,
            at,
        } => to_admins
            .bin(binary)
            .emit("event_received", &(nsp, id.to_string(), args, iso8601(at))),
        Notice::Sent {
            nsp,
            ids,
            event,
            args,
            at,
        } => {
            let mut all: Vec<Value> = serde_json::from_str(&format!("[{}]", args.json))?;
            all.insert(0, Value::String(event));
            let at = iso8601(at);
            for id in ids {
                io.of(admin)
                    .map(|ops| ops.bin(args.attachments.iter().cloned()))
                    .map(|ops| ops.emit("event_sent", &(&nsp, id.to_string(), &all, &at)))
                    .transpose()?;
            }
            Ok(())
        }
    }
}
