//! The streams mode's wire format, as Node's `@socket.io/redis-streams-adapter` 0.3 writes it:
//! stream entries, persisted sessions, and the offsets connection state recovery resumes from.
//!
//! An entry is `XADD <stream> MAXLEN ~ <maxLen> * uid <uid> nsp <nsp> type <n> [data <data>]`,
//! `data` being the message's data as JSON, or as base64 MessagePack when a message that may
//! carry binary data does. A session is `SET <prefix><pid> <base64 MessagePack {sid, pid, rooms,
//! data}> PX <maxDisconnectionDuration>`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use serde_json::{Map, Value, json};

use crate::adapter::cluster::codec::{self as wire, Decoded};
use crate::adapter::cluster::message::MessageType;
use crate::adapter::{BroadcastOptions, RecoverySession, Room};

/// How many `XRANGE` calls one restore makes at most (Node's `RESTORE_SESSION_MAX_XRANGE_CALLS`):
/// a stream written faster than it can be read must not keep a restore going forever.
pub(crate) const RESTORE_MAX_RANGES: usize = 100;
/// How many entries one of those calls reads.
pub(crate) const RESTORE_RANGE_COUNT: usize = 1000;

/// The field by which a Rust node numbers its entries, in the order it adds them: when Redis
/// goes away after adding a batch but before answering, the batch is added again, and readers
/// skip the copies. Node's adapter reads only the fields it knows, so it ignores this one.
pub(crate) const SEQ_FIELD: &str = "seq";

/// One entry of the stream.
#[derive(Debug)]
pub(crate) struct StreamEntry {
    /// Its id: the offset of the packet it carries.
    pub id: String,
    /// Who added it and its number, when a Rust node did.
    pub numbered: Option<(String, u64)>,
    /// The namespace it is for (empty when missing: such entries are for nobody).
    pub nsp: String,
    /// The message as `{uid, nsp, type, data}`, binary data taken out; `None` when malformed.
    pub message: Option<Decoded>,
}

/// The fields of an entry for a cluster message.
pub(crate) fn entry_fields(
    uid: &str,
    nsp: &str,
    kind: MessageType,
    data: &Value,
    attachments: &[Bytes],
) -> Vec<(&'static str, Vec<u8>)> {
    let may_be_binary = matches!(
        kind,
        MessageType::Broadcast
            | MessageType::FetchSocketsResponse
            | MessageType::ServerSideEmit
            | MessageType::ServerSideEmitResponse
            | MessageType::BroadcastAck
    );
    let data = if may_be_binary && wire::has_binary(data, attachments) {
        let mut packed = Vec::new();
        wire::write_json(&mut packed, data, attachments);
        STANDARD.encode(packed).into_bytes()
    } else {
        serde_json::to_vec(data).unwrap_or_default()
    };
    vec![
        ("uid", uid.as_bytes().to_vec()),
        ("nsp", nsp.as_bytes().to_vec()),
        ("type", (kind as u8).to_string().into_bytes()),
        ("data", data),
    ]
}

/// The entries of an `XREAD` reply (`nil` when the block timed out).
pub(crate) fn parse_xread(reply: &redis::Value) -> Vec<StreamEntry> {
    use redis::Value as V;
    // RESP2: [[stream, entries]]; RESP3: {stream: entries}.
    let entries = match reply {
        V::Array(streams) => streams.first().and_then(|s| match s {
            V::Array(pair) => pair.get(1),
            _ => None,
        }),
        V::Map(streams) => streams.first().map(|(_, entries)| entries),
        _ => None,
    };
    entries.map(parse_entries).unwrap_or_default()
}

/// The id of the entry an `XREVRANGE … COUNT 1` reply holds, `0-0` when it holds none (the
/// stream is empty or missing); `None` when it is not such a reply.
pub(crate) fn last_id(reply: &redis::Value) -> Option<String> {
    let redis::Value::Array(entries) = reply else {
        return None;
    };
    match entries.first() {
        None => Some("0-0".to_owned()),
        Some(redis::Value::Array(entry)) => super::driver::stream_id(entry.first()?),
        Some(_) => None,
    }
}

/// The entries of an `XRANGE` reply: `[[id, [field, value, …]], …]`.
pub(crate) fn parse_entries(reply: &redis::Value) -> Vec<StreamEntry> {
    let redis::Value::Array(entries) = reply else {
        return Vec::new();
    };
    entries.iter().filter_map(parse_entry).collect()
}

