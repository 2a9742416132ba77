//! Requests to the other nodes, shared by every remote adapter: pending requests matched by
//! `requestId`, who is expected to answer, timeouts, and the collection of the acks of a
//! broadcast with ack.
//!
//! Two ways of knowing who should answer exist among Node's adapters: a number of answers (the
//! Redis adapters ask Redis how many nodes subscribe), or a set of node ids (socket.io-adapter's
//! `ClusterAdapterWithHeartbeat`, used by the PostgreSQL adapter, knows the nodes from their
//! heartbeats; a node that leaves stops being waited for). [`Expected`] is either.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use super::WireSocket;
use crate::core::ack::{AckResponse, BroadcastAckFuture};
use crate::core::error::{AckError, AdapterError};
use crate::core::sync::lock;
use crate::engine::Sid;

/// A random id for a node or a request: 16 hexadecimal digits, as Node's
/// `randomBytes(8).toString("hex")`.
pub(crate) fn random_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// One node's answer to a request.
#[derive(Debug)]
pub(crate) enum Answer {
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

/// What each answer of a request holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PendingKind {
    /// Sockets (fetch).
    Sockets,
    /// Room names (classic all-rooms).
    Rooms,
    /// One value (server-side emit).
    ServerSide,
}

/// Who must answer before a request is complete.
#[derive(Debug, Clone)]
pub(crate) enum Expected {
    /// This many answers, from anyone (duplicates count, as in Node's `ClusterAdapter`).
    Count(usize),
    /// One answer from each of these nodes; answers from others are kept but do not count, and
    /// a node that leaves is no longer waited for (Node's `ClusterAdapterWithHeartbeat`).
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    Nodes(HashSet<String>),
}

impl Expected {
    fn is_met(&self, received: usize) -> bool {
        match self {
            Expected::Count(n) => received >= *n,
            Expected::Nodes(missing) => missing.is_empty(),
        }
    }
}

/// A request waiting for other nodes' answers.
struct Pending {
    kind: PendingKind,
    expected: Expected,
    received: usize,
    answers: Vec<Answer>,
    done: Option<oneshot::Sender<Vec<Answer>>>,
}

/// What other nodes report about a broadcast with ack.
#[derive(Debug)]
pub(crate) enum AckEvent {
    /// How many of its clients one node sent the packet to.
    ClientCount(usize),
    /// One client's answer.
    Ack(AckResponse),
}

/// What a node reports back about a broadcast with ack another node asked for.
#[derive(Debug)]
pub(crate) enum AckReply {
    /// How many local clients got the packet (0 included: the requester counts the reports).
    Count(usize),
    /// One local client's answer.
    Ack(AckResponse),
}

/// The requests of one namespace's adapter that wait for other nodes.
#[derive(Default)]
pub(crate) struct Requests {
    pending: Mutex<HashMap<String, Pending>>,
    acks: Mutex<HashMap<String, mpsc::UnboundedSender<AckEvent>>>,
}

/// Forgets a pending request when its caller stops waiting.
pub(crate) struct PendingGuard<'a> {
    requests: &'a Requests,
    /// The request's id.
    pub(crate) id: String,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        lock(&self.requests.pending).remove(&self.id);
    }
}

/// Forgets a broadcast with ack when its collector is done (or dropped).
pub(crate) struct AckGuard {
    requests: Arc<Requests>,
    /// The broadcast's request id.
    pub(crate) id: String,
}

impl Drop for AckGuard {
    fn drop(&mut self) {
        lock(&self.requests.acks).remove(&self.id);
    }
}

