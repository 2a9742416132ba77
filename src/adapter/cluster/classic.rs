//! The classic Redis adapter's messages (`@socket.io/redis-adapter` 8.x `createAdapter`, and
//! `@socket.io/redis-emitter` 5.x), typed.
//!
//! - A broadcast is the MessagePack array `[uid, packet, opts]` on `<key>#<nsp>#` (or
//!   `<key>#<nsp>#<room>#` when it targets one room).
//! - A request is a map `{uid, requestId, type, ...}` on `<key>-request#<nsp>#`; its `type` is a
//!   [`RequestType`]. Join, leave and disconnect also come in the shape of adapters before 7.x
//!   (`{requestId, type, sid, room}`), and from emitters without a `uid`.
//! - A response is a map `{requestId, ...}` on `<key>-response#<nsp>#`: most carry no type and
//!   are read according to the request they answer.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{ClusterError, WireOpts, WirePacket, WireSocket, present, room_names};

/// The classic adapter's request types (its `RequestType` enum).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum RequestType {
    Sockets = 0,
    AllRooms = 1,
    RemoteJoin = 2,
    RemoteLeave = 3,
    RemoteDisconnect = 4,
    RemoteFetch = 5,
    ServerSideEmit = 6,
    Broadcast = 7,
    BroadcastClientCount = 8,
    BroadcastAck = 9,
}

impl RequestType {
    fn from_number(n: u64) -> Option<RequestType> {
        use RequestType::*;
        [
            Sockets,
            AllRooms,
            RemoteJoin,
            RemoteLeave,
            RemoteDisconnect,
            RemoteFetch,
            ServerSideEmit,
            Broadcast,
            BroadcastClientCount,
            BroadcastAck,
        ]
        .into_iter()
        .find(|t| *t as u64 == n)
    }
}

/// A broadcast from another node or an emitter: `[uid, packet, opts]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ClassicBroadcast(pub String, pub WirePacket, pub WireOpts);

/// Which sockets a join, leave or disconnect request is for.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Target {
    /// Every socket the options select (`socketsJoin` and friends).
    Opts(WireOpts),
    /// One socket, in the shape of adapters before 7.x, answered with `{requestId}` by the
    /// node that has it.
    Socket { request_id: String, sid: String },
}

/// What a request asks for.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Request {
    /// The ids of the local sockets in `rooms` (6.x; answered, never sent, by 8.x).
    Sockets {
        request_id: String,
        rooms: Vec<String>,
    },
    /// Every local room.
    AllRooms { request_id: String },
    /// The targeted sockets join `rooms`.
    Join { target: Target, rooms: Vec<String> },
    /// The targeted sockets leave `rooms`.
    Leave { target: Target, rooms: Vec<String> },
    /// The targeted sockets are disconnected.
    Disconnect { target: Target, close: bool },
    /// The targeted sockets, described.
    Fetch { request_id: String, opts: WireOpts },
    /// An event for server-side listeners, answered when `request_id` is set.
    ServerSideEmit {
        request_id: Option<String>,
        data: Vec<Value>,
    },
    /// A broadcast whose acks are wanted.
    Broadcast {
        request_id: String,
        packet: WirePacket,
        opts: WireOpts,
    },
}

/// A request and its sender (`None` from emitters and old adapters).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ClassicRequest {
    pub uid: Option<String>,
    pub request: Request,
}

/// Every field any request has; which ones a request needs depends on its type.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRequest {
    #[serde(rename = "type")]
    kind: u64,
    #[serde(default)]
    uid: Option<String>,
    #[serde(default)]
    request_id: Option<String>,
    #[serde(default, deserialize_with = "optional_rooms")]
    rooms: Option<Vec<String>>,
    #[serde(default)]
    opts: Option<WireOpts>,
    #[serde(default)]
    sid: Option<String>,
    #[serde(default)]
    room: Option<String>,
    #[serde(default)]
    close: Option<bool>,
    #[serde(default)]
    data: Option<Vec<Value>>,
    #[serde(default)]
    packet: Option<WirePacket>,
}