fn parse_entry(entry: &redis::Value) -> Option<StreamEntry> {
    use redis::Value as V;
    let V::Array(parts) = entry else { return None };
    let id = super::driver::stream_id(parts.first()?)?;
    let mut fields: Vec<(&[u8], &[u8])> = Vec::new();
    match parts.get(1) {
        Some(V::Array(flat)) => {
            for pair in flat.chunks(2) {
                if let [V::BulkString(k), V::BulkString(v)] = pair {
                    fields.push((k, v));
                }
            }
        }
        Some(V::Map(map)) => {
            for (k, v) in map {
                if let (V::BulkString(k), V::BulkString(v)) = (k, v) {
                    fields.push((k, v));
                }
            }
        }
        _ => {}
    }
    let field = |name: &[u8]| fields.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
    let nsp = field(b"nsp")
        .and_then(|v| std::str::from_utf8(v).ok())
        .unwrap_or_default()
        .to_owned();
    let message = decode_entry(field(b"uid"), &nsp, field(b"type"), field(b"data"));
    if message.is_none() && !nsp.is_empty() {
        tracing::warn!(id, "ignoring a malformed entry of the Redis stream");
    }
    let uid = field(b"uid").and_then(|v| std::str::from_utf8(v).ok());
    let seq = field(SEQ_FIELD.as_bytes())
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(|v| v.parse::<u64>().ok());
    let numbered = uid.map(str::to_owned).zip(seq);
    Some(StreamEntry {
        id,
        numbered,
        nsp,
        message,
    })
}

/// Node's `RedisStreamsAdapter.decode`: `data` is JSON when it starts with `{`, else base64
/// MessagePack.
fn decode_entry(
    uid: Option<&[u8]>,
    nsp: &str,
    kind: Option<&[u8]>,
    data: Option<&[u8]>,
) -> Option<Decoded> {
    let uid = std::str::from_utf8(uid?).ok()?;
    let kind: u64 = std::str::from_utf8(kind?).ok()?.parse().ok()?;
    let Decoded { value, attachments } = match data {
        None => Decoded::default(),
        Some(data) if data.first() == Some(&b'{') => Decoded {
            value: serde_json::from_slice(data).ok()?,
            attachments: Vec::new(),
        },
        Some(data) => wire::decode_msgpack(&STANDARD.decode(data).ok()?).ok()?,
    };
    Some(Decoded {
        value: json!({ "uid": uid, "nsp": nsp, "type": kind, "data": value }),
        attachments,
    })
}

/// A session as Node stores it: base64 of MessagePack `{sid, pid, rooms, data}`.
pub(crate) fn encode_session(session: &RecoverySession) -> String {
    let data = match &session.data {
        // Node's `socket.data` starts as `{}`; a Node node restoring it expects an object.
        Value::Null => Value::Object(Map::new()),
        data => data.clone(),
    };
    let value = json!({
        "sid": session.sid.as_str(),
        "pid": session.pid.as_str(),
        "rooms": session.rooms.iter().map(|r| r.as_ref()).collect::<Vec<_>>(),
        "data": data,
    });
    let mut packed = Vec::new();
    wire::write_json(&mut packed, &value, &[]);
    STANDARD.encode(packed)
}

/// Reads a stored session; `None` when it is not one.
pub(crate) fn decode_session(raw: &[u8]) -> Option<RecoverySession> {
    let packed = STANDARD.decode(raw).ok()?;
    let Decoded { value, .. } = wire::decode_msgpack(&packed).ok()?;
    let sid = value.get("sid")?.as_str()?.parse().ok()?;
    let pid = value.get("pid")?.as_str()?.parse().ok()?;
    let rooms = value
        .get("rooms")?
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .map(|r| Room::Owned(r.to_owned()))
        .collect();
    let data = value.get("data").cloned().unwrap_or(Value::Null);
    Some(RecoverySession {
        sid,
        pid,
        rooms,
        data,
    })
}

/// Remembers the last number seen from each node, to skip the copies a retried batch added.
#[derive(Debug, Default)]
pub(crate) struct Copies {
    last: std::collections::HashMap<String, u64>,
}

impl Copies {
    /// Whether `entry` is a copy of one already seen.
    pub(crate) fn is_copy(&mut self, entry: &StreamEntry) -> bool {
        let Some((uid, seq)) = &entry.numbered else {
            return false;
        };
        match self.last.get_mut(uid) {
            Some(last) if *seq <= *last => true,
            Some(last) => {
                *last = *seq;
                false
            }
            None => {
                self.last.insert(uid.clone(), *seq);
                false
            }
        }
    }
}

/// A stream id as numbers, to compare ids.
pub(crate) fn parse_id(id: &str) -> Option<(u64, u64)> {
    let (ms, seq) = id.split_once('-')?;
    Some((ms.parse().ok()?, seq.parse().ok()?))
}

/// Whether `offset` is a stream id (`<ms>-<seq>`), as Node checks before restoring.
pub(crate) fn valid_offset(offset: &str) -> bool {
    let Some((ms, seq)) = offset.split_once('-') else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit());
    digits(ms) && digits(seq)
}

/// The smallest id after `offset` (exclusive ranges need Redis 6.2; Node does the same).
pub(crate) fn next_offset(offset: &str) -> Option<String> {
    let (ms, seq) = offset.split_once('-')?;
    let seq: u64 = seq.parse().ok()?;
    match seq.checked_add(1) {
        Some(next) => Some(format!("{ms}-{next}")),
        None => Some(format!("{}-0", ms.parse::<u64>().ok()?.checked_add(1)?)),
    }
}

