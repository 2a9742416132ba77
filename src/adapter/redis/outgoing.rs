//! What this node publishes for each operation that spans nodes, in the format of its mode.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::adapter::*;
use super::channels::*;
use super::driver::Outgoing;
use super::requests::*;
use super::streams::{self};
use super::{RedisMode, SubscriptionMode};
use crate::adapter::cluster::codec::encode;
use crate::adapter::{BroadcastOptions, BroadcastPacket, RemoteSocket, Room};
use crate::core::error::AdapterError;

/// A server-side emit, with a request id when answers are wanted.
pub(super) fn server_side_message(
    shared: &NsShared,
    names: &Names,
    data: Vec<Value>,
    id: Option<&str>,
) -> (String, Vec<u8>) {
    match shared.mode() {
        RedisMode::Classic => {
            let mut message = json!({
                "uid": shared.uid,
                "type": classic::SERVER_SIDE_EMIT,
                "data": data,
            });
            if let (Some(id), Value::Object(map)) = (id, &mut message) {
                map.insert("requestId".into(), Value::String(id.to_owned()));
            }
            (names.request.clone(), encode(&message, &[], false))
        }
        RedisMode::Sharded(_) | RedisMode::Streams => {
            let mut body = json!({ "packet": data });
            if let (Some(id), Value::Object(map)) = (id, &mut body) {
                map.insert("requestId".into(), Value::String(id.to_owned()));
            }
            let message = shared.cluster_message(&names.nsp, cluster::SERVER_SIDE_EMIT, body);
            let payload = encode(&message, &[], shared.always_msgpack());
            (names.channel.clone(), payload)
        }
    }
}

impl NsShared {
    pub(super) fn broadcast_message(
        &self,
        names: &Names,
        packet: &BroadcastPacket,
        opts: &BroadcastOptions,
    ) -> Option<(String, Vec<u8>)> {
        let data = packet_data(packet)?;
        let packet_value = packet_json(&names.nsp, data);
        match self.mode() {
            RedisMode::Classic => {
                let message = Value::Array(vec![
                    Value::String(self.uid.clone()),
                    packet_value,
                    opts_json(opts, None),
                ]);
                let channel = match opts.rooms.as_slice() {
                    [room] => format!("{}{room}#", names.channel),
                    _ => names.channel.clone(),
                };
                Some((channel, encode(&message, &packet.attachments, true)))
            }
            RedisMode::Streams => None,
            RedisMode::Sharded(mode) => {
                let message = self.cluster_message(
                    &names.nsp,
                    cluster::BROADCAST,
                    json!({ "packet": packet_value, "opts": opts_json(opts, None) }),
                );
                let channel = match opts.rooms.as_slice() {
                    [room]
                        if mode == SubscriptionMode::DynamicPrivate
                            || (mode == SubscriptionMode::Dynamic && room.len() != 20) =>
                    {
                        format!("{}{room}#", names.channel)
                    }
                    _ => names.channel.clone(),
                };
                Some((channel, encode(&message, &packet.attachments, false)))
            }
        }
    }

    pub(super) fn broadcast_with_ack_message(
        &self,
        names: &Names,
        request_id: &str,
        packet: &BroadcastPacket,
        opts: &BroadcastOptions,
        timeout: Duration,
    ) -> Option<(String, Vec<u8>)> {
        let data = packet_data(packet)?;
        let packet_value = packet_json(&names.nsp, data);
        let opts = opts_json(opts, Some(timeout));
        Some(match self.mode() {
            RedisMode::Classic => {
                let message = json!({
                    "uid": self.uid,
                    "requestId": request_id,
                    "type": classic::BROADCAST,
                    "packet": packet_value,
                    "opts": opts,
                });
                (
                    names.request.clone(),
                    encode(&message, &packet.attachments, true),
                )
            }
            RedisMode::Sharded(_) | RedisMode::Streams => {
                let message = self.cluster_message(
                    &names.nsp,
                    cluster::BROADCAST,
                    json!({ "packet": packet_value, "requestId": request_id, "opts": opts }),
                );
                (
                    names.channel.clone(),
                    encode(&message, &packet.attachments, self.always_msgpack()),
                )
            }
        })
    }

