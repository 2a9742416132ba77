//! What nodes of a cluster say to each other, typed: the shapes every remote adapter shares.
//!
//! Node's adapters speak two families of messages:
//! - [`message`]: the envelopes of socket.io-adapter's `ClusterAdapter`
//!   (`{type, data, uid, nsp}`), carried by the sharded Redis adapter, the Redis Streams
//!   adapter and the PostgreSQL adapter;
//! - [`classic`]: the requests and responses of the classic Redis adapter and the Redis emitter.
//!
//! Both are read from, and written to, the JSON value a transport decodes (JSON, or MessagePack
//! with binary data as placeholders plus attachments), never probed field by field: what does
//! not fit its type is a [`ClusterError`], which the adapter logs before it drops the message.
//! Everything here comes from a shared channel, so nothing here trusts it.
//!
//! `WIRE.md` beside this file is the specification these types follow: every inter-node
//! message of Node's adapters and emitters (ClusterAdapter, classic and sharded Redis, Redis
//! Streams, PostgreSQL), with field order, encodings and byte samples, read from Node's sources.

// Built for any remote adapter; without the Redis adapter, the parts only it uses (responses
// on their own channel, counted answers, the classic format) are unused.
#![cfg_attr(not(feature = "redis"), allow(dead_code))]

#[cfg(feature = "redis")]
pub(crate) mod classic;
pub(crate) mod codec;
pub(crate) mod message;
pub(crate) mod node;
pub(crate) mod ready;
pub(crate) mod requests;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::core::{BroadcastOptions, Room};

/// A message from another node that does not fit its type.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ClusterError {
    /// The message, or its `data`, does not have the fields its type needs.
    #[error("malformed cluster message: {0}")]
    Shape(#[source] serde_json::Error),
    /// A type number that no version of the protocol uses.
    #[error("unknown cluster message type {0}")]
    UnknownType(u64),
    /// A message of a type that carries `data` came without it.
    #[error("cluster message without data")]
    MissingData,
    /// A message without the sender's `uid`.
    #[error("cluster message without uid")]
    MissingUid,
    /// A message without its namespace.
    #[error("cluster message without nsp")]
    MissingNamespace,
}

/// A Socket.IO packet as nodes pass it: the parser's packet object before encoding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct WirePacket {
    /// The packet type (2, EVENT, for broadcasts, even with binary arguments).
    #[serde(rename = "type")]
    pub kind: u8,
    /// `[event, ...args]`.
    pub data: Vec<Value>,
    /// The namespace: sent by the classic adapter and the emitters, not by `ClusterAdapter`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nsp: Option<String>,
    /// An ack id (only from a Node node that routes `socket.emit` with an ack through its
    /// adapter); each receiving node uses its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
}

impl WirePacket {
    /// Socket.IO's EVENT packet type.
    pub(crate) const EVENT: u8 = 2;

    /// An event packet without namespace: `[event, ...args]`.
    pub(crate) fn event(data: Vec<Value>) -> WirePacket {
        WirePacket {
            kind: Self::EVENT,
            data,
            nsp: None,
            id: None,
        }
    }
}

/// Broadcast flags as Node sends them; absent keys are absent, unknown keys ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireFlags {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volatile: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compress: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<bool>,
    /// The ack timeout in milliseconds, on broadcasts with acks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
    /// Set by Node's `RemoteSocket.emit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_single_response: Option<bool>,
}

/// Who an operation targets, as Node sends it: `{rooms, except, flags}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct WireOpts {
    #[serde(default, deserialize_with = "room_names")]
    pub rooms: Vec<String>,
    #[serde(default, deserialize_with = "room_names")]
    pub except: Vec<String>,
    /// `null`, absent and `{}` all mean no flags.
    #[serde(default, deserialize_with = "flags_or_none")]
    pub flags: WireFlags,
}

impl WireOpts {
    /// The options of a local operation.
    pub(crate) fn from_options(opts: &BroadcastOptions, timeout: Option<u64>) -> WireOpts {
        let names = |rooms: &[Room]| rooms.iter().map(|r| r.to_string()).collect();
        WireOpts {
            rooms: names(&opts.rooms),
            except: names(&opts.except),
            flags: WireFlags {
                volatile: opts.volatile.then_some(true),
                // `BroadcastOptions::compress` is whether the sender asked for compression
                // (`false` also when it said nothing): only a request is worth sending, as an
                // explicit `false` would turn compression off on Node receivers.
                compress: opts.compress.then_some(true),
                local: None,
                timeout,
                expect_single_response: None,
            },
        }
    }

