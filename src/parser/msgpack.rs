//! The msgpack parser, wire-compatible with `socket.io-msgpack-parser` (feature `msgpack`).
//!
//! Each packet is one binary Engine.IO message: a msgpack map `{type, data, nsp, id?}` in which
//! binary values travel natively (msgpack `bin`), so there are no separate attachments and no
//! binary packet types. Inside the server, binary values still appear as placeholders plus
//! attachments, so handlers read them the same way whichever parser the client uses.

use bytes::Bytes;
use rmpv::Value as Mp;
use serde_json::Value;

use super::{EncodedArgs, Packet, PacketType, ParseError};
use crate::engine::Frame;

/// Decodes one msgpack packet.
pub(crate) fn decode(data: &[u8], max_depth: usize) -> Result<Packet, ParseError> {
    let mut reader = data;
    let value = rmpv::decode::read_value_with_max_depth(&mut reader, max_depth)
        .map_err(|_| ParseError::InvalidPayload)?;
    let Mp::Map(entries) = value else {
        return Err(ParseError::InvalidPayload);
    };
    let field = |name: &str| {
        entries
            .iter()
            .find(|(k, _)| k.as_str() == Some(name))
            .map(|(_, v)| v)
    };
    let kind = match field("type").and_then(Mp::as_u64) {
        Some(0) => PacketType::Connect,
        Some(1) => PacketType::Disconnect,
        Some(2) => PacketType::Event,
        Some(3) => PacketType::Ack,
        Some(4) => PacketType::ConnectError,
        _ => return Err(ParseError::InvalidType),
    };
    let ns = field("nsp")
        .and_then(Mp::as_str)
        .ok_or(ParseError::InvalidPayload)?
        .to_owned();
    let id = match field("id") {
        None | Some(Mp::Nil) => None,
        Some(v) => Some(v.as_u64().ok_or(ParseError::InvalidAckId)?),
    };
    let mut attachments = Vec::new();
    let data = match field("data") {
        None | Some(Mp::Nil) if kind != PacketType::ConnectError => None,
        Some(Mp::Ext(0, b)) if b.as_slice() == [0] => None,
        Some(v) => Some(to_json(v, &mut attachments)),
        None => None,
    };
    let valid = match (kind, &data) {
        (PacketType::Connect, None) => true,
        (PacketType::Connect, Some(v)) => v.is_object(),
        (PacketType::Disconnect, d) => d.is_none(),
        (PacketType::ConnectError, Some(v)) => v.is_string() || v.is_object(),
        (PacketType::Event | PacketType::Ack, Some(Value::Array(args))) => {
            kind == PacketType::Ack
                || match args.first() {
                    Some(Value::String(name)) => {
                        !super::decode::RESERVED_EVENTS.contains(&name.as_str())
                    }
                    Some(Value::Number(_)) => true,
                    _ => false,
                }
        }
        _ => false,
    };
    if !valid {
        return Err(ParseError::InvalidPayload);
    }
    let kind = match (kind, attachments.is_empty()) {
        (PacketType::Event, false) => PacketType::BinaryEvent,
        (PacketType::Ack, false) => PacketType::BinaryAck,
        (kind, _) => kind,
    };
    Ok(Packet {
        kind,
        ns,
        id,
        data,
        attachments,
    })
}

/// msgpack → JSON, binary values becoming placeholders and attachments.
fn to_json(value: &Mp, attachments: &mut Vec<Bytes>) -> Value {
    match value {
        Mp::Nil => Value::Null,
        Mp::Boolean(b) => Value::Bool(*b),
        Mp::Integer(i) => i
            .as_u64()
            .map(Value::from)
            .or_else(|| i.as_i64().map(Value::from))
            .unwrap_or(Value::Null),
        Mp::F32(f) => {
            serde_json::Number::from_f64(f64::from(*f)).map_or(Value::Null, Value::Number)
        }
        Mp::F64(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
        Mp::String(s) => Value::String(s.as_str().unwrap_or_default().to_owned()),
        // notepack.io (the JS side) writes ArrayBuffers and typed arrays as ext of type 0, and
        // `undefined` as fixext 1 of type 0 holding a zero byte, which rmpv cannot tell from a
        // one-byte buffer `[0]`: inside arguments it is read as that buffer (undefined only
        // stands alone, as a missing payload, handled by the caller). Other extensions (dates)
        // have no JSON form.
        Mp::Ext(0, b) | Mp::Binary(b) => {
            attachments.push(Bytes::copy_from_slice(b));
            super::placeholder(attachments.len() - 1)
        }
        Mp::Ext(..) => Value::Null,
        Mp::Array(items) => Value::Array(items.iter().map(|v| to_json(v, attachments)).collect()),
        Mp::Map(entries) => Value::Object(
            entries
                .iter()
                .map(|(k, v)| {
                    let key = match k {
                        Mp::String(s) => s.as_str().unwrap_or_default().to_owned(),
                        other => other.to_string(),
                    };
                    (key, to_json(v, attachments))
                })
                .collect(),
        ),
    }
}

/// JSON → msgpack, placeholders becoming the binary values they stand for.
fn to_msgpack(value: &Value, attachments: &[Bytes]) -> Mp {
    match value {
        Value::Null => Mp::Nil,
        Value::Bool(b) => Mp::Boolean(*b),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                Mp::from(u)
            } else if let Some(i) = n.as_i64() {
                Mp::from(i)
            } else {
                Mp::F64(n.as_f64().unwrap_or_default())
            }
        }
        Value::String(s) => Mp::from(s.as_str()),
        Value::Array(items) => {
            Mp::Array(items.iter().map(|v| to_msgpack(v, attachments)).collect())
        }
        Value::Object(map) => {
            if map.get("_placeholder") == Some(&Value::Bool(true))
                && let Some(data) = map
                    .get("num")
                    .and_then(Value::as_u64)
                    .and_then(|n| attachments.get(n as usize))
            {
                return Mp::Binary(data.to_vec());
            }
            Mp::Map(
                map.iter()
                    .map(|(k, v)| (Mp::from(k.as_str()), to_msgpack(v, attachments)))
                    .collect(),
            )
        }
    }
}

