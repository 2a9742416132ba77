//! The WebSocket transport: the hyper upgrade, the probe of a polling session's upgrade, and
//! one task per connection that both reads and writes.
//!
//! Reading and writing share one task and one `poll` so a client that stops reading never
//! stops us from reading its pongs, and a client that floods us never starves its own replies.

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::time::Sleep;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError, ProtocolError};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Message as WsMessage, Utf8Bytes};
use tracing::Instrument;

use super::burst::Burst;
use super::error::{CloseReason, RequestError};
use super::packet::{Packet, Text};
use super::query::TransportKind;
use super::read_ahead::ReadAhead;
use super::session::{InlineHeartbeat, Phase, Upgrade};
use super::ws_link::{self, Broken, Link, SharedLink, Ws};
use super::{Engine, EngineHandler, Entry, Flow, ProtocolVersion, v3};

/// Whether the request asks to switch to the WebSocket protocol.
pub(crate) fn is_upgrade_request<B>(req: &Request<B>) -> bool {
    req.method() == Method::GET
        && req
            .headers()
            .get(header::UPGRADE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// Checks the WebSocket handshake headers and prepares the `101 Switching Protocols` answer.
pub(crate) fn accept<B>(
    req: &mut Request<B>,
) -> Result<(Response<Full<Bytes>>, OnUpgrade), RequestError> {
    let key = req
        .headers()
        .get(header::SEC_WEBSOCKET_KEY)
        .filter(|key| is_valid_key(key.as_bytes()))
        .ok_or(RequestError::BadRequest)?;
    let version_ok = req
        .headers()
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_some_and(|v| v.as_bytes() == b"13");
    if !version_ok {
        return Err(RequestError::BadRequest);
    }
    let accept = derive_accept_key(key.as_bytes());
    let on_upgrade = req
        .extensions_mut()
        .remove::<OnUpgrade>()
        .ok_or(RequestError::BadRequest)?;
    let mut res = Response::new(Full::new(Bytes::new()));
    *res.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = res.headers_mut();
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(value) = HeaderValue::from_str(&accept) {
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, value);
    }
    Ok((res, on_upgrade))
}

/// RFC 6455 §4.2.1: the key is the base64 of exactly 16 bytes, so 22 base64 characters and
/// `==` (the check Node's `ws` makes).
fn is_valid_key(key: &[u8]) -> bool {
    match key {
        [digits @ .., b'=', b'='] if digits.len() == 22 => digits
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'+' || c == b'/'),
        _ => false,
    }
}

/// A polling session asks to upgrade: accept the WebSocket and start probing it.
///
/// A session that has already upgraded, is probing another WebSocket, or is closing gets the
/// WebSocket all the same, closed at once, as Node's engine.io does: clients see a close, not
/// a handshake error, and the session's own transport carries on.
pub(crate) fn upgrade<H: EngineHandler, B>(
    engine: Arc<Engine<H>>,
    entry: Arc<Entry<H::State>>,
    mut req: Request<B>,
) -> Result<Response<Full<Bytes>>, RequestError> {
    let (res, on_upgrade) = accept(&mut req)?;
    let probing = {
        let mut state = entry.session.state();
        let may_probe = state.transport == TransportKind::Polling
            && state.upgrade == Upgrade::None
            && state.phase == Phase::Open;
        if may_probe {
            state.upgrade = Upgrade::Probing;
        }
        may_probe
    };
    if probing {
        spawn(engine, entry, on_upgrade, true);
    } else {
        tracing::debug!(sid = %entry.session.sid(), "upgrade refused: the session has a WebSocket");
        tokio::spawn(close_at_once(on_upgrade));
    }
    Ok(res)
}

/// Closes an accepted WebSocket without a status code (what `ws.close()` sends in Node), and
/// waits a little for the client's close frame so the TCP connection ends cleanly.
async fn close_at_once(on_upgrade: OnUpgrade) {
    let Ok(upgraded) = on_upgrade.await else {
        return;
    };
    let mut ws = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
    let drain = async {
        if ws.close(None).await.is_ok() {
            while let Some(Ok(_)) = futures_util::StreamExt::next(&mut ws).await {}
        }
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), drain).await;
}

/// Runs the WebSocket once hyper hands the connection over.
pub(crate) fn spawn<H: EngineHandler>(
    engine: Arc<Engine<H>>,
    entry: Arc<Entry<H::State>>,
    on_upgrade: OnUpgrade,
    probing: bool,
) {
    let span = tracing::debug_span!(
        "engine.io",
        sid = %entry.session.sid(),
        transport = "websocket"
    );
    // Entering a disabled span on every poll is not free: instrument only when it records.
    if span.is_disabled() {
        tokio::spawn(serve(engine, entry, on_upgrade, probing));
    } else {
        tokio::spawn(serve(engine, entry, on_upgrade, probing).instrument(span));
    }
}

