//! The Socket.IO packet format (protocol v5) with serde_json: where a packet is parsed and
//! where it is encoded.
//!
//! A packet is `<type>[<attachments>-][<namespace>,][<ack id>][<JSON>]`; binary packets
//! (`5`, `6`) announce how many binary attachments follow as separate Engine.IO messages, and
//! their JSON holds `{"_placeholder":true,"num":N}` where each attachment goes.
//!
//! Decoding is bounded: serde_json refuses nesting deeper than 128 levels, the attachment count
//! is capped ([`crate::SocketIoConfig::max_attachments`]), and every check Node's parser makes is
//! made here too. Encoding happens once per emit or broadcast into [`Frame`](crate::engine::Frame)s that all receivers
//! share.

mod decode;
mod encode;
#[cfg(feature = "msgpack")]
mod msgpack;

// The emitter refuses these names too.
#[cfg(any(feature = "redis", feature = "postgres"))]
pub(crate) use decode::RESERVED_EVENTS;
pub use decode::{DEFAULT_MAX_DEPTH, Decoder, ParseError};
pub(crate) use encode::{EncodedArgs, SPREAD_MARKER, encode_args};

use bytes::Bytes;
use serde_json::Value;

/// The type of a Socket.IO packet.
///
/// ```
/// use tower_socketio::parser::{Decoder, PacketType};
///
/// let packet = Decoder::new(10).decode_text("1/chat,").unwrap().unwrap();
/// assert_eq!(packet.kind, PacketType::Disconnect);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketType {
    /// `0`: join a namespace (client) or accept the join (server).
    Connect,
    /// `1`: leave a namespace.
    Disconnect,
    /// `2`: an event.
    Event,
    /// `3`: an acknowledgement.
    Ack,
    /// `4`: a refused namespace join.
    ConnectError,
    /// `5`: an event with binary attachments.
    BinaryEvent,
    /// `6`: an acknowledgement with binary attachments.
    BinaryAck,
}

impl PacketType {
    pub(crate) fn from_digit(b: u8) -> Option<PacketType> {
        Some(match b {
            b'0' => PacketType::Connect,
            b'1' => PacketType::Disconnect,
            b'2' => PacketType::Event,
            b'3' => PacketType::Ack,
            b'4' => PacketType::ConnectError,
            b'5' => PacketType::BinaryEvent,
            b'6' => PacketType::BinaryAck,
            _ => return None,
        })
    }

    pub(crate) fn digit(self) -> u8 {
        match self {
            PacketType::Connect => b'0',
            PacketType::Disconnect => b'1',
            PacketType::Event => b'2',
            PacketType::Ack => b'3',
            PacketType::ConnectError => b'4',
            PacketType::BinaryEvent => b'5',
            PacketType::BinaryAck => b'6',
        }
    }
}

/// A decoded packet from a client, with its attachments reassembled.
///
/// ```
/// use tower_socketio::parser::Decoder;
///
/// let packet = Decoder::new(10).decode_text(r#"0/admin,{"token":"x"}"#).unwrap().unwrap();
/// assert_eq!(packet.ns, "/admin");
/// assert_eq!(packet.data, Some(serde_json::json!({"token": "x"})));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Packet {
    /// What kind of packet.
    pub kind: PacketType,
    /// The namespace (`/` when the packet names none).
    pub ns: String,
    /// The ack id, if the sender wants an acknowledgement (or this is one).
    pub id: Option<u64>,
    /// The JSON payload: the CONNECT auth object, or the event/ack argument array.
    pub data: Option<Value>,
    /// Binary attachments, in placeholder order.
    pub attachments: Vec<Bytes>,
}

/// The event name and its arguments, split out of an EVENT packet.
///
/// A numeric name is accepted, as Node accepts it, under its decimal text (Node's listeners are
/// keyed by string).
pub(crate) fn split_event(data: Option<Value>) -> Option<(String, Vec<Value>)> {
    match data {
        Some(Value::Array(mut args)) if !args.is_empty() => match args.remove(0) {
            Value::String(name) => Some((name, args)),
            Value::Number(n) => Some((n.to_string(), args)),
            _ => None,
        },
        _ => None,
    }
}

/// A `{"_placeholder":true,"num":n}` object, where attachment `n` goes in emitted JSON.
///
/// ```
/// use tower_socketio::placeholder;
///
/// assert_eq!(placeholder(0), serde_json::json!({"_placeholder": true, "num": 0}));
/// ```
pub fn placeholder(num: usize) -> Value {
    serde_json::json!({ "_placeholder": true, "num": num })
}

/// How packets are written on the wire, chosen per server.
///
/// ```
/// use tower_socketio::{SocketIo, parser::Parser};
///
/// let io = SocketIo::builder().parser(Parser::Default).build();
/// # let _ = io;
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Parser {
    /// JSON text packets with binary attachments (Socket.IO's default parser).
    #[default]
    Default,
    /// msgpack, as `socket.io-msgpack-parser` writes it (feature `msgpack`).
    #[cfg(feature = "msgpack")]
    MsgPack,
}

/// Encodes a packet with the server's parser into the frames every receiver shares.
pub(crate) fn encode(
    parser: Parser,
    kind: PacketType,
    ns: &str,
    id: Option<u64>,
    event: Option<&str>,
    args: &EncodedArgs,
) -> Vec<crate::engine::Frame> {
    match parser {
        Parser::Default => encode::encode(kind, ns, id, event, args),
        #[cfg(feature = "msgpack")]
        Parser::MsgPack => msgpack::encode(kind, ns, id, event, args),
    }
}

/// Decodes the packets of one client with the server's parser.
#[derive(Debug)]
pub(crate) enum PacketDecoder {
    Default(Decoder),
    #[cfg(feature = "msgpack")]
    MsgPack {
        max_depth: usize,
    },
}

impl PacketDecoder {
    pub(crate) fn new(parser: Parser, max_attachments: usize, max_depth: usize) -> Self {
        match parser {
            Parser::Default => {
                PacketDecoder::Default(Decoder::with_max_depth(max_attachments, max_depth))
            }
            #[cfg(feature = "msgpack")]
            Parser::MsgPack => PacketDecoder::MsgPack { max_depth },
        }
    }

    pub(crate) fn decode(
        &mut self,
        message: crate::engine::Message,
    ) -> Result<Option<Packet>, ParseError> {
        use crate::engine::Message;
        match (self, message) {
            (PacketDecoder::Default(d), Message::Text(text)) => d.decode_text(&text),
            (PacketDecoder::Default(d), Message::Binary(data)) => d.decode_binary(data),
            #[cfg(feature = "msgpack")]
            (PacketDecoder::MsgPack { max_depth }, Message::Binary(data)) => {
                msgpack::decode(&data, *max_depth).map(Some)
            }
            #[cfg(feature = "msgpack")]
            (PacketDecoder::MsgPack { .. }, Message::Text(_)) => Err(ParseError::UnexpectedText),
        }
    }
}