fn optional_rooms<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Vec<String>>, D::Error> {
    room_names(deserializer).map(Some)
}

/// A field a request of its type needs is missing.
fn missing(field: &'static str) -> ClusterError {
    ClusterError::Shape(serde::de::Error::missing_field(field))
}

impl RawRequest {
    fn request_id(&mut self) -> Result<String, ClusterError> {
        self.request_id.take().ok_or(missing("requestId"))
    }

    /// The sockets a join, leave or disconnect is for: `opts`, or the old `{requestId, sid}`.
    fn target(&mut self) -> Result<Target, ClusterError> {
        if let Some(opts) = self.opts.take() {
            return Ok(Target::Opts(opts));
        }
        let sid = self.sid.take().ok_or(missing("opts"))?;
        Ok(Target::Socket {
            request_id: self.request_id()?,
            sid,
        })
    }

    /// The rooms of a join or leave: `rooms`, or the old single `room`.
    fn rooms(&mut self) -> Result<Vec<String>, ClusterError> {
        match (self.rooms.take(), self.room.take()) {
            (Some(rooms), _) => Ok(rooms),
            (None, Some(room)) => Ok(vec![room]),
            (None, None) => Err(missing("rooms")),
        }
    }
}

impl ClassicRequest {
    /// Reads a request from its JSON form (binary data as placeholders).
    pub(crate) fn from_value(value: Value) -> Result<ClassicRequest, ClusterError> {
        let mut raw: RawRequest = serde_json::from_value(value).map_err(ClusterError::Shape)?;
        let kind = RequestType::from_number(raw.kind).ok_or(ClusterError::UnknownType(raw.kind))?;
        let request = match kind {
            RequestType::Sockets => Request::Sockets {
                request_id: raw.request_id()?,
                rooms: raw.rooms.take().unwrap_or_default(),
            },
            RequestType::AllRooms => Request::AllRooms {
                request_id: raw.request_id()?,
            },
            RequestType::RemoteJoin => Request::Join {
                target: raw.target()?,
                rooms: raw.rooms()?,
            },
            RequestType::RemoteLeave => Request::Leave {
                target: raw.target()?,
                rooms: raw.rooms()?,
            },
            RequestType::RemoteDisconnect => Request::Disconnect {
                target: raw.target()?,
                close: raw.close.unwrap_or(false),
            },
            RequestType::RemoteFetch => Request::Fetch {
                request_id: raw.request_id()?,
                opts: raw.opts.take().unwrap_or_default(),
            },
            RequestType::ServerSideEmit => Request::ServerSideEmit {
                request_id: raw.request_id.take(),
                data: raw.data.take().ok_or(missing("data"))?,
            },
            RequestType::Broadcast => Request::Broadcast {
                request_id: raw.request_id()?,
                packet: raw.packet.take().ok_or(missing("packet"))?,
                opts: raw.opts.take().unwrap_or_default(),
            },
            RequestType::BroadcastClientCount | RequestType::BroadcastAck => {
                return Err(ClusterError::UnknownType(raw.kind));
            }
        };
        Ok(ClassicRequest {
            uid: raw.uid,
            request,
        })
    }