/// Encodes a packet as one binary frame.
pub(crate) fn encode(
    kind: PacketType,
    ns: &str,
    id: Option<u64>,
    event: Option<&str>,
    args: &EncodedArgs,
) -> Vec<Frame> {
    let (kind_number, data) = match kind {
        PacketType::Event | PacketType::BinaryEvent | PacketType::Ack | PacketType::BinaryAck => {
            let mut items = Vec::new();
            if let Some(event) = event {
                items.push(Mp::from(event));
            }
            let parsed: Vec<Value> =
                serde_json::from_str(&format!("[{}]", args.json)).unwrap_or_default();
            items.extend(parsed.iter().map(|v| to_msgpack(v, &args.attachments)));
            let number = if matches!(kind, PacketType::Event | PacketType::BinaryEvent) {
                2
            } else {
                3
            };
            (number, Some(Mp::Array(items)))
        }
        PacketType::Connect | PacketType::ConnectError | PacketType::Disconnect => {
            let data = (!args.json.is_empty())
                .then(|| serde_json::from_str::<Value>(&args.json).ok())
                .flatten()
                .map(|v| to_msgpack(&v, &args.attachments));
            let number = match kind {
                PacketType::Connect => 0,
                PacketType::Disconnect => 1,
                _ => 4,
            };
            (number, data)
        }
    };
    let mut map = vec![(Mp::from("type"), Mp::from(kind_number))];
    if let Some(data) = data {
        map.push((Mp::from("data"), data));
    }
    map.push((Mp::from("nsp"), Mp::from(ns)));
    if let Some(id) = id {
        map.push((Mp::from("id"), Mp::from(id)));
    }
    let mut out = Vec::with_capacity(args.json.len() + 32);
    // Writing into a Vec cannot fail.
    let _ = rmpv::encode::write_value(&mut out, &Mp::Map(map));
    vec![Frame::binary(out)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parser::encode_args;

    #[test]
    fn round_trips_an_event_with_binary() {
        let data = serde_json::json!({"file": crate::parser::placeholder(0), "n": 1});
        let args = encode_args(&("hi", data), vec![Bytes::from_static(b"\x01\x02")]).unwrap();
        let frames = encode(PacketType::Event, "/chat", Some(7), Some("upload"), &args);
        assert_eq!(frames.len(), 1);
        let bytes = frames[0].as_binary().unwrap().clone();
        let packet = decode(&bytes, 64).unwrap();
        assert_eq!(packet.kind, PacketType::BinaryEvent);
        assert_eq!(packet.ns, "/chat");
        assert_eq!(packet.id, Some(7));
        assert_eq!(packet.attachments, vec![Bytes::from_static(b"\x01\x02")]);
        assert_eq!(
            packet.data,
            Some(
                serde_json::json!(["upload", "hi", {"file": {"_placeholder": true, "num": 0}, "n": 1}])
            )
        );
    }

    #[test]
    fn refuses_what_the_js_parser_refuses() {
        let encode_map = |entries: Vec<(Mp, Mp)>| {
            let mut out = Vec::new();
            rmpv::encode::write_value(&mut out, &Mp::Map(entries)).unwrap();
            out
        };
        let bad_type = encode_map(vec![
            (Mp::from("type"), Mp::from(9)),
            (Mp::from("nsp"), Mp::from("/")),
        ]);
        assert_eq!(decode(&bad_type, 64).unwrap_err(), ParseError::InvalidType);
        let no_nsp = encode_map(vec![(Mp::from("type"), Mp::from(0))]);
        assert!(decode(&no_nsp, 64).is_err());
        let reserved = encode_map(vec![
            (Mp::from("type"), Mp::from(2)),
            (Mp::from("data"), Mp::Array(vec![Mp::from("connect")])),
            (Mp::from("nsp"), Mp::from("/")),
        ]);
        assert!(decode(&reserved, 64).is_err());
        assert!(decode(b"\xc1", 64).is_err());
        let mut deep = vec![0x91u8; 100_000];
        deep.push(0xc0);
        assert!(decode(&deep, 64).is_err(), "nesting is bounded");
    }
}
