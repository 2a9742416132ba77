//! The messages of Node's `ClusterAdapter` (socket.io-adapter 2.5), as typed values.
//!
//! Every message is an envelope `{type, data?, uid, nsp}` whose `data` depends on `type`. The
//! sharded Redis adapter, the Redis Streams adapter and the PostgreSQL adapter all carry these
//! envelopes; only the transport and the outer encoding (JSON or MessagePack) differ, and that
//! is [`codec`](super::codec)'s business. Here a message is decoded from, and encoded to, the
//! JSON value the codec produces, with binary data as placeholders plus attachments.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{ClusterError, WireOpts, WirePacket, WireSocket, present};

/// A message type of Node's `ClusterAdapter` (its `MessageType` enum).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum MessageType {
    InitialHeartbeat = 1,
    Heartbeat = 2,
    Broadcast = 3,
    SocketsJoin = 4,
    SocketsLeave = 5,
    DisconnectSockets = 6,
    FetchSockets = 7,
    FetchSocketsResponse = 8,
    ServerSideEmit = 9,
    ServerSideEmitResponse = 10,
    BroadcastClientCount = 11,
    BroadcastAck = 12,
    AdapterClose = 13,
}

impl MessageType {
    const ALL: [MessageType; 13] = [
        MessageType::InitialHeartbeat,
        MessageType::Heartbeat,
        MessageType::Broadcast,
        MessageType::SocketsJoin,
        MessageType::SocketsLeave,
        MessageType::DisconnectSockets,
        MessageType::FetchSockets,
        MessageType::FetchSocketsResponse,
        MessageType::ServerSideEmit,
        MessageType::ServerSideEmitResponse,
        MessageType::BroadcastClientCount,
        MessageType::BroadcastAck,
        MessageType::AdapterClose,
    ];

    /// The type with this number, if there is one.
    pub(crate) fn from_number(n: u64) -> Option<MessageType> {
        Self::ALL.into_iter().find(|t| *t as u64 == n)
    }

    /// Whether the message answers a request (it then carries the request's id).
    pub(crate) fn is_response(self) -> bool {
        matches!(
            self,
            MessageType::FetchSocketsResponse
                | MessageType::ServerSideEmitResponse
                | MessageType::BroadcastClientCount
                | MessageType::BroadcastAck
        )
    }
}

/// What a cluster message says, by type.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Body {
    /// A node announces itself (heartbeat variant); the others answer with [`Body::Heartbeat`].
    InitialHeartbeat,
    /// A node is still there (heartbeat variant).
    Heartbeat,
    /// A node leaves the cluster (heartbeat variant).
    AdapterClose,
    /// A packet for the targeted sockets; with a request id, their acks are wanted.
    Broadcast {
        packet: WirePacket,
        opts: WireOpts,
        request_id: Option<String>,
    },
    /// The targeted sockets join rooms.
    SocketsJoin { opts: WireOpts, rooms: Vec<String> },
    /// The targeted sockets leave rooms.
    SocketsLeave { opts: WireOpts, rooms: Vec<String> },
    /// The targeted sockets are disconnected (their connections closed with `close`).
    DisconnectSockets { opts: WireOpts, close: bool },
    /// Which sockets are targeted, on every node.
    FetchSockets { opts: WireOpts, request_id: String },
    /// One node's answer to [`Body::FetchSockets`].
    FetchSocketsResponse {
        request_id: String,
        sockets: Vec<WireSocket>,
    },
    /// An event for the other nodes' server-side listeners (`[event, ...args]`).
    ServerSideEmit {
        packet: Vec<Value>,
        request_id: Option<String>,
    },
    /// One node's answer to a [`Body::ServerSideEmit`] with a request id (its first argument).
    ServerSideEmitResponse { request_id: String, packet: Value },
    /// How many local sockets a broadcast with acks reached on one node (0 included).
    BroadcastClientCount {
        request_id: String,
        client_count: u64,
    },
    /// One client's ack of a broadcast: its first argument, absent when it gave none.
    BroadcastAck {
        request_id: String,
        packet: Option<Value>,
    },
}

