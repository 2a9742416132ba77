//! What goes on the wire: channel names, what a notification carries (a message, or the header
//! of an attachment), and how a message is sent (inline, or through the attachments table).

use bytes::Bytes;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::adapter::cluster::codec::{self, Decoded};
use crate::adapter::cluster::message::ClusterMessage;

/// PostgreSQL's limit on identifiers, channel names included (`NAMEDATALEN - 1`).
pub(super) const MAX_CHANNEL_LEN: usize = 63;

/// A namespace's channel: `<prefix>#<nsp>`, without the trailing `#` of the Redis adapters.
pub(crate) fn channel(prefix: &str, nsp: &str) -> String {
    format!("{prefix}#{nsp}")
}

/// The namespace of a channel of this prefix.
pub(super) fn namespace_of<'a>(prefix: &str, channel: &'a str) -> Option<&'a str> {
    channel.strip_prefix(prefix)?.strip_prefix('#')
}

/// `LISTEN "<channel>"`: the channel as a quoted identifier, as Node writes it (case kept).
pub(super) fn listen_statement(channel: &str) -> String {
    format!("LISTEN \"{}\"", channel.replace('"', "\"\""))
}

/// A notification that does not carry a message.
#[derive(Debug, thiserror::Error)]
pub(super) enum NoticeError {
    /// Not JSON, or not an object.
    #[error("not a JSON object: {0}")]
    NotJson(String),
    /// An attachment header whose id is not a number.
    #[error("attachment id is not a number")]
    BadAttachmentId,
}

/// What one notification carries.
#[derive(Debug)]
pub(super) enum Notice {
    /// A message, whole.
    Message(Decoded),
    /// The header of a message kept in the attachments table.
    Attachment { uid: Option<String>, id: i64 },
}

/// The fields of an attachment header; any notification is first read as one (the fields are
/// all optional, so a message reads as a header without `attachmentId`).
#[derive(Deserialize)]
struct Header {
    #[serde(default)]
    uid: Option<String>,
    #[serde(default, rename = "attachmentId", deserialize_with = "attachment_id")]
    attachment_id: Option<Option<i64>>,
}

/// `node-postgres` returns a `bigserial` as a string (`"42"`); a number is accepted too.
fn attachment_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<i64>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Id {
        Number(i64),
        Text(String),
        Other(Value),
    }
    Ok(Some(match Id::deserialize(d)? {
        Id::Number(n) => Some(n),
        Id::Text(s) => s.parse().ok(),
        // Node reads `attachmentId` as truthy: `null`, `false`, `0` and `""` mean none.
        Id::Other(Value::Null | Value::Bool(false)) => return Ok(None),
        Id::Other(_) => None,
    }))
}

/// Reads a notification's payload.
pub(super) fn read_notice(payload: &str) -> Result<Notice, NoticeError> {
    let header: Header =
        serde_json::from_str(payload).map_err(|e| NoticeError::NotJson(e.to_string()))?;
    if let Some(id) = header.attachment_id {
        return match id {
            Some(id) if id > 0 => Ok(Notice::Attachment {
                uid: header.uid,
                id,
            }),
            Some(0) => read_message(payload),
            _ => Err(NoticeError::BadAttachmentId),
        };
    }
    read_message(payload)
}

fn read_message(payload: &str) -> Result<Notice, NoticeError> {
    let value: Value =
        serde_json::from_str(payload).map_err(|e| NoticeError::NotJson(e.to_string()))?;
    if !value.is_object() {
        return Err(NoticeError::NotJson("not an object".into()));
    }
    Ok(Notice::Message(Decoded {
        value,
        attachments: Vec::new(),
    }))
}

/// Reads a message as the cluster's typed message, taking its namespace from the channel when
/// it has none (Node's postgres-emitter never sets `nsp`).
pub(super) fn typed_message(
    mut decoded: Decoded,
    channel_nsp: &str,
) -> Result<(ClusterMessage, Vec<Bytes>), crate::adapter::cluster::ClusterError> {
    // Only an absent (or null) namespace is taken from the channel: one of another type is
    // junk, and stays an error.
    if let Value::Object(map) = &mut decoded.value
        && map.get("nsp").is_none_or(Value::is_null)
    {
        map.insert("nsp".into(), Value::String(channel_nsp.to_owned()));
    }
    let message = ClusterMessage::from_value(decoded.value)?;
    Ok((message, decoded.attachments))
}

/// How one message is sent.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outgoing {
    /// `SELECT pg_notify(channel, payload)`.
    Notify { channel: String, payload: String },
    /// Through the attachments table: the MessagePack of the envelope is inserted, then the
    /// header `{uid, type, attachmentId}` is notified.
    Attachment {
        channel: String,
        uid: String,
        kind: u8,
        payload: Vec<u8>,
    },
}

