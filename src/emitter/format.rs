//! How an emitter's operations go on the wire, per format of Node's adapters: the classic
//! Redis adapter (as `@socket.io/redis-emitter` 5.x writes it), the sharded Redis adapter, the
//! Redis Streams adapter (as `@socket.io/redis-streams-emitter` writes it), and the PostgreSQL
//! adapter (as `@socket.io/postgres-emitter` 0.1 writes it).
//!
//! The messages are the adapters' own typed messages (`adapter::cluster`), written with the
//! same codec, so what an emitter sends is what a server node of that format reads.

use bytes::Bytes;
#[cfg(feature = "redis")]
use serde::Serialize;
use serde_json::Value;

#[cfg(feature = "redis")]
use crate::adapter::cluster::WireFlags;
#[cfg(feature = "redis")]
use crate::adapter::cluster::classic::{ClassicRequest, Request, Target};
#[cfg(feature = "redis")]
use crate::adapter::cluster::codec;
use crate::adapter::cluster::message::Body;
#[cfg(feature = "redis")]
use crate::adapter::cluster::message::ClusterMessage;
use crate::adapter::cluster::{WireOpts, WirePacket};
#[cfg(feature = "redis")]
use crate::adapter::redis::streams::entry_fields;
#[cfg(feature = "redis")]
use crate::adapter::redis::{RedisAdapterConfig, RedisMode, SubscriptionMode};

/// The sender id every emitter uses: nodes never count it as a node.
pub(crate) const EMITTER_UID: &str = "emitter";

/// Which servers an emitter talks to: the format their adapter reads, with its channel names.
///
/// `EmitterFormat::redis` gives the format that servers with a Redis adapter configuration
/// read (feature `redis`), `EmitterFormat::postgres` the one of servers with a PostgreSQL
/// adapter configuration (feature `postgres`).
///
/// ```
/// # #[cfg(feature = "redis")] {
/// use tower_socketio::adapter::redis::{RedisAdapterConfig, SubscriptionMode};
/// use tower_socketio::emitter::EmitterFormat;
///
/// let config = RedisAdapterConfig::new("redis://127.0.0.1").sharded(SubscriptionMode::Dynamic);
/// assert_eq!(
///     EmitterFormat::redis(&config),
///     EmitterFormat::RedisSharded {
///         channel_prefix: "socket.io".into(),
///         subscription_mode: SubscriptionMode::Dynamic,
///     }
/// );
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EmitterFormat {
    /// Node's classic Redis adapter (`createAdapter`), as `@socket.io/redis-emitter` 5.x
    /// writes to it: MessagePack broadcasts on `<key>#<nsp>#` (or `<key>#<nsp>#<room>#` for
    /// exactly one room), JSON requests on `<key>-request#<nsp>#`.
    #[cfg(feature = "redis")]
    RedisClassic {
        /// The channel prefix (Node's `key`, `socket.io` by default).
        key: String,
    },
    /// Node's sharded Redis adapter (`createShardedAdapter`): cluster messages (JSON, or
    /// MessagePack with binary data), `SPUBLISH`ed on `<prefix>#<nsp>#`, or on a room's own
    /// channel when the servers' subscription mode listens there.
    #[cfg(feature = "redis")]
    RedisSharded {
        /// The channel prefix (Node's `channelPrefix`, `socket.io` by default).
        channel_prefix: String,
        /// The servers' subscription mode, which decides where a one-room broadcast goes.
        subscription_mode: SubscriptionMode,
    },
    /// Node's Redis Streams adapter, as `@socket.io/redis-streams-emitter` writes to it: every
    /// operation is an entry of the stream (`uid emitter nsp <nsp> type <n> data <data>`).
    #[cfg(feature = "redis")]
    RedisStreams {
        /// The stream (Node's `streamName`, `socket.io` by default).
        stream_name: String,
        /// About how many entries the stream keeps (`MAXLEN ~`, 10 000 by default).
        max_len: u64,
    },
    /// Node's PostgreSQL adapter, as `@socket.io/postgres-emitter` 0.1 writes to it: the
    /// cluster message `{type, data, uid: "emitter", nsp}` as JSON, `NOTIFY`ed on
    /// `<prefix>#<nsp>`; with binary data, or from `payload_threshold` bytes of JSON, its
    /// MessagePack goes to the attachments table and the `NOTIFY` carries
    /// `{"uid":"emitter","type":<type>,"attachmentId":"<id>"}`.
    #[cfg(feature = "postgres")]
    Postgres {
        /// The channel prefix (Node's `channelPrefix`, `socket.io` by default).
        channel_prefix: String,
        /// From how many bytes of JSON a message goes through the attachments table (8 000
        /// by default: PostgreSQL refuses a `NOTIFY` payload of 8 000 bytes or more).
        payload_threshold: usize,
    },
}

