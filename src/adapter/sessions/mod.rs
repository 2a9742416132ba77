//! Connection state recovery kept in this node's memory: the sessions of sockets that left
//! without meaning to, and the log of the packets sent to recoverable sockets (Node's
//! `SessionAwareAdapter`). The [`MemoryAdapter`](super::MemoryAdapter) persists sessions with
//! it; another adapter that serves one node's sockets may too.
//!
//! Every recoverable packet gets the next offset, is logged once with it as its last argument
//! (the same offset for every receiver), and is fanned out, all under the store's lock. A
//! restored socket reads what it missed and, later, joins its rooms under that same lock, and
//! what was broadcast in between is buffered for it: each packet reaches it exactly once,
//! through the replay, the buffer or live delivery, in order.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{BroadcastOptions, BroadcastPacket, LocalAdapter, RecoverySession, RestoredSession};
use crate::core::Room;
use crate::core::recovery::{ConnectionStateRecovery, reaches, reaches_rooms};
use crate::core::sync::lock;
use crate::engine::{Burst, Frame, Sid};

/// How long a restored session waits for its socket to join its rooms; past that the restore
/// was abandoned (a refused or closed connection that never told the adapter).
const HANDOVER_WAIT: Duration = Duration::from_secs(30);

/// The sessions and packet log of one namespace, in memory (see the [module docs](self)).
///
/// An adapter hands it every broadcast, join and leave of its local sockets, and it answers
/// [`Adapter::persist_session`](super::Adapter::persist_session) and
/// [`Adapter::restore_session`](super::Adapter::restore_session):
///
/// ```
/// use tower_socketio::adapter::{LocalAdapter, NamespaceHandle, SessionStore};
/// use tower_socketio::ConnectionStateRecovery;
///
/// struct OneNode {
///     local: LocalAdapter,
///     sessions: SessionStore,
/// }
///
/// impl OneNode {
///     fn new(ns: NamespaceHandle) -> Self {
///         let config = ns.recovery().unwrap_or_default();
///         OneNode { local: LocalAdapter::new(ns), sessions: SessionStore::new(config) }
///     }
///
///     fn join(&self, sid: tower_socketio::engine::Sid, room: &'static str) {
///         // Joins go through the store: a restored socket's hand-over happens there.
///         self.sessions.add_all(&self.local, sid, vec![room.into()]);
///     }
/// }
/// # let _ = OneNode::join;
/// # let _: fn(ConnectionStateRecovery) = |_| ();
/// ```
#[derive(Debug)]
pub struct SessionStore {
    config: ConnectionStateRecovery,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    next_offset: u64,
    log: VecDeque<Entry>,
    /// Disconnected sessions, by private id.
    sessions: HashMap<Sid, Kept>,
    /// Restored sessions whose socket has not joined its rooms yet, by socket id.
    handovers: HashMap<Sid, Handover>,
    /// The first offset each socket may have been sent: a client that never received a packet
    /// recovers from there.
    starts: Starts<u64>,
}

#[derive(Debug)]
struct Entry {
    offset: u64,
    at: Instant,
    rooms: Vec<Room>,
    except: Vec<Room>,
    frames: Vec<Frame>,
}

#[derive(Debug)]
struct Kept {
    session: RecoverySession,
    /// Where the socket started (see `Inner::starts`), when known.
    start: Option<u64>,
    disconnected_at: Instant,
}

#[derive(Debug)]
struct Handover {
    rooms: Vec<Room>,
    /// Where the socket first started: still where it recovers from without an offset.
    start: Option<u64>,
    /// What was broadcast to it since its replay was read.
    buffer: Vec<Frame>,
    /// The last offset buffered, so that a packet is buffered once.
    last: Option<u64>,
    /// How many packets the buffer holds.
    packets: usize,
    since: Instant,
}