    /// The `{rooms, except}` of the classic adapter's own join, leave, disconnect and fetch
    /// requests, which carry no flags.
    #[cfg(feature = "redis")]
    pub(crate) fn targets_value(&self) -> Value {
        serde_json::json!({ "rooms": self.rooms, "except": self.except })
    }

    /// The options a remote operation is carried out with on this node (always local: it came
    /// from another node, which reaches the rest itself).
    pub(crate) fn to_options(&self) -> BroadcastOptions {
        let rooms = |names: &[String]| names.iter().map(|r| Room::from(r.clone())).collect();
        BroadcastOptions {
            rooms: rooms(&self.rooms),
            except: rooms(&self.except),
            local: true,
            volatile: self.flags.volatile == Some(true),
            compress: self.flags.compress == Some(true),
        }
    }
}

/// A socket as a fetch answer describes it: `{id, handshake, rooms, data}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct WireSocket {
    pub id: String,
    #[serde(default)]
    pub handshake: Value,
    #[serde(default, deserialize_with = "room_names")]
    pub rooms: Vec<String>,
    #[serde(default)]
    pub data: Value,
}

/// The sockets of a fetch answer that describe a socket; the others are logged and skipped, so
/// that one malformed entry costs neither the rest of the answer nor a wait for the request's
/// timeout (Node takes the array as it is).
pub(crate) fn described_sockets(values: Vec<Value>) -> Vec<WireSocket> {
    values
        .into_iter()
        .filter_map(|value| match serde_json::from_value(value) {
            Ok(socket) => Some(socket),
            Err(err) => {
                tracing::debug!(error = %err, "skipping a malformed socket in a fetch answer");
                None
            }
        })
        .collect()
}

/// Room names are strings, but a JavaScript app may join a number (`socket.join(1)`), which
/// Node sends as a number: read it as its decimal string, as Node's lookups match it.
fn room_names<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Name {
        Text(String),
        Number(serde_json::Number),
    }
    let names = Option::<Vec<Name>>::deserialize(deserializer)?.unwrap_or_default();
    Ok(names
        .into_iter()
        .map(|name| match name {
            Name::Text(text) => text,
            Name::Number(n) => n.to_string(),
        })
        .collect())
}

/// A value that may be `null`: absent is `None`, `null` is `Some(Value::Null)` (an ack whose
/// first argument is `null` is not an ack without arguments).
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

fn flags_or_none<'de, D: Deserializer<'de>>(deserializer: D) -> Result<WireFlags, D::Error> {
    Ok(Option::<WireFlags>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn opts_accept_what_node_and_its_emitters_send() {
        for (wire, rooms) in [
            (
                json!({"rooms": ["a"], "except": [], "flags": {}}),
                vec!["a"],
            ),
            (json!({"rooms": ["a"], "flags": null}), vec!["a"]),
            (json!({"rooms": [1, "b"]}), vec!["1", "b"]),
            (json!({}), vec![]),
            (json!({"rooms": null, "except": null}), vec![]),
        ] {
            let opts: WireOpts = serde_json::from_value(wire.clone()).unwrap();
            assert_eq!(opts.rooms, rooms, "{wire}");
        }
        assert!(serde_json::from_value::<WireOpts>(json!({"rooms": [{}]})).is_err());
        assert!(serde_json::from_value::<WireOpts>(json!({"rooms": "a"})).is_err());
    }

    #[test]
    fn options_keep_targets_and_flags() {
        let opts = BroadcastOptions {
            rooms: vec!["a".into()],
            except: vec!["b".into()],
            local: false,
            volatile: true,
            compress: true,
        };
        let wire = WireOpts::from_options(&opts, Some(500));
        assert_eq!(
            serde_json::to_value(&wire).unwrap(),
            json!({"rooms": ["a"], "except": ["b"], "flags": {"volatile": true, "compress": true, "timeout": 500}})
        );
        let back = wire.to_options();
        assert_eq!((back.rooms, back.except), (opts.rooms, opts.except));
        assert!(back.local && back.volatile && back.compress);
        // Options nobody set send no flags, as Node's `flags: {}`.
        assert_eq!(
            serde_json::to_value(WireOpts::from_options(&BroadcastOptions::default(), None))
                .unwrap(),
            json!({"rooms": [], "except": [], "flags": {}})
        );
        let node = WireOpts {
            flags: WireFlags {
                compress: Some(false),
                ..Default::default()
            },
            ..Default::default()
        };
        assert!(!node.to_options().compress);
    }
}
