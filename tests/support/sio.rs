//! A Socket.IO v5 wire client on top of Engine.IO v4, over polling or
//! WebSocket.
//!
//! A background task owns the Engine.IO side the way a real client does: it
//! keeps one GET poll pending (or reads the WebSocket), answers every ping
//! with a pong and hands Engine.IO messages and the end of the session to the
//! test through a channel. Tests then send raw or encoded Socket.IO packets
//! and wait for what the server answers, always with a deadline.
//!
//! Socket.IO packet format: `<type>[<attachments>-][/<nsp>,][<id>][<json>]`;
//! the attachments of binary packets (types 5 and 6) travel as separate
//! Engine.IO binary messages (`b<base64>` in polling payloads).

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::{Mutex, mpsc};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use super::eio::{Packet, TEXT_PLAIN, decode_payload, encode_payload};
use super::http::{self, Response};
use super::{Endpoint, Target, WsClient, WsEvent};

/// Socket.IO packet types.
pub const CONNECT: u8 = 0;
pub const DISCONNECT: u8 = 1;
pub const EVENT: u8 = 2;
pub const ACK: u8 = 3;
pub const CONNECT_ERROR: u8 = 4;
pub const BINARY_EVENT: u8 = 5;
pub const BINARY_ACK: u8 = 6;

/// The Socket.IO endpoint path.
pub const PATH: &str = "/socket.io/";

/// Default bound for anything the server is expected to send.
pub const WAIT: Duration = Duration::from_secs(5);

/// How long "nothing happens" is observed: longer than pingInterval +
/// pingTimeout (500 ms), so at least one heartbeat goes by.
pub const QUIET: Duration = Duration::from_millis(700);

/// One Socket.IO packet.
#[derive(Debug, Clone, PartialEq)]
pub struct SioPacket {
    pub kind: u8,
    /// Namespace, `/` when the packet names none.
    pub nsp: String,
    pub id: Option<u64>,
    /// The parsed JSON payload (None without payload, or when the payload
    /// could not be parsed here, e.g. nested deeper than serde_json allows:
    /// see `json`).
    pub data: Option<Value>,
    /// The JSON payload as it was on the wire.
    pub json: Option<String>,
    /// Attachments of a binary packet, in order.
    pub attachments: Vec<Vec<u8>>,
}

impl SioPacket {
    pub fn new(kind: u8, nsp: &str, id: Option<u64>, data: Option<Value>) -> SioPacket {
        SioPacket {
            kind,
            nsp: nsp.to_string(),
            id,
            json: data.as_ref().map(Value::to_string),
            data,
            attachments: Vec::new(),
        }
    }

    /// An EVENT `[name, ...args]`.
    pub fn event(nsp: &str, name: &str, args: &[Value]) -> SioPacket {
        let mut items = vec![Value::from(name)];
        items.extend_from_slice(args);
        SioPacket::new(EVENT, nsp, None, Some(Value::Array(items)))
    }

    /// A BINARY_EVENT: `data` holds the placeholders for `attachments`.
    pub fn binary_event(nsp: &str, data: Value, attachments: Vec<Vec<u8>>) -> SioPacket {
        let mut p = SioPacket::new(BINARY_EVENT, nsp, None, Some(data));
        p.attachments = attachments;
        p
    }

    pub fn with_id(mut self, id: u64) -> SioPacket {
        self.id = Some(id);
        self
    }

    /// The text part of the packet (without the Engine.IO `4`).
    pub fn encode(&self) -> String {
        let mut out = self.kind.to_string();
        if self.kind == BINARY_EVENT || self.kind == BINARY_ACK {
            out.push_str(&format!("{}-", self.attachments.len()));
        }
        if self.nsp != "/" {
            out.push_str(&self.nsp);
            out.push(',');
        }
        if let Some(id) = self.id {
            out.push_str(&id.to_string());
        }
        if let Some(json) = &self.json {
            out.push_str(json);
        }
        out
    }

