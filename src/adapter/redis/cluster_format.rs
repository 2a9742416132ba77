//! The cluster format (socket.io-adapter's `ClusterAdapter` envelopes), as the sharded adapter
//! and the streams adapter carry them: messages from other nodes, and this node's answers.

use std::sync::Arc;

use bytes::Bytes;
use serde_json::{Map, Value, json};

use super::adapter::*;
use super::channels::*;
use super::requests::*;
use crate::adapter::cluster::codec::{self as wire, Decoded, encode};
use crate::core::sync::lock;

impl NsShared {
    pub(super) fn respond_cluster(
        &self,
        names: &Names,
        requester: &str,
        kind: u64,
        data: Value,
        attachments: &[Bytes],
    ) {
        let message = self.cluster_message(&names.nsp, kind, data);
        let binary = self.always_msgpack()
            || matches!(
                kind,
                cluster::BROADCAST_ACK
                    | cluster::FETCH_SOCKETS_RESPONSE
                    | cluster::SERVER_SIDE_EMIT_RESPONSE
            ) && wire::has_binary(&message, attachments);
        let _ = self.publish(
            format!("{}{requester}#", names.channel),
            encode(&message, attachments, binary),
        );
    }

    pub(super) fn on_cluster_message(
        self: &Arc<Self>,
        names: &Names,
        message: Decoded,
        offset: Option<&str>,
    ) {
        let Decoded {
            value: message,
            attachments,
        } = message;
        let Some(uid) = message.get("uid").and_then(Value::as_str) else {
            return tracing::warn!("ignoring a Redis cluster message without uid");
        };
        if uid == self.uid {
            return;
        }
        if message.get("nsp").and_then(Value::as_str) != Some(names.nsp.as_str()) {
            return tracing::debug!("ignoring a Redis cluster message for another namespace");
        }
        let data = message.get("data");
        let Some(kind) = message.get("type").and_then(Value::as_u64) else {
            return tracing::warn!("ignoring a Redis cluster message without type");
        };
        match kind {
            cluster::BROADCAST => {
                let Some(data) = data else { return };
                if let Some(id) = request_id(data) {
                    let requester = uid.to_owned();
                    let nsp = names.nsp.clone();
                    let channel = names.channel.clone();
                    self.on_broadcast_with_ack(names, data, attachments, move |shared, event| {
                        let (kind, data, attachments) = match event {
                            AckReply::Count(count) => (
                                cluster::BROADCAST_CLIENT_COUNT,
                                json!({ "requestId": id, "clientCount": count }),
                                Vec::new(),
                            ),
                            AckReply::Ack(response) => {
                                let mut map = Map::new();
                                map.insert("requestId".into(), Value::String(id.clone()));
                                if let Some(arg) = first_arg(&response) {
                                    map.insert("packet".into(), arg);
                                }
                                (
                                    cluster::BROADCAST_ACK,
                                    Value::Object(map),
                                    response.attachments,
                                )
                            }
                        };
                        let message = shared.cluster_message(&nsp, kind, data);
                        let binary =
                            shared.always_msgpack() || wire::has_binary(&message, &attachments);
                        let _ = shared.publish(
                            format!("{channel}{requester}#"),
                            encode(&message, &attachments, binary),
                        );
                    });
                } else {
                    let opts = parse_opts(data.get("opts"));
                    let Some(packet) = data.get("packet") else {
                        return;
                    };
                    // Node's `addOffsetIfNecessary`: what recovery may replay carries its offset.
                    let offset = offset.filter(|_| self.ns.recovers() && !opts.volatile);
                    let with_offset;
                    let packet = match offset {
                        Some(offset) => {
                            with_offset = with_trailing_arg(packet, offset);
                            &with_offset
                        }
                        None => packet,
                    };
                    match self.remote_packet(names, packet, attachments, None) {
                        Some(packet) => self.deliver_entry(&packet, &opts, offset),
                        None => {
                            tracing::warn!("ignoring a Redis broadcast whose packet is malformed")
                        }
                    }
                }
            }
            cluster::SOCKETS_JOIN | cluster::SOCKETS_LEAVE => {
                let Some(data) = data else { return };
                let opts = parse_opts(data.get("opts"));
                let rooms = parse_rooms(data.get("rooms"));
                if kind == cluster::SOCKETS_JOIN {
                    self.add_sockets_local(&opts, &rooms);
                } else {
                    self.del_sockets_local(&opts, &rooms);
                }
            }
            cluster::DISCONNECT_SOCKETS => {
                let Some(data) = data else { return };
                let opts = parse_opts(data.get("opts"));
                let close = data.get("close").and_then(Value::as_bool) == Some(true);
                self.local.disconnect_sockets(&opts, close);
            }
            cluster::FETCH_SOCKETS => {
                let Some(data) = data else { return };
                let opts = parse_opts(data.get("opts"));
                let sockets = self.local_sockets_json(&opts);
                let response = json!({ "requestId": request_id(data), "sockets": sockets });
                self.respond_cluster(names, uid, cluster::FETCH_SOCKETS_RESPONSE, response, &[]);
            }
            cluster::SERVER_SIDE_EMIT => {
                let Some(data) = data else { return };
                let Some(answer) = self.run_server_side(data.get("packet")) else {
                    return;
                };
                let Some(id) = request_id(data) else { return };
                let response = json!({ "requestId": id, "packet": answer });
                self.respond_cluster(
                    names,
                    uid,
                    cluster::SERVER_SIDE_EMIT_RESPONSE,
                    response,
                    &[],
                );
            }
            cluster::FETCH_SOCKETS_RESPONSE
            | cluster::SERVER_SIDE_EMIT_RESPONSE
            | cluster::BROADCAST_CLIENT_COUNT
            | cluster::BROADCAST_ACK => {
                let message = Decoded {
                    value: message,
                    attachments,
                };
                self.on_cluster_response(&message);
            }
            cluster::INITIAL_HEARTBEAT | cluster::HEARTBEAT | cluster::ADAPTER_CLOSE => {}
            other => tracing::debug!(
                kind = other,
                "ignoring an unknown Redis cluster message type"
            ),
        }
    }

    pub(super) fn on_cluster_response(&self, message: &Decoded) {
        let Some(data) = message.value.get("data") else {
            return tracing::warn!("ignoring a Redis cluster response without data");
        };
        let Some(id) = request_id(data) else { return };
        match message.value.get("type").and_then(Value::as_u64) {
            Some(cluster::BROADCAST_CLIENT_COUNT) => {
                let count = data.get("clientCount").and_then(Value::as_u64).unwrap_or(0);
                if let Some(ack) = lock(&self.ack_requests).get(&id) {
                    let _ = ack.send(AckEvent::ClientCount(usize::try_from(count).unwrap_or(0)));
                }
            }
            Some(cluster::BROADCAST_ACK) => {
                if let Some(ack) = lock(&self.ack_requests).get(&id) {
                    let response =
                        ack_response(data.get("packet").cloned(), message.attachments.clone());
                    let _ = ack.send(AckEvent::Ack(response));
                }
            }
            Some(cluster::FETCH_SOCKETS_RESPONSE) => self.answer(&id, data.get("sockets").cloned()),
            Some(cluster::SERVER_SIDE_EMIT_RESPONSE) => {
                self.answer(
                    &id,
                    Some(data.get("packet").cloned().unwrap_or(Value::Null)),
                );
            }
            _ => tracing::debug!("ignoring an unknown Redis cluster response type"),
        }
    }
}
