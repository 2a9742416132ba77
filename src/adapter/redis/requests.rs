//! Requests to the other nodes, over the shared pending-request bookkeeping of
//! [`cluster::requests`](crate::adapter::cluster::requests): the Redis adapters know how many
//! nodes should answer (from `PUBSUB NUMSUB`), not which.

use std::time::Duration;

use super::adapter::NsShared;
pub(super) use crate::adapter::cluster::requests::{AckEvent, AckReply, Answer, PendingKind};
use crate::adapter::cluster::requests::{Expected, wait_answers};
use crate::core::error::AdapterError;

impl NsShared {
    /// Publishes a request and waits for `expected` answers within `timeout`.
    pub(super) async fn request(
        &self,
        kind: PendingKind,
        expected: usize,
        timeout: Duration,
        make: impl FnOnce(&str) -> (String, Vec<u8>),
    ) -> Result<Vec<Answer>, AdapterError> {
        let (guard, answers) = self.requests.open(kind, Expected::Count(expected));
        let (channel, payload) = make(&guard.id);
        self.publish(channel, payload)?;
        wait_answers(answers, timeout).await
    }

    /// The kind of the pending request `id`, if this node is waiting for it.
    pub(super) fn pending_kind(&self, id: &str) -> Option<PendingKind> {
        self.requests.kind(id)
    }

    /// Records one node's answer to a pending request (unknown ids are ignored); a malformed
    /// answer still counts.
    pub(super) fn answer(&self, id: &str, answer: Answer) {
        self.requests.answer(id, None, answer);
    }

    /// Hands another node's report on a broadcast with ack to its collector, if this node is
    /// still collecting; whether it was.
    pub(super) fn ack_event(&self, id: &str, event: AckEvent) -> bool {
        self.requests.ack_event(id, event)
    }
}