impl SessionStore {
    /// An empty store with these limits.
    pub fn new(config: ConnectionStateRecovery) -> Self {
        SessionStore {
            config,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Delivers a broadcast to the local sockets `opts` targets. A
    /// [recoverable](BroadcastPacket::recoverable) one gets the next offset, is logged and is
    /// fanned out under the store's lock, and is buffered for the restored sessions it reaches
    /// whose sockets have not joined their rooms yet.
    pub fn broadcast(
        &self,
        local: &LocalAdapter,
        packet: &BroadcastPacket,
        opts: &BroadcastOptions,
    ) {
        if !packet.recoverable || opts.volatile {
            return local.broadcast(packet, opts);
        }
        // Opened before the lock, closed after it: the receivers' queues are filled under the
        // lock, and written to their sockets only once it is released.
        let _burst = Burst::open();
        let mut inner = lock(&self.inner);
        let now = Instant::now();
        self.prune(&mut inner, now);
        let offset = inner.next_offset;
        inner.next_offset += 1;
        let frames = packet.frames_with_offset(&offset.to_string());
        let mut targets = local.targets(opts);
        if !inner.handovers.is_empty() {
            inner.buffer_for_handovers(
                &mut targets,
                offset,
                &frames,
                opts,
                self.config.max_packets,
            );
        }
        // Queued before the lock is released: a restore or a hand-over sees the packet either
        // logged and queued, or neither. Queueing never calls out, and the writes wait for the
        // burst.
        local.namespace().send(&targets, &frames, false);
        inner.log.push_back(Entry {
            offset,
            at: now,
            rooms: opts.rooms.clone(),
            except: opts.except.clone(),
            frames,
        });
        self.prune(&mut inner, now);
    }

    /// Keeps a disconnected socket's session for
    /// [`max_disconnection_duration`](ConnectionStateRecovery::max_disconnection_duration).
    pub fn persist(&self, session: RecoverySession) {
        let mut inner = lock(&self.inner);
        self.prune(&mut inner, Instant::now());
        let start = inner.starts.take(session.sid);
        inner.sessions.insert(
            session.pid,
            Kept {
                session,
                start,
                disconnected_at: Instant::now(),
            },
        );
    }

    /// Takes back a session, if it is still kept and `offset` still in the log, with the
    /// packets logged after `offset` that reached its rooms. Without an offset (its client never
    /// received a packet), with every packet logged for it since its socket connected, if the
    /// log still holds them all. From then until its socket joins its rooms (through
    /// [`add_all`](Self::add_all), with its own room among them), what is broadcast to it is
    /// buffered.
    pub fn restore(&self, pid: &str, offset: Option<&str>) -> Option<RestoredSession> {
        let pid: Sid = pid.parse().ok()?;
        let mut inner = lock(&self.inner);
        self.prune(&mut inner, Instant::now());
        let kept = inner.sessions.get(&pid)?;
        // The first offset it may have missed.
        let from = match offset {
            Some(offset) => {
                let offset: u64 = offset.parse().ok()?;
                inner.log.iter().position(|e| e.offset == offset)?;
                offset + 1
            }
            None => {
                let start = kept.start?;
                let oldest = inner.log.front().map_or(inner.next_offset, |e| e.offset);
                (oldest <= start).then_some(start)?
            }
        };
        let Kept { session, start, .. } = inner.sessions.remove(&pid)?;
        let missed = inner
            .log
            .iter()
            .filter(|e| e.offset >= from && reaches_rooms(&session.rooms, &e.rooms, &e.except))
            .flat_map(|e| e.frames.iter().cloned())
            .collect();
        inner.handovers.insert(
            session.sid,
            Handover {
                rooms: session.rooms.clone(),
                start,
                buffer: Vec::new(),
                last: None,
                packets: 0,
                since: Instant::now(),
            },
        );
        Some(RestoredSession { session, missed })
    }

    /// Puts a socket in rooms. A restored socket joining its own room is the hand-over: what
    /// was buffered for it is queued first, then it joins, under the store's lock, so that no
    /// broadcast falls between the two.
    pub fn add_all(&self, local: &LocalAdapter, sid: Sid, rooms: Vec<Room>) {
        // The hand-over's packets are written once the lock is released (see `broadcast`).
        let _burst = Burst::open();
        let mut inner = lock(&self.inner);
        let own_room = rooms.iter().any(|room| room.as_ref() == sid.as_str());
        match inner.handovers.remove(&sid) {
            Some(handover) if own_room => {
                let start = handover.start.unwrap_or(inner.next_offset);
                inner.starts.restored(sid, Some(start));
                if !handover.buffer.is_empty() {
                    // Bounded by the log's limit, not by the socket's queue (as its replay is).
                    local.namespace().send_unbounded(sid, handover.buffer);
                }
            }
            Some(handover) => {
                // A middleware's join before the socket rejoins its rooms: not the hand-over.
                inner.handovers.insert(sid, handover);
            }
            // A new socket joins its own room as it connects: from then on, packets reach it.
            None if own_room => {
                let next = inner.next_offset;
                inner.starts.joined(sid, || Some(next));
            }
            None => {}
        }
        local.add_all(sid, rooms);
    }

    /// Takes a socket out of every room, and forgets a restore its socket never finished.
    pub fn del_all(&self, local: &LocalAdapter, sid: Sid) {
        let mut inner = lock(&self.inner);
        inner.handovers.remove(&sid);
        inner.starts.left(sid);
        local.del_all(sid);
    }

    fn prune(&self, inner: &mut Inner, now: Instant) {
        let max_age = self.config.max_disconnection_duration;
        while inner.log.front().is_some_and(|e| {
            now.duration_since(e.at) > max_age || inner.log.len() > self.config.max_packets
        }) {
            inner.log.pop_front();
        }
        inner
            .sessions
            .retain(|_, kept| now.duration_since(kept.disconnected_at) <= max_age);
        inner
            .handovers
            .retain(|_, handover| now.duration_since(handover.since) <= HANDOVER_WAIT);
    }

    /// How many packets, sessions and pending hand-overs are kept.
    #[cfg(test)]
    fn sizes(&self) -> (usize, usize, usize) {
        let inner = lock(&self.inner);
        (inner.log.len(), inner.sessions.len(), inner.handovers.len())
    }
}

impl Inner {
    /// Buffers packet `offset` for every restored socket it reaches that has not joined its
    /// rooms yet, and takes those sockets out of the live `targets`.
    fn buffer_for_handovers(
        &mut self,
        targets: &mut Vec<Sid>,
        offset: u64,
        frames: &[Frame],
        opts: &BroadcastOptions,
        max_packets: usize,
    ) {
        let buffer = |sid: &Sid, handover: &mut Handover| {
            if handover.last == Some(offset) {
                return;
            }
            handover.last = Some(offset);
            if handover.packets >= max_packets {
                tracing::warn!(socket = %sid, "restore buffer full: a live packet is lost");
                return;
            }
            handover.packets += 1;
            handover.buffer.extend_from_slice(frames);
        };
        // Already in a room (a middleware joined it early): buffered, not sent live.
        targets.retain(|sid| match self.handovers.get_mut(sid) {
            Some(handover) => {
                buffer(sid, handover);
                false
            }
            None => true,
        });
        for (sid, handover) in self.handovers.iter_mut() {
            if reaches(&handover.rooms, opts) {
                buffer(sid, handover);
            }
        }
    }
}

mod starts;
#[cfg(test)]
mod tests;

pub(crate) use starts::Starts;
