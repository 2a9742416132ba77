//! Engine.IO v4 packets, payloads and session helpers.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::Value;

use super::Target;
use super::http::{Conn, Response, build_request};
use super::ws::{WsClient, WsEvent};

/// The record separator between packets of a v4 polling payload.
pub const SEPARATOR: char = '\u{1e}';

/// Text content type of polling responses and requests.
pub const TEXT_PLAIN: &str = "text/plain;charset=UTF-8";

/// One Engine.IO v4 packet as seen on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// A text packet, type digit included: `"4hello"`, `"2"`, `"3probe"`.
    Text(String),
    /// A binary message packet (`b<base64>` in polling, a binary frame in WebSocket).
    Binary(Vec<u8>),
}

impl Packet {
    pub fn text(s: impl Into<String>) -> Packet {
        Packet::Text(s.into())
    }

    /// The packet type digit (`'4'` for binary messages).
    pub fn kind(&self) -> char {
        match self {
            Packet::Text(s) => s.chars().next().unwrap_or('?'),
            Packet::Binary(_) => '4',
        }
    }

    pub fn is_ping(&self) -> bool {
        matches!(self, Packet::Text(s) if s == "2")
    }

    /// Encoding inside a polling payload.
    pub fn encode(&self) -> String {
        match self {
            Packet::Text(s) => s.clone(),
            Packet::Binary(b) => format!("b{}", BASE64.encode(b)),
        }
    }

    /// Decoding of one packet of a polling payload.
    pub fn decode(s: &str) -> Packet {
        match s.strip_prefix('b') {
            Some(b64) => Packet::Binary(
                BASE64
                    .decode(b64)
                    .unwrap_or_else(|e| panic!("bad base64 in {s:?}: {e}")),
            ),
            None => Packet::Text(s.to_string()),
        }
    }
}

/// Encodes a v4 polling payload.
pub fn encode_payload(packets: &[Packet]) -> String {
    packets
        .iter()
        .map(Packet::encode)
        .collect::<Vec<_>>()
        .join(&SEPARATOR.to_string())
}

/// Decodes a v4 polling payload.
pub fn decode_payload(payload: &str) -> Vec<Packet> {
    payload.split(SEPARATOR).map(Packet::decode).collect()
}

/// Decodes an open packet (`0{...}`) into its JSON.
pub fn parse_open(packet: &str) -> Value {
    let json = packet
        .strip_prefix('0')
        .unwrap_or_else(|| panic!("expected an open packet, got {packet:?}"));
    serde_json::from_str(json).unwrap_or_else(|e| panic!("bad open packet {packet:?}: {e}"))
}

/// Asserts an Engine.IO HTTP error answer: status, JSON content type and
/// `{"code":code,"message":message}`.
pub fn assert_error(res: &Response, status: u16, code: u64, message: &str) {
    assert_eq!(
        res.status,
        status,
        "status; body {:?}",
        String::from_utf8_lossy(&res.body)
    );
    assert_eq!(
        res.mime().as_deref(),
        Some("application/json"),
        "content type of the error"
    );
    assert_eq!(
        res.json(),
        serde_json::json!({ "code": code, "message": message })
    );
}

/// An Engine.IO endpoint (a server path such as `/engine.io/`).
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub target: Target,
    /// Path with trailing slash, e.g. `/engine.io/`.
    pub path: String,
}

impl Endpoint {
    /// `{path}?{query}`
    pub fn url(&self, query: &str) -> String {
        format!("{}?{}", self.path, query)
    }

    /// Path and query of the polling transport for a session.
    pub fn polling_url(&self, sid: &str) -> String {
        self.url(&format!("EIO=4&transport=polling&sid={sid}"))
    }

    /// Opens a polling session; returns the sid and the open packet JSON.
    pub async fn handshake_polling(&self) -> (String, Value) {
        let res = self.target.get(&self.url("EIO=4&transport=polling")).await;
        assert_eq!(
            res.status,
            200,
            "handshake failed: {:?}",
            String::from_utf8_lossy(&res.body)
        );
        let open = parse_open(&res.text());
        let sid = open["sid"]
            .as_str()
            .expect("sid in open packet")
            .to_string();
        (sid, open)
    }

    /// One GET poll (may wait up to pingInterval for data).
    pub async fn poll(&self, sid: &str) -> Response {
        self.target.get(&self.polling_url(sid)).await
    }

    /// Starts a GET poll and returns once the request is written; read its
    /// answer later with [`PendingPoll::response`]. Useful to have a poll
    /// pending on the server while the test does something else.
    pub async fn start_poll(&self, sid: &str) -> PendingPoll {
        let mut conn = self.target.connect().await;
        let req = build_request("GET", &self.target.addr, &self.polling_url(sid), &[], b"");
        conn.write_raw(&req).await.expect("write poll request");
        // give the server a moment to register the poll
        tokio::time::sleep(Duration::from_millis(50)).await;
        PendingPoll { conn }
    }

