//! Requests to the other nodes: pending requests matched by `requestId`, the number of answers
//! expected, timeouts, and the collection of the acks of a broadcast with ack.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use super::adapter::{NsShared, random_id};
use super::remote_ack_sid;
use crate::adapter::cluster::WireSocket;
use crate::core::ack::{AckResponse, BroadcastAckFuture};
use crate::core::error::{AckError, AdapterError};
use crate::core::sync::lock;
use crate::engine::Sid;

/// A request waiting for other nodes' answers.
pub(super) struct Pending {
    pub(super) kind: PendingKind,
    pub(super) expected: usize,
    pub(super) received: usize,
    pub(super) answers: Vec<Answer>,
    pub(super) done: Option<oneshot::Sender<Vec<Answer>>>,
}

/// One node's answer to a request.
#[derive(Debug)]
pub(super) enum Answer {
    /// Its sockets (fetch).
    Sockets(Vec<WireSocket>),
    /// Its rooms (classic all-rooms).
    Rooms(Vec<String>),
    /// Its listener's answer (server-side emit).
    Value(Value),
    /// An answer that does not fit the request: it counts, as in Node, so one bad answer does
    /// not hold the request until its timeout, but carries nothing.
    Malformed,
}

impl Answer {
    fn fits(&self, kind: PendingKind) -> bool {
        matches!(
            (self, kind),
            (Answer::Sockets(_), PendingKind::Sockets)
                | (Answer::Rooms(_), PendingKind::Rooms)
                | (Answer::Value(_), PendingKind::ServerSide)
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PendingKind {
    /// Each answer holds sockets (classic: `sockets`).
    Sockets,
    /// Each answer holds room names (classic: `rooms`).
    Rooms,
    /// Each answer is one value (classic: `data`).
    ServerSide,
}

/// What other nodes report about a broadcast with ack.
pub(super) enum AckEvent {
    ClientCount(usize),
    Ack(AckResponse),
}

/// What a node reports back about a broadcast with ack another node asked for.
pub(super) enum AckReply {
    Count(usize),
    Ack(AckResponse),
}

/// Forgets a pending request when its caller stops waiting.
pub(super) struct PendingGuard<'a> {
    pub(super) shared: &'a NsShared,
    pub(super) id: &'a str,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        lock(&self.shared.requests).remove(self.id);
    }
}

/// Forgets a broadcast with ack when its collector is done (or dropped).
pub(super) struct AckGuard {
    pub(super) shared: Arc<NsShared>,
    pub(super) id: String,
}

impl Drop for AckGuard {
    fn drop(&mut self) {
        lock(&self.shared.ack_requests).remove(&self.id);
    }
}

/// Waits for the local answers, the other nodes' client counts and their answers, until all are
/// in or the timeout runs out; answers that did not come are [`AckError::Timeout`].
pub(super) async fn collect_cluster_acks(
    guard: AckGuard,
    local: BroadcastAckFuture,
    mut events: mpsc::UnboundedReceiver<AckEvent>,
    timeout: Duration,
) -> Vec<(Sid, Result<AckResponse, AckError>)> {
    let shared = guard.shared.clone();
    let deadline = tokio::time::Instant::now() + timeout;
    let mut local = local;
    let mut local_results = None;
    let count = async move { shared.server_count().await };
    tokio::pin!(count);
    let mut remote_servers: Option<usize> = None;
    let mut counts = 0usize;
    let mut expected = 0usize;
    let mut answers = Vec::new();
    let sleep = tokio::time::sleep_until(deadline);
    tokio::pin!(sleep);
    let mut events_open = true;
    loop {
        if local_results.is_some()
            && remote_servers.is_some_and(|n| counts >= n)
            && answers.len() >= expected
        {
            break;
        }
        tokio::select! {
            results = &mut local, if local_results.is_none() => local_results = Some(results),
            n = &mut count, if remote_servers.is_none() => {
                // Unknown when Redis did not answer: wait for the timeout.
                remote_servers = Some(n.map_or(usize::MAX, |n| n.saturating_sub(1)));
            }
            event = events.recv(), if events_open => match event {
                Some(AckEvent::ClientCount(n)) => {
                    counts += 1;
                    expected = expected.saturating_add(n);
                }
                Some(AckEvent::Ack(response)) => answers.push(response),
                None => events_open = false,
            },
            _ = &mut sleep => break,
        }
    }
    drop(guard);
    let mut results = match local_results {
        Some(results) => results,
        None => local.await,
    };
    let sid = remote_ack_sid();
    let missing = expected.saturating_sub(answers.len());
    results.extend(answers.into_iter().map(|a| (sid, Ok(a))));
    results.extend((0..missing).map(|_| (sid, Err(AckError::Timeout))));
    results
}

impl NsShared {
    /// Publishes a request and waits for `expected` answers within `timeout`.
    pub(super) async fn request(
        &self,
        kind: PendingKind,
        expected: usize,
        timeout: Duration,
        make: impl FnOnce(&str) -> (String, Vec<u8>),
    ) -> Result<Vec<Answer>, AdapterError> {
        let id = random_id();
        let (tx, rx) = oneshot::channel();
        lock(&self.requests).insert(
            id.clone(),
            Pending {
                kind,
                expected,
                received: 0,
                answers: Vec::new(),
                done: Some(tx),
            },
        );
        let _guard = PendingGuard {
            shared: self,
            id: &id,
        };
        let (channel, payload) = make(&id);
        self.publish(channel, payload)?;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(answers)) => Ok(answers),
            Ok(Err(_)) => Err(AdapterError::Closed),
            Err(_) => Err(AdapterError::Timeout),
        }
    }

    /// The kind of the pending request `id`, if this node is waiting for it.
    pub(super) fn pending_kind(&self, id: &str) -> Option<PendingKind> {
        lock(&self.requests).get(id).map(|p| p.kind)
    }

    /// Records one node's answer to a pending request (unknown ids are ignored); a malformed
    /// answer still counts.
    pub(super) fn answer(&self, id: &str, answer: Answer) {
        let mut requests = lock(&self.requests);
        let Some(pending) = requests.get_mut(id) else {
            return;
        };
        pending.received += 1;
        if answer.fits(pending.kind) {
            pending.answers.push(answer);
        }
        if pending.received >= pending.expected
            && let Some(mut pending) = requests.remove(id)
            && let Some(done) = pending.done.take()
        {
            let _ = done.send(pending.answers);
        }
    }

    /// Hands another node's report on a broadcast with ack to its collector, if this node is
    /// still collecting; whether it was.
    pub(super) fn ack_event(&self, id: &str, event: AckEvent) -> bool {
        match lock(&self.ack_requests).get(id) {
            Some(ack) => {
                let _ = ack.send(event);
                true
            }
            None => false,
        }
    }
}
