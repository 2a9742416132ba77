//! Engine.IO packets: what one side says to the other, and their wire forms.
//!
//! Incoming packets are decoded into [`Packet`]; outgoing packets are encoded once into a
//! [`Frame`], which is cheap to clone so a broadcast shares one encoding among all receivers.

use bytes::{BufMut, Bytes, BytesMut};
use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::ProtocolVersion;

/// An immutable UTF-8 string that shares its buffer (a [`Bytes`]) instead of copying it.
///
/// Incoming text messages are slices of the frame or request body they arrived in.
///
/// ```
/// use tower_socketio::engine::Text;
///
/// let text = Text::from("hello");
/// assert_eq!(text.as_str(), "hello");
/// assert_eq!(&*text, "hello");
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Text(Utf8Bytes);

impl Text {
    /// Wraps bytes already known to be UTF-8, checking them.
    pub fn from_utf8(bytes: Bytes) -> Result<Self, std::str::Utf8Error> {
        Utf8Bytes::try_from(bytes).map(Text)
    }

    /// The text. Checked once, when the text was made: a packet's text is read several times
    /// on its way (its length, its type, its payload), and checking it every time cost as much
    /// as parsing it.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The underlying bytes.
    pub fn as_bytes(&self) -> &Bytes {
        self.0.as_ref()
    }

    /// `self[at..]` without copying; `at` must be a char boundary (it is checked).
    pub(crate) fn slice_from(&self, at: usize) -> Option<Text> {
        let rest = self.as_str().get(at..)?;
        // The rest of a checked text: checking it again is cheap next to copying it.
        Utf8Bytes::try_from(self.as_bytes().slice_ref(rest.as_bytes()))
            .ok()
            .map(Text)
    }
}

impl std::ops::Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Self {
        Text(Utf8Bytes::from(s))
    }
}

impl From<String> for Text {
    fn from(s: String) -> Self {
        Text(Utf8Bytes::from(s))
    }
}

impl From<Utf8Bytes> for Text {
    fn from(s: Utf8Bytes) -> Self {
        Text(s)
    }
}

impl From<Text> for Utf8Bytes {
    fn from(text: Text) -> Self {
        text.0
    }
}

impl std::fmt::Debug for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl std::fmt::Display for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A message carried by an Engine.IO session: the payload of a `message` packet.
///
/// ```
/// use tower_socketio::engine::Message;
///
/// let msg = Message::from("hi");
/// assert!(matches!(msg, Message::Text(ref t) if t.as_str() == "hi"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message.
    Text(Text),
    /// A binary message.
    Binary(Bytes),
}

impl Message {
    /// The message's length in bytes.
    pub(crate) fn len(&self) -> usize {
        match self {
            Message::Text(text) => text.as_str().len(),
            Message::Binary(data) => data.len(),
        }
    }
}

impl From<&str> for Message {
    fn from(s: &str) -> Self {
        Message::Text(s.into())
    }
}

impl From<String> for Message {
    fn from(s: String) -> Self {
        Message::Text(s.into())
    }
}

impl From<Bytes> for Message {
    fn from(b: Bytes) -> Self {
        Message::Binary(b)
    }
}

impl From<Vec<u8>> for Message {
    fn from(b: Vec<u8>) -> Self {
        Message::Binary(b.into())
    }
}

/// A decoded Engine.IO packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Packet {
    Open,
    Close,
    /// `2`, or `2probe` during an upgrade.
    Ping {
        probe: bool,
    },
    Pong {
        probe: bool,
    },
    Message(Message),
    Upgrade,
    Noop,
}

/// The packet could not be decoded.
///
/// ```
/// use tower_socketio::engine::PacketError;
///
/// assert_eq!(PacketError::UnknownType.to_string(), "unknown packet type");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// The packet was empty.
    #[error("empty packet")]
    Empty,
    /// The type character is not one of `0`–`6`.
    #[error("unknown packet type")]
    UnknownType,
    /// A `b`-prefixed packet whose payload is not valid base64.
    #[error("invalid base64 payload")]
    InvalidBase64,
    /// A payload that is not valid UTF-8 where text is required.
    #[error("invalid UTF-8")]
    InvalidUtf8,
    /// The framing of a polling payload is broken.
    #[error("malformed payload")]
    MalformedPayload,
}

