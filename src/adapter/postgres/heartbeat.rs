//! Who else is in the cluster, as socket.io-adapter's `ClusterAdapterWithHeartbeat` tells it:
//! every node of a namespace announces itself (initial heartbeat), says it is still there every
//! heartbeat interval, and says when it leaves (adapter close). A node is known from its last
//! message until the heartbeat timeout; the server count is 1 plus the nodes known.
//!
//! Unlike Node, a uid counts only once its message decoded in full: junk that merely carries a
//! `uid` is never taken for a node.

use std::collections::HashMap;
use std::sync::{Mutex, Weak};
use std::time::Duration;

use tokio::time::Instant;

use super::driver::Driver;
use crate::adapter::cluster::message::Body;
use crate::core::sync::lock;

/// The uid of Node's emitters, which are never nodes.
pub(super) const EMITTER_UID: &str = "emitter";

/// The other nodes of one namespace, with when each was last heard from.
pub(super) struct Nodes {
    seen: Mutex<HashMap<String, Instant>>,
    timeout: Duration,
}

impl Nodes {
    pub(super) fn new(timeout: Duration) -> Self {
        Nodes {
            seen: Mutex::new(HashMap::new()),
            timeout,
        }
    }

    /// A node was heard from.
    pub(super) fn seen(&self, uid: &str) {
        if uid == EMITTER_UID {
            return;
        }
        let now = Instant::now();
        let mut seen = lock(&self.seen);
        match seen.get_mut(uid) {
            Some(last) => *last = now,
            None => {
                tracing::debug!(uid, "a new node in the cluster");
                seen.insert(uid.to_owned(), now);
            }
        }
    }

    /// A node said it leaves.
    pub(super) fn gone(&self, uid: &str) {
        lock(&self.seen).remove(uid);
    }

    /// The nodes heard from within the timeout.
    pub(super) fn live(&self) -> Vec<String> {
        let now = Instant::now();
        lock(&self.seen)
            .iter()
            .filter(|(_, last)| now.duration_since(**last) <= self.timeout)
            .map(|(uid, _)| uid.clone())
            .collect()
    }

    /// Forgets the nodes not heard from within the timeout; the uids forgotten.
    pub(super) fn prune(&self) -> Vec<String> {
        let now = Instant::now();
        let mut gone = Vec::new();
        lock(&self.seen).retain(|uid, last| {
            let alive = now.duration_since(*last) <= self.timeout;
            if !alive {
                gone.push(uid.clone());
            }
            alive
        });
        gone
    }
}

/// Starts the task that sends each listening namespace's heartbeat every heartbeat interval and
/// forgets silent nodes (checked every second, as Node does). It ends with the driver.
pub(super) fn spawn(driver: Weak<Driver>) {
    tokio::spawn(async move {
        let Some(interval) = driver.upgrade().map(|d| d.config.heartbeat_interval) else {
            return;
        };
        let mut tick = tokio::time::interval(interval.min(Duration::from_secs(1)));
        tick.reset();
        let mut last_beat = Instant::now();
        loop {
            tick.tick().await;
            let Some(driver) = driver.upgrade() else {
                return;
            };
            let beat = last_beat.elapsed() >= interval;
            if beat {
                last_beat = Instant::now();
            }
            for ns in driver.registry.all() {
                if beat && ns.listening.is_set() {
                    ns.publish_body(Body::Heartbeat);
                }
                for uid in ns.nodes.prune() {
                    tracing::debug!(uid, nsp = ns.nsp, "a node went silent; forgotten");
                    ns.requests.node_gone(&uid);
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn nodes_are_known_until_their_timeout_and_emitters_never() {
        let nodes = Nodes::new(Duration::from_millis(200));
        nodes.seen("a");
        nodes.seen(EMITTER_UID);
        assert_eq!(nodes.live(), vec!["a".to_string()]);
        tokio::time::sleep(Duration::from_millis(120)).await;
        nodes.seen("b");
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert_eq!(nodes.live(), vec!["b".to_string()]);
        assert_eq!(nodes.prune(), vec!["a".to_string()]);
        nodes.gone("b");
        assert!(nodes.live().is_empty());
    }
}