    /// One GET poll that must succeed; returns its packets.
    pub async fn poll_packets(&self, sid: &str) -> Vec<Packet> {
        let res = self.poll(sid).await;
        assert_eq!(
            res.status,
            200,
            "poll failed: {:?}",
            String::from_utf8_lossy(&res.body)
        );
        decode_payload(&res.text())
    }

    /// Polls until at least one packet other than ping/noop arrives, answering
    /// pings with pongs; bounded by `within`.
    pub async fn poll_until_data(&self, sid: &str, within: Duration) -> Vec<Packet> {
        let deadline = tokio::time::Instant::now() + within;
        let mut out = Vec::new();
        while out.is_empty() {
            let packets = tokio::time::timeout_at(deadline, self.poll_packets(sid))
                .await
                .expect("no data packet in time");
            for p in packets {
                if p.is_ping() {
                    self.send(sid, "3").await;
                } else if p != Packet::text("6") {
                    out.push(p);
                }
            }
        }
        out
    }

    /// POSTs an already encoded payload.
    pub async fn send(&self, sid: &str, payload: &str) -> Response {
        self.target
            .post(&self.polling_url(sid), TEXT_PLAIN, payload.as_bytes())
            .await
    }

    /// POSTs packets; asserts the `ok` answer.
    pub async fn send_packets(&self, sid: &str, packets: &[Packet]) {
        let res = self.send(sid, &encode_payload(packets)).await;
        assert_eq!(
            (res.status, res.text().as_str()),
            (200, "ok"),
            "POST of packets failed"
        );
    }

    /// True while the server still knows `sid`. Sends a plain GET naming the
    /// *other* transport than the session's current one (`current` is
    /// "polling" or "websocket"): Node answers 400 "Bad request" (code 3) for
    /// a live session and "Session ID unknown" (code 1) otherwise, without
    /// touching the session.
    pub async fn session_exists(&self, sid: &str, current: &str) -> bool {
        let other = if current == "polling" {
            "websocket"
        } else {
            "polling"
        };
        let res = self
            .target
            .get(&self.url(&format!("EIO=4&transport={other}&sid={sid}")))
            .await;
        !(res.status == 400 && res.body.starts_with(br#"{"code":1"#))
    }

    /// WebSocket connection, as a handshake (no sid) or an upgrade (sid).
    pub async fn ws_connect(&self, sid: Option<&str>) -> WsClient {
        let query = match sid {
            Some(sid) => format!("EIO=4&transport=websocket&sid={sid}"),
            None => "EIO=4&transport=websocket".to_string(),
        };
        let url = self.target.ws_url(&self.url(&query));
        WsClient::connect(&url)
            .await
            .unwrap_or_else(|e| panic!("WebSocket connect to {url}: {e}"))
    }

    /// Direct WebSocket handshake; returns the client, sid and open packet JSON.
    pub async fn handshake_ws(&self) -> (WsClient, String, Value) {
        let mut ws = self.ws_connect(None).await;
        let open = match ws.recv().await {
            WsEvent::Text(t) => parse_open(&t),
            other => panic!("expected the open packet, got {other:?}"),
        };
        let sid = open["sid"]
            .as_str()
            .expect("sid in open packet")
            .to_string();
        (ws, sid, open)
    }

    /// Upgrades a polling session to WebSocket (probe, noop, upgrade).
    /// Pings arriving on the polling side meanwhile are answered.
    pub async fn upgrade(&self, sid: &str) -> WsClient {
        let pending = self.start_poll(sid).await;
        let mut ws = self.ws_connect(Some(sid)).await;
        ws.send_text("2probe").await;
        assert_eq!(ws.recv().await, WsEvent::Text("3probe".into()));
        // The pending GET is released (with a noop, or with whatever was queued).
        let res = pending.response().await;
        assert_eq!(res.status, 200);
        if decode_payload(&res.text()).iter().any(Packet::is_ping) {
            self.send(sid, "3").await;
        }
        ws.send_text("5").await;
        ws
    }
}

/// A GET poll written to the server whose answer has not been read yet.
pub struct PendingPoll {
    conn: Conn,
}

impl PendingPoll {
    /// Reads the answer (bounded by [`super::http::IO_TIMEOUT`]).
    pub async fn response(mut self) -> Response {
        self.conn
            .read_response(false)
            .await
            .expect("answer to the pending poll")
    }

    /// Drops the connection without waiting for the answer.
    pub fn abort(self) {}
}