impl EmitterFormat {
    /// The format servers with this adapter configuration read (its mode, prefix and stream).
    #[cfg(feature = "redis")]
    pub fn redis(config: &RedisAdapterConfig) -> EmitterFormat {
        match config.mode {
            RedisMode::Classic => EmitterFormat::RedisClassic {
                key: config.key.clone(),
            },
            RedisMode::Sharded(subscription_mode) => EmitterFormat::RedisSharded {
                channel_prefix: config.key.clone(),
                subscription_mode,
            },
            RedisMode::Streams => EmitterFormat::RedisStreams {
                stream_name: config.streams.stream_name.clone(),
                max_len: config.streams.max_len,
            },
        }
    }

    /// What carries `operation` for namespace `nsp` in this format.
    pub(crate) fn encode(&self, nsp: &str, operation: Operation) -> Outgoing {
        match self {
            #[cfg(feature = "redis")]
            EmitterFormat::RedisClassic { key } => classic(key, nsp, operation),
            #[cfg(feature = "redis")]
            EmitterFormat::RedisSharded {
                channel_prefix,
                subscription_mode,
            } => sharded(channel_prefix, *subscription_mode, nsp, operation),
            #[cfg(feature = "redis")]
            EmitterFormat::RedisStreams {
                stream_name,
                max_len,
            } => streams(stream_name, *max_len, nsp, operation),
            #[cfg(feature = "postgres")]
            EmitterFormat::Postgres {
                channel_prefix,
                payload_threshold,
            } => super::postgres::encode(channel_prefix, *payload_threshold, nsp, operation),
        }
    }
}

/// One operation of an emitter, typed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Operation {
    /// `[event, ...args]` (binary arguments as placeholders into `attachments`) for the
    /// targeted sockets.
    Broadcast {
        data: Vec<Value>,
        attachments: Vec<Bytes>,
        opts: WireOpts,
    },
    /// The targeted sockets join `rooms`.
    Join { opts: WireOpts, rooms: Vec<String> },
    /// The targeted sockets leave `rooms`.
    Leave { opts: WireOpts, rooms: Vec<String> },
    /// The targeted sockets are disconnected (their connections closed with `close`).
    Disconnect { opts: WireOpts, close: bool },
    /// `[event, ...args]` for the servers' own listeners.
    ServerSideEmit { data: Vec<Value> },
}

/// What to hand the backend.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outgoing {
    Publish {
        channel: String,
        payload: Bytes,
    },
    #[cfg(feature = "redis")]
    Append {
        stream: String,
        max_len: u64,
        fields: Vec<(&'static str, Bytes)>,
    },
    /// Stored (the attachments table), then announced on `channel` by a header naming it.
    #[cfg(feature = "postgres")]
    Attach {
        channel: String,
        kind: u8,
        payload: Bytes,
    },
}

#[cfg(feature = "redis")]
/// A broadcast's options in the order Node's emitters write them (`rooms, flags, except`; the
/// adapters write `rooms, except, flags`, and every reader takes both).
#[derive(Serialize)]
struct EmitterOpts<'a> {
    rooms: &'a [String],
    flags: &'a WireFlags,
    except: &'a [String],
}

/// `@socket.io/redis-emitter`'s broadcast: `[uid, packet, opts]`, always MessagePack.
#[cfg(feature = "redis")]
#[derive(Serialize)]
struct ClassicEmitterBroadcast<'a>(&'a str, &'a WirePacket, EmitterOpts<'a>);

/// An event packet as the emitters send it: with its namespace.
fn event_packet(nsp: &str, data: Vec<Value>) -> WirePacket {
    WirePacket {
        nsp: Some(nsp.to_owned()),
        ..WirePacket::event(data)
    }
}