impl Packet {
    /// Decodes one text-encoded packet (a WebSocket text frame or one segment of a payload).
    pub(crate) fn decode_text(text: Text) -> Result<Packet, PacketError> {
        let s = text.as_str();
        let first = *s.as_bytes().first().ok_or(PacketError::Empty)?;
        let is_probe = || &s[1..] == "probe";
        Ok(match first {
            b'0' => Packet::Open,
            b'1' => Packet::Close,
            b'2' => Packet::Ping { probe: is_probe() },
            b'3' => Packet::Pong { probe: is_probe() },
            b'4' => Packet::Message(Message::Text(
                text.slice_from(1).ok_or(PacketError::InvalidUtf8)?,
            )),
            b'5' => Packet::Upgrade,
            b'6' => Packet::Noop,
            b'b' => Packet::Message(Message::Binary(decode_base64(&s.as_bytes()[1..])?)),
            _ => return Err(PacketError::UnknownType),
        })
    }

    /// Decodes a WebSocket binary frame.
    ///
    /// In v4 the frame is the message itself; in v3 its first byte is the packet type (`4`).
    pub(crate) fn decode_binary(
        data: Bytes,
        protocol: ProtocolVersion,
    ) -> Result<Packet, PacketError> {
        match protocol {
            ProtocolVersion::V4 => Ok(Packet::Message(Message::Binary(data))),
            ProtocolVersion::V3 => match data.first() {
                Some(4) => Ok(Packet::Message(Message::Binary(data.slice(1..)))),
                Some(_) => Err(PacketError::UnknownType),
                None => Err(PacketError::Empty),
            },
        }
    }
}

pub(crate) fn decode_base64(data: &[u8]) -> Result<Bytes, PacketError> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(data)
        .map(Bytes::from)
        .map_err(|_| PacketError::InvalidBase64)
}

/// A packet encoded for the wire, ready to be sent on any session of the same protocol.
///
/// Cloning is cheap (a reference count), which is how one broadcast is encoded once and shared by
/// every receiver.
///
/// ```
/// use tower_socketio::engine::Frame;
///
/// let frame = Frame::text("hello");
/// let copy = frame.clone(); // shares the same bytes
/// assert_eq!(frame.len(), copy.len());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame(pub(crate) FrameKind);

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum FrameKind {
    /// A text packet with its type character first, e.g. `4hello` or `2`.
    Text(Utf8Bytes),
    /// The payload of a binary message packet, without any type byte.
    Binary(Bytes),
}

impl Frame {
    /// A text message packet (`4` followed by `text`), encoded once.
    pub fn text(text: &str) -> Frame {
        Frame::text_with(text.len(), |buf| buf.extend_from_slice(text.as_bytes()))
    }

    /// A text message packet built by `write`, which appends exactly `len_hint` bytes or so of
    /// UTF-8 to the buffer (the hint only sizes the allocation).
    pub(crate) fn text_with(len_hint: usize, write: impl FnOnce(&mut Vec<u8>)) -> Frame {
        let mut buf = Vec::with_capacity(len_hint + 1);
        buf.push(b'4');
        write(&mut buf);
        Frame::from_packet_text(buf)
    }

    /// Wraps bytes that already hold a text packet (type character first).
    pub(crate) fn from_packet_text(buf: Vec<u8>) -> Frame {
        let text = match String::from_utf8(buf) {
            Ok(s) => Utf8Bytes::from(s),
            Err(e) => Utf8Bytes::from(String::from_utf8_lossy(e.as_bytes()).into_owned()),
        };
        Frame(FrameKind::Text(text))
    }

    /// A binary message packet.
    pub fn binary(data: impl Into<Bytes>) -> Frame {
        Frame(FrameKind::Binary(data.into()))
    }