impl Body {
    /// The message's type.
    pub(crate) fn kind(&self) -> MessageType {
        match self {
            Body::InitialHeartbeat => MessageType::InitialHeartbeat,
            Body::Heartbeat => MessageType::Heartbeat,
            Body::AdapterClose => MessageType::AdapterClose,
            Body::Broadcast { .. } => MessageType::Broadcast,
            Body::SocketsJoin { .. } => MessageType::SocketsJoin,
            Body::SocketsLeave { .. } => MessageType::SocketsLeave,
            Body::DisconnectSockets { .. } => MessageType::DisconnectSockets,
            Body::FetchSockets { .. } => MessageType::FetchSockets,
            Body::FetchSocketsResponse { .. } => MessageType::FetchSocketsResponse,
            Body::ServerSideEmit { .. } => MessageType::ServerSideEmit,
            Body::ServerSideEmitResponse { .. } => MessageType::ServerSideEmitResponse,
            Body::BroadcastClientCount { .. } => MessageType::BroadcastClientCount,
            Body::BroadcastAck { .. } => MessageType::BroadcastAck,
        }
    }

    /// The id of the request this message is, or answers.
    pub(crate) fn request_id(&self) -> Option<&str> {
        match self {
            Body::Broadcast { request_id, .. } | Body::ServerSideEmit { request_id, .. } => {
                request_id.as_deref()
            }
            Body::FetchSockets { request_id, .. }
            | Body::FetchSocketsResponse { request_id, .. }
            | Body::ServerSideEmitResponse { request_id, .. }
            | Body::BroadcastClientCount { request_id, .. }
            | Body::BroadcastAck { request_id, .. } => Some(request_id),
            Body::InitialHeartbeat
            | Body::Heartbeat
            | Body::AdapterClose
            | Body::SocketsJoin { .. }
            | Body::SocketsLeave { .. }
            | Body::DisconnectSockets { .. } => None,
        }
    }

    /// Decodes the `data` of a message of type `kind`.
    pub(crate) fn from_data(kind: MessageType, data: Option<Value>) -> Result<Body, ClusterError> {
        fn typed<T: serde::de::DeserializeOwned>(data: Option<Value>) -> Result<T, ClusterError> {
            let data = data.ok_or(ClusterError::MissingData)?;
            serde_json::from_value(data).map_err(ClusterError::Shape)
        }
        Ok(match kind {
            MessageType::InitialHeartbeat => Body::InitialHeartbeat,
            MessageType::Heartbeat => Body::Heartbeat,
            MessageType::AdapterClose => Body::AdapterClose,
            MessageType::Broadcast => {
                let d: BroadcastData = typed(data)?;
                Body::Broadcast {
                    packet: d.packet,
                    opts: d.opts,
                    request_id: d.request_id,
                }
            }
            MessageType::SocketsJoin => {
                let d: RoomsData = typed(data)?;
                Body::SocketsJoin {
                    opts: d.opts,
                    rooms: d.rooms,
                }
            }
            MessageType::SocketsLeave => {
                let d: RoomsData = typed(data)?;
                Body::SocketsLeave {
                    opts: d.opts,
                    rooms: d.rooms,
                }
            }
            MessageType::DisconnectSockets => {
                let d: DisconnectData = typed(data)?;
                Body::DisconnectSockets {
                    opts: d.opts,
                    close: d.close,
                }
            }
            MessageType::FetchSockets => {
                let d: FetchData = typed(data)?;
                Body::FetchSockets {
                    opts: d.opts,
                    request_id: d.request_id,
                }
            }
            MessageType::FetchSocketsResponse => {
                let d: SocketsData = typed(data)?;
                Body::FetchSocketsResponse {
                    request_id: d.request_id,
                    sockets: super::described_sockets(d.sockets),
                }
            }
            MessageType::ServerSideEmit => {
                let d: ServerSideData = typed(data)?;
                Body::ServerSideEmit {
                    packet: d.packet,
                    request_id: d.request_id,
                }
            }
            MessageType::ServerSideEmitResponse => {
                let d: AnswerData = typed(data)?;
                Body::ServerSideEmitResponse {
                    request_id: d.request_id,
                    packet: d.packet,
                }
            }
            MessageType::BroadcastClientCount => {
                let d: CountData = typed(data)?;
                Body::BroadcastClientCount {
                    request_id: d.request_id,
                    client_count: d.client_count,
                }
            }
            MessageType::BroadcastAck => {
                let d: AckData = typed(data)?;
                Body::BroadcastAck {
                    request_id: d.request_id,
                    packet: d.packet,
                }
            }
        })
    }

