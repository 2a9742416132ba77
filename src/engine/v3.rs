//! Engine.IO v3 framing, for Socket.IO v2 clients (enabled with `allow_eio3`).
//!
//! Polling payloads prefix each packet with its length: `<length>:<packet>`, where the length
//! counts UTF-16 code units (it was a JavaScript string length). Clients that support binary
//! (no `b64` in the query) may exchange binary payloads instead: per packet a byte `0` (text) or
//! `1` (binary), the length as one byte per decimal digit, `0xFF`, then the packet bytes, with
//! text as UTF-8 and binary packets led by their type byte. Binary packets in text payloads are
//! `b4<base64>`.

use bytes::{BufMut, Bytes, BytesMut};

use super::packet::{Frame, FrameKind, Message, Packet, PacketError, Text, decode_base64};

/// The longest length prefix accepted: more digits than any allowed body could need.
const MAX_LENGTH_DIGITS: usize = 12;

/// Encodes frames as a v3 payload; returns the body and its content type.
pub(crate) fn encode_payload(frames: &[Frame], b64: bool) -> (Bytes, &'static str) {
    let has_binary = frames.iter().any(|f| matches!(f.0, FrameKind::Binary(_)));
    if has_binary && !b64 {
        return (encode_binary_payload(frames), "application/octet-stream");
    }
    let mut out = BytesMut::new();
    if frames.is_empty() {
        out.extend_from_slice(b"0:");
    }
    for frame in frames {
        match &frame.0 {
            FrameKind::Text(t) => {
                let len = t.as_str().encode_utf16().count();
                out.extend_from_slice(len.to_string().as_bytes());
                out.put_u8(b':');
                out.extend_from_slice(t.as_bytes());
            }
            FrameKind::Binary(b) => {
                let encoded = base64_packet(b);
                out.extend_from_slice(encoded.len().to_string().as_bytes());
                out.put_u8(b':');
                out.extend_from_slice(encoded.as_bytes());
            }
        }
    }
    (out.freeze(), "text/plain; charset=UTF-8")
}

fn encode_binary_payload(frames: &[Frame]) -> Bytes {
    let mut out = BytesMut::new();
    for frame in frames {
        let (kind, len) = match &frame.0 {
            FrameKind::Text(t) => (0u8, t.len()),
            FrameKind::Binary(b) => (1u8, b.len() + 1),
        };
        out.put_u8(kind);
        for digit in len.to_string().bytes() {
            out.put_u8(digit - b'0');
        }
        out.put_u8(0xff);
        match &frame.0 {
            FrameKind::Text(t) => out.extend_from_slice(t.as_bytes()),
            FrameKind::Binary(b) => {
                out.put_u8(4);
                out.extend_from_slice(b);
            }
        }
    }
    out.freeze()
}

/// A binary message as v3 text: `b4<base64>`.
pub(crate) fn base64_packet(data: &[u8]) -> String {
    use base64::Engine as _;
    let mut s = String::from("b4");
    base64::engine::general_purpose::STANDARD.encode_string(data, &mut s);
    s
}

/// Decodes a v3 payload (text, or binary when the request said `application/octet-stream`).
pub(crate) fn decode_payload(
    body: Bytes,
    is_binary: bool,
) -> Box<dyn Iterator<Item = Result<Packet, PacketError>> + Send> {
    if is_binary {
        Box::new(BinaryPayload {
            rest: body,
            failed: false,
        })
    } else {
        match Text::from_utf8(body) {
            Ok(text) => Box::new(TextPayload {
                rest: text,
                at: 0,
                failed: false,
            }),
            Err(_) => Box::new(std::iter::once(Err(PacketError::InvalidUtf8))),
        }
    }
}

/// Decodes one v3 text packet, where binary is `b<type><base64>`.
pub(crate) fn decode_text_packet(text: Text) -> Result<Packet, PacketError> {
    match text.as_bytes().first() {
        Some(b'b') => match text.as_bytes().get(1) {
            Some(b'4') => Ok(Packet::Message(Message::Binary(decode_base64(
                &text.as_bytes()[2..],
            )?))),
            _ => Err(PacketError::UnknownType),
        },
        _ => Packet::decode_text(text),
    }
}

struct TextPayload {
    rest: Text,
    at: usize,
    failed: bool,
}

