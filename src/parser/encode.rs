//! Where Socket.IO packets are encoded: once per emit or broadcast, into shared [`Frame`]s.

use std::io::Write as _;

use bytes::Bytes;
use serde::Serialize;
use serde::ser::{self, Impossible};

use super::PacketType;
use crate::engine::Frame;

/// Event or ack arguments serialized to JSON, without the surrounding brackets, plus the binary
/// attachments that go with them.
#[derive(Debug, Clone, Default)]
pub(crate) struct EncodedArgs {
    /// `a,b,c`: the arguments joined by commas (empty for none).
    pub json: String,
    pub attachments: Vec<Bytes>,
}

impl EncodedArgs {
    /// The same arguments with one more, a string, at the end: where connection state recovery
    /// puts a packet's offset.
    pub(crate) fn with_trailing_string(mut self, last: &str) -> Self {
        if !self.json.is_empty() {
            self.json.push(',');
        }
        match serde_json::to_string(last) {
            Ok(quoted) => self.json.push_str(&quoted),
            // A `&str` always serializes; keep the arguments valid JSON regardless.
            Err(_) => self.json.push_str("\"\""),
        }
        self
    }
}

/// The name under which [`Args`](crate::extract::Args) serializes, so it spreads like a tuple.
pub(crate) const SPREAD_MARKER: &str = "__tower_socketio_args";

/// Serializes emit data as arguments: a tuple spreads into several arguments, `()` is none, and
/// anything else (arrays included) is a single argument.
pub(crate) fn encode_args<T: Serialize + ?Sized>(
    data: &T,
    attachments: Vec<Bytes>,
) -> Result<EncodedArgs, serde_json::Error> {
    let spread = match data.serialize(ShapeProbe) {
        // `()` is no argument at all; `null` (which serializes alike) is one.
        Ok(Shape::Unit) if is_unit_type::<T>() => Spread::Nothing,
        Err(NotProbed { spread: true }) if is_tuple_or_args::<T>() => Spread::Many,
        _ => Spread::One,
    };
    let json = match spread {
        Spread::Nothing => String::new(),
        Spread::Many => {
            let mut s = serde_json::to_string(data)?;
            // `[a,b]` → `a,b`
            s.pop();
            s.remove(0);
            s
        }
        _ => serde_json::to_string(data)?,
    };
    if attachments.is_empty() {
        return Ok(EncodedArgs { json, attachments });
    }
    Ok(renumber_placeholders(json, attachments))
}

enum Spread {
    Nothing,
    One,
    Many,
}

fn is_unit_type<T: ?Sized>() -> bool {
    std::any::type_name::<T>().trim_start_matches('&') == "()"
}

/// Serde serializes tuples and fixed-size arrays alike (`serialize_tuple`); only tuples spread,
/// which the type's name tells apart.
fn is_tuple_or_args<T: ?Sized>() -> bool {
    let name = std::any::type_name::<T>().trim_start_matches('&');
    name.starts_with('(') || name.ends_with("::Args")
}

/// Renumbers placeholders in the order they appear and keeps only the attachments they point
/// to, as Node's `deconstructPacket` does: the receiver sees exactly Node's numbering.
fn renumber_placeholders(json: String, attachments: Vec<Bytes>) -> EncodedArgs {
    let Ok(mut args) = serde_json::from_str::<serde_json::Value>(&format!("[{json}]")) else {
        return EncodedArgs { json, attachments };
    };
    let mut kept = Vec::new();
    let mut identity = true;
    fn walk(
        value: &mut serde_json::Value,
        attachments: &[Bytes],
        kept: &mut Vec<Bytes>,
        identity: &mut bool,
    ) {
        match value {
            serde_json::Value::Object(map) => {
                if map.get("_placeholder") == Some(&serde_json::Value::Bool(true)) {
                    let num = map.get("num").and_then(serde_json::Value::as_u64);
                    if let Some(data) = num.and_then(|n| attachments.get(n as usize)) {
                        if num != Some(kept.len() as u64) {
                            *identity = false;
                            map.insert("num".into(), kept.len().into());
                        }
                        kept.push(data.clone());
                    }
                    return;
                }
                for v in map.values_mut() {
                    walk(v, attachments, kept, identity);
                }
            }
            serde_json::Value::Array(items) => {
                for v in items {
                    walk(v, attachments, kept, identity);
                }
            }
            _ => {}
        }
    }
    walk(&mut args, &attachments, &mut kept, &mut identity);
    if identity && kept.len() == attachments.len() {
        return EncodedArgs { json, attachments };
    }
    let mut json = args.to_string();
    json.pop();
    json.remove(0);
    EncodedArgs {
        json,
        attachments: kept,
    }
}