    /// Decodes the text part of a packet sent by a server; returns the
    /// packet (without its attachments) and the number of attachments that
    /// follow it.
    pub fn decode(text: &str) -> Result<(SioPacket, usize), String> {
        let bytes = text.as_bytes();
        let kind = match bytes.first() {
            Some(c @ b'0'..=b'6') => c - b'0',
            _ => return Err(format!("bad packet type in {text:?}")),
        };
        let mut rest = &text[1..];
        let mut expected = 0;
        if kind == BINARY_EVENT || kind == BINARY_ACK {
            let (n, after) = rest
                .split_once('-')
                .ok_or_else(|| format!("no attachment count in {text:?}"))?;
            expected = n
                .parse::<usize>()
                .map_err(|_| format!("bad attachment count in {text:?}"))?;
            rest = after;
        }
        let mut nsp = "/".to_string();
        if rest.starts_with('/') {
            match rest.split_once(',') {
                Some((n, after)) => {
                    nsp = n.to_string();
                    rest = after;
                }
                None => {
                    nsp = rest.to_string();
                    rest = "";
                }
            }
        }
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let id = if digits > 0 {
            Some(
                rest[..digits]
                    .parse::<u64>()
                    .map_err(|_| format!("bad id in {text:?}"))?,
            )
        } else {
            None
        };
        rest = &rest[digits..];
        let (data, json) = if rest.is_empty() {
            (None, None)
        } else {
            (serde_json::from_str(rest).ok(), Some(rest.to_string()))
        };
        Ok((
            SioPacket {
                kind,
                nsp,
                id,
                data,
                json,
                attachments: Vec::new(),
            },
            expected,
        ))
    }

    /// The parsed payload; panics if there is none.
    pub fn data(&self) -> &Value {
        self.data
            .as_ref()
            .unwrap_or_else(|| panic!("packet without (parsable) payload: {self}"))
    }

    /// For an event, its name.
    pub fn event_name(&self) -> Option<&str> {
        match self.kind {
            EVENT | BINARY_EVENT => self.data.as_ref()?.get(0)?.as_str(),
            _ => None,
        }
    }

    /// The payload with every placeholder replaced by [`bin`] of its
    /// attachment: two binary packets are equivalent when these are equal,
    /// however they number their placeholders.
    pub fn reconstructed(&self) -> Value {
        fn walk(v: &Value, atts: &[Vec<u8>]) -> Value {
            match v {
                Value::Object(m) if m.get("_placeholder") == Some(&Value::Bool(true)) => {
                    let num = m
                        .get("num")
                        .and_then(Value::as_u64)
                        .unwrap_or_else(|| panic!("bad placeholder {v}"));
                    let att = atts
                        .get(num as usize)
                        .unwrap_or_else(|| panic!("placeholder {num} out of range"));
                    bin(att)
                }
                Value::Object(m) => {
                    Value::Object(m.iter().map(|(k, v)| (k.clone(), walk(v, atts))).collect())
                }
                Value::Array(a) => Value::Array(a.iter().map(|v| walk(v, atts)).collect()),
                other => other.clone(),
            }
        }
        walk(self.data(), &self.attachments)
    }
}

impl fmt::Display for SioPacket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.encode();
        if text.len() > 200 {
            write!(f, "{}...({} bytes)", &text[..200], text.len())?;
        } else {
            write!(f, "{text}")?;
        }
        for a in &self.attachments {
            write!(f, " +<{} bytes>", a.len())?;
        }
        Ok(())
    }
}

/// How a binary attachment appears in [`SioPacket::reconstructed`].
pub fn bin(bytes: &[u8]) -> Value {
    json!({ "<binary>": bytes })
}

/// A placeholder object.
pub fn placeholder(num: u64) -> Value {
    json!({ "_placeholder": true, "num": num })
}

/// The JSON text of `depth` nested arrays: `[[[...]]]`.
pub fn nested_arrays(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

/// Which Engine.IO transport the client uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Polling,
    WebSocket,
    /// Polling handshake, then upgraded to WebSocket before any Socket.IO
    /// packet.
    Upgraded,
}

