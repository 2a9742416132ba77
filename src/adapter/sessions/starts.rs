//! Where each socket's session started, for a client that never received a packet (so it has
//! no offset) and recovers from there: kept while the socket is connected, and for a moment
//! after it leaves, until its session is persisted.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::engine::Sid;

/// How long the start of a socket that left waits for its session to be persisted (which
/// follows its leaving at once, when it comes at all).
const LEFT_WAIT: Duration = Duration::from_secs(30);

/// The start position (`T`: a log offset, a stream id) of each socket's session.
#[derive(Debug)]
pub(crate) struct Starts<T> {
    connected: HashMap<Sid, T>,
    left: HashMap<Sid, (T, Instant)>,
}

impl<T> Default for Starts<T> {
    fn default() -> Self {
        Starts {
            connected: HashMap::new(),
            left: HashMap::new(),
        }
    }
}

impl<T: Clone> Starts<T> {
    /// A socket joined its rooms: unless it already has a start (a restored socket keeps its
    /// session's), it starts at `position`.
    pub(crate) fn joined(&mut self, sid: Sid, position: impl FnOnce() -> Option<T>) {
        if !self.connected.contains_key(&sid)
            && let Some(position) = position()
        {
            self.connected.insert(sid, position);
        }
    }

    /// A restored socket keeps the start of its session (or has none).
    pub(crate) fn restored(&mut self, sid: Sid, start: Option<T>) {
        match start {
            Some(start) => self.connected.insert(sid, start),
            None => self.connected.remove(&sid),
        };
    }

    /// The start of a connected socket.
    #[cfg(feature = "redis")]
    pub(crate) fn of(&self, sid: Sid) -> Option<&T> {
        self.connected.get(&sid)
    }

    /// A socket left: its start waits for its session to be persisted.
    pub(crate) fn left(&mut self, sid: Sid) {
        let now = Instant::now();
        self.left
            .retain(|_, (_, at)| now.duration_since(*at) <= LEFT_WAIT);
        if let Some(start) = self.connected.remove(&sid) {
            self.left.insert(sid, (start, now));
        }
    }

    /// The start of a socket that just left (or of a connected one), for its persisted session.
    pub(crate) fn take(&mut self, sid: Sid) -> Option<T> {
        match self.left.remove(&sid) {
            Some((start, _)) => Some(start),
            None => self.connected.get(&sid).cloned(),
        }
    }
}
