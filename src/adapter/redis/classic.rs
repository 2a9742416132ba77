//! The classic format (Node's `createAdapter`): broadcasts, requests and responses from other
//! nodes and emitters, and the answers this node gives.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::adapter::*;
use super::channels::*;
use super::requests::*;
use crate::adapter::cluster::codec::{self as wire, Decoded, encode};
use crate::adapter::{BroadcastOptions, Room};
use crate::core::sync::lock;
use crate::engine::Sid;

impl NsShared {
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
        let decoded = match wire::decode_msgpack(payload) {
            Ok(decoded) => decoded,
            Err(err) => {
                return tracing::warn!(channel, error = %err, "ignoring a malformed Redis broadcast");
            }
        };
        let Decoded { value, attachments } = decoded;
        let Value::Array(mut parts) = value else {
            return tracing::warn!(
                channel,
                "ignoring a Redis broadcast that is not [uid, packet, opts]"
            );
        };
        if parts.len() < 3 {
            return tracing::warn!(
                channel,
                "ignoring a Redis broadcast that is not [uid, packet, opts]"
            );
        }
        let opts = parts.pop().unwrap_or(Value::Null);
        let packet = parts.pop().unwrap_or(Value::Null);
        if parts.first().and_then(Value::as_str) == Some(self.uid.as_str()) {
            return;
        }
        let nsp = packet.get("nsp").map_or(Some("/"), Value::as_str);
        if nsp != Some(names.nsp.as_str()) {
            return tracing::debug!(channel, "ignoring a broadcast for another namespace");
        }
        let opts_value = opts;
        let opts = parse_opts(Some(&opts_value));
        let Some(packet) = self.remote_packet(names, &packet, attachments, None) else {
            return tracing::warn!(
                channel,
                "ignoring a Redis broadcast whose packet is malformed"
            );
        };
        self.local.broadcast(&packet, &opts);
    }

    pub(super) fn respond_classic(&self, names: &Names, request: &Value, response: Vec<u8>) {
        let channel = match request.get("uid").and_then(Value::as_str) {
            Some(uid) if self.driver.config.publish_on_specific_response_channel => {
                format!("{}{uid}#", names.response)
            }
            _ => names.response.clone(),
        };
        let _ = self.publish(channel, response);
    }

    pub(super) fn on_classic_request(
        self: &Arc<Self>,
        names: &Names,
        channel: &str,
        payload: &[u8],
    ) {
        let Some(Decoded {
            value: request,
            attachments,
        }) = decode_logged(channel, payload)
        else {
            return;
        };
        let Some(kind) = request.get("type").and_then(Value::as_u64) else {
            return tracing::warn!(channel, "ignoring a Redis request without a type");
        };
        let own = request.get("uid").and_then(Value::as_str) == Some(self.uid.as_str());
        if own {
            // Done locally already; answers to ourselves are not awaited.
            return;
        }
        let id = request_id(&request);
        match kind {
            classic::SOCKETS => {
                let opts = BroadcastOptions {
                    rooms: parse_rooms(request.get("rooms")),
                    ..Default::default()
                };
                let sockets: Vec<Value> = self
                    .local
                    .targets(&opts)
                    .into_iter()
                    .map(|sid| Value::String(sid.to_string()))
                    .collect();
                let response = json!({ "requestId": id, "sockets": sockets });
                self.respond_classic(names, &request, encode(&response, &[], false));
            }
            classic::ALL_ROOMS => {
                let rooms = rooms_json(&self.local.rooms());
                let response = json!({ "requestId": id, "rooms": rooms });
                self.respond_classic(names, &request, encode(&response, &[], false));
            }
            classic::REMOTE_JOIN | classic::REMOTE_LEAVE | classic::REMOTE_DISCONNECT => {
                if request.get("opts").is_some() {
                    let opts = parse_opts(request.get("opts"));
                    let rooms = parse_rooms(request.get("rooms"));
                    match kind {
                        classic::REMOTE_JOIN => self.add_sockets_local(&opts, &rooms),
                        classic::REMOTE_LEAVE => self.del_sockets_local(&opts, &rooms),
                        _ => {
                            let close = request.get("close").and_then(Value::as_bool) == Some(true);
                            self.local.disconnect_sockets(&opts, close);
                        }
                    }
                    return;
                }
                // The older, one-socket form: `{sid, room}` and an answer.
                let Some(sid) = request
                    .get("sid")
                    .and_then(Value::as_str)
                    .and_then(|s| s.parse::<Sid>().ok())
                else {
                    return;
                };
                let Some(socket) = self.ns.socket(sid) else {
                    return;
                };
                let room = request
                    .get("room")
                    .and_then(Value::as_str)
                    .map(|r| Room::Owned(r.into()));
                match (kind, room) {
                    (classic::REMOTE_JOIN, Some(room)) => self.add_all(sid, vec![room]),
                    (classic::REMOTE_LEAVE, Some(room)) => self.del(sid, &room),
                    (classic::REMOTE_DISCONNECT, _) => {
                        socket.disconnect(
                            request.get("close").and_then(Value::as_bool) == Some(true),
                        );
                    }
                    _ => return,
                }
                let response = json!({ "requestId": id });
                self.respond_classic(names, &request, encode(&response, &[], false));
            }
            classic::REMOTE_FETCH => {
                let opts = parse_opts(request.get("opts"));
                let sockets = self.local_sockets_json(&opts);
                let response = json!({ "requestId": id, "sockets": sockets });
                self.respond_classic(names, &request, encode(&response, &[], false));
            }
            classic::SERVER_SIDE_EMIT => {
                let Some(answer) = self.run_server_side(request.get("data")) else {
                    return;
                };
                if id.is_none() {
                    return;
                }
                // Node always answers server-side emits on the shared response channel.
                let response = json!({
                    "type": classic::SERVER_SIDE_EMIT,
                    "requestId": id,
                    "data": answer,
                });
                let _ = self.publish(names.response.clone(), encode(&response, &[], false));
            }
            classic::BROADCAST => {
                let Some(id) = id else {
                    return tracing::warn!(
                        channel,
                        "ignoring a broadcast with ack without requestId"
                    );
                };
                if lock(&self.ack_requests).contains_key(&id) {
                    return;
                }
                let requester = request
                    .get("uid")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                let names_response = match requester {
                    Some(uid) if self.driver.config.publish_on_specific_response_channel => {
                        format!("{}{uid}#", names.response)
                    }
                    _ => names.response.clone(),
                };
                self.on_broadcast_with_ack(
                    names,
                    &request,
                    attachments,
                    move |shared: &NsShared, event: AckReply| {
                        let message = match event {
                            AckReply::Count(count) => encode(
                                &json!({
                                    "type": classic::BROADCAST_CLIENT_COUNT,
                                    "requestId": id,
                                    "clientCount": count,
                                }),
                                &[],
                                false,
                            ),
                            AckReply::Ack(response) => {
                                let mut map = Map::new();
                                map.insert("type".into(), classic::BROADCAST_ACK.into());
                                map.insert("requestId".into(), Value::String(id.clone()));
                                if let Some(arg) = first_arg(&response) {
                                    map.insert("packet".into(), arg);
                                }
                                encode(&Value::Object(map), &response.attachments, true)
                            }
                        };
                        let _ = shared.publish(names_response.clone(), message);
                    },
                );
            }
            other => tracing::debug!(
                channel,
                kind = other,
                "ignoring an unknown Redis request type"
            ),
        }
    }

    pub(super) fn on_classic_response(&self, channel: &str, payload: &[u8]) {
        let Some(Decoded {
            value: response,
            attachments,
        }) = decode_logged(channel, payload)
        else {
            return;
        };
        let Some(id) = request_id(&response) else {
            return tracing::debug!(channel, "ignoring a Redis response without requestId");
        };
        let ack = lock(&self.ack_requests).get(&id).cloned();
        if let Some(ack) = ack {
            let event = match response.get("type").and_then(Value::as_u64) {
                Some(classic::BROADCAST_CLIENT_COUNT) => {
                    let count = response
                        .get("clientCount")
                        .and_then(Value::as_u64)
                        .unwrap_or(0);
                    AckEvent::ClientCount(usize::try_from(count).unwrap_or(0))
                }
                Some(classic::BROADCAST_ACK) => {
                    AckEvent::Ack(ack_response(response.get("packet").cloned(), attachments))
                }
                _ => return,
            };
            let _ = ack.send(event);
            return;
        }
        let value = match lock(&self.requests).get(&id).map(|p| p.kind) {
            Some(PendingKind::Sockets) => response.get("sockets").cloned(),
            Some(PendingKind::Rooms) => response.get("rooms").cloned(),
            Some(PendingKind::ServerSide) => {
                Some(response.get("data").cloned().unwrap_or(Value::Null))
            }
            None => return,
        };
        self.answer(&id, value);
    }
}
