//! The Admin UI's messages, typed, with the field names of `@socket.io/admin-ui` 0.5 (its
//! `lib/typed-events.ts`): what goes to the UI, and the annotation sockets carry in fetch
//! answers so that a node lists another node's sockets as that node would.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `config`: what the UI may offer.
#[derive(Debug, Serialize)]
pub(crate) struct Config {
    #[serde(rename = "supportedFeatures")]
    pub(crate) supported_features: Vec<&'static str>,
}

/// `server_stats`, every 2 seconds.
#[derive(Debug, Serialize)]
pub(crate) struct ServerStats {
    #[serde(rename = "serverId")]
    pub(crate) server_id: String,
    pub(crate) hostname: String,
    pub(crate) pid: u32,
    /// Seconds, with a fraction, as Node's `process.uptime()`.
    pub(crate) uptime: f64,
    #[serde(rename = "clientsCount")]
    pub(crate) clients_count: usize,
    #[serde(rename = "pollingClientsCount")]
    pub(crate) polling_clients_count: usize,
    #[serde(rename = "aggregatedEvents")]
    pub(crate) aggregated_events: Vec<AggregatedEvent>,
    pub(crate) namespaces: Vec<NamespaceDetails>,
}

/// One line of `aggregatedEvents`: how many events of a kind happened in one second.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct AggregatedEvent {
    /// The start of the second, in milliseconds since the epoch.
    pub(crate) timestamp: u64,
    #[serde(rename = "type")]
    pub(crate) kind: &'static str,
    #[serde(rename = "subType", skip_serializing_if = "Option::is_none")]
    pub(crate) sub_type: Option<&'static str>,
    pub(crate) count: u64,
}

/// A namespace in `server_stats`.
#[derive(Debug, Serialize)]
pub(crate) struct NamespaceDetails {
    pub(crate) name: String,
    #[serde(rename = "socketsCount")]
    pub(crate) sockets_count: usize,
}

/// A socket as the UI lists it (`all_sockets`, `socket_connected`).
#[derive(Debug, Serialize)]
pub(crate) struct SerializedSocket {
    pub(crate) id: String,
    #[serde(rename = "clientId", skip_serializing_if = "Option::is_none")]
    pub(crate) client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) transport: Option<String>,
    pub(crate) nsp: String,
    pub(crate) data: Value,
    pub(crate) handshake: SerializedHandshake,
    pub(crate) rooms: Vec<String>,
}

/// The handshake of a listed socket: Node's fields without `auth`, which holds secrets.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct SerializedHandshake {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) address: Option<String>,
    #[serde(default)]
    pub(crate) headers: Map<String, Value>,
    #[serde(default)]
    pub(crate) query: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) issued: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) secure: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) xdomain: Option<bool>,
}

impl SerializedHandshake {
    /// A handshake as a node reported it in a fetch answer (Node's or ours); the address is
    /// the one the proxy headers give, as Node's admin-ui picks it.
    pub(crate) fn from_reported(handshake: &Value) -> Self {
        let mut parsed = SerializedHandshake::deserialize(handshake).unwrap_or_default();
        let forwarded = ["cf-connecting-ip", "x-forwarded-for"]
            .iter()
            .find_map(|name| parsed.headers.get(*name)?.as_str().map(str::to_owned));
        if forwarded.is_some() {
            parsed.address = forwarded;
        }
        parsed
    }
}

/// `socket_updated`: what changed about a socket.
#[derive(Debug, Serialize)]
pub(crate) struct SocketUpdate {
    pub(crate) id: String,
    pub(crate) nsp: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) transport: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) data: Option<Value>,
}

/// What Node's admin-ui keeps in `socket.data._admin`, and what this node adds to its own
/// sockets' data in fetch answers, so that every node of a cluster lists every socket alike.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct AdminMeta {
    /// The first 12 characters of the Engine.IO id (the whole id is a credential).
    #[serde(rename = "clientId")]
    pub(crate) client_id: String,
    pub(crate) transport: String,
}

/// The key of [`AdminMeta`] in a socket's data.
pub(crate) const ADMIN_KEY: &str = "_admin";

/// A socket's data as the UI shows it: an object, without the `_admin` annotation (`{}` when
/// unset, as Node's `socket.data` starts out). Returns the annotation too, when there was one.
pub(crate) fn split_data(data: Value) -> (Value, Option<AdminMeta>) {
    match data {
        Value::Null => (Value::Object(Map::new()), None),
        Value::Object(mut map) => {
            let meta = map
                .remove(ADMIN_KEY)
                .and_then(|meta| AdminMeta::deserialize(meta).ok());
            (Value::Object(map), meta)
        }
        other => (other, None),
    }
}

/// A socket's data with the `_admin` annotation (only on an object, or unset data).
pub(crate) fn annotate_data(data: Value, meta: &AdminMeta) -> Value {
    let Ok(meta) = serde_json::to_value(meta) else {
        return data;
    };
    match data {
        Value::Null => Value::Object(Map::from_iter([(ADMIN_KEY.to_owned(), meta)])),
        Value::Object(mut map) => {
            map.insert(ADMIN_KEY.to_owned(), meta);
            Value::Object(map)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_round_trips_through_the_annotation() {
        let meta = AdminMeta {
            client_id: "abcdefghijkl".into(),
            transport: "websocket".into(),
        };
        let annotated = annotate_data(serde_json::json!({ "user": 1 }), &meta);
        assert_eq!(annotated["_admin"]["clientId"], "abcdefghijkl");
        let (data, found) = split_data(annotated);
        assert_eq!(data, serde_json::json!({ "user": 1 }));
        assert_eq!(found.map(|m| m.transport).as_deref(), Some("websocket"));
        assert_eq!(split_data(Value::Null).0, serde_json::json!({}));
    }

    #[test]
    fn the_address_comes_from_proxy_headers_first() {
        let reported = serde_json::json!({
            "address": "10.0.0.1",
            "headers": { "x-forwarded-for": "1.2.3.4" },
            "auth": { "token": "secret" },
        });
        let handshake = SerializedHandshake::from_reported(&reported);
        assert_eq!(handshake.address.as_deref(), Some("1.2.3.4"));
        let json = serde_json::to_value(&handshake).unwrap();
        assert!(json.get("auth").is_none());
    }
}