/// Encodes a packet into its text frame followed by one binary frame per attachment.
///
/// `payload` is written after the header as is: a JSON object for CONNECT and CONNECT_ERROR,
/// or, for EVENT and ACK, the inner part of the argument array (`event` is then put first).
pub(crate) fn encode(
    kind: PacketType,
    ns: &str,
    id: Option<u64>,
    event: Option<&str>,
    args: &EncodedArgs,
) -> Vec<Frame> {
    let binary = !args.attachments.is_empty();
    let kind = match (kind, binary) {
        (PacketType::Event, true) => PacketType::BinaryEvent,
        (PacketType::Ack, true) => PacketType::BinaryAck,
        (kind, _) => kind,
    };
    let len_hint = ns.len() + args.json.len() + event.map_or(0, str::len) + 24;
    let text = Frame::text_with(len_hint, |buf| {
        buf.push(kind.digit());
        if binary {
            let _ = write!(buf, "{}-", args.attachments.len());
        }
        if ns != "/" {
            buf.extend_from_slice(ns.as_bytes());
            buf.push(b',');
        }
        if let Some(id) = id {
            let _ = write!(buf, "{id}");
        }
        match kind {
            PacketType::Event
            | PacketType::BinaryEvent
            | PacketType::Ack
            | PacketType::BinaryAck => {
                buf.push(b'[');
                if let Some(event) = event {
                    // Serializing a str into a Vec cannot fail.
                    let _ = serde_json::to_writer(&mut *buf, event);
                    if !args.json.is_empty() {
                        buf.push(b',');
                    }
                }
                buf.extend_from_slice(args.json.as_bytes());
                buf.push(b']');
            }
            PacketType::Connect | PacketType::ConnectError | PacketType::Disconnect => {
                buf.extend_from_slice(args.json.as_bytes());
            }
        }
    });
    let mut frames = Vec::with_capacity(1 + args.attachments.len());
    frames.push(text);
    frames.extend(args.attachments.iter().cloned().map(Frame::binary));
    frames
}

/// The outer shape of a value about to be serialized (tuples answer through the error).
enum Shape {
    Unit,
    Other,
}

/// Ends the probe of a compound value early; `spread` says whether it may spread (a tuple, or
/// [`Args`](crate::extract::Args)).
#[derive(Debug)]
struct NotProbed {
    spread: bool,
}

impl std::fmt::Display for NotProbed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("shape probe")
    }
}

impl std::error::Error for NotProbed {}

impl ser::Error for NotProbed {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        NotProbed { spread: false }
    }
}

/// A serializer that only looks at which method the value calls first, so `emit` can tell a
/// tuple of arguments from a single argument without serializing twice.
struct ShapeProbe;

type Probe = Result<Shape, NotProbed>;

