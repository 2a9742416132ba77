//! One Engine.IO session: its outbound queue, transport state, heartbeat and close.
//!
//! A session outlives its transports: it starts on polling or WebSocket, may move from polling
//! to WebSocket, and keeps one outbound queue throughout, so nothing is lost or reordered across
//! an upgrade. Whichever transport is active drains the queue; the state sits behind a short,
//! synchronous critical section that is never held across an `.await`.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::Context;
use std::time::{Duration, Instant};

use futures_util::task::AtomicWaker;
use tokio::sync::Notify;
use tokio::time::Sleep;

use super::ProtocolVersion;
use super::config::EngineConfig;
use super::error::{CloseReason, SendError};
use super::packet::Frame;
use super::query::TransportKind;
use super::sid::Sid;

/// What a session tells the engine that owns it.
pub(crate) trait SessionHost: Send + Sync {
    /// The session is closing: run the application's close handler.
    fn session_closed(&self, sid: Sid, reason: CloseReason);
    /// The session is gone: forget it.
    fn session_finished(&self, sid: Sid);
    /// The runtime the engine serves on, for work a session defers out of its caller's stack
    /// when that caller is not on a runtime thread.
    fn runtime(&self) -> Option<tokio::runtime::Handle>;
    /// The engine's observer, if one is installed (see [`super::observe`]).
    fn observer(&self) -> Option<Arc<dyn super::observe::EngineObserver>> {
        None
    }
}

/// A handle on an Engine.IO session. Cheap to clone.
///
/// Sending never waits: a message is queued and the active transport writes it out. The queue
/// is bounded in bytes ([`EngineConfig::max_buffered_bytes`]); a client that reads too slowly to
/// keep it under the bound is disconnected with [`CloseReason::SlowConsumer`].
///
/// ```no_run
/// # fn f(session: tower_socketio::engine::Session) {
/// session.send_text("hello").ok();
/// session.send_binary(vec![1u8, 2, 3]).ok();
/// # }
/// ```
#[derive(Clone)]
pub struct Session(pub(crate) Arc<Inner>);

pub(crate) struct Inner {
    pub(crate) sid: Sid,
    pub(crate) protocol: ProtocolVersion,
    pub(crate) b64: bool,
    pub(crate) config: Arc<EngineConfig>,
    pub(crate) request: Arc<super::RequestHead>,
    pub(crate) created_at: Instant,
    state: Mutex<State>,
    /// Wakes the pending polling GET.
    pub(crate) poll_waker: AtomicWaker,
    /// Wakes the WebSocket task.
    pub(crate) ws_waker: AtomicWaker,
    /// The WebSocket's link once one carries the session: a sender writes to it directly when
    /// it is idle (see [`super::ws_link`]).
    pub(crate) ws_link: super::ws_link::LinkSlot,
    /// Wakes the heartbeat task: a pong (v4) or ping (v3) arrived, or the session closed.
    pub(crate) heartbeat: Notify,
    /// Wakes whoever waits for the session to close (a POST still reading its body).
    closed: Notify,
    host: Weak<dyn SessionHost>,
    /// The engine's observer when one was installed before this session opened.
    pub(crate) observer: Option<Arc<dyn super::observe::EngineObserver>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Open,
    /// Closing after the queue is flushed (server-initiated close).
    Draining,
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Upgrade {
    None,
    /// A WebSocket is attached and waiting for `2probe`.
    Probing,
    /// `3probe` was sent; waiting for `5`.
    Upgrading,
}

/// What one queued packet costs beyond its bytes (the queue slot, the shared buffer's header):
/// counted against `max_buffered_bytes` so a flood of tiny packets is bounded too.
const FRAME_OVERHEAD: usize = 80;

fn cost(frame: &Frame) -> usize {
    frame.len() + FRAME_OVERHEAD
}

pub(crate) struct State {
    pub(crate) phase: Phase,
    pub(crate) transport: TransportKind,
    pub(crate) upgrade: Upgrade,
    pub(crate) get_pending: bool,
    pub(crate) post_pending: bool,
    outbox: VecDeque<Frame>,
    outbox_bytes: usize,
    /// Bytes queued past the bound on purpose (a recovery replay): the bound stretches by as
    /// much until they are written out.
    allowance: usize,
    /// The queue overflowed: the session is being closed as a slow consumer (by a task of its
    /// own, see [`Session::close_later`]) and takes nothing more meanwhile.
    overflowed: bool,
}

#[cfg(feature = "internals")]
pub(crate) fn inner_size() -> usize {
    std::mem::size_of::<Inner>()
}

impl Session {
    pub(crate) fn new(
        sid: Sid,
        protocol: ProtocolVersion,
        b64: bool,
        transport: TransportKind,
        config: Arc<EngineConfig>,
        request: Arc<super::RequestHead>,
        host: Weak<dyn SessionHost>,
    ) -> Session {
        let observer = host.upgrade().and_then(|host| host.observer());
        Session(Arc::new(Inner {
            sid,
            protocol,
            b64,
            config,
            request,
            created_at: Instant::now(),
            state: Mutex::new(State {
                phase: Phase::Open,
                transport,
                upgrade: Upgrade::None,
                get_pending: false,
                post_pending: false,
                outbox: VecDeque::new(),
                outbox_bytes: 0,
                allowance: 0,
                overflowed: false,
            }),
            poll_waker: AtomicWaker::new(),
            ws_waker: AtomicWaker::new(),
            ws_link: super::ws_link::LinkSlot::new(),
            heartbeat: Notify::new(),
            closed: Notify::new(),
            host,
            observer,
        }))
    }