/// Waits for hyper to hand the connection over and wraps it in a WebSocket.
async fn establish<H: EngineHandler>(
    engine: &Engine<H>,
    entry: &Entry<H::State>,
    on_upgrade: OnUpgrade,
    probing: bool,
) -> Option<Ws> {
    let io = match on_upgrade.await {
        Ok(upgraded) => ReadAhead::new(TokioIo::new(upgraded)),
        Err(err) => {
            tracing::debug!(sid = %entry.session.sid(), %err, "WebSocket upgrade failed");
            if probing {
                abandon_probe(entry);
            } else {
                entry.session.close(CloseReason::TransportError);
            }
            return None;
        }
    };
    let config = &engine.config;
    let ws_config = WebSocketConfig::default()
        .read_buffer_size(config.ws_read_buffer_size)
        // Frames gather until the batch is flushed: one write per batch, so a reply and the
        // packets right behind it never wait on Nagle's algorithm for the first one's ACK.
        .write_buffer_size(64 * 1024)
        .max_message_size(Some(config.max_http_buffer_size))
        .max_frame_size(Some(config.max_http_buffer_size));
    Some(WebSocketStream::from_raw_socket(io, Role::Server, Some(ws_config)).await)
}

/// The connection's task. Kept lean: it lives as long as the connection, and its size is paid by
/// every idle WebSocket.
async fn serve<H: EngineHandler>(
    engine: Arc<Engine<H>>,
    entry: Arc<Entry<H::State>>,
    on_upgrade: OnUpgrade,
    probing: bool,
) {
    // Boxed, and freed once the WebSocket is up: the upgrade's futures would otherwise add to
    // the size of every connection's task for its whole life.
    let Some(ws) = Box::pin(establish(&engine, &entry, on_upgrade, probing)).await else {
        return;
    };
    // One timer: the probe's deadline, or the heartbeat of a session born here.
    let timer = tokio::time::sleep(engine.config.upgrade_timeout);
    tokio::pin!(timer);
    let heartbeat = (!probing).then(|| InlineHeartbeat::start(&entry.session, timer.as_mut()));
    let mut conn = Connection {
        engine,
        entry,
        link: Arc::new(SharedLink::new(Link::new(ws))),
        active: false,
        batches: 0,
        heartbeat,
    };
    if !probing {
        conn.activate();
    }
    let end = poll_fn(|cx| conn.poll_io(cx, timer.as_mut())).await;
    // Boxed: the closing handshake's futures would otherwise add to every connection's size.
    Box::pin(conn.finish(end)).await;
}

fn abandon_probe<S>(entry: &Entry<S>) {
    let mut state = entry.session.state();
    if state.upgrade != Upgrade::None && state.transport == TransportKind::Polling {
        state.upgrade = Upgrade::None;
    }
    drop(state);
    entry.session.wake_transports();
}

/// The first batches a connection writes (the open packet, the CONNECT answer) give the queue's
/// buffer back once written; later ones keep it until the next heartbeat.
const RELEASE_AFTER_BATCHES: u8 = 4;

/// How a WebSocket connection ended.
#[derive(Debug)]
enum End {
    /// The peer closed the WebSocket or the TCP connection.
    PeerClosed,
    /// The peer sent a close frame whose code is not allowed on the wire (tungstenite answers
    /// it with 1002).
    PeerClosedBadly,
    /// The peer broke the protocol; close with this code.
    Violation(CloseCode),
    /// The connection failed under us.
    Io,
    /// The session closed (and, if it was draining, its queue went out).
    SessionClosed,
    /// The probe failed or timed out: only this WebSocket goes, the session stays on polling.
    ProbeFailed,
}

struct Connection<H: EngineHandler> {
    engine: Arc<Engine<H>>,
    entry: Arc<Entry<H::State>>,
    /// The WebSocket, shared with senders once it carries the session (see [`ws_link`]).
    link: Arc<SharedLink>,
    /// Whether this WebSocket carries the session (false while it is only being probed).
    active: bool,
    /// Batches written so far, counted up to [`RELEASE_AFTER_BATCHES`].
    batches: u8,
    /// The session's heartbeat, when the session was born on this WebSocket (a session that
    /// upgraded from polling keeps the heartbeat task it started with).
    heartbeat: Option<InlineHeartbeat>,
}

