//! Where a Socket.IO packet is parsed, and its binary attachments reassembled.

use bytes::Bytes;
use serde_json::Value;

use super::{Packet, PacketType};

/// Event names a client may not use: they mean something to the server itself.
pub(crate) const RESERVED_EVENTS: [&str; 6] = [
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "newListener",
    "removeListener",
];

/// Why a client's packet was refused. Any of these ends the client's connection, as in Node.
///
/// ```
/// use tower_socketio::parser::{Decoder, ParseError};
///
/// let mut decoder = Decoder::new(10);
/// assert_eq!(decoder.decode_text(r#"2["connect"]"#).unwrap_err(), ParseError::InvalidPayload);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The packet was empty or its type is not `0`–`6`.
    #[error("unknown packet type")]
    InvalidType,
    /// The attachment count of a binary packet is not a number followed by `-`.
    #[error("illegal attachments")]
    IllegalAttachments,
    /// More attachments than `max_attachments` were announced.
    #[error("too many attachments")]
    TooManyAttachments,
    /// The ack id is not a number that fits in 53 bits.
    #[error("invalid ack id")]
    InvalidAckId,
    /// The payload is not valid JSON, is nested too deeply, or does not fit the packet type
    /// (an event whose name is not a string or is reserved, an ack that is not an array, a
    /// connect payload that is not an object, ...).
    #[error("invalid payload")]
    InvalidPayload,
    /// A placeholder points to no attachment.
    #[error("illegal attachments: bad placeholder")]
    IllegalPlaceholder,
    /// Binary data arrived when no binary packet was waiting for it.
    #[error("got binary data when not reconstructing a packet")]
    UnexpectedBinary,
    /// The JSON nests deeper than the configured limit.
    #[error("payload nested too deeply")]
    TooDeep,
    /// A text packet arrived while attachments were still expected.
    #[error("got plaintext data when reconstructing a packet")]
    UnexpectedText,
}

/// Ack ids are JavaScript numbers: past 2^53 they stop being exact.
const MAX_ACK_ID: u64 = (1 << 53) - 1;

/// Decodes the packets of one client: text packets, and the attachments that follow binary ones.
///
/// ```
/// use tower_socketio::parser::{Decoder, PacketType};
///
/// let mut decoder = Decoder::new(10);
/// let packet = decoder.decode_text(r#"2/chat,7["message","hi"]"#).unwrap().unwrap();
/// assert_eq!(packet.kind, PacketType::Event);
/// assert_eq!(packet.ns, "/chat");
/// assert_eq!(packet.id, Some(7));
///
/// // A binary event waits for its attachment.
/// assert!(decoder.decode_text(r#"51-["file",{"_placeholder":true,"num":0}]"#).unwrap().is_none());
/// let packet = decoder.decode_binary(vec![1u8, 2].into()).unwrap().unwrap();
/// assert_eq!(packet.attachments.len(), 1);
/// ```
#[derive(Debug)]
pub struct Decoder {
    max_attachments: usize,
    max_depth: usize,
    /// Boxed: a client's decoder lives as long as its connection, and is rarely mid-packet.
    pending: Option<Box<(Packet, usize)>>,
}

/// How deep JSON may nest by default: deep enough for any real document, shallow enough that
/// parsing it stays far from the stack's end.
pub const DEFAULT_MAX_DEPTH: usize = 1024;

impl Decoder {
    /// A decoder that refuses binary packets announcing more than `max_attachments` attachments
    /// and JSON nested deeper than [`DEFAULT_MAX_DEPTH`].
    pub fn new(max_attachments: usize) -> Self {
        Decoder::with_max_depth(max_attachments, DEFAULT_MAX_DEPTH)
    }

    /// A decoder with an explicit nesting limit.
    pub fn with_max_depth(max_attachments: usize, max_depth: usize) -> Self {
        Decoder {
            max_attachments,
            max_depth,
            pending: None,
        }
    }

    /// Decodes a text packet; `None` when it is a binary packet waiting for attachments.
    pub fn decode_text(&mut self, text: &str) -> Result<Option<Packet>, ParseError> {
        if self.pending.is_some() {
            return Err(ParseError::UnexpectedText);
        }
        let (packet, attachments) = parse(text, self.max_attachments, self.max_depth)?;
        if attachments == 0 {
            // Like Node, placeholders are only resolved in packets that carry attachments.
            return Ok(Some(packet));
        }
        self.pending = Some(Box::new((packet, attachments)));
        Ok(None)
    }