impl Transport {
    pub const ALL: [Transport; 2] = [Transport::Polling, Transport::WebSocket];

    /// The transport name the session ends up on.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Polling => "polling",
            Transport::WebSocket | Transport::Upgraded => "websocket",
        }
    }
}

/// How the client saw the Engine.IO session end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Closed {
    /// Polling: a GET answered with the close packet `1` (possibly after
    /// other packets, e.g. `6\x1e1`).
    ClosePacket,
    /// Polling: a GET answered with an HTTP error.
    Http(u16, String),
    /// WebSocket: a close frame (its status code, None without one).
    WsClose(Option<u16>),
    /// The connection ended without a close packet / frame.
    Gone,
}

/// What the background task hands over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// An Engine.IO text message, without its `4`.
    Text(String),
    /// An Engine.IO binary message.
    Binary(Vec<u8>),
    /// Any other Engine.IO packet (not ping, noop or close), verbatim.
    Other(String),
    Closed(Closed),
}

/// The next thing the client observed at the Socket.IO level.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    Packet(SioPacket),
    Closed(Closed),
    Timeout,
}

enum Out {
    Polling {
        /// POSTs are serialized, like a real client: Node closes the session
        /// when a POST arrives while another one is still being read.
        lock: Arc<Mutex<()>>,
    },
    Ws(mpsc::UnboundedSender<WsCmd>),
}

enum WsCmd {
    Send(Packet),
    Close,
}

/// A Socket.IO client on one Engine.IO session.
pub struct SioClient {
    pub ep: Endpoint,
    /// The Engine.IO session id.
    pub eio_sid: String,
    pub transport: Transport,
    out: Out,
    rx: mpsc::UnboundedReceiver<Incoming>,
    /// Messages read ahead (e.g. by [`SioClient::expect_silence`]).
    ahead: VecDeque<Incoming>,
    closed: Option<Closed>,
    task: JoinHandle<()>,
}

impl Drop for SioClient {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The Socket.IO endpoint of a target.
pub fn endpoint(target: &Target) -> Endpoint {
    target.endpoint(PATH)
}

impl SioClient {
    /// Opens an Engine.IO session (no Socket.IO CONNECT yet).
    pub async fn open(target: &Target, transport: Transport) -> SioClient {
        let ep = endpoint(target);
        let (tx, rx) = mpsc::unbounded_channel();
        match transport {
            Transport::Polling => {
                let (sid, _) = ep.handshake_polling().await;
                let lock = Arc::new(Mutex::new(()));
                let task = tokio::spawn(poll_loop(ep.clone(), sid.clone(), lock.clone(), tx));
                SioClient::with(ep, sid, transport, Out::Polling { lock }, rx, task)
            }
            Transport::WebSocket | Transport::Upgraded => {
                let (ws, sid) = if transport == Transport::WebSocket {
                    let (ws, sid, _) = ep.handshake_ws().await;
                    (ws, sid)
                } else {
                    let (sid, _) = ep.handshake_polling().await;
                    (ep.upgrade(&sid).await, sid)
                };
                let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
                let task = tokio::spawn(ws_loop(ws, cmd_rx, tx));
                SioClient::with(ep, sid, transport, Out::Ws(cmd_tx), rx, task)
            }
        }
    }

    fn with(
        ep: Endpoint,
        eio_sid: String,
        transport: Transport,
        out: Out,
        rx: mpsc::UnboundedReceiver<Incoming>,
        task: JoinHandle<()>,
    ) -> SioClient {
        SioClient {
            ep,
            eio_sid,
            transport,
            out,
            rx,
            ahead: VecDeque::new(),
            closed: None,
            task,
        }
    }

    /// Opens a session and connects to `nsp`; consumes the CONNECT answer
    /// and, for `/` and `/custom`, the `auth` event (checked against `auth`,
    /// or `{}` without auth). Returns the client and the Socket.IO sid.
    pub async fn connected(
        target: &Target,
        transport: Transport,
        nsp: &str,
        auth: Option<Value>,
    ) -> (SioClient, String) {
        let mut c = SioClient::open(target, transport).await;
        let sid = c.connect_with_auth_event(nsp, auth).await;
        (c, sid)
    }