impl ser::Serializer for ShapeProbe {
    type Ok = Shape;
    type Error = NotProbed;
    type SerializeSeq = Impossible<Shape, NotProbed>;
    type SerializeTuple = Impossible<Shape, NotProbed>;
    type SerializeTupleStruct = Impossible<Shape, NotProbed>;
    type SerializeTupleVariant = Impossible<Shape, NotProbed>;
    type SerializeMap = Impossible<Shape, NotProbed>;
    type SerializeStruct = Impossible<Shape, NotProbed>;
    type SerializeStructVariant = Impossible<Shape, NotProbed>;

    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, NotProbed> {
        // Answer through the error channel: the tuple itself is never serialized here.
        Err(NotProbed { spread: true })
    }
    fn serialize_unit(self) -> Probe {
        Ok(Shape::Unit)
    }
    fn serialize_bool(self, _: bool) -> Probe {
        Ok(Shape::Other)
    }
    fn serialize_i8(self, _: i8) -> Probe {
        Ok(Shape::Other)
    }
    fn serialize_i16(self, _: i16) -> Probe {
        Ok(Shape::Other)
    }
    fn serialize_i32(self, _: i32) -> Probe {
        Ok(Shape::Other)
    }
    fn serialize_i64(self, _: i64) -> Probe {
        Ok(Shape::Other)
    }
    fn serialize_u8(self, _: u8) -> Probe {
        Ok(Shape::Other)
    }
    fn serialize_u16(self, _: u16) -> Probe {
        Ok(Shape::Other)
    }
    fn serialize_u32(self, _: u32) -> Probe {
        Ok(Shape::Other)
    }
    fn serialize_u64(self, _: u64) -> Probe {
        Ok(Shape::Other)
    }
    fn serialize_f32(self, _: f32) -> Probe {
        Ok(Shape::Other)
    }
    fn serialize_f64(self, _: f64) -> Probe {
        Ok(Shape::Other)
    }
    fn serialize_char(self, _: char) -> Probe {
        Ok(Shape::Other)
    }
    fn serialize_str(self, _: &str) -> Probe {
        Ok(Shape::Other)
    }
    fn serialize_bytes(self, _: &[u8]) -> Probe {
        Ok(Shape::Other)
    }
    fn serialize_none(self) -> Probe {
        Ok(Shape::Other)
    }
    fn serialize_some<T: ?Sized + Serialize>(self, _: &T) -> Probe {
        Ok(Shape::Other)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Probe {
        Ok(Shape::Other)
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> Probe {
        Ok(Shape::Other)
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(self, _: &'static str, _: &T) -> Probe {
        Ok(Shape::Other)
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Probe {
        Ok(Shape::Other)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, NotProbed> {
        Err(ser::Error::custom(""))
    }
    fn serialize_tuple_struct(
        self,
        name: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, NotProbed> {
        Err(NotProbed {
            spread: name == SPREAD_MARKER,
        })
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, NotProbed> {
        Err(ser::Error::custom(""))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, NotProbed> {
        Err(ser::Error::custom(""))
    }
    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, NotProbed> {
        Err(ser::Error::custom(""))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, NotProbed> {
        Err(ser::Error::custom(""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(frames: &[Frame]) -> String {
        frames[0].as_text().unwrap_or_default().to_owned()
    }

    #[test]
    fn tuples_spread_and_values_do_not() {
        assert_eq!(encode_args(&(1, "a"), vec![]).unwrap().json, r#"1,"a""#);
        assert_eq!(encode_args(&[1, 2], vec![]).unwrap().json, "[1,2]");
        assert_eq!(encode_args(&vec![1, 2], vec![]).unwrap().json, "[1,2]");
        let args = crate::extract::Args(vec![1.into(), "a".into()]);
        assert_eq!(encode_args(&args, vec![]).unwrap().json, r#"1,"a""#);
        assert_eq!(encode_args(&(), vec![]).unwrap().json, "");
        assert_eq!(
            encode_args(&serde_json::Value::Null, vec![]).unwrap().json,
            "null"
        );
        assert_eq!(encode_args(&None::<u8>, vec![]).unwrap().json, "null");
        assert_eq!(encode_args(&"x", vec![]).unwrap().json, r#""x""#);
        assert_eq!(encode_args(&((1, 2),), vec![]).unwrap().json, "[1,2]");
    }

    #[test]
    fn placeholders_are_renumbered_and_unused_attachments_dropped() {
        let data = serde_json::json!([{"_placeholder": true, "num": 1}, {"b": {"_placeholder": true, "num": 1}}]);
        let args = encode_args(
            &data,
            vec![Bytes::from_static(b"zero"), Bytes::from_static(b"one")],
        )
        .unwrap();
        assert_eq!(
            args.json,
            r#"[{"_placeholder":true,"num":0},{"b":{"_placeholder":true,"num":1}}]"#
        );
        assert_eq!(
            args.attachments,
            vec![Bytes::from_static(b"one"), Bytes::from_static(b"one")]
        );
    }

    #[test]
    fn encodes_events_acks_and_binary() {
        let args = encode_args(&("hi",), vec![]).unwrap();
        let frames = encode(PacketType::Event, "/", None, Some("msg"), &args);
        assert_eq!(text(&frames), r#"42["msg","hi"]"#);
        let frames = encode(
            PacketType::Event,
            "/chat",
            Some(3),
            Some("msg"),
            &EncodedArgs::default(),
        );
        assert_eq!(text(&frames), r#"42/chat,3["msg"]"#);
        let args = encode_args(
            &crate::parser::placeholder(0),
            vec![Bytes::from_static(b"x")],
        )
        .unwrap();
        let frames = encode(PacketType::Ack, "/", Some(9), None, &args);
        assert_eq!(frames.len(), 2);
        assert_eq!(text(&frames), r#"461-9[{"_placeholder":true,"num":0}]"#);
    }
}
