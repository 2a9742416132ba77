//! What this node publishes for each operation that spans nodes, in the format of its mode:
//! typed messages ([`ClassicRequest`], [`ClassicBroadcast`], [`ClusterMessage`]) encoded by the
//! shared codec.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::adapter::{NsShared, remote_socket, room_names, wire_opts, wire_packet};
use super::channels::Names;
use super::driver::Outgoing;
use super::requests::{Answer, PendingKind};
use super::streams;
use super::{RedisMode, SubscriptionMode};
use crate::adapter::cluster::WireOpts;
use crate::adapter::cluster::classic::{ClassicBroadcast, ClassicRequest, Request, Target};
use crate::adapter::cluster::codec::encode;
use crate::adapter::cluster::message::Body;
use crate::adapter::{BroadcastOptions, BroadcastPacket, Room, SocketInfo};
use crate::core::error::AdapterError;

/// A join, leave or disconnect for the other nodes.
pub(super) enum Operation<'a> {
    Join(&'a [Room]),
    Leave(&'a [Room]),
    Disconnect(bool),
}

impl Operation<'_> {
    fn classic(&self, opts: WireOpts) -> Request {
        let target = Target::Opts(opts);
        match self {
            Operation::Join(rooms) => Request::Join {
                target,
                rooms: room_names(rooms),
            },
            Operation::Leave(rooms) => Request::Leave {
                target,
                rooms: room_names(rooms),
            },
            Operation::Disconnect(close) => Request::Disconnect {
                target,
                close: *close,
            },
        }
    }

    fn cluster(&self, opts: WireOpts) -> Body {
        match self {
            Operation::Join(rooms) => Body::SocketsJoin {
                opts,
                rooms: room_names(rooms),
            },
            Operation::Leave(rooms) => Body::SocketsLeave {
                opts,
                rooms: room_names(rooms),
            },
            Operation::Disconnect(close) => Body::DisconnectSockets {
                opts,
                close: *close,
            },
        }
    }
}

/// A server-side emit, with a request id when answers are wanted.
pub(super) fn server_side_message(
    shared: &NsShared,
    names: &Names,
    data: Vec<Value>,
    id: Option<&str>,
) -> (String, Vec<u8>) {
    let request_id = id.map(str::to_owned);
    match shared.mode() {
        RedisMode::Classic => {
            let request = shared.classic_request(Request::ServerSideEmit { request_id, data });
            (names.request.clone(), encode(&request, &[], false))
        }
        RedisMode::Sharded(_) | RedisMode::Streams => {
            let body = Body::ServerSideEmit {
                packet: data,
                request_id,
            };
            let message = shared.cluster_message(&names.nsp, body).to_value();
            let payload = encode(&message, &[], shared.always_msgpack());
            (names.channel.clone(), payload)
        }
    }
}

impl NsShared {
    /// A classic request from this node, in its JSON form.
    pub(super) fn classic_request(&self, request: Request) -> Value {
        ClassicRequest {
            uid: Some(self.uid.clone()),
            request,
        }
        .to_value()
    }

