//! Packets sent while a connection's incoming packets are handled go out when the handling
//! ends, each receiver's in one write.
//!
//! A client that sends sixteen broadcasts in one read makes its handler queue sixteen packets
//! for each receiver. Writing each packet the moment it is queued would make sixteen writes
//! per receiver; waking each receiver's task for the first one would cost a wake-up each and
//! leave the batching to chance. Instead, while a [`Burst`] is open on this thread, a session
//! whose queue stops being empty is only noted; when the burst closes, each noted session's
//! queue is written out at once (see [`super::ws_link::write_now`]) or its task is woken.
//!
//! A burst never spans an `.await`: it is opened and closed within one poll of a connection's
//! task (or one synchronous pass over received messages), so nothing waits longer than that
//! poll takes.

use std::cell::RefCell;

use super::session::Session;

/// The sessions noted in this thread's open burst, and how deeply bursts are nested.
struct Noted {
    depth: u32,
    sessions: Vec<Session>,
}

thread_local! {
    static NOTED: RefCell<Noted> = const {
        RefCell::new(Noted {
            depth: 0,
            sessions: Vec::new(),
        })
    };
}

/// An open burst; closing it (dropping it) writes out what was queued meanwhile. Bursts nest:
/// only the outermost one writes.
pub(crate) struct Burst(());

impl Burst {
    pub(crate) fn open() -> Burst {
        // `try_with`: on a thread being torn down there is no burst, and sends go out at once.
        let _ = NOTED.try_with(|noted| noted.borrow_mut().depth += 1);
        Burst(())
    }
}

impl Drop for Burst {
    fn drop(&mut self) {
        let sessions = NOTED.try_with(|noted| {
            let mut noted = noted.borrow_mut();
            noted.depth = noted.depth.saturating_sub(1);
            (noted.depth == 0).then(|| std::mem::take(&mut noted.sessions))
        });
        let Ok(Some(mut sessions)) = sessions else {
            return;
        };
        // Writing never queues more (it only drains queues), so no session is noted meanwhile.
        for session in sessions.drain(..) {
            session.write_or_wake();
        }
        // The list's buffer is kept for the next burst on this thread.
        let _ = NOTED.try_with(|noted| {
            let mut noted = noted.borrow_mut();
            if noted.sessions.is_empty() && noted.depth == 0 {
                noted.sessions = sessions;
            }
        });
    }
}

/// Notes a session whose queue just stopped being empty, if a burst is open on this thread;
/// returns whether it was noted (else the caller writes or wakes at once).
pub(crate) fn note(session: &Session) -> bool {
    NOTED
        .try_with(|noted| {
            let mut noted = noted.borrow_mut();
            if noted.depth == 0 {
                return false;
            }
            noted.sessions.push(session.clone());
            true
        })
        .unwrap_or(false)
}