    pub(crate) fn control(packet: &'static str) -> Frame {
        Frame(FrameKind::Text(Utf8Bytes::from_static(packet)))
    }

    pub(crate) fn ping() -> Frame {
        Frame::control("2")
    }
    pub(crate) fn pong() -> Frame {
        Frame::control("3")
    }
    pub(crate) fn close() -> Frame {
        Frame::control("1")
    }
    pub(crate) fn noop() -> Frame {
        Frame::control("6")
    }

    /// How many bytes this packet takes in memory, which is what outbound queues are bounded by.
    pub fn len(&self) -> usize {
        match &self.0 {
            FrameKind::Text(t) => t.len(),
            FrameKind::Binary(b) => b.len(),
        }
    }

    /// The bytes of the packet's data, without its type character (what Node's
    /// instrumentation counts).
    pub(crate) fn data_len(&self) -> usize {
        match &self.0 {
            FrameKind::Text(t) => t.len().saturating_sub(1),
            FrameKind::Binary(b) => b.len(),
        }
    }

    /// Whether the packet carries no bytes at all (never true for an encoded packet).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The packet's text, type character first, if it is a text packet.
    pub fn as_text(&self) -> Option<&str> {
        match &self.0 {
            FrameKind::Text(t) => Some(t.as_str()),
            FrameKind::Binary(_) => None,
        }
    }

    /// The packet's bytes, if it is a binary message.
    pub fn as_binary(&self) -> Option<&Bytes> {
        match &self.0 {
            FrameKind::Binary(b) => Some(b),
            FrameKind::Text(_) => None,
        }
    }

    pub(crate) fn is_close(&self) -> bool {
        matches!(&self.0, FrameKind::Text(t) if t.as_str() == "1")
    }
}

/// Appends the text form of a frame for a polling payload (v4: binary as `b<base64>`).
pub(crate) fn write_text_form(frame: &Frame, out: &mut BytesMut) {
    match &frame.0 {
        FrameKind::Text(t) => out.extend_from_slice(t.as_bytes()),
        FrameKind::Binary(b) => {
            use base64::Engine as _;
            out.put_u8(b'b');
            let start = out.len();
            let encoded_len = base64::encoded_len(b.len(), true).unwrap_or(0);
            out.resize(start + encoded_len, 0);
            let written = base64::engine::general_purpose::STANDARD
                .encode_slice(b, &mut out[start..])
                .unwrap_or(0);
            out.truncate(start + written);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Text {
        Text::from(s)
    }

    #[test]
    fn decodes_every_type() {
        assert_eq!(Packet::decode_text(text("1")), Ok(Packet::Close));
        assert_eq!(
            Packet::decode_text(text("2probe")),
            Ok(Packet::Ping { probe: true })
        );
        assert_eq!(
            Packet::decode_text(text("3")),
            Ok(Packet::Pong { probe: false })
        );
        assert_eq!(
            Packet::decode_text(text("4héllo")),
            Ok(Packet::Message(Message::Text(text("héllo"))))
        );
        assert_eq!(
            Packet::decode_text(text("bAQID")),
            Ok(Packet::Message(Message::Binary(Bytes::from_static(&[
                1, 2, 3
            ]))))
        );
        assert_eq!(Packet::decode_text(text("5")), Ok(Packet::Upgrade));
        assert_eq!(Packet::decode_text(text("6")), Ok(Packet::Noop));
    }

    #[test]
    fn refuses_garbage() {
        assert_eq!(Packet::decode_text(text("")), Err(PacketError::Empty));
        assert_eq!(
            Packet::decode_text(text("9")),
            Err(PacketError::UnknownType)
        );
        assert_eq!(
            Packet::decode_text(text("b@@")),
            Err(PacketError::InvalidBase64)
        );
    }

    #[test]
    fn binary_text_form_is_base64() {
        let mut out = BytesMut::new();
        write_text_form(&Frame::binary(vec![1u8, 2, 3]), &mut out);
        assert_eq!(&out[..], b"bAQID");
    }
}