    /// The message's `data`, in Node's key order; `None` for the types that carry none.
    pub(crate) fn to_data(&self) -> Option<Value> {
        fn value<T: Serialize>(data: T) -> Option<Value> {
            // Serializing these plain structures into a `Value` cannot fail: no map has
            // non-string keys and every number is an integer.
            serde_json::to_value(data).ok()
        }
        match self {
            Body::InitialHeartbeat | Body::Heartbeat | Body::AdapterClose => None,
            Body::Broadcast {
                packet,
                opts,
                request_id,
            } => value(BroadcastDataRef {
                packet,
                request_id: request_id.as_deref(),
                opts,
            }),
            Body::SocketsJoin { opts, rooms } | Body::SocketsLeave { opts, rooms } => {
                value(RoomsDataRef { opts, rooms })
            }
            Body::DisconnectSockets { opts, close } => value(DisconnectDataRef {
                opts,
                close: *close,
            }),
            Body::FetchSockets { opts, request_id } => value(FetchDataRef { opts, request_id }),
            Body::FetchSocketsResponse {
                request_id,
                sockets,
            } => value(SocketsDataRef {
                request_id,
                sockets,
            }),
            Body::ServerSideEmit { packet, request_id } => value(ServerSideDataRef {
                request_id: request_id.as_deref(),
                packet,
            }),
            Body::ServerSideEmitResponse { request_id, packet } => {
                value(AnswerDataRef { request_id, packet })
            }
            Body::BroadcastAck { request_id, packet } => value(AckDataRef {
                request_id,
                packet: packet.as_ref(),
            }),
            Body::BroadcastClientCount {
                request_id,
                client_count,
            } => value(CountDataRef {
                request_id,
                client_count: *client_count,
            }),
        }
    }
}

/// One cluster message: who sent it, for which namespace, and what it says.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ClusterMessage {
    /// The sending node's id for this namespace (`"emitter"` for emitters).
    pub uid: String,
    /// The namespace.
    pub nsp: String,
    /// What it says.
    pub body: Body,
}

/// The envelope as it is on the wire; `data` is decoded once `type` is known.
#[derive(Deserialize)]
struct RawEnvelope {
    #[serde(rename = "type")]
    kind: u64,
    #[serde(default)]
    data: Option<Value>,
    #[serde(default)]
    uid: Option<String>,
    #[serde(default)]
    nsp: Option<String>,
}

#[derive(Serialize)]
struct EnvelopeRef<'a> {
    #[serde(rename = "type")]
    kind: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<Value>,
    uid: &'a str,
    nsp: &'a str,
}

impl ClusterMessage {
    /// Reads a message from its JSON form (binary data as placeholders). A message without a
    /// `uid` or an `nsp`, of an unknown type, or whose `data` does not fit its type is an error.
    pub(crate) fn from_value(value: Value) -> Result<ClusterMessage, ClusterError> {
        let raw: RawEnvelope = serde_json::from_value(value).map_err(ClusterError::Shape)?;
        let kind = MessageType::from_number(raw.kind).ok_or(ClusterError::UnknownType(raw.kind))?;
        let uid = raw.uid.ok_or(ClusterError::MissingUid)?;
        let nsp = raw.nsp.ok_or(ClusterError::MissingNamespace)?;
        let body = Body::from_data(kind, raw.data)?;
        Ok(ClusterMessage { uid, nsp, body })
    }

