//! Where the nodes of a cluster without sticky sessions listen, learnt through the adapter.
//!
//! Each node announces `{node, addr}` once it serves forwarded requests (server-side event
//! [`ANNOUNCE`]). A node that meets a sid of a node it does not know asks every node at once
//! ([`QUERY`], a server-side emit with ack, which carries the asker's own entry too) and waits
//! at most [`QUERY_DEADLINE`]: the answer is then a known address or an unknown session within
//! about a second. Queries are made one at a time and at most once per [`QUERY_EVERY`], so
//! requests with forged sids cannot turn into a flood of cluster-wide queries.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock, RwLock, Weak};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::core::sync::{read, write};
use crate::engine::{NodeId, NodeLocator};
use crate::io::{ServerCore, SocketIo};

/// The server-side event a node announces itself with.
pub(crate) const ANNOUNCE: &str = "tsio:forwarding-node";
/// The server-side event (with ack) that asks every node where it listens.
pub(crate) const QUERY: &str = "tsio:forwarding-nodes";

/// How long a query waits for the other nodes' answers.
const QUERY_DEADLINE: Duration = Duration::from_millis(800);
/// The least time between two queries.
const QUERY_EVERY: Duration = Duration::from_millis(500);
/// The most nodes remembered (what other nodes send is bounded like any input).
const MAX_NODES: usize = 1024;

/// One node's entry, as it travels in server-side events.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct NodeEntry {
    node: NodeId,
    addr: SocketAddr,
}

/// The [`NodeLocator`] of a Socket.IO server: a table filled from the adapter.
#[derive(Default)]
pub(crate) struct AdapterLocator {
    core: OnceLock<Weak<ServerCore>>,
    me: OnceLock<NodeEntry>,
    nodes: RwLock<HashMap<NodeId, SocketAddr>>,
    /// When the last query was made; held while one is in flight (one at a time).
    last_query: tokio::sync::Mutex<Option<Instant>>,
    /// When this node last announced itself.
    last_announce: std::sync::Mutex<Option<Instant>>,
}

impl AdapterLocator {
    /// Ties the locator to its server and listens for the other nodes' events.
    pub(crate) fn attach(self: &Arc<Self>, io: &SocketIo) {
        let _ = self.core.set(Arc::downgrade(&io.0));
        let this = Arc::downgrade(self);
        io.on_server_side(ANNOUNCE, move |args| {
            if let Some(this) = this.upgrade() {
                this.learn_from(&args);
            }
            None
        });
        let this = Arc::downgrade(self);
        io.on_server_side(QUERY, move |args| {
            let this = this.upgrade()?;
            this.learn_from(&args);
            // The answer is lost if another node does not answer in time (a query that times
            // out brings nothing back): the announce reaches the asker regardless.
            this.announce();
            this.me.get().and_then(|me| serde_json::to_value(me).ok())
        });
    }

    /// Tells every node where this one listens, at most once per [`QUERY_EVERY`].
    fn announce(&self) {
        let Some(entry) = self.me.get() else {
            return;
        };
        {
            let mut last = self.last_announce.lock().unwrap_or_else(|p| p.into_inner());
            if last.is_some_and(|at| at.elapsed() < QUERY_EVERY) {
                return;
            }
            *last = Some(Instant::now());
        }
        if let Some(io) = self.io()
            && let Err(error) = io.server_side_emit(ANNOUNCE, entry)
        {
            tracing::debug!(%error, "node announce failed");
        }
    }

    fn io(&self) -> Option<SocketIo> {
        self.core.get()?.upgrade().map(SocketIo::from_core)
    }

    /// Records the entries found in a list of JSON values; junk is logged and skipped.
    fn learn_from(&self, values: &[serde_json::Value]) {
        for value in values {
            match NodeEntry::deserialize(value) {
                Ok(entry) => self.learn(entry),
                Err(error) => tracing::debug!(%error, "junk node entry ignored"),
            }
        }
    }

    fn learn(&self, entry: NodeEntry) {
        if self.me.get().is_some_and(|me| me.node == entry.node) {
            return;
        }
        let mut nodes = write(&self.nodes);
        if nodes.len() >= MAX_NODES && !nodes.contains_key(&entry.node) {
            tracing::warn!(node = %entry.node, "node table full: entry ignored");
            return;
        }
        nodes.insert(entry.node, entry.addr);
    }

    /// Asks every node where it listens, unless a query was made very recently (then the
    /// table is as fresh as it gets).
    async fn query(&self) {
        let mut last = self.last_query.lock().await;
        if last.is_some_and(|at| at.elapsed() < QUERY_EVERY) {
            return;
        }
        *last = Some(Instant::now());
        let Some(io) = self.io() else {
            return;
        };
        // The asker's own entry rides along, so every node learns it for free.
        let me: Vec<serde_json::Value> = self
            .me
            .get()
            .and_then(|me| serde_json::to_value(me).ok())
            .into_iter()
            .collect();
        let asked = io
            .timeout(QUERY_DEADLINE)
            .server_side_emit(QUERY.to_owned(), me);
        match asked.await {
            Ok(answers) => self.learn_from(&answers),
            // A timeout still brings no answers: the nodes that did answer are in neither case
            // lost for long, the next query will ask again.
            Err(error) => tracing::debug!(%error, "node query failed"),
        }
    }
}

impl NodeLocator for AdapterLocator {
    fn locate(
        &self,
        node: NodeId,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Option<SocketAddr>> + Send + '_>> {
        Box::pin(async move {
            if let Some(addr) = read(&self.nodes).get(&node) {
                return Some(*addr);
            }
            self.query().await;
            read(&self.nodes).get(&node).copied()
        })
    }

    fn started(&self, node: NodeId, advertised: SocketAddr) {
        let entry = NodeEntry {
            node,
            addr: advertised,
        };
        let _ = self.me.set(entry);
        self.announce();
    }

    fn unreachable(&self, node: NodeId) {
        write(&self.nodes).remove(&node);
    }
}