#[cfg(feature = "redis")]
fn classic(key: &str, nsp: &str, operation: Operation) -> Outgoing {
    let request = |request: Request, uid: Option<&str>| {
        let request = ClassicRequest {
            uid: uid.map(str::to_owned),
            request,
        };
        Outgoing::Publish {
            channel: format!("{key}-request#{nsp}#"),
            payload: Bytes::from(request.to_value().to_string()),
        }
    };
    match operation {
        Operation::Broadcast {
            data,
            attachments,
            opts,
        } => {
            let channel = match opts.rooms.as_slice() {
                [room] => format!("{key}#{nsp}#{room}#"),
                _ => format!("{key}#{nsp}#"),
            };
            let packet = event_packet(nsp, data);
            let message = ClassicEmitterBroadcast(
                EMITTER_UID,
                &packet,
                EmitterOpts {
                    rooms: &opts.rooms,
                    flags: &opts.flags,
                    except: &opts.except,
                },
            );
            // Plain structures of strings and JSON values: serializing cannot fail.
            let value = serde_json::to_value(message).unwrap_or(Value::Null);
            let mut payload = Vec::new();
            codec::write_json(&mut payload, &value, &attachments);
            Outgoing::Publish {
                channel,
                payload: Bytes::from(payload),
            }
        }
        // The emitter's join, leave and disconnect carry no uid (and no flags), its
        // server-side emit does: as `@socket.io/redis-emitter` writes them.
        Operation::Join { opts, rooms } => request(
            Request::Join {
                target: Target::Opts(opts),
                rooms,
            },
            None,
        ),
        Operation::Leave { opts, rooms } => request(
            Request::Leave {
                target: Target::Opts(opts),
                rooms,
            },
            None,
        ),
        Operation::Disconnect { opts, close } => request(
            Request::Disconnect {
                target: Target::Opts(opts),
                close,
            },
            None,
        ),
        Operation::ServerSideEmit { data } => request(
            Request::ServerSideEmit {
                request_id: None,
                data,
            },
            Some(EMITTER_UID),
        ),
    }
}

/// The cluster message of an operation, and the attachments its placeholders point to.
pub(super) fn cluster_body(nsp: &str, operation: Operation) -> (Body, Vec<Bytes>) {
    match operation {
        Operation::Broadcast {
            data,
            attachments,
            opts,
        } => (
            Body::Broadcast {
                packet: event_packet(nsp, data),
                opts,
                request_id: None,
            },
            attachments,
        ),
        Operation::Join { opts, rooms } => (Body::SocketsJoin { opts, rooms }, Vec::new()),
        Operation::Leave { opts, rooms } => (Body::SocketsLeave { opts, rooms }, Vec::new()),
        Operation::Disconnect { opts, close } => {
            (Body::DisconnectSockets { opts, close }, Vec::new())
        }
        Operation::ServerSideEmit { data } => (
            Body::ServerSideEmit {
                packet: data,
                request_id: None,
            },
            Vec::new(),
        ),
    }
}

/// The room whose own channel a sharded server of this mode listens on for a broadcast to
/// exactly that room: Node's choice, where a 20-character room is taken for a socket id.
#[cfg(feature = "redis")]
fn sharded_room(mode: SubscriptionMode, body: &Body) -> Option<&str> {
    let Body::Broadcast {
        opts,
        request_id: None,
        ..
    } = body
    else {
        return None;
    };
    let [room] = opts.rooms.as_slice() else {
        return None;
    };
    match mode {
        SubscriptionMode::Static => None,
        SubscriptionMode::Dynamic => (room.len() != 20).then_some(room.as_str()),
        SubscriptionMode::DynamicPrivate => Some(room.as_str()),
    }
}

#[cfg(feature = "redis")]
fn sharded(prefix: &str, mode: SubscriptionMode, nsp: &str, operation: Operation) -> Outgoing {
    let (body, attachments) = cluster_body(nsp, operation);
    let channel = match sharded_room(mode, &body) {
        Some(room) => format!("{prefix}#{nsp}#{room}#"),
        None => format!("{prefix}#{nsp}#"),
    };
    let message = ClusterMessage {
        uid: EMITTER_UID.to_owned(),
        nsp: nsp.to_owned(),
        body,
    };
    // JSON, MessagePack when there is binary data: as the sharded adapter writes.
    let payload = codec::encode(&message.to_value(), &attachments, false);
    Outgoing::Publish {
        channel,
        payload: Bytes::from(payload),
    }
}