impl Outgoing {
    /// Node's rule: binary data, or JSON of `threshold` bytes or more (the released 0.5.0 says
    /// `>`, which lets an 8 000-byte payload fail in PostgreSQL; its fix says `>=`).
    pub(crate) fn of(
        channel: String,
        message: &ClusterMessage,
        attachments: &[Bytes],
        threshold: usize,
    ) -> Outgoing {
        let value = message.to_value();
        let binary = codec::has_binary(&value, attachments);
        if !binary
            && let Ok(json) = serde_json::to_string(&value)
            && json.len() < threshold
        {
            return Outgoing::Notify {
                channel,
                payload: json,
            };
        }
        Outgoing::Attachment {
            channel,
            uid: message.uid.clone(),
            kind: message.body.kind() as u8,
            payload: codec::encode(&value, attachments, true),
        }
    }

    /// The notification that announces an attachment, as Node writes it (`node-postgres`
    /// gives the `bigserial` as a string).
    pub(crate) fn attachment_header(uid: &str, kind: u8, id: i64) -> String {
        serde_json::json!({ "uid": uid, "type": kind, "attachmentId": id.to_string() }).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::cluster::WirePacket;
    use crate::adapter::cluster::message::Body;
    use serde_json::json;

    #[test]
    fn channels_are_node_s() {
        assert_eq!(channel("socket.io", "/"), "socket.io#/");
        assert_eq!(namespace_of("socket.io", "socket.io#/chat"), Some("/chat"));
        assert_eq!(namespace_of("socket.io", "other#/"), None);
        assert_eq!(listen_statement("a\"b#/"), "LISTEN \"a\"\"b#/\"");
    }

    #[test]
    fn headers_and_messages_are_told_apart() {
        let header = read_notice(r#"{"uid":"abc","type":3,"attachmentId":"42"}"#).unwrap();
        assert!(matches!(header, Notice::Attachment { id: 42, uid: Some(ref u) } if u == "abc"));
        let header = read_notice(r#"{"uid":"emitter","type":3,"attachmentId":7}"#).unwrap();
        assert!(matches!(header, Notice::Attachment { id: 7, .. }));
        let message = read_notice(r#"{"type":2,"uid":"u","nsp":"/"}"#).unwrap();
        assert!(matches!(message, Notice::Message(_)));
        for junk in [
            "",
            "not json",
            "[1,2]",
            "42",
            r#"{"attachmentId":"x"}"#,
            r#"{"attachmentId":-1}"#,
            r#"{"attachmentId":{}}"#,
        ] {
            assert!(read_notice(junk).is_err(), "{junk}");
        }
    }

    #[test]
    fn the_emitter_s_messages_take_the_channel_s_namespace() {
        let payload = r#"{"type":3,"data":{"packet":{"type":2,"data":["hi"],"nsp":"/chat"},"opts":{"rooms":[],"flags":{},"except":[]}},"uid":"emitter"}"#;
        let Notice::Message(decoded) = read_notice(payload).unwrap() else {
            panic!()
        };
        let (message, _) = typed_message(decoded, "/chat").unwrap();
        assert_eq!(message.nsp, "/chat");
        assert_eq!(message.uid, "emitter");
        let junk = Decoded {
            value: serde_json::json!({"type": 2, "uid": "u", "nsp": []}),
            attachments: Vec::new(),
        };
        assert!(typed_message(junk, "/").is_err());
    }

    #[test]
    fn large_and_binary_messages_go_through_the_table() {
        let message = |data: Value| ClusterMessage {
            uid: "u".into(),
            nsp: "/".into(),
            body: Body::Broadcast {
                packet: WirePacket::event(vec![json!("ev"), data]),
                opts: Default::default(),
                request_id: None,
            },
        };
        let small = Outgoing::of("c".into(), &message(json!("x")), &[], 8000);
        assert!(
            matches!(small, Outgoing::Notify { ref payload, .. } if payload.starts_with("{\"type\":3"))
        );
        let large = Outgoing::of("c".into(), &message(json!("x".repeat(8000))), &[], 8000);
        assert!(matches!(large, Outgoing::Attachment { kind: 3, .. }));
        let placeholder = json!({"_placeholder": true, "num": 0});
        let binary = Outgoing::of(
            "c".into(),
            &message(placeholder),
            &[Bytes::from_static(b"\x01\x02")],
            8000,
        );
        let Outgoing::Attachment { payload, .. } = binary else {
            panic!()
        };
        let back = codec::decode_msgpack(&payload).unwrap();
        assert_eq!(back.attachments, vec![Bytes::from_static(b"\x01\x02")]);
        assert_eq!(
            Outgoing::attachment_header("u", 3, 42),
            r#"{"uid":"u","type":3,"attachmentId":"42"}"#
        );
    }
}