    /// The request's JSON form, keys in Node's order (`uid, requestId, type, ...`).
    pub(crate) fn to_value(&self) -> Value {
        let mut fields: Vec<(&str, Value)> = Vec::with_capacity(5);
        if let Some(uid) = &self.uid {
            fields.push(("uid", uid.as_str().into()));
        }
        let kind = |kind: RequestType| ("type", Value::from(kind as u8));
        let opts = |opts: &WireOpts| ("opts", serde_json::to_value(opts).unwrap_or(Value::Null));
        // Node's classic adapter sends its own join, leave, disconnect and fetch without flags.
        let targets = |opts: &WireOpts| ("opts", opts.targets_value());
        let rooms = |rooms: &[String]| ("rooms", Value::from(rooms.to_vec()));
        let id = |id: &str| ("requestId", Value::from(id));
        // `socketsJoin` and friends: `type, opts`; the old shape: `requestId, type, sid`.
        let target = |fields: &mut Vec<(&str, Value)>, t: RequestType, target: &Target| match target
        {
            Target::Opts(o) => fields.extend([kind(t), targets(o)]),
            Target::Socket { request_id, sid } => {
                fields.extend([id(request_id), kind(t), ("sid", sid.as_str().into())])
            }
        };
        match &self.request {
            Request::Sockets {
                request_id,
                rooms: r,
            } => fields.extend([id(request_id), kind(RequestType::Sockets), rooms(r)]),
            Request::AllRooms { request_id } => {
                fields.extend([id(request_id), kind(RequestType::AllRooms)])
            }
            Request::Join {
                target: t,
                rooms: r,
            } => {
                target(&mut fields, RequestType::RemoteJoin, t);
                fields.push(rooms(r));
            }
            Request::Leave {
                target: t,
                rooms: r,
            } => {
                target(&mut fields, RequestType::RemoteLeave, t);
                fields.push(rooms(r));
            }
            Request::Disconnect { target: t, close } => {
                target(&mut fields, RequestType::RemoteDisconnect, t);
                fields.push(("close", (*close).into()));
            }
            Request::Fetch {
                request_id,
                opts: o,
            } => fields.extend([id(request_id), kind(RequestType::RemoteFetch), targets(o)]),
            Request::ServerSideEmit { request_id, data } => {
                fields.extend(request_id.as_deref().map(id));
                fields.extend([
                    kind(RequestType::ServerSideEmit),
                    ("data", data.clone().into()),
                ]);
            }
            Request::Broadcast {
                request_id,
                packet,
                opts: o,
            } => {
                let packet = serde_json::to_value(packet).unwrap_or(Value::Null);
                fields.extend([
                    id(request_id),
                    kind(RequestType::Broadcast),
                    ("packet", packet),
                    opts(o),
                ]);
            }
        }
        Value::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }
}

/// A response on the response channel. Which field it carries depends on the request it
/// answers, found by `requestId`; only server-side emit (6), client count (8) and broadcast
/// ack (9) responses name their type.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ClassicResponse {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<u64>,
    pub request_id: String,
    /// Socket ids (answer to [`Request::Sockets`]) or sockets (to [`Request::Fetch`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sockets: Option<Value>,
    #[serde(
        default,
        deserialize_with = "optional_rooms",
        skip_serializing_if = "Option::is_none"
    )]
    pub rooms: Option<Vec<String>>,
    /// A server-side emit's answer (its first argument).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_count: Option<u64>,
    /// A client's ack: its first argument (`null` included), absent when it gave none.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub packet: Option<Value>,
}

impl ClassicResponse {
    /// Reads a response from its JSON form.
    pub(crate) fn from_value(value: Value) -> Result<ClassicResponse, ClusterError> {
        serde_json::from_value(value).map_err(ClusterError::Shape)
    }