    /// The session id.
    pub fn sid(&self) -> Sid {
        self.0.sid
    }

    /// The Engine.IO protocol version the client speaks.
    pub fn protocol(&self) -> ProtocolVersion {
        self.0.protocol
    }

    /// The transport currently carrying the session.
    pub fn transport(&self) -> TransportKind {
        self.state().transport
    }

    /// The handshake request (method, URI, headers and extensions; no body).
    pub fn request(&self) -> &http::request::Parts {
        self.0.request.parts()
    }

    /// When the handshake happened.
    pub fn created_at(&self) -> Instant {
        self.0.created_at
    }

    /// Whether the session is still open.
    pub fn is_open(&self) -> bool {
        self.state().phase == Phase::Open
    }

    /// The server configuration this session runs under.
    pub fn config(&self) -> &EngineConfig {
        &self.0.config
    }

    /// Queues a text message.
    pub fn send_text(&self, text: &str) -> Result<(), SendError> {
        self.send_frame(Frame::text(text))
    }

    /// Queues a binary message.
    pub fn send_binary(&self, data: impl Into<bytes::Bytes>) -> Result<(), SendError> {
        self.send_frame(Frame::binary(data))
    }

    /// Queues an already encoded packet; this is how one encoding is shared by many sessions.
    pub fn send_frame(&self, frame: Frame) -> Result<(), SendError> {
        self.send_frames(std::iter::once(frame))
    }

    /// Queues several packets at once, all or none: either every one fits in the queue or the
    /// session is closed as a slow consumer and none is queued.
    ///
    /// Never calls out: a sender may hold locks (an adapter fanning a broadcast out, recovery
    /// recording it), so the slow-consumer close, which runs the application's close handlers,
    /// happens in a task of its own; from now until then the session takes nothing more.
    pub fn send_frames(&self, frames: impl IntoIterator<Item = Frame>) -> Result<(), SendError> {
        let mut state = self.state();
        if !state.accepts() {
            return Err(SendError::Closed);
        }
        let before = state.outbox.len();
        let mut added = 0usize;
        let mut data = 0usize;
        let mut count = 0usize;
        for frame in frames {
            added += cost(&frame);
            data += frame.data_len();
            count += 1;
            state.outbox.push_back(frame);
        }
        if state.outbox_bytes + added > self.0.config.max_buffered_bytes + state.allowance {
            state.outbox.truncate(before);
            state.overflowed = true;
            drop(state);
            tracing::warn!(sid = %self.0.sid, "outbound queue full: closing slow consumer");
            self.close_later(CloseReason::SlowConsumer);
            return Err(SendError::Full);
        }
        state.outbox_bytes += added;
        drop(state);
        if let Some(observer) = &self.0.observer {
            observer.messages_out(count, data);
        }
        crate::metrics::global().messages_sent(count, data);
        // A transport drains the queue until it is empty or its connection cannot take more
        // (and then the connection wakes it): only the first packet after empty needs a wake.
        if before == 0 {
            self.queue_filled();
        }
        Ok(())
    }

    /// Queues packets whatever the bound: for a backlog that is already bounded elsewhere (the
    /// recovery log replayed to a reconnecting client, which would otherwise be closed again
    /// as a slow consumer by the very packets it came back for).
    pub(crate) fn send_frames_unbounded(&self, frames: Vec<Frame>) {
        self.state().allowance += frames.iter().map(cost).sum::<usize>();
        // Within the stretched bound by construction; a closed session just drops them.
        let _ = self.send_frames(frames);
    }

