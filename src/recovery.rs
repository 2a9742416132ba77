//! Connection state recovery: a client that reconnects within a window gets back its socket
//! id, its rooms, its data and every packet sent to it meanwhile (Node 4.6+'s
//! `connectionStateRecovery`).
//!
//! Every event sent to a recoverable socket without an ack id is recorded once, with its
//! offset appended as the last argument (the same offset for every receiver of a broadcast),
//! in a log bounded in age ([`ConnectionStateRecovery::max_disconnection_duration`]) and
//! length ([`ConnectionStateRecovery::max_packets`]). A socket that leaves for a reason that
//! is not deliberate (see [`DisconnectReason::is_recoverable`]) is kept as a session under a
//! private id (`pid`). The client reconnects with `{pid, offset}` in its CONNECT auth; if the
//! session is alive and the offset still in the log, the packets after it that targeted the
//! socket are sent again, in order, before the CONNECT reply.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::adapter::{Adapter, BroadcastOptions, RecoverySession, Room};
use crate::core::sync::lock;
use crate::engine::{Frame, Sid};

/// Options of connection state recovery, with Node's defaults.
///
/// ```
/// use std::time::Duration;
/// use tower_socketio::{ConnectionStateRecovery, SocketIo};
///
/// let io = SocketIo::builder()
///     .connection_state_recovery(ConnectionStateRecovery {
///         max_disconnection_duration: Duration::from_secs(60),
///         ..Default::default()
///     })
///     .build();
/// # let _ = io;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionStateRecovery {
    /// How long a disconnected socket may come back (default 2 minutes).
    pub max_disconnection_duration: Duration,
    /// Whether a recovered socket skips the connect middlewares (default true).
    pub skip_middlewares: bool,
    /// How many packets the log keeps at most, per namespace (default 10 000): past that,
    /// the oldest go first, and a client that missed them gets a fresh connection instead.
    pub max_packets: usize,
}

impl Default for ConnectionStateRecovery {
    fn default() -> Self {
        ConnectionStateRecovery {
            max_disconnection_duration: Duration::from_secs(120),
            skip_middlewares: true,
            max_packets: 10_000,
        }
    }
}

/// Where a namespace's recovery state lives.
pub(crate) enum Recovery {
    /// In the namespace, in memory (every adapter that does not persist sessions).
    InMemory(SessionStore),
    /// In the adapter's store (see [`Adapter::persists_sessions`]).
    Adapter(ConnectionStateRecovery),
}

impl Recovery {
    pub(crate) fn new(config: ConnectionStateRecovery, adapter: &dyn Adapter) -> Self {
        if adapter.persists_sessions() {
            Recovery::Adapter(config)
        } else {
            Recovery::InMemory(SessionStore::new(config))
        }
    }

    pub(crate) fn in_memory(&self) -> Option<&SessionStore> {
        match self {
            Recovery::InMemory(store) => Some(store),
            Recovery::Adapter(_) => None,
        }
    }

    pub(crate) fn config(&self) -> &ConnectionStateRecovery {
        match self {
            Recovery::InMemory(store) => &store.config,
            Recovery::Adapter(config) => config,
        }
    }

    pub(crate) fn by_adapter(&self) -> bool {
        matches!(self, Recovery::Adapter(_))
    }
}

/// A socket kept for recovery.
#[derive(Debug, Clone)]
pub(crate) struct PersistedSession {
    pub sid: Sid,
    pub pid: Sid,
    pub rooms: Vec<Room>,
    pub data: Value,
    /// Only kept in memory: extensions are not serializable, so a session restored from an
    /// adapter's store (perhaps on another node) comes back without them.
    pub extensions: http::Extensions,
    disconnected_at: Instant,
}

impl PersistedSession {
    pub(crate) fn new(
        sid: Sid,
        pid: Sid,
        rooms: Vec<Room>,
        data: Value,
        extensions: http::Extensions,
    ) -> Self {
        PersistedSession {
            sid,
            pid,
            rooms,
            data,
            extensions,
            disconnected_at: Instant::now(),
        }
    }
}

impl From<RecoverySession> for PersistedSession {
    fn from(session: RecoverySession) -> Self {
        PersistedSession::new(
            session.sid,
            session.pid,
            session.rooms,
            session.data,
            http::Extensions::new(),
        )
    }
}

struct Entry {
    offset: u64,
    at: Instant,
    rooms: Vec<Room>,
    except: Vec<Room>,
    frames: Vec<Frame>,
}

#[derive(Default)]
struct Inner {
    next_offset: u64,
    log: VecDeque<Entry>,
    sessions: HashMap<Sid, PersistedSession>,
}

/// The sessions and packet log of one namespace, in memory.
pub(crate) struct SessionStore {
    config: ConnectionStateRecovery,
    inner: Mutex<Inner>,
}