    /// The response's JSON form.
    pub(crate) fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// The sockets of an answer to [`Request::Fetch`] (none when the field is absent, as
    /// Node counts such an answer without sockets).
    pub(crate) fn fetched_sockets(&self) -> Result<Vec<WireSocket>, ClusterError> {
        match &self.sockets {
            None => Ok(Vec::new()),
            Some(Value::Array(sockets)) => Ok(super::described_sockets(sockets.clone())),
            Some(_) => Err(ClusterError::Shape(serde::de::Error::custom(
                "sockets is not an array",
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_what_node_and_the_emitter_send() {
        let cases = [
            (
                json!({"uid": "AKL5EK", "requestId": "r1", "type": 1}),
                Request::AllRooms {
                    request_id: "r1".into(),
                },
            ),
            (
                // The emitter's socketsJoin: no uid, no flags.
                json!({"type": 2, "opts": {"rooms": ["a"], "except": []}, "rooms": ["b"]}),
                Request::Join {
                    target: Target::Opts(WireOpts {
                        rooms: vec!["a".into()],
                        ..Default::default()
                    }),
                    rooms: vec!["b".into()],
                },
            ),
            (
                // An adapter before 7.x.
                json!({"requestId": "r2", "type": 3, "sid": "s", "room": "b"}),
                Request::Leave {
                    target: Target::Socket {
                        request_id: "r2".into(),
                        sid: "s".into(),
                    },
                    rooms: vec!["b".into()],
                },
            ),
            (
                json!({"uid": "emitter", "type": 6, "data": ["hello", 1]}),
                Request::ServerSideEmit {
                    request_id: None,
                    data: vec![json!("hello"), json!(1)],
                },
            ),
        ];
        for (wire, expected) in cases {
            let request = ClassicRequest::from_value(wire.clone()).unwrap();
            assert_eq!(request.request, expected, "{wire}");
            let again = ClassicRequest::from_value(request.to_value()).unwrap();
            assert_eq!(again, request, "{wire}");
        }
    }

    #[test]
    fn writes_keys_in_node_order() {
        let request = ClassicRequest {
            uid: Some("u".into()),
            request: Request::Broadcast {
                request_id: "r".into(),
                packet: WirePacket {
                    nsp: Some("/".into()),
                    ..WirePacket::event(vec![json!("e")])
                },
                opts: WireOpts::default(),
            },
        };
        assert_eq!(
            request.to_value().to_string(),
            r#"{"uid":"u","requestId":"r","type":7,"packet":{"type":2,"data":["e"],"nsp":"/"},"opts":{"rooms":[],"except":[],"flags":{}}}"#
        );
    }

    #[test]
    fn a_broadcast_is_a_three_element_array() {
        let wire = json!(["emitter", {"type": 2, "data": ["hi"], "nsp": "/"}, {"rooms": [], "flags": {}, "except": []}]);
        let ClassicBroadcast(uid, packet, opts) = serde_json::from_value(wire).unwrap();
        assert_eq!(
            (uid.as_str(), packet.data, opts.rooms.len()),
            ("emitter", vec![json!("hi")], 0)
        );
        assert!(serde_json::from_value::<ClassicBroadcast>(json!(["u", {"type": 2}])).is_err());
        assert!(serde_json::from_value::<ClassicBroadcast>(json!({"uid": "u"})).is_err());
    }

    #[test]
    fn responses_are_read_by_what_they_answer() {
        let response = ClassicResponse::from_value(json!({
            "requestId": "r",
            "sockets": [{"id": "s", "handshake": {}, "rooms": ["s"], "data": {"n": 1}}]
        }))
        .unwrap();
        let sockets = response.fetched_sockets().unwrap();
        assert_eq!(sockets[0].data, json!({"n": 1}));
        let count =
            ClassicResponse::from_value(json!({"type": 8, "requestId": "r", "clientCount": 3}))
                .unwrap();
        assert_eq!(count.client_count, Some(3));
        assert!(ClassicResponse::from_value(json!({"sockets": []})).is_err());
        let junk = ClassicResponse::from_value(json!({"requestId": "r", "sockets": 5})).unwrap();
        assert!(junk.fetched_sockets().is_err());
        // One malformed socket costs only itself.
        let mixed = ClassicResponse::from_value(json!({
            "requestId": "r",
            "sockets": [{"id": 7}, {"id": "good", "rooms": ["good"]}, "junk"]
        }))
        .unwrap();
        let sockets = mixed.fetched_sockets().unwrap();
        assert_eq!(sockets.len(), 1);
        assert_eq!(sockets[0].id, "good");
    }

    #[test]
    fn junk_requests_are_errors() {
        for junk in [
            json!({"type": 1}),
            json!({"type": 2, "rooms": ["a"]}),
            json!({"type": 2, "opts": {}}),
            json!({"type": 7, "requestId": "r"}),
            json!({"type": 8, "requestId": "r"}),
            json!({"type": 42}),
            json!({"type": 6, "data": "x"}),
            json!("string"),
        ] {
            assert!(ClassicRequest::from_value(junk.clone()).is_err(), "{junk}");
        }
    }
}