impl Iterator for TextPayload {
    type Item = Result<Packet, PacketError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.at >= self.rest.len() {
            return None;
        }
        let result = self.next_packet();
        self.failed = result.is_err();
        Some(result)
    }
}

impl TextPayload {
    fn next_packet(&mut self) -> Result<Packet, PacketError> {
        let s = &self.rest.as_str()[self.at..];
        let colon = s
            .bytes()
            .take(MAX_LENGTH_DIGITS + 1)
            .position(|b| b == b':')
            .ok_or(PacketError::MalformedPayload)?;
        let units: usize = s[..colon]
            .parse()
            .map_err(|_| PacketError::MalformedPayload)?;
        let body = &s[colon + 1..];
        // Walk `units` UTF-16 code units to find the packet's end in bytes.
        let mut counted = 0;
        let mut end = 0;
        for ch in body.chars() {
            if counted >= units {
                break;
            }
            counted += ch.len_utf16();
            end += ch.len_utf8();
        }
        if counted != units {
            return Err(PacketError::MalformedPayload);
        }
        let start = self.at + colon + 1;
        self.at = start + end;
        let packet = self
            .rest
            .slice_from(start)
            .and_then(|t| Text::from_utf8(t.as_bytes().slice(..end)).ok())
            .ok_or(PacketError::MalformedPayload)?;
        decode_text_packet(packet)
    }
}

struct BinaryPayload {
    rest: Bytes,
    failed: bool,
}

impl Iterator for BinaryPayload {
    type Item = Result<Packet, PacketError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        let result = self.next_packet();
        self.failed = result.is_err();
        Some(result)
    }
}

impl BinaryPayload {
    fn next_packet(&mut self) -> Result<Packet, PacketError> {
        let is_text = match self.rest.first() {
            Some(0) => true,
            Some(1) => false,
            _ => return Err(PacketError::MalformedPayload),
        };
        let mut len = 0usize;
        let mut i = 1;
        loop {
            let b = *self.rest.get(i).ok_or(PacketError::MalformedPayload)?;
            i += 1;
            if b == 0xff {
                break;
            }
            if b > 9 || i > MAX_LENGTH_DIGITS + 1 {
                return Err(PacketError::MalformedPayload);
            }
            len = len * 10 + b as usize;
        }
        if self.rest.len() < i + len {
            return Err(PacketError::MalformedPayload);
        }
        let data = self.rest.slice(i..i + len);
        self.rest = self.rest.slice(i + len..);
        if is_text {
            let text = Text::from_utf8(data).map_err(|_| PacketError::InvalidUtf8)?;
            decode_text_packet(text)
        } else {
            Packet::decode_binary(data, super::ProtocolVersion::V3)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_payload_counts_utf16_units() {
        let frames = [Frame::text("é😀"), Frame::ping()];
        let (body, ct) = encode_payload(&frames, true);
        assert_eq!(ct, "text/plain; charset=UTF-8");
        assert_eq!(std::str::from_utf8(&body).unwrap(), "4:4é😀1:2");
        let packets: Vec<_> = decode_payload(body, false)
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(packets.len(), 2);
        assert_eq!(packets[0], Packet::Message(Message::Text("é😀".into())));
    }

    #[test]
    fn binary_payload_round_trips() {
        let frames = [Frame::text("hi"), Frame::binary(vec![7u8, 8])];
        let (body, ct) = encode_payload(&frames, false);
        assert_eq!(ct, "application/octet-stream");
        assert_eq!(
            &body[..],
            &[0, 3, 0xff, b'4', b'h', b'i', 1, 3, 0xff, 4, 7, 8]
        );
        let packets: Vec<_> = decode_payload(body, true)
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            packets[1],
            Packet::Message(Message::Binary(vec![7u8, 8].into()))
        );
    }

    #[test]
    fn malformed_payloads_fail_once() {
        for body in [&b"5:4ab"[..], b"x:4", b"99999999999999999:4", b"2"] {
            let results: Vec<_> = decode_payload(Bytes::copy_from_slice(body), false).collect();
            assert!(results.last().unwrap().is_err(), "{body:?}");
        }
        let results: Vec<_> = decode_payload(Bytes::from_static(&[0, 9, 9]), true).collect();
        assert_eq!(results, vec![Err(PacketError::MalformedPayload)]);
    }
}