    /// Sends CONNECT and checks the `auth` event that follows (see
    /// [`SioClient::connected`]).
    pub async fn connect_with_auth_event(&mut self, nsp: &str, auth: Option<Value>) -> String {
        let sid = self.connect(nsp, auth.clone()).await;
        let ev = self.expect_packet().await;
        assert_eq!(
            (ev.kind, ev.nsp.as_str(), ev.id),
            (EVENT, nsp, None),
            "auth event: {ev}"
        );
        assert_eq!(
            ev.data(),
            &json!(["auth", auth.unwrap_or_else(|| json!({}))]),
            "auth event: {ev}"
        );
        sid
    }

    /// Sends CONNECT to `nsp` (with auth as payload, if any) and expects the
    /// CONNECT answer `0[/nsp,]{"sid":"..."}`; returns the sid.
    pub async fn connect(&mut self, nsp: &str, auth: Option<Value>) -> String {
        self.emit(&SioPacket::new(CONNECT, nsp, None, auth)).await;
        let p = self.expect_packet().await;
        assert_eq!(
            (p.kind, p.nsp.as_str(), p.id),
            (CONNECT, nsp, None),
            "CONNECT answer: {p}"
        );
        let data = p.data().as_object().expect("CONNECT answer payload");
        assert_eq!(
            data.keys().collect::<Vec<_>>(),
            ["sid"],
            "CONNECT answer payload keys: {p}"
        );
        data["sid"].as_str().expect("sid string").to_string()
    }

    /// Sends Engine.IO packets (`Packet::Text` carries its type digit): one
    /// POST over polling, one frame each over WebSocket.
    pub async fn send_eio(&self, packets: &[Packet]) {
        match &self.out {
            Out::Polling { .. } => {
                let res = self
                    .post(&encode_payload(packets))
                    .await
                    .unwrap_or_else(|e| panic!("POST {packets:?}: {e}"));
                assert_eq!(
                    (res.status, String::from_utf8_lossy(&res.body).as_ref()),
                    (200, "ok"),
                    "POST {packets:?}"
                );
            }
            Out::Ws(tx) => {
                for p in packets {
                    // a closed channel means the connection is gone: the
                    // test sees it when it reads
                    let _ = tx.send(WsCmd::Send(p.clone()));
                }
            }
        }
    }

    /// POSTs a raw polling payload (polling only); serialized with the
    /// client's other POSTs.
    pub async fn post(&self, payload: &str) -> io::Result<Response> {
        let Out::Polling { lock } = &self.out else {
            panic!("post() on a WebSocket client");
        };
        post(&self.ep, &self.eio_sid, lock, payload).await
    }

    /// Sends one Socket.IO packet text (an Engine.IO message `4<text>`).
    pub async fn send_text(&self, text: &str) {
        self.send_eio(&[Packet::text(format!("4{text}"))]).await;
    }

    /// Sends one Engine.IO binary message.
    pub async fn send_binary(&self, bytes: &[u8]) {
        self.send_eio(&[Packet::Binary(bytes.to_vec())]).await;
    }

    /// Sends a packet and its attachments (in one POST over polling).
    pub async fn emit(&self, packet: &SioPacket) {
        let mut packets = vec![Packet::text(format!("4{}", packet.encode()))];
        packets.extend(packet.attachments.iter().cloned().map(Packet::Binary));
        self.send_eio(&packets).await;
    }

    /// Next Engine.IO-level message, waiting until `deadline`.
    pub async fn next_incoming(&mut self, deadline: Instant) -> Option<Incoming> {
        if let Some(i) = self.ahead.pop_front() {
            return Some(i);
        }
        if let Some(c) = &self.closed {
            return Some(Incoming::Closed(c.clone()));
        }
        let got = match tokio::time::timeout_at(deadline, self.rx.recv()).await {
            Err(_) => return None,
            Ok(Some(i)) => i,
            Ok(None) => Incoming::Closed(Closed::Gone),
        };
        if let Incoming::Closed(c) = &got {
            self.closed = Some(c.clone());
        }
        Some(got)
    }