    /// Queues a packet's frames only if the transport can take the first right away (see
    /// [`send_volatile`](Self::send_volatile)); returns whether they were queued.
    pub(crate) fn send_volatile_frames(
        &self,
        frames: impl IntoIterator<Item = Frame>,
    ) -> Result<bool, SendError> {
        let mut frames = frames.into_iter();
        let Some(first) = frames.next() else {
            return Ok(false);
        };
        if !self.send_volatile(first) {
            return Ok(false);
        }
        self.send_frames(frames).map(|()| true)
    }

    /// Queues a packet only if the transport can take it right away (nothing else waiting and,
    /// on polling, a request ready to carry it); otherwise drops it. This is Socket.IO's
    /// `volatile` flag. Returns whether the packet was queued.
    pub fn send_volatile(&self, frame: Frame) -> bool {
        let mut state = self.state();
        let writable = state.accepts()
            && state.outbox.is_empty()
            && state.upgrade == Upgrade::None
            && (state.transport == TransportKind::WebSocket || state.get_pending);
        if writable {
            state.outbox_bytes += cost(&frame);
            state.outbox.push_back(frame);
            drop(state);
            self.queue_filled();
        }
        writable
    }

    /// Closes the session from the server side: what is queued is flushed first (within a
    /// bounded time), then the client is told. Reason: "forced close".
    pub fn close_gracefully(&self) {
        self.close_with(CloseReason::ForcedClose, true);
    }

    /// Closes the session now for `reason`, dropping what is queued.
    pub fn close(&self, reason: CloseReason) {
        self.close_with(reason, false);
    }

    /// Closes the session for `reason` from a task of its own rather than on the caller's
    /// stack: closing runs the application's close handlers (a socket's `disconnect`, leaving
    /// its rooms), which take the very locks a sender may be holding.
    fn close_later(&self, reason: CloseReason) {
        let runtime = tokio::runtime::Handle::try_current()
            .ok()
            .or_else(|| self.0.host.upgrade()?.runtime());
        let session = self.clone();
        match runtime {
            Some(runtime) => drop(runtime.spawn(async move { session.close(reason) })),
            // No engine on any runtime (a session built by hand): no handler to run.
            None => session.close(reason),
        }
    }

    pub(crate) fn close_with(&self, reason: CloseReason, flush: bool) {
        let transport = {
            let mut state = self.state();
            if state.phase != Phase::Open {
                return;
            }
            if flush {
                // Polling clients learn of the close from a `1` packet in the response after the
                // one that empties the queue, as in Node: a client acts on a close at once but
                // on Socket.IO packets one tick later, so a DISCONNECT sharing a response with
                // the close would be lost.
                state.phase = Phase::Draining;
            } else {
                state.phase = Phase::Closed;
                state.outbox.clear();
                state.outbox_bytes = 0;
                state.allowance = 0;
                if state.transport == TransportKind::Polling && state.get_pending {
                    // The client said goodbye itself: just release its poll.
                    state
                        .outbox
                        .push_back(if reason == CloseReason::TransportClose {
                            Frame::noop()
                        } else {
                            Frame::close()
                        });
                }
            }
            state.transport
        };
        tracing::debug!(sid = %self.0.sid, %reason, "session closing");
        if let Some(observer) = &self.0.observer {
            observer.session_closed(transport, reason);
        }
        let metrics = crate::metrics::global();
        metrics
            .sessions(transport == TransportKind::WebSocket)
            .decrement(1.0);
        if reason == CloseReason::SlowConsumer {
            metrics.slow_consumer_closes.increment(1);
        }
        self.0.closed.notify_waiters();
        self.wake_transports();
        self.0.heartbeat.notify_one();
        if let Some(host) = self.0.host.upgrade() {
            host.session_closed(self.0.sid, reason);
            if !flush {
                host.session_finished(self.0.sid);
            }
        }
    }

    /// Ends a draining session: its queue went out (or the grace period ran out).
    pub(crate) fn finish(&self) {
        let was = {
            let mut state = self.state();
            std::mem::replace(&mut state.phase, Phase::Closed)
        };
        if was != Phase::Closed {
            self.wake_transports();
            self.0.heartbeat.notify_one();
        }
        if let Some(host) = self.0.host.upgrade() {
            host.session_finished(self.0.sid);
        }
    }