/// Whether a broadcast with `opts` reaches a session in `session_rooms`.
pub(crate) fn includes(session_rooms: &[Room], opts: &BroadcastOptions) -> bool {
    crate::core::recovery::reaches(session_rooms, opts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> redis::Value {
        redis::Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn last_id_of_xrevrange() {
        use redis::Value as V;
        let entry = V::Array(vec![bulk("17-3"), V::Array(vec![bulk("uid"), bulk("u")])]);
        assert_eq!(last_id(&V::Array(vec![entry])).as_deref(), Some("17-3"));
        assert_eq!(last_id(&V::Array(vec![])).as_deref(), Some("0-0"));
        assert_eq!(last_id(&V::Nil), None);
        assert_eq!(last_id(&V::Array(vec![V::Int(1)])), None);
    }

    #[test]
    fn entries_round_trip_json_and_binary() {
        let data = json!({ "packet": { "type": 2, "data": ["ev", { "_placeholder": true, "num": 0 }], "nsp": "/" }, "opts": { "rooms": [], "except": [], "flags": {} } });
        let fields = entry_fields(
            "u1",
            "/",
            MessageType::Broadcast,
            &data,
            &[Bytes::from_static(b"\x01\x02")],
        );
        assert_ne!(
            fields[3].1.first(),
            Some(&b'{'),
            "binary data is MessagePack"
        );
        let mut flat = Vec::new();
        for (k, v) in &fields {
            flat.push(bulk(k));
            flat.push(redis::Value::BulkString(v.clone()));
        }
        let reply = redis::Value::Map(vec![(
            bulk("socket.io"),
            redis::Value::Array(vec![redis::Value::Array(vec![
                bulk("1-0"),
                redis::Value::Array(flat),
            ])]),
        )]);
        let entries = parse_xread(&reply);
        assert_eq!(entries.len(), 1);
        let message = entries[0].message.as_ref().unwrap();
        assert_eq!(message.value["type"], 3);
        assert_eq!(message.attachments, vec![Bytes::from_static(b"\x01\x02")]);

        let plain = entry_fields(
            "u1",
            "/",
            MessageType::SocketsJoin,
            &json!({ "rooms": ["a"] }),
            &[],
        );
        assert_eq!(plain[3].1, br#"{"rooms":["a"]}"#.to_vec());
    }

    #[test]
    fn malformed_entries_keep_their_id() {
        let reply = redis::Value::Array(vec![redis::Value::Array(vec![
            bulk("5-1"),
            redis::Value::Array(vec![bulk("nsp"), bulk("/"), bulk("type"), bulk("x")]),
        ])]);
        let entries = parse_entries(&reply);
        assert_eq!(entries[0].id, "5-1");
        assert!(entries[0].message.is_none());
    }

    #[test]
    fn copies_of_a_retried_batch_are_skipped() {
        let entry = |id: &str, uid: &str, seq: Option<&str>| {
            let mut flat = vec![
                bulk("uid"),
                bulk(uid),
                bulk("nsp"),
                bulk("/"),
                bulk("type"),
                bulk("4"),
            ];
            if let Some(seq) = seq {
                flat.extend([bulk(SEQ_FIELD), bulk(seq)]);
            }
            parse_entry(&redis::Value::Array(vec![
                bulk(id),
                redis::Value::Array(flat),
            ]))
            .unwrap()
        };
        let mut copies = Copies::default();
        // a's batch 0, 1 added twice (its answer was lost), b's entries in between.
        let stream = [
            (entry("1-0", "a", Some("0")), false),
            (entry("1-1", "b", Some("7")), false),
            (entry("1-2", "a", Some("1")), false),
            (entry("2-0", "a", Some("0")), true),
            (entry("2-1", "a", Some("1")), true),
            (entry("2-2", "a", Some("2")), false),
            (entry("2-3", "node", None), false),
            (entry("2-4", "node", None), false),
        ];
        for (entry, copy) in &stream {
            assert_eq!(copies.is_copy(entry), *copy, "{}", entry.id);
        }
    }

    #[test]
    fn sessions_round_trip() {
        let session = RecoverySession {
            sid: "AAAAAAAAAAAAAAAAAAAA".parse().unwrap(),
            pid: "BBBBBBBBBBBBBBBBBBBB".parse().unwrap(),
            rooms: vec!["AAAAAAAAAAAAAAAAAAAA".into(), "red".into()],
            data: Value::Null,
        };
        let back = decode_session(encode_session(&session).as_bytes()).unwrap();
        assert_eq!(back.data, json!({}));
        assert_eq!(back.rooms, session.rooms);
        assert!(decode_session(b"not base64!").is_none());
    }

    #[test]
    fn offsets() {
        assert!(valid_offset("1700000000000-0"));
        assert!(!valid_offset("1700000000000"));
        assert!(!valid_offset("12-3-4"));
        assert!(!valid_offset("-1"));
        assert_eq!(next_offset("17-4").as_deref(), Some("17-5"));
        assert_eq!(
            next_offset(&format!("17-{}", u64::MAX)).as_deref(),
            Some("18-0")
        );
    }
}
