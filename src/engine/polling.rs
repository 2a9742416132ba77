//! HTTP long-polling: a GET waits for queued packets, a POST carries the client's packets.

use std::future::poll_fn;
use std::io::Write as _;
use std::sync::Arc;
use std::task::Poll;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};

use super::error::{CloseReason, empty_response};
use super::packet::Frame;
use super::query::TransportKind;
use super::session::{Phase, Session, State, Upgrade};
use super::{Engine, EngineHandler, Entry, Flow, ProtocolVersion, payload, v3};

/// Answers a GET: waits until something is queued, then sends all of it.
pub(crate) async fn get<H: EngineHandler>(
    engine: &Arc<Engine<H>>,
    entry: &Arc<Entry<H::State>>,
    headers: &HeaderMap,
) -> Response<Full<Bytes>> {
    let session = &entry.session;
    let mut guard = match InFlight::begin(session, PollingRequest::Get) {
        Some(guard) => guard,
        None => return empty_response(StatusCode::BAD_REQUEST),
    };
    let frames = poll_fn(|cx| {
        session.0.poll_waker.register(cx.waker());
        let mut state = session.state();
        if !state.outbox_is_empty() {
            return Poll::Ready(state.drain_outbox());
        }
        if state.phase != Phase::Open {
            return Poll::Ready(vec![Frame::close()]);
        }
        if state.transport != TransportKind::Polling || state.upgrade == Upgrade::Upgrading {
            // Releases the poll so the client can complete (or has completed) its upgrade.
            return Poll::Ready(vec![Frame::noop()]);
        }
        Poll::Pending
    })
    .await;
    guard.answered = true;
    tracing::trace!(frames = frames.len(), "poll answered");
    drop(guard);
    if frames.iter().any(Frame::is_close) {
        session.finish();
    }
    let _ = engine;
    payload_response(session, &frames, headers)
}

/// The handshake response: the open packet and whatever the application queued on open.
pub(crate) fn drain_now(
    session: &Session,
    accept_encoding: Option<HeaderValue>,
) -> Response<Full<Bytes>> {
    let frames = session.state().drain_outbox();
    let mut headers = HeaderMap::new();
    if let Some(value) = accept_encoding {
        headers.insert(header::ACCEPT_ENCODING, value);
    }
    payload_response(session, &frames, &headers)
}

fn payload_response(
    session: &Session,
    frames: &[Frame],
    headers: &HeaderMap,
) -> Response<Full<Bytes>> {
    let size_hint = frames.iter().map(|f| f.len() + 2).sum::<usize>();
    let (body, content_type) = match session.protocol() {
        ProtocolVersion::V4 => (
            payload::encode_v4(frames, size_hint),
            "text/plain; charset=UTF-8",
        ),
        ProtocolVersion::V3 => v3::encode_payload(frames, session.0.b64),
    };
    let mut res = Response::new(Full::new(Bytes::new()));
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let body = match session.config().http_compression_threshold {
        Some(threshold) if body.len() >= threshold => match compress(&body, headers) {
            Some((compressed, encoding)) => {
                res.headers_mut()
                    .insert(header::CONTENT_ENCODING, HeaderValue::from_static(encoding));
                res.headers_mut()
                    .insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
                compressed
            }
            None => body,
        },
        _ => body,
    };
    *res.body_mut() = Full::new(body);
    res
}

/// Compresses with the first of gzip or deflate that the client accepts.
fn compress(body: &[u8], headers: &HeaderMap) -> Option<(Bytes, &'static str)> {
    let accept = headers.get(header::ACCEPT_ENCODING)?.to_str().ok()?;
    let accepts = |name: &str| {
        accept
            .split(',')
            .map(|e| e.split(';').next().unwrap_or("").trim())
            .any(|e| e.eq_ignore_ascii_case(name))
    };
    let level = flate2::Compression::fast();
    if accepts("gzip") {
        let mut enc = flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 2), level);
        enc.write_all(body).ok()?;
        return Some((enc.finish().ok()?.into(), "gzip"));
    }
    if accepts("deflate") {
        let mut enc = flate2::write::ZlibEncoder::new(Vec::with_capacity(body.len() / 2), level);
        enc.write_all(body).ok()?;
        return Some((enc.finish().ok()?.into(), "deflate"));
    }
    None
}

