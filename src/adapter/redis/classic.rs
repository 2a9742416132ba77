//! The classic format (Node's `createAdapter`, and the Redis emitter): broadcasts, requests and
//! responses from other nodes and emitters, decoded into the
//! [`cluster::classic`](crate::adapter::cluster::classic) types, and the answers this node gives.

use std::sync::Arc;

use serde_json::Value;

use super::adapter::{NsShared, ack_response, first_arg, room_names, rooms_of, typed_logged};
use super::channels::Names;
use super::requests::{AckEvent, AckReply, Answer, PendingKind};
use crate::adapter::cluster::classic::{
    ClassicBroadcast, ClassicRequest, ClassicResponse, Request, RequestType, Target,
};
use crate::adapter::cluster::codec::{self, Decoded, encode};
use crate::adapter::cluster::{ClusterError, WireOpts};
use crate::adapter::{BroadcastOptions, Room};
use crate::core::sync::lock;
use crate::engine::Sid;

/// A join, leave or disconnect request, whichever it is.
enum Change {
    Join(Vec<String>),
    Leave(Vec<String>),
    Disconnect(bool),
}

impl NsShared {
    /// A broadcast on `<prefix>#<nsp>#` (`rest` empty) or on a room's channel.
    pub(super) fn on_classic_broadcast(
        &self,
        names: &Names,
        channel: &str,
        rest: &str,
        payload: &[u8],
    ) {
        let room = rest.strip_suffix('#').unwrap_or(rest);
        if !room.is_empty() && !self.local.has_room(room) {
            return tracing::trace!(room, "ignoring a broadcast to a room with no member here");
        }
        let Decoded { value, attachments } = match codec::decode_msgpack(payload) {
            Ok(decoded) => decoded,
            Err(err) => {
                return tracing::warn!(channel, error = %err, "ignoring a malformed Redis broadcast");
            }
        };
        let broadcast = serde_json::from_value::<ClassicBroadcast>(value);
        let Some(ClassicBroadcast(uid, packet, opts)) =
            typed_logged(channel, broadcast.map_err(ClusterError::Shape))
        else {
            return;
        };
        if uid == self.uid {
            return;
        }
        if packet.nsp.as_deref().unwrap_or("/") != names.nsp {
            return tracing::debug!(channel, "ignoring a broadcast for another namespace");
        }
        let Some(packet) = self.remote_packet(names, &packet, attachments, None) else {
            return tracing::warn!(
                channel,
                "ignoring a Redis broadcast whose packet is malformed"
            );
        };
        self.deliver_local(&packet, &opts.to_options());
    }

    /// The channel answers to node `requester` go to.
    fn response_channel(&self, names: &Names, requester: Option<&str>) -> String {
        match requester {
            Some(uid) if self.driver.config().publish_on_specific_response_channel => {
                format!("{}{uid}#", names.response)
            }
            _ => names.response.clone(),
        }
    }

    fn respond_classic(&self, names: &Names, requester: Option<&str>, response: ClassicResponse) {
        let channel = self.response_channel(names, requester);
        let _ = self.publish(channel, encode(&response.to_value(), &[], false));
    }

    /// A request on `<prefix>-request#<nsp>#`.
    pub(super) fn on_classic_request(
        self: &Arc<Self>,
        names: &Names,
        channel: &str,
        payload: &[u8],
    ) {
        let Some(Decoded { value, attachments }) = super::adapter::decode_logged(channel, payload)
        else {
            return;
        };
        let Some(ClassicRequest { uid, request }) =
            typed_logged(channel, ClassicRequest::from_value(value))
        else {
            return;
        };
        if uid.as_deref() == Some(self.uid.as_str()) {
            // Done locally already; answers to ourselves are not awaited.
            return;
        }
        let requester = uid.as_deref();
        match request {
            Request::Sockets { request_id, rooms } => {
                let opts = BroadcastOptions {
                    rooms: rooms_of(&rooms),
                    ..Default::default()
                };
                let sockets = self
                    .local
                    .targets(&opts)
                    .into_iter()
                    .map(|sid| Value::String(sid.to_string()))
                    .collect();
                let response = ClassicResponse {
                    request_id,
                    sockets: Some(Value::Array(sockets)),
                    ..Default::default()
                };
                self.respond_classic(names, requester, response);
            }
            Request::AllRooms { request_id } => {
                let response = ClassicResponse {
                    request_id,
                    rooms: Some(room_names(&self.local.rooms())),
                    ..Default::default()
                };
                self.respond_classic(names, requester, response);
            }
            Request::Join { target, rooms } => {
                self.on_classic_change(names, requester, target, Change::Join(rooms));
            }
            Request::Leave { target, rooms } => {
                self.on_classic_change(names, requester, target, Change::Leave(rooms));
            }
            Request::Disconnect { target, close } => {
                self.on_classic_change(names, requester, target, Change::Disconnect(close));
            }
            Request::Fetch { request_id, opts } => {
                let sockets = self.local_sockets(&opts.to_options());
                let response = ClassicResponse {
                    request_id,
                    sockets: serde_json::to_value(sockets).ok(),
                    ..Default::default()
                };
                self.respond_classic(names, requester, response);
            }
            Request::ServerSideEmit { request_id, data } => {
                let Some(answer) = self.run_server_side(data) else {
                    return;
                };
                let Some(request_id) = request_id else {
                    return;
                };
                // Node always answers server-side emits on the shared response channel.
                let response = ClassicResponse {
                    kind: Some(RequestType::ServerSideEmit as u64),
                    request_id,
                    data: Some(answer),
                    ..Default::default()
                };
                let _ = self.publish(
                    names.response.clone(),
                    encode(&response.to_value(), &[], false),
                );
            }
            Request::Broadcast {
                request_id,
                packet,
                opts,
            } => {
                if lock(&self.ack_requests).contains_key(&request_id) {
                    return;
                }
                let channel = self.response_channel(names, requester);
                let reply = move |shared: &NsShared, event: AckReply| {
                    let message = match event {
                        AckReply::Count(count) => {
                            let response = ClassicResponse {
                                kind: Some(RequestType::BroadcastClientCount as u64),
                                request_id: request_id.clone(),
                                client_count: Some(u64::try_from(count).unwrap_or(u64::MAX)),
                                ..Default::default()
                            };
                            encode(&response.to_value(), &[], false)
                        }
                        AckReply::Ack(answer) => {
                            let response = ClassicResponse {
                                kind: Some(RequestType::BroadcastAck as u64),
                                request_id: request_id.clone(),
                                packet: first_arg(&answer),
                                ..Default::default()
                            };
                            encode(&response.to_value(), &answer.attachments, true)
                        }
                    };
                    let _ = shared.publish(channel.clone(), message);
                };
                self.on_broadcast_with_ack(names, &packet, &opts, attachments, reply);
            }
        }
    }