    /// Resolves once the session is no longer open.
    pub(crate) async fn closed(&self) {
        loop {
            let notified = self.0.closed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if !self.is_open() {
                return;
            }
            notified.await;
        }
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock can only come from a bug in this module; the state is
        // still consistent (every mutation is a single step), so carry on with it.
        self.0
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn wake_transports(&self) {
        self.0.poll_waker.wake();
        self.0.ws_waker.wake();
    }

    /// The queue just stopped being empty: its packets go out when this thread's burst ends,
    /// or at once when none is open.
    fn queue_filled(&self) {
        if !super::burst::note(self) {
            self.write_or_wake();
        }
    }

    /// What was just queued goes out: written here and now when the session's WebSocket is
    /// idle, else by its transport, woken for it.
    pub(crate) fn write_or_wake(&self) {
        if !super::ws_link::write_now(self) {
            self.wake_transports();
        }
    }

    pub(crate) fn is_v3(&self) -> bool {
        self.0.protocol == ProtocolVersion::V3
    }
}

impl State {
    /// Whether the session takes more packets: open, and not being closed for overflowing.
    fn accepts(&self) -> bool {
        self.phase == Phase::Open && !self.overflowed
    }

    /// Takes everything queued.
    pub(crate) fn drain_outbox(&mut self) -> Vec<Frame> {
        self.record_depth();
        self.outbox_bytes = 0;
        self.allowance = 0;
        // The queue's buffer goes with its frames: an idle session keeps none.
        Vec::from(std::mem::take(&mut self.outbox))
    }

    /// Gives the queue's buffer back once it is empty: an idle session keeps none.
    pub(crate) fn release_empty_outbox(&mut self) {
        if self.outbox.is_empty() && self.outbox.capacity() > 0 {
            self.outbox = VecDeque::new();
        }
    }

    /// Takes the next queued packet.
    pub(crate) fn pop_outbox(&mut self) -> Option<Frame> {
        let frame = self.outbox.pop_front()?;
        self.outbox_bytes = self.outbox_bytes.saturating_sub(cost(&frame));
        self.allowance = self.allowance.saturating_sub(cost(&frame));
        Some(frame)
    }

    /// Records how many packets wait, as a transport comes to write them (metrics).
    #[inline]
    pub(crate) fn record_depth(&self) {
        if !self.outbox.is_empty() {
            crate::metrics::global()
                .queue_depth
                .record(self.outbox.len() as f64);
        }
    }

    pub(crate) fn outbox_is_empty(&self) -> bool {
        self.outbox.is_empty()
    }

    /// Queues a control packet of the engine's own (ping, pong, noop) regardless of the bound.
    pub(crate) fn push_control(&mut self, frame: Frame) {
        self.outbox_bytes += cost(&frame);
        self.outbox.push_back(frame);
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("sid", &self.0.sid)
            .field("protocol", &self.0.protocol)
            .finish_non_exhaustive()
    }
}

/// How long a draining session may take to flush: long enough for a polling client to come back
/// for its last packets, short enough that a shutdown is never held up by a client that went
/// away.
fn drain_grace(config: &EngineConfig) -> Duration {
    config
        .ping_timeout
        .clamp(Duration::from_secs(1), Duration::from_secs(5))
}

/// Sends pings (v4) or expects them (v3), and closes the session with "ping timeout" when the
/// client falls silent. It also ends a draining session once its grace period is over.
pub(crate) async fn heartbeat(session: Session) {
    let config = session.0.config.clone();
    let interval = config.ping_interval;
    let timeout = config.ping_timeout;
    loop {
        if session.is_v3() {
            // v3: the client pings; it must do so within interval + timeout.
            let deadline = tokio::time::sleep(interval + timeout);
            tokio::select! {
                _ = deadline => {
                    session.close(CloseReason::PingTimeout);
                    return;
                }
                _ = session.0.heartbeat.notified() => {}
            }
        } else {
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = session.0.heartbeat.notified() => {
                    // A stray pong or a close: only a close ends the wait early.
                    if !session.is_open() { break; }
                    continue;
                }
            }
            {
                let mut state = session.state();
                if state.phase != Phase::Open {
                    break;
                }
                state.push_control(Frame::ping());
            }
            session.wake_transports();
            tokio::select! {
                _ = tokio::time::sleep(timeout) => {
                    session.close(CloseReason::PingTimeout);
                    return;
                }
                _ = session.0.heartbeat.notified() => {}
            }
        }
        if !session.is_open() {
            break;
        }
    }
    // Closing: give a draining session a bounded time to flush, then forget it.
    if session.state().phase == Phase::Draining {
        let grace = drain_grace(&config);
        let _ = tokio::time::timeout(grace, async {
            while session.state().phase == Phase::Draining {
                session.0.heartbeat.notified().await;
            }
        })
        .await;
    }
    session.finish();
}

/// The heartbeat of a session born on a WebSocket, run as a timer by that connection's own task
/// rather than as a task of its own (one task and its allocation less per connection). Same
/// schedule and outcomes as [`heartbeat`]; the connection polls it and tells it what it heard.
pub(crate) struct InlineHeartbeat {
    wait: Wait,
    /// The timer was reset and must be polled again to be armed.
    dirty: bool,
    /// The session is draining: switch to its grace period.
    draining: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// v4: until the next ping.
    Interval,
    /// v4: a ping went out; until its pong.
    Pong,
    /// v3: until the client's next ping.
    ClientPing,
    /// Draining: until the grace period is over.
    Grace,
    Done,
}

impl InlineHeartbeat {
    pub(crate) fn start(session: &Session, timer: Pin<&mut Sleep>) -> Self {
        let config = &session.0.config;
        let (wait, after) = if session.is_v3() {
            (Wait::ClientPing, config.ping_interval + config.ping_timeout)
        } else {
            (Wait::Interval, config.ping_interval)
        };
        timer.reset(tokio::time::Instant::now() + after);
        InlineHeartbeat {
            wait,
            dirty: true,
            draining: false,
        }
    }