/// Answers a POST: reads at most `max_http_buffer_size` bytes, decodes the payload and hands
/// each packet to the engine in order.
pub(crate) async fn post<H, B>(
    engine: &Arc<Engine<H>>,
    entry: &Arc<Entry<H::State>>,
    req: Request<B>,
) -> Response<Full<Bytes>>
where
    H: EngineHandler,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let session = &entry.session;
    let mut guard = match InFlight::begin(session, PollingRequest::Post) {
        Some(guard) => guard,
        None => return empty_response(StatusCode::BAD_REQUEST),
    };
    let is_binary = req.headers().get(header::CONTENT_TYPE).is_some_and(|v| {
        v.as_bytes()
            .eq_ignore_ascii_case(b"application/octet-stream")
    });
    if is_binary && session.protocol() == ProtocolVersion::V4 {
        // v4 clients send binary as base64 text; an octet-stream body is a broken client.
        session.close(CloseReason::TransportError);
        guard.answered = true;
        return empty_response(StatusCode::BAD_REQUEST);
    }
    let max = session.config().max_http_buffer_size;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max as u64) {
        guard.answered = true;
        return empty_response(StatusCode::PAYLOAD_TOO_LARGE);
    }
    // A body that stalls dies with its session (Node destroys the request on close).
    let collected = tokio::select! {
        collected = Limited::new(req.into_body(), max).collect() => collected,
        _ = session.closed() => {
            guard.answered = true;
            return empty_response(StatusCode::BAD_REQUEST);
        }
    };
    let body = match collected {
        Ok(collected) => collected.to_bytes(),
        Err(err) if err.downcast_ref::<LengthLimitError>().is_some() => {
            guard.answered = true;
            return empty_response(StatusCode::PAYLOAD_TOO_LARGE);
        }
        Err(_) => {
            session.close(CloseReason::TransportError);
            return empty_response(StatusCode::BAD_REQUEST);
        }
    };
    guard.answered = true;
    let packets = match session.protocol() {
        ProtocolVersion::V4 => payload::decode_v4(body),
        ProtocolVersion::V3 => v3::decode_payload(body, is_binary),
    };
    // A payload's packets are handled in one go: what they send goes out once they all are.
    let burst = super::burst::Burst::open();
    for packet in packets {
        let flow = match packet {
            Ok(packet) => engine.on_packet(entry, packet, TransportKind::Polling),
            Err(err) => engine.on_parse_error(session, err),
        };
        if flow == Flow::Stop {
            break;
        }
    }
    drop(burst);
    let mut res = Response::new(Full::new(Bytes::from_static(b"ok")));
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// Which polling request a session has in flight.
#[derive(Clone, Copy)]
enum PollingRequest {
    Get,
    Post,
}

/// One GET or POST in flight for a session. Node allows one of each at a time: a second one
/// is "overlap from client", a transport error that ends the session. A request dropped before
/// it was answered means the client went away, which ends the session too ("poll connection
/// closed prematurely", "data request connection closed prematurely").
struct InFlight<'a> {
    session: &'a Session,
    request: PollingRequest,
    answered: bool,
}

impl<'a> InFlight<'a> {
    /// Marks the request in flight; `None` when one was already (the session is then closed).
    fn begin(session: &'a Session, request: PollingRequest) -> Option<Self> {
        let already = std::mem::replace(flag(&mut session.state(), request), true);
        if already {
            tracing::debug!(sid = %session.sid(), "overlapping polling request");
            session.close(CloseReason::TransportError);
            return None;
        }
        Some(InFlight {
            session,
            request,
            answered: false,
        })
    }
}

fn flag(state: &mut State, request: PollingRequest) -> &mut bool {
    match request {
        PollingRequest::Get => &mut state.get_pending,
        PollingRequest::Post => &mut state.post_pending,
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        *flag(&mut self.session.state(), self.request) = false;
        if !self.answered {
            self.session.close(CloseReason::TransportError);
        }
    }
}