    pub(super) async fn fetch_remote(
        self: Arc<Self>,
        opts: BroadcastOptions,
    ) -> Result<Vec<RemoteSocket>, AdapterError> {
        let mut sockets = self.local.fetch_sockets(&opts);
        let Some(names) = self.names() else {
            return Ok(sockets);
        };
        let expected = self.server_count().await?.saturating_sub(1);
        if expected == 0 {
            return Ok(sockets);
        }
        let timeout = self.driver.config.requests_timeout;
        let values = self
            .request(PendingKind::Sockets, expected, timeout, |id| {
                match self.mode() {
                    RedisMode::Classic => {
                        let message = json!({
                            "uid": self.uid,
                            "requestId": id,
                            "type": classic::REMOTE_FETCH,
                            "opts": target_json(&opts),
                        });
                        (names.request.clone(), encode(&message, &[], false))
                    }
                    RedisMode::Sharded(_) | RedisMode::Streams => {
                        let message = self.cluster_message(
                            &names.nsp,
                            cluster::FETCH_SOCKETS,
                            json!({ "opts": opts_json(&opts, None), "requestId": id }),
                        );
                        let payload = encode(&message, &[], self.always_msgpack());
                        (names.channel.clone(), payload)
                    }
                }
            })
            .await?;
        sockets.extend(values.iter().filter_map(|v| remote_socket(&self.ns, v)));
        Ok(sockets)
    }

    /// Queues a join, leave or disconnect for the other nodes, in order with broadcasts.
    pub(super) fn queue_operation(
        &self,
        classic_kind: u64,
        cluster_kind: u64,
        mut body: Map<String, Value>,
        opts: &BroadcastOptions,
    ) -> Result<(), AdapterError> {
        let Some(names) = self.names() else {
            return Ok(());
        };
        let (channel, message) = match self.mode() {
            RedisMode::Classic => {
                body.insert("uid".into(), Value::String(self.uid.clone()));
                body.insert("type".into(), classic_kind.into());
                body.insert("opts".into(), target_json(opts));
                (names.request.clone(), Value::Object(body))
            }
            RedisMode::Sharded(_) => {
                body.insert("opts".into(), opts_json(opts, None));
                let message = self.cluster_message(&names.nsp, cluster_kind, Value::Object(body));
                (names.channel.clone(), message)
            }
            RedisMode::Streams => {
                // Joins, leaves and disconnects are kept in the stream, in order with broadcasts.
                body.insert("opts".into(), opts_json(opts, None));
                let fields = streams::entry_fields(
                    &self.uid,
                    &names.nsp,
                    cluster_kind,
                    &Value::Object(body),
                    &[],
                );
                return self.driver.publish(Outgoing::stream_add(fields, None));
            }
        };
        self.publish(channel, encode(&message, &[], false))
    }

    pub(super) async fn server_side(
        self: Arc<Self>,
        event: String,
        args: Vec<Value>,
        timeout: Duration,
    ) -> Result<Vec<Value>, AdapterError> {
        let Some(names) = self.names() else {
            return Ok(Vec::new());
        };
        let expected = self.server_count().await?.saturating_sub(1);
        if expected == 0 {
            return Ok(Vec::new());
        }
        let mut data = Vec::with_capacity(args.len() + 1);
        data.push(Value::String(event));
        data.extend(args);
        self.request(PendingKind::ServerSide, expected, timeout, |id| {
            server_side_message(&self, names, data, Some(id))
        })
        .await
    }

    pub(super) async fn all_rooms_remote(self: Arc<Self>) -> Result<Vec<Room>, AdapterError> {
        let mut rooms: HashSet<String> = self.local.rooms().iter().map(|r| r.to_string()).collect();
        let Some(names) = self.names() else {
            return Ok(rooms.into_iter().map(Room::Owned).collect());
        };
        match self.mode() {
            RedisMode::Classic => {
                let expected = self.server_count().await?.saturating_sub(1);
                if expected > 0 {
                    let timeout = self.driver.config.requests_timeout;
                    let values = self
                        .request(PendingKind::Rooms, expected, timeout, |id| {
                            let message = json!({
                                "uid": self.uid,
                                "requestId": id,
                                "type": classic::ALL_ROOMS,
                            });
                            (names.request.clone(), encode(&message, &[], false))
                        })
                        .await?;
                    rooms.extend(
                        parse_rooms(Some(&Value::Array(values)))
                            .into_iter()
                            .map(|r| r.to_string()),
                    );
                }
            }
            RedisMode::Sharded(_) | RedisMode::Streams => {
                // The cluster format has no rooms request: every room with a member is the room
                // of some socket, so ask for every socket.
                let sockets = self
                    .clone()
                    .fetch_remote(BroadcastOptions::default())
                    .await?;
                rooms.extend(
                    sockets
                        .into_iter()
                        .flat_map(|s| s.rooms)
                        .map(|r| r.to_string()),
                );
            }
        }
        Ok(rooms.into_iter().map(Room::Owned).collect())
    }
}