impl<H: EngineHandler> Connection<H> {
    async fn finish(self, end: End) {
        let session = self.entry.session.clone();
        tracing::debug!(sid = %session.sid(), ?end, active = self.active, "WebSocket ended");
        let close_frame = match &end {
            End::Violation(code) => Some(CloseFrame {
                code: *code,
                reason: Utf8Bytes::from_static(""),
            }),
            _ => None,
        };
        if !self.active {
            abandon_probe(&self.entry);
        } else {
            match end {
                End::PeerClosed => session.close(CloseReason::TransportClose),
                End::PeerClosedBadly | End::Violation(_) | End::Io => {
                    session.close(CloseReason::TransportError)
                }
                End::SessionClosed => session.finish(),
                End::ProbeFailed => {}
            }
        }
        // Out of the link: the closing handshake awaits, and no lock is held across an await.
        let Some(mut ws) = ws_link::lock(&self.link).ws.take() else {
            return;
        };
        // Bounded: a peer that does not read must not keep this task alive.
        let grace = std::time::Duration::from_secs(1);
        match end {
            End::Io => {}
            // tungstenite has queued its answer to the peer's close frame (same code, or 1002
            // for a code not allowed on the wire): write it out.
            End::PeerClosed | End::PeerClosedBadly => {
                let _ = tokio::time::timeout(grace, futures_util::SinkExt::flush(&mut ws)).await;
            }
            _ => {
                let _ = tokio::time::timeout(grace, ws.close(close_frame)).await;
            }
        }
    }

    /// The WebSocket carries the session from now on: senders may write to it directly.
    fn activate(&mut self) {
        self.active = true;
        // Once per session: a session upgrades at most once, and a WebSocket-born one never.
        let _ = self.entry.session.0.ws_link.set(Arc::downgrade(&self.link));
    }

    fn poll_io(&mut self, cx: &mut Context<'_>, timer: Pin<&mut Sleep>) -> Poll<End> {
        // Held for the whole poll: a sender meanwhile leaves its packets to this task (it only
        // ever tries the lock), and this task waits only for a sender's non-blocking write.
        // What the handlers send meanwhile goes out when this poll ends, one write per receiver
        // (declared first, so it closes after the link is released: this very session may be
        // among the receivers).
        let _burst = Burst::open();
        let link = self.link.clone();
        let mut link = ws_link::lock(&link);
        self.poll_link(&mut link, cx, timer)
    }

