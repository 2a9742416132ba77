//! Entry points into internal decoders and the fan-out path, for this crate's benchmarks and
//! fuzz targets only. Not part of the public API: no stability, no semver.

use std::sync::{Arc, Weak};

use bytes::Bytes;
use serde::Serialize;

use crate::adapter::BroadcastOptions;
use crate::core::error::EmitError;
use crate::engine::{self, Frame, ProtocolVersion, Session, Sid, TransportKind};
use crate::namespace::Namespace;
use crate::parser::{self, PacketType};
use crate::socket::{Socket, SocketRef};
use crate::{SocketIo, SocketIoConfig};

/// Decodes one Engine.IO text packet; returns whether it decoded.
pub fn engine_decode_packet(text: &str) -> bool {
    engine::decode_packet_for_internals(text)
}

/// Decodes an Engine.IO polling payload; returns how many packets decoded before an error.
pub fn engine_decode_payload(body: Bytes, v3: bool, binary: bool) -> usize {
    engine::decode_payload_for_internals(body, v3, binary)
}

/// Encodes frames as an Engine.IO v4 polling payload.
pub fn engine_encode_payload(frames: &[Frame]) -> Bytes {
    engine::encode_payload_for_internals(frames)
}

/// Parses a handshake query; returns whether it is acceptable.
pub fn engine_parse_query(query: &str) -> bool {
    engine::parse_query_for_internals(query)
}

/// Encodes an event packet into its frames.
pub fn encode_event<T: Serialize + ?Sized>(
    ns: &str,
    event: &str,
    data: &T,
    attachments: Vec<Bytes>,
    id: Option<u64>,
) -> Result<Vec<Frame>, EmitError> {
    let args = parser::encode_args(data, attachments)?;
    Ok(parser::encode(
        crate::parser::Parser::Default,
        PacketType::Event,
        ns,
        id,
        Some(event),
        &args,
    ))
}

/// A namespace with sockets that have no connection under them: what a broadcast costs
/// without any I/O.
pub struct FanoutFixture {
    ns: Arc<Namespace>,
    sockets: Vec<SocketRef>,
    io: SocketIo,
}

impl FanoutFixture {
    /// `sockets` sockets in namespace `/`, every one in room `all`.
    pub fn new(sockets: usize) -> Self {
        Self::build(sockets, None)
    }

    /// The same with connection state recovery on (kept in memory): every broadcast through
    /// [`emit`](Self::emit) is logged with its offset.
    pub fn with_recovery(sockets: usize) -> Self {
        Self::build(sockets, Some(crate::ConnectionStateRecovery::default()))
    }

    fn build(sockets: usize, recovery: Option<crate::ConnectionStateRecovery>) -> Self {
        let mut builder = SocketIo::builder()
            .config(SocketIoConfig::default().with_engine(|e| e.max_buffered_bytes(usize::MAX)));
        if let Some(recovery) = recovery {
            builder = builder.connection_state_recovery(recovery);
        }
        let io = builder.build();
        let ns = io.0.resolve_or_create("/");
        let config = Arc::new(io.0.config.engine.clone());
        let request = Arc::new(engine::RequestHead::new(
            http::Request::new(()).into_parts().0,
        ));
        let sockets = (0..sockets)
            .map(|_| {
                let host: Weak<crate::engine::DetachedHost> = Weak::new();
                let session = Session::new(
                    Sid::new(),
                    ProtocolVersion::V4,
                    false,
                    TransportKind::WebSocket,
                    config.clone(),
                    request.clone(),
                    host,
                );
                let socket = Socket::new(ns.clone(), session, None, Weak::new(), None, None);
                ns.insert_socket(socket.clone());
                socket.join(socket.id());
                socket.join("all");
                socket.set_connected();
                socket
            })
            .collect();
        FanoutFixture { ns, sockets, io }
    }

    /// Broadcasts one event to room `all` as an application does (`io.to("all").emit`): with
    /// recovery on, it is also logged.
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, data: &T) -> Result<(), EmitError> {
        self.io.to("all").emit(event, data)
    }

    /// Broadcasts one event to every socket in room `all`, encoding it once.
    pub fn broadcast<T: Serialize + ?Sized>(&self, event: &str, data: &T) -> Result<(), EmitError> {
        let args = parser::encode_args(data, Vec::new())?;
        let packet = self.ns.packet(event, args, None, false);
        let opts = BroadcastOptions {
            rooms: vec!["all".into()],
            ..Default::default()
        };
        // The memory adapter delivers before returning; the future only reports completion.
        let _ = self.ns.adapter.broadcast(packet, opts);
        Ok(())
    }

    /// Empties every socket's queue, as the transports would; returns the bytes taken.
    pub fn drain(&self) -> usize {
        self.sockets
            .iter()
            .map(|s| {
                s.session
                    .state()
                    .drain_outbox()
                    .iter()
                    .map(Frame::len)
                    .sum::<usize>()
            })
            .sum()
    }
}

/// Sizes of the per-connection structures, in bytes.
pub fn struct_sizes() -> Vec<(&'static str, usize)> {
    vec![
        ("Socket", std::mem::size_of::<Socket>()),
        ("Handshake", std::mem::size_of::<crate::Handshake>()),
        ("Client", std::mem::size_of::<crate::client::Client>()),
        ("engine::Session inner", engine::session_inner_size()),
    ]
}

/// Decodes what other nodes publish and store on Redis, as the Redis adapter reads it: a
/// Pub/Sub message (`kind` 0), a stream entry whose fields and values alternate in `parts`
/// (`kind` 1), a persisted session (`kind` 2). Returns whether it decoded.
#[cfg(feature = "redis")]
pub fn redis_decode(kind: u8, parts: &[&[u8]]) -> bool {
    use crate::adapter::cluster::codec as wire;
    use crate::adapter::redis::streams;
    let bulk = |b: &[u8]| redis::Value::BulkString(b.to_vec());
    match kind % 3 {
        0 => parts.iter().all(|p| wire::decode_message(p).is_ok()),
        1 => {
            let fields = parts.iter().map(|p| bulk(p)).collect();
            let entry = redis::Value::Array(vec![bulk(b"1-0"), redis::Value::Array(fields)]);
            let reply = redis::Value::Map(vec![(bulk(b"s"), redis::Value::Array(vec![entry]))]);
            streams::parse_xread(&reply)
                .iter()
                .all(|e| e.message.is_some())
        }
        _ => parts.iter().all(|p| streams::decode_session(p).is_some()),
    }
}