    pub(super) fn broadcast_message(
        &self,
        names: &Names,
        packet: &BroadcastPacket,
        opts: &BroadcastOptions,
    ) -> Option<(String, Vec<u8>)> {
        let wire = wire_packet(&names.nsp, packet)?;
        match self.mode() {
            RedisMode::Classic => {
                let message = ClassicBroadcast(self.uid.clone(), wire, wire_opts(opts, None));
                let message = serde_json::to_value(message).ok()?;
                let channel = match opts.rooms.as_slice() {
                    [room] => format!("{}{room}#", names.channel),
                    _ => names.channel.clone(),
                };
                Some((channel, encode(&message, packet.attachments(), true)))
            }
            RedisMode::Streams => None,
            RedisMode::Sharded(mode) => {
                let body = Body::Broadcast {
                    packet: wire,
                    opts: wire_opts(opts, None),
                    request_id: None,
                };
                let message = self.cluster_message(&names.nsp, body).to_value();
                let channel = match opts.rooms.as_slice() {
                    [room]
                        if mode == SubscriptionMode::DynamicPrivate
                            || (mode == SubscriptionMode::Dynamic && room.len() != 20) =>
                    {
                        format!("{}{room}#", names.channel)
                    }
                    _ => names.channel.clone(),
                };
                Some((channel, encode(&message, packet.attachments(), false)))
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
        let wire = wire_packet(&names.nsp, packet)?;
        let opts = wire_opts(opts, Some(timeout));
        Some(match self.mode() {
            RedisMode::Classic => {
                let request = self.classic_request(Request::Broadcast {
                    request_id: request_id.to_owned(),
                    packet: wire,
                    opts,
                });
                (
                    names.request.clone(),
                    encode(&request, packet.attachments(), true),
                )
            }
            RedisMode::Sharded(_) | RedisMode::Streams => {
                let body = Body::Broadcast {
                    packet: wire,
                    opts,
                    request_id: Some(request_id.to_owned()),
                };
                let message = self.cluster_message(&names.nsp, body).to_value();
                (
                    names.channel.clone(),
                    encode(&message, packet.attachments(), self.always_msgpack()),
                )
            }
        })
    }

    pub(super) async fn fetch_remote(
        self: Arc<Self>,
        opts: BroadcastOptions,
    ) -> Result<Vec<SocketInfo>, AdapterError> {
        let mut sockets = self.local.fetch_sockets(&opts);
        let Some(names) = self.names() else {
            return Ok(sockets);
        };
        let expected = self.server_count().await?.saturating_sub(1);
        if expected == 0 {
            return Ok(sockets);
        }
        let timeout = self.driver.config().requests_timeout;
        let answers = self
            .request(PendingKind::Sockets, expected, timeout, |id| {
                let opts = wire_opts(&opts, None);
                let request_id = id.to_owned();
                match self.mode() {
                    RedisMode::Classic => {
                        let request = self.classic_request(Request::Fetch { request_id, opts });
                        (names.request.clone(), encode(&request, &[], false))
                    }
                    RedisMode::Sharded(_) | RedisMode::Streams => {
                        let body = Body::FetchSockets { opts, request_id };
                        let message = self.cluster_message(&names.nsp, body).to_value();
                        let payload = encode(&message, &[], self.always_msgpack());
                        (names.channel.clone(), payload)
                    }
                }
            })
            .await?;
        for answer in answers {
            if let Answer::Sockets(remote) = answer {
                sockets.extend(remote.into_iter().filter_map(remote_socket));
            }
        }
        Ok(sockets)
    }

    /// Queues a join, leave or disconnect for the other nodes, in order with broadcasts.
    pub(super) fn queue_operation(
        &self,
        operation: Operation<'_>,
        opts: &BroadcastOptions,
    ) -> Result<(), AdapterError> {
        let Some(names) = self.names() else {
            return Ok(());
        };
        let opts = wire_opts(opts, None);
        let (channel, message) = match self.mode() {
            RedisMode::Classic => {
                let request = self.classic_request(operation.classic(opts));
                (names.request.clone(), request)
            }
            RedisMode::Sharded(_) => {
                let message = self.cluster_message(&names.nsp, operation.cluster(opts));
                (names.channel.clone(), message.to_value())
            }
            RedisMode::Streams => {
                // Joins, leaves and disconnects are kept in the stream, in order with broadcasts.
                let body = operation.cluster(opts);
                let fields = streams::entry_fields(
                    &self.uid,
                    &names.nsp,
                    body.kind(),
                    &body.to_data().unwrap_or_default(),
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
        let answers = self
            .request(PendingKind::ServerSide, expected, timeout, |id| {
                server_side_message(&self, names, data, Some(id))
            })
            .await?;
        Ok(answers
            .into_iter()
            .filter_map(|answer| match answer {
                Answer::Value(value) => Some(value),
                _ => None,
            })
            .collect())
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
                    let timeout = self.driver.config().requests_timeout;
                    let answers = self
                        .request(PendingKind::Rooms, expected, timeout, |id| {
                            let request = self.classic_request(Request::AllRooms {
                                request_id: id.to_owned(),
                            });
                            (names.request.clone(), encode(&request, &[], false))
                        })
                        .await?;
                    for answer in answers {
                        if let Answer::Rooms(remote) = answer {
                            rooms.extend(remote);
                        }
                    }
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