    fn poll_link(
        &mut self,
        link: &mut Link,
        cx: &mut Context<'_>,
        mut timer: Pin<&mut Sleep>,
    ) -> Poll<End> {
        if let Some(heartbeat) = &mut self.heartbeat
            && heartbeat.needs_poll(&timer)
        {
            heartbeat.poll(cx, &self.entry.session, timer.as_mut());
        }
        loop {
            if !self.active {
                if timer.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(End::ProbeFailed);
                }
                if !self.entry.session.is_open() {
                    return Poll::Ready(End::ProbeFailed);
                }
            }
            if let Poll::Ready(end) = self.poll_write(link, cx) {
                return Poll::Ready(end);
            }
            let Some(ws) = link.ws.as_mut() else {
                return Poll::Ready(End::Io);
            };
            match Pin::new(ws).poll_next(cx) {
                Poll::Ready(Some(Ok(message))) => {
                    if self.active {
                        // The handlers run here and their replies would wake this very task,
                        // costing it a second poll for nothing: the loop writes them next anyway
                        // (and `poll_write` registers the waker again before it looks).
                        drop(self.entry.session.0.ws_waker.take());
                    }
                    if let Some(end) = self.on_message(link, message, timer.as_mut()) {
                        return Poll::Ready(end);
                    }
                }
                Poll::Ready(Some(Err(err))) => return Poll::Ready(end_for(err)),
                Poll::Ready(None) => return Poll::Ready(End::PeerClosed),
                Poll::Pending => {
                    // The heartbeat's timer was reset (or the session started draining): arm it
                    // again before sleeping, and write whatever it queued.
                    if let Some(heartbeat) = &mut self.heartbeat
                        && heartbeat.needs_poll(&timer)
                        && heartbeat.poll(cx, &self.entry.session, timer.as_mut())
                    {
                        continue;
                    }
                    return Poll::Pending;
                }
            }
        }
    }

    /// Writes what is queued; ready only when the connection must end.
    fn poll_write(&mut self, link: &mut Link, cx: &mut Context<'_>) -> Poll<End> {
        let session = self.entry.session.clone();
        if self.active {
            session.0.ws_waker.register(cx.waker());
            // One sample per wake-up, not per packet: the lock is only taken for it when
            // metrics are compiled in.
            #[cfg(feature = "metrics")]
            session.state().record_depth();
        }
        if link.broken {
            return Poll::Ready(End::Io);
        }
        let flushed = match link.write_out(&session, self.active, cx) {
            Poll::Ready(Ok(flushed)) => flushed,
            Poll::Ready(Err(Broken)) => return Poll::Ready(End::Io),
            Poll::Pending => return Poll::Pending,
        };
        if self.active {
            let mut state = session.state();
            // The handshake's packets grew the queue's buffer: an idle connection keeps none.
            // Freeing it after every batch would cost an allocation per delivery, so past the
            // first batches it goes back once per heartbeat, after the ping is written.
            let first = self.batches < RELEASE_AFTER_BATCHES;
            let pinged = self.heartbeat.as_ref().is_some_and(|h| h.awaiting_pong());
            if flushed && (first || pinged) {
                self.batches = self.batches.saturating_add(1);
                state.release_empty_outbox();
            }
            let done = match state.phase {
                Phase::Open => false,
                Phase::Draining => {
                    if let Some(heartbeat) = &mut self.heartbeat {
                        heartbeat.draining();
                    }
                    state.outbox_is_empty()
                }
                Phase::Closed => true,
            };
            if done {
                return Poll::Ready(End::SessionClosed);
            }
        }
        Poll::Pending
    }

    /// Handles one incoming WebSocket message; `Some` ends the connection.
    fn on_message(
        &mut self,
        link: &mut Link,
        message: WsMessage,
        timer: Pin<&mut Sleep>,
    ) -> Option<End> {
        let protocol = self.entry.session.protocol();
        let decoded = match message {
            WsMessage::Text(text) => {
                let text = Text::from(text);
                match protocol {
                    ProtocolVersion::V4 => Packet::decode_text(text),
                    ProtocolVersion::V3 => v3::decode_text_packet(text),
                }
            }
            WsMessage::Binary(data) => Packet::decode_binary(data, protocol),
            WsMessage::Close(Some(frame)) if frame.code == CloseCode::Protocol => {
                return Some(End::PeerClosedBadly);
            }
            WsMessage::Close(_) => return Some(End::PeerClosed),
            WsMessage::Ping(_) | WsMessage::Pong(_) | WsMessage::Frame(_) => return None,
        };
        if !self.active {
            return self.on_probe_packet(link, decoded.ok());
        }
        if let (Ok(packet), Some(heartbeat)) = (&decoded, &mut self.heartbeat) {
            // The client's half of the heartbeat, as [`Engine::on_packet`] counts it.
            let heard = match packet {
                Packet::Pong { .. } => protocol == ProtocolVersion::V4,
                Packet::Ping { .. } => protocol == ProtocolVersion::V3,
                _ => false,
            };
            if heard {
                heartbeat.heard(&self.entry.session, timer);
            }
        }
        let flow = match decoded {
            Ok(packet) => self
                .engine
                .on_packet(&self.entry, packet, TransportKind::WebSocket),
            Err(err) => self.engine.on_parse_error(&self.entry.session, err),
        };
        (flow == Flow::Stop).then_some(End::SessionClosed)
    }

    /// The probe: `2probe` is answered `3probe`, then `5` moves the session here.
    fn on_probe_packet(&mut self, link: &mut Link, packet: Option<Packet>) -> Option<End> {
        let session = self.entry.session.clone();
        let mut state = session.state();
        match (packet, state.upgrade) {
            (Some(Packet::Ping { probe: true }), Upgrade::Probing | Upgrade::Upgrading) => {
                state.upgrade = Upgrade::Upgrading;
                drop(state);
                link.pending = Some(WsMessage::Text(Utf8Bytes::from_static("3probe")));
                // Release the pending GET with a noop so the client can finish the upgrade.
                session.0.poll_waker.wake();
                None
            }
            (Some(Packet::Upgrade), Upgrade::Upgrading) => {
                state.upgrade = Upgrade::None;
                state.transport = TransportKind::WebSocket;
                drop(state);
                self.activate();
                tracing::debug!(sid = %session.sid(), "upgraded to WebSocket");
                session.0.poll_waker.wake();
                self.engine.on_upgraded(&self.entry);
                None
            }
            _ => Some(End::ProbeFailed),
        }
    }
}

/// The close code a read error calls for.
fn end_for(err: WsError) -> End {
    match err {
        WsError::ConnectionClosed | WsError::AlreadyClosed => End::PeerClosed,
        WsError::Io(_) => End::Io,
        WsError::Capacity(CapacityError::MessageTooLong { .. }) => End::Violation(CloseCode::Size),
        WsError::Capacity(_) => End::Violation(CloseCode::Size),
        WsError::Utf8(_) => End::Violation(CloseCode::Invalid),
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => End::PeerClosed,
        WsError::Protocol(_) => End::Violation(CloseCode::Protocol),
        _ => End::Violation(CloseCode::Protocol),
    }
}