    /// Next Socket.IO packet (with its attachments) or the end of the
    /// session, waiting at most `within`.
    pub async fn next_within(&mut self, within: Duration) -> Next {
        let deadline = Instant::now() + within;
        let text = match self.next_incoming(deadline).await {
            None => return Next::Timeout,
            Some(Incoming::Closed(c)) => return Next::Closed(c),
            Some(Incoming::Text(t)) => t,
            Some(other) => panic!("expected a Socket.IO packet, got {other:?}"),
        };
        let (mut packet, expected) = SioPacket::decode(&text)
            .unwrap_or_else(|e| panic!("server sent an invalid packet: {e}"));
        // the attachments are sent right after the packet
        let deadline = Instant::now() + WAIT;
        while packet.attachments.len() < expected {
            match self.next_incoming(deadline).await {
                Some(Incoming::Binary(b)) => packet.attachments.push(b),
                other => panic!("expected attachment of {packet}, got {other:?}"),
            }
        }
        Next::Packet(packet)
    }

    /// Next Socket.IO packet; panics on timeout or end of session.
    pub async fn expect_packet(&mut self) -> SioPacket {
        match self.next_within(WAIT).await {
            Next::Packet(p) => p,
            other => panic!("expected a Socket.IO packet, got {other:?}"),
        }
    }

    /// Next packet must be the event `name` on `nsp`; returns its payload
    /// (reconstructed for binary events) and ack id.
    pub async fn expect_event(&mut self, nsp: &str, name: &str) -> (Value, Option<u64>) {
        let p = self.expect_packet().await;
        assert!(
            matches!(p.kind, EVENT | BINARY_EVENT) && p.nsp == nsp && p.event_name() == Some(name),
            "expected event {name:?} on {nsp}, got {p}"
        );
        let data = if p.kind == BINARY_EVENT {
            p.reconstructed()
        } else {
            p.data().clone()
        };
        (data, p.id)
    }

    /// Waits for the end of the session; panics if a Socket.IO packet
    /// arrives first or nothing happens within `within`.
    pub async fn expect_closed_within(&mut self, within: Duration) -> Closed {
        match self.next_within(within).await {
            Next::Closed(c) => c,
            other => panic!("expected the session to end, got {other:?}"),
        }
    }

    /// The server ended the session the way Node's `socket.close()` does:
    /// the pending poll gets the close packet; a WebSocket gets a close
    /// frame (Node's has no status code).
    pub async fn expect_server_close(&mut self) {
        let closed = self.expect_closed_within(WAIT).await;
        match self.transport {
            Transport::Polling => assert_eq!(closed, Closed::ClosePacket),
            _ => assert!(
                matches!(closed, Closed::WsClose(_)),
                "expected a close frame, got {closed:?}"
            ),
        }
        // and the session is gone
        assert!(!self.alive().await, "session still known after close");
    }

    /// Nothing at all arrives for `dur` (heartbeats are answered meanwhile).
    pub async fn expect_silence(&mut self, dur: Duration) {
        match self.next_within(dur).await {
            Next::Timeout => {}
            other => panic!("expected nothing for {dur:?}, got {other:?}"),
        }
    }

    /// Sends `message` with a marker and expects `message-back` with it as
    /// the next packet: proves the session and the `/` socket still work and
    /// that nothing was sent before.
    pub async fn assert_echo_works(&mut self, marker: &str) {
        self.emit(&SioPacket::event("/", "message", &[json!(marker)]))
            .await;
        let (data, id) = self.expect_event("/", "message-back").await;
        assert_eq!((data, id), (json!(["message-back", marker]), None));
    }

    /// True while the server knows the Engine.IO session (a side-effect-free
    /// probe, see [`Endpoint::session_exists`]).
    pub async fn alive(&self) -> bool {
        self.ep
            .session_exists(&self.eio_sid, self.transport.name())
            .await
    }