impl SessionStore {
    pub(crate) fn new(config: ConnectionStateRecovery) -> Self {
        SessionStore {
            config,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// The log, locked. What is done while holding it (a recorded packet's fan-out, a restored
    /// socket's replay and join) is one step for every other user of the log; it must not call
    /// out to anything that may record, persist or restore in turn.
    pub(crate) fn log(&self) -> Log<'_> {
        Log {
            store: self,
            inner: lock(&self.inner),
        }
    }

    /// Keeps a disconnected socket for a while.
    pub(crate) fn persist(&self, session: PersistedSession) {
        let mut inner = lock(&self.inner);
        self.prune(&mut inner, Instant::now());
        inner.sessions.insert(session.pid, session);
    }

    /// Takes back a session, if it is still kept and `offset` still in the log; returns it with
    /// the offset, after which [`Log::missed`] gives what it missed once its socket is ready
    /// to join its rooms.
    pub(crate) fn take(&self, pid: &str, offset: &str) -> Option<(PersistedSession, u64)> {
        let pid: Sid = pid.parse().ok()?;
        let offset: u64 = offset.parse().ok()?;
        let mut inner = lock(&self.inner);
        self.prune(&mut inner, Instant::now());
        inner.log.iter().position(|e| e.offset == offset)?;
        let session = inner.sessions.remove(&pid)?;
        Some((session, offset))
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
            .retain(|_, s| now.duration_since(s.disconnected_at) <= max_age);
    }

    /// How many packets and sessions are kept.
    #[cfg(test)]
    pub(crate) fn sizes(&self) -> (usize, usize) {
        let inner = lock(&self.inner);
        (inner.log.len(), inner.sessions.len())
    }
}

/// The log of a [`SessionStore`], locked (see [`SessionStore::log`]).
pub(crate) struct Log<'a> {
    store: &'a SessionStore,
    inner: MutexGuard<'a, Inner>,
}

impl Log<'_> {
    /// Gives the packet the next offset, encodes it with `encode(offset)`, and logs it for the
    /// sockets `opts` targets. Returns the frames to send; fanning them out before this log is
    /// released keeps them in order with the restores.
    pub(crate) fn record(
        &mut self,
        opts: &BroadcastOptions,
        encode: impl FnOnce(&str) -> Vec<Frame>,
    ) -> Vec<Frame> {
        let offset = self.inner.next_offset;
        self.inner.next_offset += 1;
        let frames = encode(&offset.to_string());
        let now = Instant::now();
        self.inner.log.push_back(Entry {
            offset,
            at: now,
            rooms: opts.rooms.clone(),
            except: opts.except.clone(),
            frames: frames.clone(),
        });
        self.store.prune(&mut self.inner, now);
        frames
    }

    /// The packets logged after `offset` for a socket in `rooms`, in order: what a restored
    /// socket missed. Queue them and join the rooms before this log is released.
    pub(crate) fn missed(&mut self, offset: u64, rooms: &[Room]) -> Vec<Frame> {
        self.store.prune(&mut self.inner, Instant::now());
        if self
            .inner
            .log
            .front()
            .is_some_and(|e| e.offset > offset + 1)
        {
            // Taken while the offset was still logged; its socket took that long to be ready.
            tracing::warn!(offset, "packets missed since this offset expired meanwhile");
        }
        self.inner
            .log
            .iter()
            .filter(|e| e.offset > offset && reaches(rooms, &e.rooms, &e.except))
            .flat_map(|e| e.frames.iter().cloned())
            .collect()
    }
}

/// Node's `shouldIncludePacket`: whether a packet sent to `rooms` (every socket when empty) but
/// not to `except` reaches a session in `session_rooms`.
pub(crate) fn reaches(session_rooms: &[Room], rooms: &[Room], except: &[Room]) -> bool {
    let included = rooms.is_empty() || session_rooms.iter().any(|r| rooms.contains(r));
    let excluded = session_rooms.iter().any(|r| except.contains(r));
    included && !excluded
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(rooms: &[&'static str]) -> BroadcastOptions {
        BroadcastOptions {
            rooms: rooms.iter().map(|r| Room::Borrowed(r)).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn replays_what_the_session_missed_in_order() {
        let store = SessionStore::new(ConnectionStateRecovery::default());
        let sid = Sid::new();
        let pid = Sid::new();
        let first = store.log().record(&opts(&[]), |o| vec![Frame::text(o)]);
        store
            .log()
            .record(&opts(&["red"]), |o| vec![Frame::text(o)]);
        store
            .log()
            .record(&opts(&["blue"]), |o| vec![Frame::text(o)]);
        store.log().record(&opts(&[]), |o| vec![Frame::text(o)]);
        store.persist(PersistedSession::new(
            sid,
            pid,
            vec![Room::Owned(sid.to_string()), "red".into()],
            Value::Null,
            http::Extensions::new(),
        ));
        let offset = first[0].as_text().unwrap()[1..].to_owned();
        let (session, after) = store.take(pid.as_str(), &offset).unwrap();
        assert_eq!(session.sid, sid);
        let missed = store.log().missed(after, &session.rooms);
        let texts: Vec<_> = missed
            .iter()
            .map(|f| f.as_text().unwrap().to_owned())
            .collect();
        assert_eq!(texts, vec!["41", "43"]);
        assert!(
            store.take(pid.as_str(), &offset).is_none(),
            "a session recovers once"
        );
    }

    #[test]
    fn the_log_is_bounded() {
        let store = SessionStore::new(ConnectionStateRecovery {
            max_packets: 3,
            ..Default::default()
        });
        for _ in 0..10 {
            store.log().record(&opts(&[]), |o| vec![Frame::text(o)]);
        }
        assert_eq!(store.sizes().0, 3);
        let pid = Sid::new();
        store.persist(PersistedSession::new(
            Sid::new(),
            pid,
            vec![],
            Value::Null,
            http::Extensions::new(),
        ));
        assert!(
            store.take(pid.as_str(), "0").is_none(),
            "offset 0 was dropped"
        );
    }
}
