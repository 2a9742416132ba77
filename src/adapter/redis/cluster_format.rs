//! The cluster format (socket.io-adapter's `ClusterAdapter` envelopes), as the sharded adapter
//! and the streams adapter carry them: messages from other nodes, decoded into
//! [`ClusterMessage`], and this node's answers.

use std::sync::Arc;

use bytes::Bytes;

use super::adapter::{
    NsShared, ack_response, first_arg, rooms_of, typed_logged, with_trailing_arg,
};
use super::channels::Names;
use super::requests::{AckEvent, AckReply, Answer};
use crate::adapter::cluster::codec::{Decoded, encode};
use crate::adapter::cluster::message::{Body, ClusterMessage};

impl NsShared {
    /// Answers a request of node `requester` on its own channel.
    pub(super) fn respond_cluster(
        &self,
        names: &Names,
        requester: &str,
        body: Body,
        attachments: &[Bytes],
    ) {
        let message = self.cluster_message(&names.nsp, body).to_value();
        // The sharded adapter writes JSON unless there is binary data (which `encode` sees).
        let _ = self.publish(
            format!("{}{requester}#", names.channel),
            encode(&message, attachments, self.always_msgpack()),
        );
    }

    /// A message on the namespace's channel (or, with `offset`, an entry of the stream).
    pub(super) fn on_cluster_message(
        self: &Arc<Self>,
        names: &Names,
        message: Decoded,
        offset: Option<&str>,
    ) {
        let Decoded { value, attachments } = message;
        let Some(message) = typed_logged(&names.channel, ClusterMessage::from_value(value)) else {
            return;
        };
        let ClusterMessage { uid, nsp, body } = message;
        if uid == self.uid {
            return;
        }
        if nsp != names.nsp {
            return tracing::debug!(
                kind = ?body.kind(),
                request = body.request_id(),
                "ignoring a Redis cluster message for another namespace"
            );
        }
        match body {
            Body::Broadcast {
                packet,
                opts,
                request_id: Some(id),
            } => {
                let nsp = names.nsp.clone();
                let channel = names.channel.clone();
                let reply = move |shared: &NsShared, event: AckReply| {
                    let (body, attachments) = match event {
                        AckReply::Count(count) => (
                            Body::BroadcastClientCount {
                                request_id: id.clone(),
                                client_count: u64::try_from(count).unwrap_or(u64::MAX),
                            },
                            Vec::new(),
                        ),
                        AckReply::Ack(response) => (
                            Body::BroadcastAck {
                                request_id: id.clone(),
                                packet: first_arg(&response),
                            },
                            response.attachments,
                        ),
                    };
                    let message = shared.cluster_message(&nsp, body).to_value();
                    let _ = shared.publish(
                        format!("{channel}{uid}#"),
                        encode(&message, &attachments, shared.always_msgpack()),
                    );
                };
                self.on_broadcast_with_ack(names, &packet, &opts, attachments, reply);
            }
            Body::Broadcast {
                packet,
                opts,
                request_id: None,
            } => {
                let opts = opts.to_options();
                // Node's `addOffsetIfNecessary`: what recovery may replay carries its offset.
                let offset = offset.filter(|_| self.ns.recovers() && !opts.volatile);
                let packet = match offset {
                    Some(offset) => with_trailing_arg(&packet, offset),
                    None => packet,
                };
                match self.remote_packet(names, &packet, attachments, None) {
                    Some(packet) => self.deliver_entry(&packet, &opts, offset),
                    None => tracing::warn!("ignoring a Redis broadcast whose packet is malformed"),
                }
            }
            Body::SocketsJoin { opts, rooms } => {
                self.add_sockets_local(&opts.to_options(), &rooms_of(&rooms));
            }
            Body::SocketsLeave { opts, rooms } => {
                self.del_sockets_local(&opts.to_options(), &rooms_of(&rooms));
            }
            Body::DisconnectSockets { opts, close } => {
                self.local.disconnect_sockets(&opts.to_options(), close);
            }
            Body::FetchSockets { opts, request_id } => {
                let sockets = self.local_sockets(&opts.to_options());
                let body = Body::FetchSocketsResponse {
                    request_id,
                    sockets,
                };
                self.respond_cluster(names, &uid, body, &[]);
            }
            Body::ServerSideEmit { packet, request_id } => {
                let Some(answer) = self.run_server_side(packet) else {
                    return;
                };
                let Some(request_id) = request_id else { return };
                let body = Body::ServerSideEmitResponse {
                    request_id,
                    packet: answer,
                };
                self.respond_cluster(names, &uid, body, &[]);
            }
            // Answers may come on the namespace's channel too (Node's `onMessage` forwards them).
            body if body.kind().is_response() => self.on_cluster_response(body, attachments),
            Body::InitialHeartbeat | Body::Heartbeat | Body::AdapterClose => {}
            // Responses were handled above; the compiler cannot tell.
            Body::FetchSocketsResponse { .. }
            | Body::ServerSideEmitResponse { .. }
            | Body::BroadcastClientCount { .. }
            | Body::BroadcastAck { .. } => {}
        }
    }

    /// An answer to one of this node's requests (unknown request ids are ignored).
    pub(super) fn on_cluster_response(&self, body: Body, attachments: Vec<Bytes>) {
        match body {
            Body::BroadcastClientCount {
                request_id,
                client_count,
            } => {
                let count = usize::try_from(client_count).unwrap_or(0);
                self.ack_event(&request_id, AckEvent::ClientCount(count));
            }
            Body::BroadcastAck { request_id, packet } => {
                let response = ack_response(packet, attachments);
                self.ack_event(&request_id, AckEvent::Ack(response));
            }
            Body::FetchSocketsResponse {
                request_id,
                sockets,
            } => self.answer(&request_id, Answer::Sockets(sockets)),
            Body::ServerSideEmitResponse { request_id, packet } => {
                self.answer(&request_id, Answer::Value(packet));
            }
            other => tracing::debug!(
                kind = ?other.kind(),
                "ignoring a Redis cluster message that is not a response on the response channel"
            ),
        }
    }
}
