//! Streams mode: the sessions of connected recoverable sockets, kept in Redis while they live,
//! so that the clients of a node that crashes (and never gets to store its sessions) recover
//! on another node.
//!
//! A session is written as Node's stored session (`SET <prefix><pid> <base64 MessagePack {sid,
//! pid, rooms, data}> PX <ttl>`), which any node, Rust or Node, restores with `GETDEL`. It is
//! written when its socket connects, again after its rooms or data change, and again before
//! it expires; deleted when the socket leaves for good, and written one last time (as before)
//! when it leaves in a way it may recover from. Changes are coalesced: one `SET` per changed
//! session per [`FLUSH_EVERY`], pipelined with the others, in one round trip; what a socket's
//! leaving writes goes at once.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, Weak};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::Notify;

use super::adapter::NsShared;
use super::streams;
use crate::adapter::RecoverySession;
use crate::adapter::sessions::Starts;
use crate::core::sync::lock;
use crate::engine::Sid;

/// How long changes are gathered before they are written: a crash loses at most the room and
/// data changes of this last moment.
pub(super) const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// How many ordered writes (deletes, persisted sessions) wait at most while Redis is away.
const MAX_QUEUED: usize = 100_000;

/// One write of a session key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SessionWrite {
    /// `SET key value PX ttl_ms`.
    Put {
        /// The key.
        key: String,
        /// The encoded session.
        value: String,
        /// Its time to live.
        ttl_ms: u64,
    },
    /// `DEL key`.
    Delete {
        /// The key.
        key: String,
    },
}

/// The live sessions of one namespace and the writes waiting to go to Redis.
#[derive(Debug, Default)]
pub(crate) struct LiveSessions {
    inner: Mutex<Inner>,
    wake: Notify,
    /// An ordered write waits: the writer stops gathering changes and writes at once.
    urgent: Notify,
}

#[derive(Debug, Default)]
struct Inner {
    /// Connected recoverable sockets: their private id and data, by socket id.
    sessions: HashMap<Sid, Live>,
    /// Sessions changed since the last flush.
    dirty: HashSet<Sid>,
    /// Writes that keep their order: a socket's delete before its persisted session.
    queue: Vec<SessionWrite>,
    /// Where in the stream each socket started (the last entry delivered before it joined its
    /// rooms): a client that never received a packet recovers from there.
    starts: Starts<String>,
}

#[derive(Debug)]
struct Live {
    pid: Sid,
    data: Value,
}

impl LiveSessions {
    /// A socket joined its rooms: unless it is a restored one (see [`restoring`](Self::restoring)),
    /// it started at `position`.
    pub(crate) fn joined(&self, sid: Sid, position: impl FnOnce() -> Option<String>) {
        lock(&self.inner).starts.joined(sid, position);
    }

    /// A restored socket keeps the start of its session.
    pub(crate) fn restoring(&self, sid: Sid, start: Option<String>) {
        lock(&self.inner).starts.restored(sid, start);
    }

    /// Where a socket that just left started, for its persisted session.
    pub(crate) fn start_of(&self, sid: Sid) -> Option<String> {
        lock(&self.inner).starts.take(sid)
    }

    /// A recoverable socket connected, or its data changed.
    pub(crate) fn track(&self, session: RecoverySession) {
        let mut inner = lock(&self.inner);
        inner.sessions.insert(
            session.sid,
            Live {
                pid: session.pid,
                data: session.data,
            },
        );
        inner.dirty.insert(session.sid);
        drop(inner);
        self.wake.notify_one();
    }

    /// A socket's rooms changed.
    pub(crate) fn rooms_changed(&self, sid: Sid) {
        let mut inner = lock(&self.inner);
        if inner.sessions.contains_key(&sid) && inner.dirty.insert(sid) {
            drop(inner);
            self.wake.notify_one();
        }
    }

    /// A socket left: its live session is deleted (a session it may recover is persisted right
    /// after, through [`persist`](Self::persist), and lands after the delete).
    pub(crate) fn gone(&self, sid: Sid, key_prefix: &str) {
        let mut inner = lock(&self.inner);
        inner.dirty.remove(&sid);
        inner.starts.left(sid);
        if let Some(live) = inner.sessions.remove(&sid) {
            let key = format!("{key_prefix}{}", live.pid);
            push_bounded(&mut inner.queue, SessionWrite::Delete { key });
            drop(inner);
            self.wake.notify_one();
            self.urgent.notify_one();
        }
    }

    /// Queues a session's last write, after anything queued before for it.
    pub(crate) fn persist(&self, write: SessionWrite) {
        push_bounded(&mut lock(&self.inner).queue, write);
        self.wake.notify_one();
        self.urgent.notify_one();
    }

    /// Whether ordered writes (a socket that left) wait.
    fn has_queued(&self) -> bool {
        !lock(&self.inner).queue.is_empty()
    }

    /// Every live session is written again (before its key expires).
    fn refresh_all(&self) {
        let mut inner = lock(&self.inner);
        let all: Vec<Sid> = inner.sessions.keys().copied().collect();
        inner.dirty.extend(all);
    }

    /// What to write now: the ordered writes, then every changed live session, encoded with
    /// `rooms_of` its current rooms.
    fn take_writes(
        &self,
        key_prefix: &str,
        ttl_ms: u64,
        rooms_of: impl Fn(Sid) -> Vec<crate::adapter::Room>,
    ) -> Vec<SessionWrite> {
        let mut inner = lock(&self.inner);
        let mut writes = std::mem::take(&mut inner.queue);
        let dirty = std::mem::take(&mut inner.dirty);
        for sid in dirty {
            let Some(live) = inner.sessions.get(&sid) else {
                continue;
            };
            let session = RecoverySession {
                sid,
                pid: live.pid,
                rooms: rooms_of(sid),
                data: live.data.clone(),
            };
            let start = inner.starts.of(sid).map(String::as_str);
            writes.push(SessionWrite::Put {
                key: format!("{key_prefix}{}", live.pid),
                value: streams::encode_session(&session, start),
                ttl_ms,
            });
        }
        writes
    }

