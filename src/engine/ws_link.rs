//! The write side of a WebSocket, shared by its connection's task and whoever sends to it.
//!
//! A broadcast to a thousand idle WebSockets used to wake a thousand tasks, each to make one
//! `write`: the wake-ups and the task switches cost more than the writes. Now whoever queues a
//! packet for a WebSocket nobody is writing to writes the queue out at once, on its own thread
//! (see [`write_now`]). The link is only ever *tried* by a sender, never waited for: when the
//! connection's task holds it (it is reading, or writing), or the socket cannot take the bytes
//! right away, the task is woken as before and finishes the job with its own waker.
//!
//! Order holds because every write comes out of the session's queue, front first, by whoever
//! holds the link; the bound on the queue and the slow-consumer close are the queue's, as
//! before. No other lock is held while writing: the session's state lock is only taken to pop
//! the next packet.
//!
//! The connection's task holds the link for the whole of each poll, its handlers included.
//! Nobody else ever waits for it (senders only try it), so a handler that sends, to its own
//! socket or to any other, never blocks on a link: what it cannot write is queued.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Waker};

use futures_util::Sink;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use super::ProtocolVersion;
use super::packet::{Frame, FrameKind};
use super::read_ahead::ReadAhead;
use super::session::Session;
use super::v3;

pub(crate) type Ws = WebSocketStream<ReadAhead<TokioIo<Upgraded>>>;

/// A WebSocket and what is half-written to it.
pub(crate) struct Link {
    /// The WebSocket; taken out by the task when the connection ends (its closing handshake
    /// awaits, which no lock may be held across).
    pub(crate) ws: Option<Ws>,
    /// A message the sink has not accepted yet: taken from the session's queue, or, while
    /// probing (when nothing is taken from the queue), this WebSocket's own `3probe`.
    pub(crate) pending: Option<WsMessage>,
    /// Written to the sink and not flushed yet.
    needs_flush: bool,
    /// A sender's write failed: the task ends the connection when it next runs.
    pub(crate) broken: bool,
}

/// The shared link: the task holds the strong reference, the session a weak one (a session
/// kept alive by the application must not keep the connection's socket open).
pub(crate) type SharedLink = Mutex<Link>;

/// What a session keeps of its WebSocket's link.
pub(crate) type LinkSlot = std::sync::OnceLock<Weak<SharedLink>>;

/// The write failed: the connection is broken.
#[derive(Debug)]
pub(crate) struct Broken;

impl Link {
    pub(crate) fn new(ws: Ws) -> Link {
        Link {
            ws: Some(ws),
            pending: None,
            needs_flush: false,
            broken: false,
        }
    }

    /// Writes `pending`, then, when `from_queue`, the session's queue front first, and flushes.
    ///
    /// `Ready(Ok(true))` when something was flushed, `Ready(Ok(false))` when there was nothing
    /// to write, `Pending` when the socket cannot take more (the waker in `cx` is called when
    /// it can).
    pub(crate) fn write_out(
        &mut self,
        session: &Session,
        from_queue: bool,
        cx: &mut Context<'_>,
    ) -> Poll<Result<bool, Broken>> {
        let Some(ws) = self.ws.as_mut() else {
            return Poll::Ready(Err(Broken));
        };
        loop {
            if self.pending.is_none() && from_queue {
                let frame = session.state().pop_outbox();
                self.pending = frame.map(|frame| to_ws_message(session, frame));
            }
            if self.pending.is_none() {
                break;
            }
            match Pin::new(&mut *ws).poll_ready(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(_)) => return Poll::Ready(Err(Broken)),
                Poll::Pending => return Poll::Pending,
            }
            if let Some(message) = self.pending.take() {
                tracing::trace!(?message, "frame out");
                if Pin::new(&mut *ws).start_send(message).is_err() {
                    return Poll::Ready(Err(Broken));
                }
                self.needs_flush = true;
            }
        }
        if !self.needs_flush {
            return Poll::Ready(Ok(false));
        }
        match Pin::new(ws).poll_flush(cx) {
            Poll::Ready(Ok(())) => {
                self.needs_flush = false;
                Poll::Ready(Ok(true))
            }
            Poll::Ready(Err(_)) => Poll::Ready(Err(Broken)),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Locks the link for its connection's task. A sender holds it only for a non-blocking write.
pub(crate) fn lock(link: &SharedLink) -> MutexGuard<'_, Link> {
    // A panic while holding it can only come from tungstenite; the link is then dropped with
    // the task that owns it.
    link.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Writes the session's queue to its WebSocket on the caller's thread, if the session is on a
/// WebSocket that nobody else is writing to. Returns whether the queue went out entirely; when
/// it did not, the caller wakes the connection's task, which carries on from where this left.
pub(crate) fn write_now(session: &Session) -> bool {
    let Some(link) = session.0.ws_link.get().and_then(Weak::upgrade) else {
        return false;
    };
    let Ok(mut link) = link.try_lock() else {
        return false;
    };
    if link.broken {
        return false;
    }
    // The same sample a connection's task takes when it comes to write (metrics builds only).
    #[cfg(feature = "metrics")]
    session.state().record_depth();
    // No waker: when the socket is full the task is woken instead, and registers its own.
    let mut cx = Context::from_waker(Waker::noop());
    // Outside the runtime's budget: every socket write spends one unit of the *calling* task's
    // budget, so a broadcast to more sockets than the budget holds would find the rest "not
    // ready" and fall back to waking their tasks. The work is bounded: one pass over a queue.
    let written = {
        let write = std::future::poll_fn(|cx| link.write_out(session, true, cx));
        std::pin::pin!(tokio::task::unconstrained(write)).poll(&mut cx)
    };
    match written {
        Poll::Ready(Ok(_)) => true,
        Poll::Ready(Err(Broken)) => {
            link.broken = true;
            false
        }
        Poll::Pending => false,
    }
}

/// The WebSocket message that carries a frame, in the session's protocol.
fn to_ws_message(session: &Session, frame: Frame) -> WsMessage {
    match frame.0 {
        FrameKind::Text(text) => WsMessage::Text(text),
        FrameKind::Binary(data) => match session.protocol() {
            ProtocolVersion::V4 => WsMessage::Binary(data),
            ProtocolVersion::V3 if session.0.b64 => {
                WsMessage::Text(v3::base64_packet(&data).into())
            }
            ProtocolVersion::V3 => {
                let mut framed = Vec::with_capacity(data.len() + 1);
                framed.push(4);
                framed.extend_from_slice(&data);
                WsMessage::Binary(framed.into())
            }
        },
    }
}
