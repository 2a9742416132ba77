//! A node's side of the cluster protocol, shared by every remote adapter: packets and sockets
//! to and from their wire form, and what a node does with another node's broadcast with ack or
//! server-side emit. Transports (Redis, PostgreSQL) only decide where the answers go.

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use serde_json::Value;

use super::codec as wire;
use super::requests::AckReply;
use super::{WireOpts, WirePacket, WireSocket};
use crate::adapter::{BroadcastOptions, BroadcastPacket, LocalAdapter, NamespaceHandle, Room};
use crate::core::SocketInfo;
use crate::core::ack::AckResponse;
use crate::engine::Sid;
use crate::extract::Args;
use crate::parser;

/// The `[event, ...args]` array of a packet from this crate.
pub(crate) fn packet_data(packet: &BroadcastPacket) -> Option<Vec<Value>> {
    match packet.data() {
        Ok(data) => Some(data),
        Err(err) => {
            tracing::warn!(error = %err, "broadcast arguments are not JSON; not sent to other nodes");
            None
        }
    }
}

/// The packet object this node sends other nodes: `{type: 2, data, nsp}` (the namespace too,
/// as the classic adapter and the emitters do, in every format).
pub(crate) fn wire_packet(nsp: &str, packet: &BroadcastPacket) -> Option<WirePacket> {
    Some(WirePacket {
        nsp: Some(nsp.to_owned()),
        ..WirePacket::event(packet_data(packet)?)
    })
}

/// The options of an operation; those of a broadcast with ack carry its timeout, in
/// milliseconds.
pub(crate) fn wire_opts(opts: &BroadcastOptions, timeout: Option<Duration>) -> WireOpts {
    let ms = timeout.map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX));
    WireOpts::from_options(opts, ms)
}

/// Room names as the wire carries them.
pub(crate) fn room_names(rooms: &[Room]) -> Vec<String> {
    rooms.iter().map(|r| r.to_string()).collect()
}

/// Rooms from their wire names.
pub(crate) fn rooms_of(names: &[String]) -> Vec<Room> {
    names.iter().map(|r| Room::Owned(r.clone())).collect()
}

/// The first argument of an answer, with its binary data as placeholders: what Node's ack
/// callback receives and forwards.
pub(crate) fn first_arg(response: &AckResponse) -> Option<Value> {
    response.args.first().cloned()
}

/// An answer from another node's client: its one argument (absent when it gave none).
pub(crate) fn ack_response(value: Option<Value>, attachments: Vec<Bytes>) -> AckResponse {
    AckResponse {
        args: value.into_iter().collect(),
        attachments,
    }
}

/// Another node's socket, as a fetch answer describes it.
pub(crate) fn remote_socket(socket: WireSocket) -> Option<SocketInfo> {
    let Ok(id) = socket.id.parse::<Sid>() else {
        tracing::debug!(
            id = socket.id,
            "ignoring a remote socket whose id is not a socket id"
        );
        return None;
    };
    Some(SocketInfo {
        id,
        rooms: rooms_of(&socket.rooms),
        handshake: socket.handshake,
        data: socket.data,
    })
}

/// The local sockets an operation targets, as fetch answers describe them (Node's shape:
/// `{id, handshake, rooms, data}`, the handshake with Node's `time` and `xdomain`).
pub(crate) fn local_sockets(local: &LocalAdapter, opts: &BroadcastOptions) -> Vec<WireSocket> {
    local
        .fetch_sockets(opts)
        .into_iter()
        .map(|socket| {
            let mut handshake = socket.handshake;
            if let Value::Object(map) = &mut handshake {
                let issued = map.get("issued").and_then(Value::as_i64).unwrap_or(0);
                let xdomain = map.get("headers").and_then(|h| h.get("origin")).is_some();
                map.insert("time".into(), Value::String(wire::js_date_string(issued)));
                map.insert("xdomain".into(), Value::Bool(xdomain));
            }
            WireSocket {
                id: socket.id.as_str().to_owned(),
                handshake,
                rooms: room_names(&socket.rooms),
                data: socket.data,
            }
        })
        .collect()
}

/// A packet from another node for the local receivers of namespace `ns` (its frames encoded
/// once, shared by all); recoverable when this node logs packets (`logs`) and it has no ack id.
/// `None` for a packet that is not an event.
pub(crate) fn remote_packet(
    ns: &NamespaceHandle,
    packet: &WirePacket,
    attachments: Vec<Bytes>,
    ack_id: Option<u64>,
    logs: bool,
) -> Option<BroadcastPacket> {
    // EVENT, or BINARY_EVENT from an old sender.
    if !matches!(packet.kind, 2 | 5) {
        return None;
    }
    let (event, args) = packet.data.split_first()?;
    let event = match event {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    let id = ack_id.or(packet.id);
    let args = parser::encode_args(&Args(args.to_vec()), attachments).ok()?;
    let recoverable = logs && id.is_none();
    Some(BroadcastPacket::new(
        event,
        args,
        id,
        recoverable,
        ns.parser(),
        ns.shared_name(),
    ))
}

/// Hands a server-side emit (`[event, ...args]`) to this node's listener; its answer, if it
/// gave one.
pub(crate) fn run_server_side(ns: &NamespaceHandle, mut args: Vec<Value>) -> Option<Value> {
    if args.is_empty() {
        return None;
    }
    let event = match args.remove(0) {
        Value::String(s) => s,
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    ns.on_server_side(&event, args).flatten()
}

/// Another node's broadcast with ack: delivers it with an ack id of this namespace, reports how
/// many clients got it, then forwards each answer as it comes (from a task, so the caller never
/// waits). Without a timeout in its flags, `default_timeout` applies.
pub(crate) fn broadcast_with_ack_from_node<F>(
    local: &LocalAdapter,
    packet: &WirePacket,
    opts: &WireOpts,
    attachments: Vec<Bytes>,
    default_timeout: Duration,
    reply: F,
) where
    F: Fn(AckReply) + Send + 'static,
{
    let timeout = opts
        .flags
        .timeout
        .map_or(default_timeout, Duration::from_millis);
    let opts = opts.to_options();
    let ns = local.namespace();
    let Some(ack_id) = ns.next_ack_id() else {
        return;
    };
    let Some(packet) = remote_packet(ns, packet, attachments, Some(ack_id), false) else {
        return tracing::warn!("ignoring a broadcast with ack whose packet is malformed");
    };
    let waiting = local.broadcast_with_ack_each(&packet, &opts, timeout);
    reply(AckReply::Count(waiting.len()));
    if waiting.is_empty() {
        return;
    }
    tokio::spawn(async move {
        let mut waiting: FuturesUnordered<_> = waiting.into_iter().collect();
        while let Some(answer) = waiting.next().await {
            if let Ok(response) = answer {
                reply(AckReply::Ack(response));
            }
        }
    });
}