    /// Adds an attachment; returns the packet once the last one arrived.
    pub fn decode_binary(&mut self, data: Bytes) -> Result<Option<Packet>, ParseError> {
        let mut pending = self.pending.take().ok_or(ParseError::UnexpectedBinary)?;
        let (packet, expected) = &mut *pending;
        packet.attachments.push(data);
        if packet.attachments.len() < *expected {
            self.pending = Some(pending);
            return Ok(None);
        }
        let (mut packet, _) = *pending;
        resolve_placeholders(&mut packet)?;
        Ok(Some(packet))
    }

    /// Whether a binary packet is waiting for attachments.
    pub fn is_reconstructing(&self) -> bool {
        self.pending.is_some()
    }
}

/// Parses `<type>[<n>-][/nsp,][id][json]`, returning the packet and its attachment count.
fn parse(
    text: &str,
    max_attachments: usize,
    max_depth: usize,
) -> Result<(Packet, usize), ParseError> {
    let bytes = text.as_bytes();
    let kind = bytes
        .first()
        .and_then(|b| PacketType::from_digit(*b))
        .ok_or(ParseError::InvalidType)?;
    let mut i = 1;

    let mut attachments = 0usize;
    if matches!(kind, PacketType::BinaryEvent | PacketType::BinaryAck) {
        let digits = bytes[i..].iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 || bytes.get(i + digits) != Some(&b'-') {
            return Err(ParseError::IllegalAttachments);
        }
        if digits > 6 {
            return Err(ParseError::TooManyAttachments);
        }
        attachments = text[i..i + digits]
            .parse()
            .map_err(|_| ParseError::IllegalAttachments)?;
        if attachments == 0 {
            // Node's reconstructor refuses a binary packet without attachments.
            return Err(ParseError::IllegalAttachments);
        }
        if attachments > max_attachments {
            return Err(ParseError::TooManyAttachments);
        }
        i += digits + 1;
    }

    let ns = if bytes.get(i) == Some(&b'/') {
        let end = text[i..].find(',').map_or(text.len(), |at| i + at);
        let ns = text[i..end].to_owned();
        i = (end + 1).min(text.len());
        ns
    } else {
        "/".to_owned()
    };

    let digits = bytes[i..].iter().take_while(|b| b.is_ascii_digit()).count();
    let id = if digits > 0 {
        let id: u64 = text[i..i + digits]
            .parse()
            .map_err(|_| ParseError::InvalidAckId)?;
        if id > MAX_ACK_ID {
            return Err(ParseError::InvalidAckId);
        }
        i += digits;
        Some(id)
    } else {
        None
    };

    let data = if i < text.len() {
        Some(parse_json(&text[i..], max_depth)?)
    } else {
        None
    };
    if !payload_fits(kind, data.as_ref()) {
        return Err(ParseError::InvalidPayload);
    }
    Ok((
        Packet {
            kind,
            ns,
            id,
            data,
            attachments: Vec::new(),
        },
        attachments,
    ))
}

/// The payload checks of Node's parser (`isPayloadValid`). A packet with no payload at all is
/// let through, as Node lets it through: an event without a name or an ack without arguments
/// reaches nobody and is ignored later.
fn payload_fits(kind: PacketType, data: Option<&Value>) -> bool {
    match (kind, data) {
        (PacketType::Disconnect, data) => data.is_none(),
        (_, None) => true,
        (PacketType::Connect, Some(v)) => v.is_object(),
        (PacketType::ConnectError, Some(v)) => v.is_string() || v.is_object(),
        (PacketType::Event | PacketType::BinaryEvent, Some(Value::Array(args))) => {
            match args.first() {
                Some(Value::String(name)) => !RESERVED_EVENTS.contains(&name.as_str()),
                Some(Value::Number(_)) => true,
                _ => false,
            }
        }
        (PacketType::Ack | PacketType::BinaryAck, Some(v)) => v.is_array(),
        _ => false,
    }
}

/// serde_json's own bound on nesting: deeper documents fail with a recursion error.
const SERDE_LIMIT: usize = 128;
/// A document that failed to parse and nests at least this deep may have failed on
/// serde_json's bound rather than on its syntax (a margin below [`SERDE_LIMIT`]).
const SERDE_DEPTH: usize = SERDE_LIMIT - 8;