impl Requests {
    /// Opens a request with a fresh id; its answers arrive on the receiver once `expected` is
    /// met. Dropping the guard forgets it.
    pub(crate) fn open(
        &self,
        kind: PendingKind,
        expected: Expected,
    ) -> (PendingGuard<'_>, oneshot::Receiver<Vec<Answer>>) {
        let id = random_id();
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).insert(
            id.clone(),
            Pending {
                kind,
                expected,
                received: 0,
                answers: Vec::new(),
                done: Some(tx),
            },
        );
        (PendingGuard { requests: self, id }, rx)
    }

    /// The kind of the pending request `id`, if this node is waiting for it.
    pub(crate) fn kind(&self, id: &str) -> Option<PendingKind> {
        lock(&self.pending).get(id).map(|p| p.kind)
    }

    /// Records one node's answer (`from`, when the format names it) to a pending request;
    /// unknown ids are ignored, and a malformed answer still counts.
    pub(crate) fn answer(&self, id: &str, from: Option<&str>, answer: Answer) {
        let mut pending = lock(&self.pending);
        let Some(request) = pending.get_mut(id) else {
            return;
        };
        request.received += 1;
        if let (Expected::Nodes(missing), Some(from)) = (&mut request.expected, from) {
            missing.remove(from);
        }
        if answer.fits(request.kind) {
            request.answers.push(answer);
        }
        if request.expected.is_met(request.received) {
            Self::complete(&mut pending, id);
        }
    }

    /// A node left the cluster: requests stop waiting for it.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) fn node_gone(&self, uid: &str) {
        let mut pending = lock(&self.pending);
        let done: Vec<String> = pending
            .iter_mut()
            .filter_map(|(id, request)| match &mut request.expected {
                Expected::Nodes(missing) => {
                    (missing.remove(uid) && missing.is_empty()).then(|| id.clone())
                }
                Expected::Count(_) => None,
            })
            .collect();
        for id in done {
            Self::complete(&mut pending, &id);
        }
    }

    fn complete(pending: &mut HashMap<String, Pending>, id: &str) {
        if let Some(mut request) = pending.remove(id)
            && let Some(done) = request.done.take()
        {
            let _ = done.send(request.answers);
        }
    }

    /// Starts collecting the reports on a broadcast with ack.
    pub(crate) fn open_acks(self: &Arc<Self>) -> (AckGuard, mpsc::UnboundedReceiver<AckEvent>) {
        let id = random_id();
        let (tx, rx) = mpsc::unbounded_channel();
        lock(&self.acks).insert(id.clone(), tx);
        let guard = AckGuard {
            requests: self.clone(),
            id,
        };
        (guard, rx)
    }

    /// Whether this node is collecting the acks of broadcast `id`.
    pub(crate) fn collecting_acks(&self, id: &str) -> bool {
        lock(&self.acks).contains_key(id)
    }

    /// Hands another node's report on a broadcast with ack to its collector, if this node is
    /// still collecting; whether it was.
    pub(crate) fn ack_event(&self, id: &str, event: AckEvent) -> bool {
        match lock(&self.acks).get(id) {
            Some(ack) => {
                let _ = ack.send(event);
                true
            }
            None => false,
        }
    }
}

/// Waits for the answers of a request opened with [`Requests::open`] and published.
pub(crate) async fn wait_answers(
    rx: oneshot::Receiver<Vec<Answer>>,
    timeout: Duration,
) -> Result<Vec<Answer>, AdapterError> {
    match tokio::time::timeout(timeout, rx).await {
        Ok(Ok(answers)) => Ok(answers),
        Ok(Err(_)) => Err(AdapterError::Closed),
        Err(_) => Err(AdapterError::Timeout),
    }
}

/// Waits for the local answers, the other nodes' client counts and their answers, until all are
/// in or the timeout runs out; answers that did not come are [`AckError::Timeout`]. `servers` is
/// how many nodes there are, this one included; when it fails, the collector waits for the
/// timeout.
pub(crate) async fn collect_cluster_acks(
    guard: AckGuard,
    local: BroadcastAckFuture,
    mut events: mpsc::UnboundedReceiver<AckEvent>,
    timeout: Duration,
    servers: impl Future<Output = Result<usize, AdapterError>>,
    remote_sid: Sid,
) -> Vec<(Sid, Result<AckResponse, AckError>)> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut local = local;
    let mut local_results = None;
    tokio::pin!(servers);
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
            n = &mut servers, if remote_servers.is_none() => {
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
    let missing = expected.saturating_sub(answers.len());
    results.extend(answers.into_iter().map(|a| (remote_sid, Ok(a))));
    if missing > 0 {
        crate::metrics::global()
            .ack_timeouts
            .increment(missing as u64);
    }
    results.extend((0..missing).map(|_| (remote_sid, Err(AckError::Timeout))));
    results
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_request_completes_with_its_count_of_answers() {
        let requests = Requests::default();
        let (guard, rx) = requests.open(PendingKind::ServerSide, Expected::Count(2));
        requests.answer(&guard.id, None, Answer::Value(Value::from(1)));
        requests.answer(&guard.id, None, Answer::Malformed);
        let answers = wait_answers(rx, Duration::from_secs(1)).await.unwrap();
        assert_eq!(
            answers.len(),
            1,
            "the malformed answer counts but carries nothing"
        );
    }

    #[tokio::test]
    async fn a_request_to_known_nodes_stops_waiting_for_one_that_leaves() {
        let requests = Requests::default();
        let nodes = ["a", "b"].into_iter().map(String::from).collect();
        let (guard, rx) = requests.open(PendingKind::Sockets, Expected::Nodes(nodes));
        // An answer from a node nobody waits for does not complete it.
        requests.answer(&guard.id, Some("z"), Answer::Sockets(vec![]));
        requests.answer(&guard.id, Some("a"), Answer::Sockets(vec![]));
        assert!(requests.kind(&guard.id).is_some());
        requests.node_gone("b");
        let answers = wait_answers(rx, Duration::from_secs(1)).await.unwrap();
        assert_eq!(answers.len(), 2);
        drop(guard);
    }

    #[tokio::test]
    async fn a_request_without_answers_times_out_and_is_forgotten() {
        let requests = Requests::default();
        let (guard, rx) = requests.open(PendingKind::Sockets, Expected::Count(1));
        let id = guard.id.clone();
        let result = wait_answers(rx, Duration::from_millis(10)).await;
        assert!(matches!(result, Err(AdapterError::Timeout)));
        drop(guard);
        assert!(requests.kind(&id).is_none());
    }
}
