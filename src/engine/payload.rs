//! Long-polling payloads: several packets in one HTTP body.
//!
//! v4 separates packets with the record separator `\x1e` and sends binary as `b<base64>`.
//! v3 prefixes each packet with its length (see [`super::v3`]).

use bytes::{Bytes, BytesMut};

use super::packet::{Frame, Packet, PacketError, Text, write_text_form};

const SEPARATOR: u8 = 0x1e;

/// Splits a v4 payload into packets, lazily and without copying.
pub(crate) fn decode_v4(
    body: Bytes,
) -> Box<dyn Iterator<Item = Result<Packet, PacketError>> + Send> {
    let mut rest = Some(body);
    Box::new(std::iter::from_fn(move || {
        let body = rest.take()?;
        let segment = match body.iter().position(|b| *b == SEPARATOR) {
            Some(at) => {
                rest = Some(body.slice(at + 1..));
                body.slice(..at)
            }
            None => body,
        };
        Some(
            Text::from_utf8(segment)
                .map_err(|_| PacketError::InvalidUtf8)
                .and_then(Packet::decode_text),
        )
    }))
}

/// Joins frames into one v4 payload.
pub(crate) fn encode_v4<'a>(
    frames: impl IntoIterator<Item = &'a Frame>,
    size_hint: usize,
) -> Bytes {
    let mut out = BytesMut::with_capacity(size_hint);
    for (i, frame) in frames.into_iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(&[SEPARATOR]);
        }
        write_text_form(frame, &mut out);
    }
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::packet::Message;

    #[test]
    fn round_trips_mixed_payload() {
        let frames = [
            Frame::text("hello"),
            Frame::binary(vec![1u8, 2, 3]),
            Frame::ping(),
        ];
        let body = encode_v4(&frames, 0);
        assert_eq!(&body[..], b"4hello\x1ebAQID\x1e2");
        let packets: Vec<_> = decode_v4(body).collect::<Result<_, _>>().unwrap();
        assert_eq!(
            packets,
            vec![
                Packet::Message(Message::Text("hello".into())),
                Packet::Message(Message::Binary(Bytes::from_static(&[1, 2, 3]))),
                Packet::Ping { probe: false },
            ]
        );
    }

    #[test]
    fn empty_segment_is_an_error() {
        let results: Vec<_> = decode_v4(Bytes::from_static(b"4a\x1e")).collect();
        assert_eq!(results.len(), 2);
        assert_eq!(results[1], Err(PacketError::Empty));
    }
}