    /// Whether [`poll`](Self::poll) has something to do: the timer fired, was reset (and must be
    /// polled to be armed again), or the session started draining. Cheaper than polling the
    /// timer on every wake of the connection.
    pub(crate) fn needs_poll(&self, timer: &Sleep) -> bool {
        self.dirty
            || timer.is_elapsed()
            || (self.draining && !matches!(self.wait, Wait::Grace | Wait::Done))
    }

    /// Whether a ping went out and its pong has not come back yet.
    pub(crate) fn awaiting_pong(&self) -> bool {
        self.wait == Wait::Pong
    }

    /// The session started draining.
    pub(crate) fn draining(&mut self) {
        self.draining = true;
    }

    /// The client's half of the heartbeat arrived: a pong (v4) or a ping (v3).
    pub(crate) fn heard(&mut self, session: &Session, timer: Pin<&mut Sleep>) {
        let config = &session.0.config;
        let now = tokio::time::Instant::now();
        match self.wait {
            // A pong, expected or stray, restarts the interval, as in [`heartbeat`].
            Wait::Interval | Wait::Pong => {
                timer.reset(now + config.ping_interval);
                self.wait = Wait::Interval;
            }
            Wait::ClientPing => timer.reset(now + config.ping_interval + config.ping_timeout),
            Wait::Grace | Wait::Done => return,
        }
        self.dirty = true;
    }

    /// Acts on the timer; returns whether it changed the session (queued a ping, closed or
    /// finished it).
    pub(crate) fn poll(
        &mut self,
        cx: &mut Context<'_>,
        session: &Session,
        mut timer: Pin<&mut Sleep>,
    ) -> bool {
        self.dirty = false;
        let mut acted = false;
        loop {
            if self.draining && !matches!(self.wait, Wait::Grace | Wait::Done) {
                let grace = drain_grace(&session.0.config);
                timer.as_mut().reset(tokio::time::Instant::now() + grace);
                self.wait = Wait::Grace;
            }
            if self.wait == Wait::Done || timer.as_mut().poll(cx).is_pending() {
                return acted;
            }
            acted = true;
            match self.wait {
                Wait::ClientPing | Wait::Pong => {
                    session.close(CloseReason::PingTimeout);
                    self.wait = Wait::Done;
                }
                Wait::Interval => {
                    let mut state = session.state();
                    match state.phase {
                        Phase::Open => {
                            state.push_control(Frame::ping());
                            drop(state);
                            let timeout = session.0.config.ping_timeout;
                            timer.as_mut().reset(tokio::time::Instant::now() + timeout);
                            self.wait = Wait::Pong;
                        }
                        Phase::Draining => self.draining = true,
                        Phase::Closed => self.wait = Wait::Done,
                    }
                }
                Wait::Grace => {
                    session.finish();
                    self.wait = Wait::Done;
                }
                Wait::Done => {}
            }
        }
    }
}