#[cfg(feature = "redis")]
fn streams(stream: &str, max_len: u64, nsp: &str, operation: Operation) -> Outgoing {
    let (body, attachments) = cluster_body(nsp, operation);
    let kind = body.kind();
    let data = body.to_data().unwrap_or(Value::Null);
    let fields = entry_fields(EMITTER_UID, nsp, kind, &data, &attachments)
        .into_iter()
        .map(|(name, value)| (name, Bytes::from(value)))
        .collect();
    Outgoing::Append {
        stream: stream.to_owned(),
        max_len,
        fields,
    }
}

#[cfg(all(test, feature = "redis"))]
mod tests {
    use super::*;
    use serde_json::json;

    fn opts(rooms: &[&str], except: &[&str]) -> WireOpts {
        WireOpts {
            rooms: rooms.iter().map(|r| r.to_string()).collect(),
            except: except.iter().map(|r| r.to_string()).collect(),
            flags: WireFlags::default(),
        }
    }

    fn classic_format() -> EmitterFormat {
        EmitterFormat::RedisClassic {
            key: "socket.io".into(),
        }
    }

    fn published(outgoing: Outgoing) -> (String, Bytes) {
        match outgoing {
            Outgoing::Publish { channel, payload } => (channel, payload),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_classic_broadcast_is_byte_for_byte_the_node_emitter_s() {
        // `emitter.emit("hi")` with @socket.io/redis-emitter 5.1 (WIRE.md §4).
        let (channel, payload) = published(classic_format().encode(
            "/",
            Operation::Broadcast {
                data: vec![json!("hi")],
                attachments: Vec::new(),
                opts: opts(&[], &[]),
            },
        ));
        assert_eq!(channel, "socket.io#/#");
        let mut want = vec![0x93, 0xa7];
        want.extend(b"emitter");
        want.extend([0x83, 0xa4]);
        want.extend(b"type");
        want.extend([0x02, 0xa4]);
        want.extend(b"data");
        want.extend([0x91, 0xa2]);
        want.extend(b"hi");
        want.push(0xa3);
        want.extend(b"nsp");
        want.extend([0xa1, b'/', 0x83, 0xa5]);
        want.extend(b"rooms");
        want.extend([0x90, 0xa5]);
        want.extend(b"flags");
        want.extend([0x80, 0xa6]);
        want.extend(b"except");
        want.push(0x90);
        assert_eq!(payload.as_ref(), want.as_slice());
    }

    #[test]
    fn a_classic_broadcast_to_one_room_goes_to_its_channel_with_binary_as_bin() {
        let (channel, payload) = published(classic_format().encode(
            "/chat",
            Operation::Broadcast {
                data: vec![json!("file"), crate::parser::placeholder(0)],
                attachments: vec![Bytes::from_static(b"\x01\x02")],
                opts: opts(&["r1"], &["r2"]),
            },
        ));
        assert_eq!(channel, "socket.io#/chat#r1#");
        let decoded = codec::decode_message(&payload).unwrap();
        assert_eq!(
            decoded.value,
            json!(["emitter", {"type": 2, "data": ["file", {"_placeholder": true, "num": 0}], "nsp": "/chat"}, {"rooms": ["r1"], "flags": {}, "except": ["r2"]}])
        );
        assert_eq!(decoded.attachments, vec![Bytes::from_static(b"\x01\x02")]);
        // Two rooms: the namespace's channel.
        let (channel, _) = published(classic_format().encode(
            "/",
            Operation::Broadcast {
                data: vec![json!("e")],
                attachments: Vec::new(),
                opts: opts(&["a", "b"], &[]),
            },
        ));
        assert_eq!(channel, "socket.io#/#");
    }

    #[test]
    fn classic_requests_are_the_node_emitter_s() {
        let cases = [
            (
                Operation::Join {
                    opts: opts(&["a"], &["b"]),
                    rooms: vec!["c".into()],
                },
                r#"{"type":2,"opts":{"rooms":["a"],"except":["b"]},"rooms":["c"]}"#,
            ),
            (
                Operation::Leave {
                    opts: opts(&[], &[]),
                    rooms: vec!["c".into()],
                },
                r#"{"type":3,"opts":{"rooms":[],"except":[]},"rooms":["c"]}"#,
            ),
            (
                Operation::Disconnect {
                    opts: opts(&["a"], &[]),
                    close: true,
                },
                r#"{"type":4,"opts":{"rooms":["a"],"except":[]},"close":true}"#,
            ),
            (
                Operation::ServerSideEmit {
                    data: vec![json!("ev"), json!({"k": 1})],
                },
                r#"{"uid":"emitter","type":6,"data":["ev",{"k":1}]}"#,
            ),
        ];
        for (operation, want) in cases {
            let (channel, payload) = published(classic_format().encode("/admin", operation));
            assert_eq!(channel, "socket.io-request#/admin#");
            assert_eq!(std::str::from_utf8(&payload).unwrap(), want);
        }
    }

    #[test]
    fn sharded_messages_go_where_the_subscription_mode_listens() {
        let broadcast = |rooms: &[&str]| Operation::Broadcast {
            data: vec![json!("e")],
            attachments: Vec::new(),
            opts: opts(rooms, &[]),
        };
        let sid = "AAAAAAAAAAAAAAAAAAAA";
        let format = |mode| EmitterFormat::RedisSharded {
            channel_prefix: "p".into(),
            subscription_mode: mode,
        };
        let channel = |mode, op| published(format(mode).encode("/", op)).0;
        use SubscriptionMode::*;
        assert_eq!(channel(Dynamic, broadcast(&["room"])), "p#/#room#");
        assert_eq!(channel(Dynamic, broadcast(&[sid])), "p#/#");
        assert_eq!(
            channel(DynamicPrivate, broadcast(&[sid])),
            format!("p#/#{sid}#")
        );
        assert_eq!(channel(Static, broadcast(&["room"])), "p#/#");
        assert_eq!(channel(Dynamic, broadcast(&["a", "b"])), "p#/#");
        let join = Operation::Join {
            opts: opts(&["room"], &[]),
            rooms: vec!["x".into()],
        };
        let (channel, payload) = published(format(Dynamic).encode("/", join));
        assert_eq!(channel, "p#/#");
        assert_eq!(
            std::str::from_utf8(&payload).unwrap(),
            r#"{"type":4,"data":{"opts":{"rooms":["room"],"except":[],"flags":{}},"rooms":["x"]},"uid":"emitter","nsp":"/"}"#
        );
    }

    #[test]
    fn sharded_binary_is_messagepack_that_the_adapter_reads() {
        let op = Operation::Broadcast {
            data: vec![json!("e"), crate::parser::placeholder(0)],
            attachments: vec![Bytes::from_static(b"\xff")],
            opts: opts(&[], &["x"]),
        };
        let format = EmitterFormat::RedisSharded {
            channel_prefix: "socket.io".into(),
            subscription_mode: SubscriptionMode::Dynamic,
        };
        let (_, payload) = published(format.encode("/", op));
        assert_ne!(payload[0], b'{');
        let decoded = codec::decode_message(&payload).unwrap();
        let message = ClusterMessage::from_value(decoded.value).unwrap();
        assert_eq!(message.uid, "emitter");
        let Body::Broadcast { packet, opts, .. } = message.body else {
            panic!("{message:?}");
        };
        assert_eq!(packet.data[1], crate::parser::placeholder(0));
        assert_eq!(opts.except, vec!["x"]);
        assert_eq!(decoded.attachments, vec![Bytes::from_static(b"\xff")]);
    }

    #[test]
    fn streams_entries_are_the_streams_emitter_s() {
        let format = EmitterFormat::RedisStreams {
            stream_name: "socket.io".into(),
            max_len: 10_000,
        };
        let Outgoing::Append {
            stream,
            max_len,
            fields,
        } = format.encode(
            "/",
            Operation::ServerSideEmit {
                data: vec![json!("ping"), json!(1)],
            },
        )
        else {
            panic!("not a stream entry");
        };
        assert_eq!((stream.as_str(), max_len), ("socket.io", 10_000));
        let fields: Vec<(&str, &str)> = fields
            .iter()
            .map(|(k, v)| (*k, std::str::from_utf8(v).unwrap()))
            .collect();
        assert_eq!(
            fields,
            vec![
                ("uid", "emitter"),
                ("nsp", "/"),
                ("type", "9"),
                ("data", r#"{"packet":["ping",1]}"#),
            ]
        );
        let Outgoing::Append { fields, .. } = format.encode(
            "/",
            Operation::Broadcast {
                data: vec![json!("b"), crate::parser::placeholder(0)],
                attachments: vec![Bytes::from_static(b"\x00\x01")],
                opts: opts(&["r"], &[]),
            },
        ) else {
            panic!("not a stream entry");
        };
        // Binary data: base64 MessagePack of the data.
        assert_eq!(fields[2].1.as_ref(), b"3");
        assert_ne!(fields[3].1[0], b'{');
    }
}