/// Parses JSON nested at most `max_depth` levels, so that neither the parser nor the value's
/// drop recurses deeper than the limit.
///
/// Nearly every packet is shallow, and serde_json parses it on its own bounded recursion;
/// only when that fails is the text scanned for its depth: too deep, or deep but within the
/// limit (parsed again, growing the stack as it goes), or plainly invalid.
fn parse_json(text: &str, max_depth: usize) -> Result<Value, ParseError> {
    match serde_json::from_str::<Value>(text) {
        Ok(value) if max_depth >= SERDE_LIMIT || depth(&value) <= max_depth => return Ok(value),
        Ok(_) => return Err(ParseError::TooDeep),
        Err(_) => {}
    }
    let depth = nesting(text.as_bytes(), max_depth).ok_or(ParseError::TooDeep)?;
    if depth < SERDE_DEPTH {
        return Err(ParseError::InvalidPayload);
    }
    let mut de = serde_json::Deserializer::from_str(text);
    de.disable_recursion_limit();
    // serde_json recurses once per level; serde_stacker grows the stack when it runs low, so
    // `max_depth`, not the thread's stack size, is what bounds the depth.
    let value = serde::Deserialize::deserialize(serde_stacker::Deserializer::new(&mut de))
        .map_err(|_| ParseError::InvalidPayload)?;
    de.end().map_err(|_| ParseError::InvalidPayload)?;
    Ok(value)
}

/// How deep a value nests (serde_json parsed it, so the recursion is bounded by its limit).
fn depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// How deep brackets outside strings nest, or `None` past `max`.
fn nesting(json: &[u8], max: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut deepest = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in json {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return None;
                }
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Some(deepest)
}