    /// The message's JSON form, keys in Node's order (`type, data, uid, nsp`).
    pub(crate) fn to_value(&self) -> Value {
        let envelope = EnvelopeRef {
            kind: self.body.kind() as u8,
            data: self.body.to_data(),
            uid: &self.uid,
            nsp: &self.nsp,
        };
        serde_json::to_value(envelope).unwrap_or(Value::Null)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BroadcastData {
    packet: WirePacket,
    #[serde(default)]
    opts: WireOpts,
    #[serde(default)]
    request_id: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BroadcastDataRef<'a> {
    packet: &'a WirePacket,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<&'a str>,
    opts: &'a WireOpts,
}

#[derive(Deserialize)]
struct RoomsData {
    #[serde(default)]
    opts: WireOpts,
    rooms: Vec<String>,
}

#[derive(Serialize)]
struct RoomsDataRef<'a> {
    opts: &'a WireOpts,
    rooms: &'a [String],
}

#[derive(Deserialize)]
struct DisconnectData {
    #[serde(default)]
    opts: WireOpts,
    #[serde(default)]
    close: bool,
}

#[derive(Serialize)]
struct DisconnectDataRef<'a> {
    opts: &'a WireOpts,
    close: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FetchData {
    #[serde(default)]
    opts: WireOpts,
    request_id: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FetchDataRef<'a> {
    opts: &'a WireOpts,
    request_id: &'a str,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SocketsData {
    request_id: String,
    #[serde(default)]
    sockets: Vec<Value>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SocketsDataRef<'a> {
    request_id: &'a str,
    sockets: &'a [WireSocket],
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ServerSideData {
    packet: Vec<Value>,
    #[serde(default)]
    request_id: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ServerSideDataRef<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<&'a str>,
    packet: &'a [Value],
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AnswerData {
    request_id: String,
    #[serde(default)]
    packet: Value,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AnswerDataRef<'a> {
    request_id: &'a str,
    packet: &'a Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AckData {
    request_id: String,
    #[serde(default, deserialize_with = "present")]
    packet: Option<Value>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AckDataRef<'a> {
    request_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    packet: Option<&'a Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CountData {
    request_id: String,
    client_count: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CountDataRef<'a> {
    request_id: &'a str,
    client_count: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_and_writes_a_sharded_broadcast_as_node_sends_it() {
        // What socket.io 4.8.4 with the sharded Redis adapter published for
        // `io.to("room1").except("room2").volatile.compress(false).emit("ev", {a: 1})`.
        let wire = r#"{"type":3,"data":{"packet":{"type":2,"data":["ev",{"a":1}]},"opts":{"rooms":["room1"],"except":["room2"],"flags":{"volatile":true,"compress":false}}},"uid":"62c8071a4ed8ba55","nsp":"/"}"#;
        let message = ClusterMessage::from_value(serde_json::from_str(wire).unwrap()).unwrap();
        let Body::Broadcast {
            packet,
            opts,
            request_id,
        } = &message.body
        else {
            panic!("{message:?}");
        };
        assert_eq!(packet.data, vec![json!("ev"), json!({"a": 1})]);
        assert_eq!(opts.rooms, vec!["room1"]);
        assert_eq!(opts.except, vec!["room2"]);
        assert_eq!(opts.flags.volatile, Some(true));
        assert_eq!(opts.flags.compress, Some(false));
        assert_eq!(request_id, &None);
        assert_eq!(message.to_value().to_string(), wire);
    }

    #[test]
    fn every_type_round_trips() {
        let opts = WireOpts {
            rooms: vec!["a".into()],
            except: vec![],
            flags: Default::default(),
        };
        let bodies = vec![
            Body::InitialHeartbeat,
            Body::Heartbeat,
            Body::AdapterClose,
            Body::Broadcast {
                packet: WirePacket::event(vec![json!("x")]),
                opts: opts.clone(),
                request_id: Some("r".into()),
            },
            Body::SocketsJoin {
                opts: opts.clone(),
                rooms: vec!["b".into()],
            },
            Body::SocketsLeave {
                opts: opts.clone(),
                rooms: vec!["b".into()],
            },
            Body::DisconnectSockets {
                opts: opts.clone(),
                close: true,
            },
            Body::FetchSockets {
                opts,
                request_id: "r".into(),
            },
            Body::FetchSocketsResponse {
                request_id: "r".into(),
                sockets: vec![WireSocket {
                    id: "s".into(),
                    handshake: json!({"url": "/"}),
                    rooms: vec!["s".into()],
                    data: json!({"user": 1}),
                }],
            },
            Body::ServerSideEmit {
                packet: vec![json!("hi"), json!(1)],
                request_id: None,
            },
            Body::ServerSideEmitResponse {
                request_id: "r".into(),
                packet: json!("ok"),
            },
            Body::BroadcastClientCount {
                request_id: "r".into(),
                client_count: 0,
            },
            Body::BroadcastAck {
                request_id: "r".into(),
                packet: Some(json!([1])),
            },
            Body::BroadcastAck {
                request_id: "r".into(),
                packet: Some(Value::Null),
            },
            Body::BroadcastAck {
                request_id: "r".into(),
                packet: None,
            },
        ];
        for body in bodies {
            let message = ClusterMessage {
                uid: "u".into(),
                nsp: "/chat".into(),
                body,
            };
            let back = ClusterMessage::from_value(message.to_value()).unwrap();
            assert_eq!(back, message);
        }
    }

    #[test]
    fn junk_is_an_error_never_a_panic() {
        for junk in [
            json!(null),
            json!([]),
            json!({"type": 3, "uid": "u", "nsp": "/"}),
            json!({"type": 3, "uid": "u", "nsp": "/", "data": {"opts": {}}}),
            json!({"type": 3, "uid": "u", "nsp": "/", "data": {"packet": 7}}),
            json!({"type": 99, "uid": "u", "nsp": "/"}),
            json!({"type": "3", "uid": "u", "nsp": "/"}),
            json!({"type": 8, "uid": "u", "nsp": "/", "data": {"sockets": []}}),
            json!({"type": 11, "uid": "u", "nsp": "/", "data": {"requestId": "r", "clientCount": -1}}),
            json!({"type": 4, "nsp": "/", "data": {"rooms": []}}),
            json!({"type": 4, "uid": "u", "data": {"rooms": []}}),
            json!({"type": 4, "uid": "u", "nsp": "/", "data": {"rooms": [1]}}),
        ] {
            assert!(ClusterMessage::from_value(junk.clone()).is_err(), "{junk}");
        }
    }

    #[test]
    fn a_malformed_socket_in_a_fetch_answer_costs_only_itself() {
        let message = ClusterMessage::from_value(json!({
            "type": 8, "uid": "u", "nsp": "/",
            "data": {"requestId": "r", "sockets": [{"id": null}, {"id": "ok"}]}
        }))
        .unwrap();
        let Body::FetchSocketsResponse { sockets, .. } = message.body else {
            panic!("{message:?}");
        };
        assert_eq!(sockets.len(), 1);
        assert_eq!(sockets[0].id, "ok");
    }

    #[test]
    fn absent_opts_and_flags_read_as_empty() {
        let message = ClusterMessage::from_value(json!({
            "type": 6, "uid": "emitter", "nsp": "/", "data": {"close": true}
        }))
        .unwrap();
        assert_eq!(
            message.body,
            Body::DisconnectSockets {
                opts: WireOpts::default(),
                close: true
            }
        );
    }
}