    /// Closes the Engine.IO session from the client side (POST `1`, or a
    /// WebSocket close frame).
    pub async fn close(self) {
        match &self.out {
            Out::Polling { .. } => {
                let _ = self.post("1").await;
            }
            Out::Ws(tx) => {
                let _ = tx.send(WsCmd::Close);
                let mut me = self;
                let _ = tokio::time::timeout(WAIT, &mut me.task).await;
            }
        }
    }
}

async fn post(ep: &Endpoint, sid: &str, lock: &Mutex<()>, payload: &str) -> io::Result<Response> {
    let _guard = lock.lock().await;
    http::send(
        &ep.target.addr,
        "POST",
        &ep.polling_url(sid),
        &[("Content-Type", TEXT_PLAIN)],
        payload.as_bytes(),
    )
    .await
}

/// Keeps a GET pending, answers pings, forwards messages.
async fn poll_loop(
    ep: Endpoint,
    sid: String,
    lock: Arc<Mutex<()>>,
    tx: mpsc::UnboundedSender<Incoming>,
) {
    loop {
        let res = match http::send(&ep.target.addr, "GET", &ep.polling_url(&sid), &[], b"").await {
            Ok(res) => res,
            Err(_) => {
                let _ = tx.send(Incoming::Closed(Closed::Gone));
                return;
            }
        };
        let text = String::from_utf8_lossy(&res.body).into_owned();
        if res.status != 200 {
            let _ = tx.send(Incoming::Closed(Closed::Http(res.status, text)));
            return;
        }
        for p in decode_payload(&text) {
            let incoming = match p {
                Packet::Binary(b) => Incoming::Binary(b),
                Packet::Text(t) if t == "2" => {
                    // a failed pong shows up as the end of the session
                    let _ = post(&ep, &sid, &lock, "3").await;
                    continue;
                }
                Packet::Text(t) if t == "6" => continue,
                Packet::Text(t) if t == "1" => {
                    let _ = tx.send(Incoming::Closed(Closed::ClosePacket));
                    return;
                }
                Packet::Text(t) => match t.strip_prefix('4') {
                    Some(m) => Incoming::Text(m.to_string()),
                    None => Incoming::Other(t),
                },
            };
            if tx.send(incoming).is_err() {
                return;
            }
        }
    }
}

/// Reads the WebSocket, answers pings, forwards messages, writes commands.
async fn ws_loop(
    mut ws: WsClient,
    mut cmds: mpsc::UnboundedReceiver<WsCmd>,
    tx: mpsc::UnboundedSender<Incoming>,
) {
    loop {
        tokio::select! {
            cmd = cmds.recv() => match cmd {
                // a failed send shows up as the end of the connection
                Some(WsCmd::Send(Packet::Text(t))) => {
                    let _ = ws.try_send(Message::text(t)).await;
                }
                Some(WsCmd::Send(Packet::Binary(b))) => {
                    let _ = ws.try_send(Message::binary(b)).await;
                }
                Some(WsCmd::Close) => {
                    ws.close().await;
                    return;
                }
                None => return,
            },
            ev = ws.recv_within(Duration::from_secs(3600)) => {
                let incoming = match ev {
                    None => continue,
                    Some(WsEvent::Text(t)) if t == "2" => {
                        let _ = ws.try_send(Message::text("3")).await;
                        continue;
                    }
                    Some(WsEvent::Text(t)) => match t.strip_prefix('4') {
                        Some(m) => Incoming::Text(m.to_string()),
                        None => Incoming::Other(t),
                    },
                    Some(WsEvent::Binary(b)) => Incoming::Binary(b),
                    Some(WsEvent::Close(code)) => Incoming::Closed(Closed::WsClose(code)),
                    Some(WsEvent::Gone) => Incoming::Closed(Closed::Gone),
                };
                let end = matches!(incoming, Incoming::Closed(_));
                if tx.send(incoming).is_err() || end {
                    return;
                }
            }
        }
    }
}