/// Every placeholder must point to an attachment, as Node's reconstruction requires, and each
/// stands for exactly its attachment: Node replaces the whole object by the buffer, so keys
/// beside `_placeholder` and `num` (`__proto__` among them) never reach a handler or another
/// client. Placeholders are rewritten to their bare form here, once, where the packet arrives.
fn resolve_placeholders(packet: &mut Packet) -> Result<(), ParseError> {
    let count = packet.attachments.len();
    let Some(data) = &mut packet.data else {
        return Ok(());
    };
    // serde_json bounds nesting (`max_json_depth`), so this recursion is bounded too.
    fn walk(value: &mut Value, count: usize) -> Result<(), ParseError> {
        match value {
            Value::Object(map) => {
                if map.get("_placeholder") == Some(&Value::Bool(true)) {
                    let num = map
                        .get("num")
                        .and_then(Value::as_u64)
                        .filter(|&n| n < count as u64)
                        .ok_or(ParseError::IllegalPlaceholder)?;
                    if map.len() != 2 {
                        *value = super::placeholder(num as usize);
                    }
                    return Ok(());
                }
                map.values_mut().try_for_each(|v| walk(v, count))
            }
            Value::Array(items) => items.iter_mut().try_for_each(|v| walk(v, count)),
            _ => Ok(()),
        }
    }
    walk(data, count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn decode(text: &str) -> Result<Option<Packet>, ParseError> {
        Decoder::new(10).decode_text(text)
    }

    #[test]
    fn parses_connect_variants() {
        let p = decode("0").unwrap().unwrap();
        assert_eq!(
            (p.kind, p.ns.as_str(), p.data),
            (PacketType::Connect, "/", None)
        );
        let p = decode("0/admin,").unwrap().unwrap();
        assert_eq!((p.ns.as_str(), p.data), ("/admin", None));
        let p = decode(r#"0/admin,{"token":"x"}"#).unwrap().unwrap();
        assert_eq!(p.data, Some(json!({"token": "x"})));
        assert_eq!(decode(r#"0"x""#), Err(ParseError::InvalidPayload));
        assert_eq!(decode("0[]"), Err(ParseError::InvalidPayload));
    }

    #[test]
    fn parses_events_and_acks() {
        let p = decode(r#"212["a",1]"#).unwrap().unwrap();
        assert_eq!((p.kind, p.id), (PacketType::Event, Some(12)));
        let p = decode(r#"3/x,5[]"#).unwrap().unwrap();
        assert_eq!(
            (p.kind, p.ns.as_str(), p.id),
            (PacketType::Ack, "/x", Some(5))
        );
        assert_eq!(decode(r#"3{}"#), Err(ParseError::InvalidPayload));
        // Like Node, payload-less events and acks pass the parser and are ignored later.
        assert!(decode("31").is_ok());
        assert!(decode("2").is_ok());
        assert!(decode(r#"2[1.5,"x"]"#).is_ok());
    }

    #[test]
    fn refuses_bad_events() {
        for bad in [
            r#"2[{}]"#,
            r#"2[]"#,
            r#"2{}"#,
            r#"2[null]"#,
            r#"2["connect"]"#,
            r#"2["disconnecting"]"#,
            r#"2["removeListener"]"#,
            r#"2["a""#,
            "7",
            "",
            r#"299999999999999999999["a"]"#,
        ] {
            assert!(decode(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn refuses_deep_nesting_without_overflow() {
        let deep = format!(r#"2["a",{}{}]"#, "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(decode(&deep), Err(ParseError::TooDeep));
        let ok = format!(r#"2["a",{}{}]"#, "[".repeat(1_000), "]".repeat(1_000));
        assert!(decode(&ok).is_ok());
        // Brackets inside strings do not count.
        let quoted = format!(r#"2["a","{}\"{}"]"#, "[".repeat(5_000), "{".repeat(5_000));
        assert!(decode(&quoted).is_ok());
    }

    /// Around serde_json's own bound (128), where the shallow path hands over to the deep one.
    #[test]
    fn depth_limits_hold_on_both_sides_of_serde_jsons_bound() {
        let nested = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        for depth in [1, 64, 119, 120, 127, 128, 129, 200] {
            assert_eq!(
                parse_json(&nested(depth), 1024).map(|v| super::depth(&v)),
                Ok(depth)
            );
            assert_eq!(
                parse_json(&nested(depth), depth).map(|v| super::depth(&v)),
                Ok(depth)
            );
            assert_eq!(
                parse_json(&nested(depth), depth - 1),
                Err(ParseError::TooDeep)
            );
        }
        // Invalid text is invalid whatever its depth, and too deep first when it is too deep.
        for depth in [3, 125, 300] {
            let broken = format!("{}1,]{}", "[".repeat(depth), "]".repeat(depth - 1));
            assert_eq!(parse_json(&broken, 1024), Err(ParseError::InvalidPayload));
            assert_eq!(parse_json(&broken, 2), Err(ParseError::TooDeep));
        }
    }

    #[test]
    fn placeholders_keep_only_placeholder_and_num() {
        let mut d = Decoder::new(10);
        let text = r#"51-["a",{"_placeholder":true,"num":0,"__proto__":{"x":1},"y":2},{"k":{"_placeholder":true,"num":0,"z":[]}}]"#;
        assert!(d.decode_text(text).unwrap().is_none());
        let packet = d
            .decode_binary(Bytes::from_static(b"\x01"))
            .unwrap()
            .unwrap();
        assert_eq!(
            packet.data,
            Some(json!([
                "a",
                {"_placeholder": true, "num": 0},
                {"k": {"_placeholder": true, "num": 0}}
            ]))
        );
    }

    #[test]
    fn reassembles_attachments_and_checks_placeholders() {
        let mut d = Decoder::new(10);
        assert!(
            d.decode_text(
                r#"52-["a",{"_placeholder":true,"num":1},{"_placeholder":true,"num":0}]"#
            )
            .unwrap()
            .is_none()
        );
        assert!(d.decode_binary(Bytes::from_static(b"x")).unwrap().is_none());
        let p = d.decode_binary(Bytes::from_static(b"y")).unwrap().unwrap();
        assert_eq!(p.attachments.len(), 2);

        let mut d = Decoder::new(10);
        d.decode_text(r#"51-["a",{"_placeholder":true,"num":1}]"#)
            .unwrap();
        assert_eq!(
            d.decode_binary(Bytes::new()),
            Err(ParseError::IllegalPlaceholder)
        );
        let mut d = Decoder::new(10);
        assert_eq!(
            d.decode_text(r#"52-["a",{"_placeholder":true,"num":0}]"#)
                .map(|_| ()),
            Ok(())
        );
        assert_eq!(d.decode_text("2[\"a\"]"), Err(ParseError::UnexpectedText));
        assert_eq!(
            Decoder::new(10).decode_binary(Bytes::new()),
            Err(ParseError::UnexpectedBinary)
        );
    }

    #[test]
    fn caps_attachment_counts() {
        assert_eq!(decode(r#"511-["a"]"#), Err(ParseError::TooManyAttachments));
        assert_eq!(
            decode(r#"5999999999-["a"]"#),
            Err(ParseError::TooManyAttachments)
        );
        assert_eq!(decode(r#"5-["a"]"#), Err(ParseError::IllegalAttachments));
        assert_eq!(decode(r#"50-["a"]"#), Err(ParseError::IllegalAttachments));
        assert_eq!(decode(r#"5x-["a"]"#), Err(ParseError::IllegalAttachments));
    }
}