    /// Puts back writes that failed (Redis away), ahead of newer ones; live sessions are marked
    /// changed again rather than queued, so that only their latest state is written.
    fn retry(&self, failed: Vec<SessionWrite>, key_prefix: &str) {
        let mut inner = lock(&self.inner);
        let by_key: HashMap<String, Sid> = inner
            .sessions
            .iter()
            .map(|(sid, live)| (format!("{key_prefix}{}", live.pid), *sid))
            .collect();
        let mut queue = Vec::new();
        for write in failed {
            let live = match &write {
                SessionWrite::Put { key, .. } => by_key.get(key).copied(),
                SessionWrite::Delete { .. } => None,
            };
            match live {
                Some(sid) => {
                    inner.dirty.insert(sid);
                }
                None => queue.push(write),
            }
        }
        queue.append(&mut inner.queue);
        inner.queue = queue;
        let excess = inner.queue.len().saturating_sub(MAX_QUEUED);
        if excess > 0 {
            tracing::warn!(excess, "session writes dropped while Redis is away");
            inner.queue.drain(..excess);
        }
    }

    /// How many sockets are tracked.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        lock(&self.inner).sessions.len()
    }
}

fn push_bounded(queue: &mut Vec<SessionWrite>, write: SessionWrite) {
    if queue.len() >= MAX_QUEUED {
        tracing::warn!("session writes dropped while Redis is away");
        queue.remove(0);
    }
    queue.push(write);
}

/// Writes a namespace's live sessions until its adapter is dropped: changes every
/// [`FLUSH_EVERY`], and every session again each third of its time to live.
pub(super) async fn write_loop(shared: Weak<NsShared>, ttl: Duration) {
    let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
    let refresh_every = (ttl / 3).max(FLUSH_EVERY);
    let mut refresh = tokio::time::interval(refresh_every);
    refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let notified = {
            let Some(shared) = shared.upgrade() else {
                return;
            };
            let live = shared.live.clone();
            async move { live.wake.notified().await }
        };
        tokio::select! {
            _ = notified => {}
            _ = refresh.tick() => {
                let Some(shared) = shared.upgrade() else { return };
                shared.live.refresh_all();
            }
        }
        // Gather what else changes meanwhile into the same round trip; but the session of a
        // socket that just left goes at once: its client may be reconnecting already.
        let Some(live) = shared.upgrade().map(|shared| shared.live.clone()) else {
            return;
        };
        if !live.has_queued() {
            tokio::select! {
                _ = tokio::time::sleep(FLUSH_EVERY) => {}
                _ = live.urgent.notified() => {}
            }
        }
        drop(live);
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let prefix = shared.driver.config().streams.session_key_prefix.clone();
        let writes = shared
            .live
            .take_writes(&prefix, ttl_ms, |sid| shared.local.socket_rooms(sid));
        if writes.is_empty() {
            continue;
        }
        let driver = shared.driver.clone();
        let live = shared.live.clone();
        drop(shared);
        if let Err(err) = driver.write_sessions(writes.clone()).await {
            tracing::warn!(error = %err, "live sessions not written; retrying");
            live.retry(writes, &prefix);
            tokio::time::sleep(Duration::from_secs(1)).await;
            live.wake.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(sid: Sid, pid: Sid) -> RecoverySession {
        RecoverySession {
            sid,
            pid,
            rooms: Vec::new(),
            data: Value::Null,
        }
    }

    #[test]
    fn changes_are_coalesced_and_a_leaving_socket_is_deleted_then_persisted() {
        let live = LiveSessions::default();
        let (sid, pid) = (Sid::new(), Sid::new());
        live.track(session(sid, pid));
        live.rooms_changed(sid);
        live.rooms_changed(sid);
        let writes = live.take_writes("s:", 1000, |_| vec!["r".into()]);
        assert_eq!(writes.len(), 1, "one write for three changes");
        assert!(
            matches!(&writes[0], SessionWrite::Put { key, ttl_ms: 1000, .. } if *key == format!("s:{pid}"))
        );
        assert!(live.take_writes("s:", 1000, |_| vec![]).is_empty());
        live.gone(sid, "s:");
        live.persist(SessionWrite::Put {
            key: format!("s:{pid}"),
            value: "last".into(),
            ttl_ms: 5,
        });
        let writes = live.take_writes("s:", 1000, |_| vec![]);
        assert_eq!(
            writes[0],
            SessionWrite::Delete {
                key: format!("s:{pid}")
            }
        );
        assert!(matches!(&writes[1], SessionWrite::Put { value, .. } if value == "last"));
        assert_eq!(live.len(), 0);
    }

    #[test]
    fn a_failed_write_is_retried_with_the_latest_state() {
        let live = LiveSessions::default();
        let (sid, pid) = (Sid::new(), Sid::new());
        live.track(session(sid, pid));
        let gone = Sid::new();
        live.persist(SessionWrite::Delete {
            key: format!("s:{gone}"),
        });
        let failed = live.take_writes("s:", 1000, |_| vec![]);
        live.retry(failed, "s:");
        let again = live.take_writes("s:", 1000, |_| vec!["late".into()]);
        assert_eq!(again.len(), 2);
        assert_eq!(
            again[0],
            SessionWrite::Delete {
                key: format!("s:{gone}")
            }
        );
        assert!(matches!(&again[1], SessionWrite::Put { .. }));
    }
}