    /// A join, leave or disconnect: of every socket the options select, or, in the shape of
    /// adapters before 7.x, of one socket, answered by the node that has it.
    fn on_classic_change(
        &self,
        names: &Names,
        requester: Option<&str>,
        target: Target,
        change: Change,
    ) {
        let (request_id, sid) = match target {
            Target::Opts(opts) => return self.change_local(&opts, change),
            Target::Socket { request_id, sid } => (request_id, sid),
        };
        let Ok(sid) = sid.parse::<Sid>() else {
            return;
        };
        if !self.ns.contains(sid) {
            return;
        }
        match change {
            Change::Join(rooms) => self.add_all(sid, rooms_of(&rooms)),
            Change::Leave(rooms) => {
                for room in rooms {
                    self.del(sid, &Room::Owned(room));
                }
            }
            Change::Disconnect(close) => self.ns.disconnect(&[sid], close),
        }
        let response = ClassicResponse {
            request_id,
            ..Default::default()
        };
        self.respond_classic(names, requester, response);
    }

    fn change_local(&self, opts: &WireOpts, change: Change) {
        let opts = opts.to_options();
        match change {
            Change::Join(rooms) => self.add_sockets_local(&opts, &rooms_of(&rooms)),
            Change::Leave(rooms) => self.del_sockets_local(&opts, &rooms_of(&rooms)),
            Change::Disconnect(close) => self.local.disconnect_sockets(&opts, close),
        }
    }

    /// A response on `<prefix>-response#<nsp>#` (or this node's own response channel): read
    /// according to the request it answers, found by `requestId`.
    pub(super) fn on_classic_response(&self, channel: &str, payload: &[u8]) {
        let Some(Decoded { value, attachments }) = super::adapter::decode_logged(channel, payload)
        else {
            return;
        };
        let Some(response) = typed_logged(channel, ClassicResponse::from_value(value)) else {
            return;
        };
        let id = response.request_id.as_str();
        let ack = match response.kind {
            Some(k) if k == RequestType::BroadcastClientCount as u64 => {
                let count = response.client_count.unwrap_or(0);
                Some(AckEvent::ClientCount(usize::try_from(count).unwrap_or(0)))
            }
            Some(k) if k == RequestType::BroadcastAck as u64 => Some(AckEvent::Ack(ack_response(
                response.packet.clone(),
                attachments,
            ))),
            _ => None,
        };
        if lock(&self.ack_requests).contains_key(id) {
            if let Some(event) = ack {
                self.ack_event(id, event);
            }
            return;
        }
        let answer = match self.pending_kind(id) {
            Some(PendingKind::Sockets) => match response.fetched_sockets() {
                Ok(sockets) => Answer::Sockets(sockets),
                Err(err) => {
                    tracing::debug!(channel, error = %err, "a fetch answer without valid sockets");
                    Answer::Malformed
                }
            },
            Some(PendingKind::Rooms) => response
                .rooms
                .clone()
                .map_or(Answer::Malformed, Answer::Rooms),
            Some(PendingKind::ServerSide) => {
                Answer::Value(response.data.clone().unwrap_or(Value::Null))
            }
            None => return,
        };
        self.answer(id, answer);
    }
}
