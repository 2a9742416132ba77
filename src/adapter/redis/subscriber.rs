//! The subscriber side: one Redis server's connection (whose manager replays subscriptions by
//! itself; moved to the new master with Sentinel, where we replay them), or a Redis Cluster's,
//! where we place and replay them ourselves.

use std::collections::HashMap;
use std::sync::Arc;

use redis::RedisResult;
use redis::aio::MultiplexedConnection;

use super::cluster::{Addr, Pinned, PushFn, Target, Topology, slot};
use super::driver::Subscription;
use super::master::MasterConn;

/// Where subscriptions are made.
pub(crate) enum Subscriber {
    /// One Redis server: the connection manager subscribes again after reconnecting; with
    /// Sentinel, a connection moved to a new master has none, and `seen` tells.
    Single {
        conn: MasterConn,
        /// The generation of `conn` whose subscriptions were made.
        seen: u64,
    },
    /// A Redis Cluster.
    Cluster(ClusterSubscriber),
}

/// A cluster's subscriptions: channels and patterns on one connection to any master (Pub/Sub
/// reaches every node), each shard channel on the master of its slot, one per `SSUBSCRIBE` so
/// that none spans slots (`CROSSSLOT`).
pub(crate) struct ClusterSubscriber {
    topology: Arc<Topology>,
    push: PushFn,
    pinned: Pinned,
    /// The generation of `pinned` whose subscriptions were made.
    seen: u64,
    shards: HashMap<Addr, MultiplexedConnection>,
    /// Which node each shard channel is subscribed on.
    placed: HashMap<String, Addr>,
}

impl ClusterSubscriber {
    pub(crate) fn new(topology: Arc<Topology>, push: PushFn) -> ClusterSubscriber {
        ClusterSubscriber {
            pinned: Pinned::new(
                topology.clone(),
                Target::AnyMaster,
                Some(push.clone()),
                None,
            ),
            topology,
            push,
            seen: 0,
            shards: HashMap::new(),
            placed: HashMap::new(),
        }
    }

    async fn shard_conn(&mut self, addr: &Addr) -> RedisResult<MultiplexedConnection> {
        if let Some(conn) = self.shards.get(addr) {
            return Ok(conn.clone());
        }
        let conn = self.topology.connect(addr, Some(self.push.clone())).await?;
        self.shards.insert(addr.clone(), conn.clone());
        Ok(conn)
    }

    async fn shard(&mut self, channel: &str, on: bool) -> RedisResult<()> {
        if !on {
            if let Some(addr) = self.placed.remove(channel)
                && let Some(mut conn) = self.shards.get(&addr).cloned()
            {
                one("SUNSUBSCRIBE", channel, &mut conn).await?;
            }
            return Ok(());
        }
        let owner = match self.topology.owner(slot(channel.as_bytes())) {
            Some(owner) => owner,
            None => {
                self.topology.refresh().await?;
                self.topology
                    .owner(slot(channel.as_bytes()))
                    .ok_or_else(|| redis::RedisError::from((redis::ErrorKind::Io, "no master")))?
            }
        };
        let mut conn = self.shard_conn(&owner).await?;
        match one("SSUBSCRIBE", channel, &mut conn).await {
            Ok(()) => {
                self.placed.insert(channel.to_owned(), owner);
                Ok(())
            }
            Err(err) => {
                // A node gone, or `MOVED`: the next check asks for the slot map again.
                self.shards.remove(&owner);
                Err(err)
            }
        }
    }

    /// Asks for the slot map, checks every connection, and says which subscriptions must be made
    /// again: the channels and patterns when their connection was replaced, and every shard
    /// channel whose node is gone or no longer serves its slot (failover, resharding), which is
    /// then subscribed on its slot's master.
    async fn check(&mut self, wanted: &[Subscription]) -> RedisResult<Vec<Subscription>> {
        if let Err(err) = self.topology.refresh().await {
            tracing::debug!(error = %err, "Redis Cluster slot map not refreshed");
        }
        let mut again = Vec::new();
        let pubsub: Vec<&Subscription> = wanted
            .iter()
            .filter(|s| !matches!(s, Subscription::Shard(_)))
            .collect();
        if !pubsub.is_empty() {
            let mut pinned = self.pinned.clone();
            if ping(&mut pinned).await.is_err() {
                // The connection was dropped: the second PING connects to another master.
                ping(&mut pinned).await?;
            }
            let generation = self.pinned.generation();
            if generation != self.seen {
                self.seen = generation;
                again.extend(pubsub.into_iter().cloned());
            }
        }
        let mut dead = Vec::new();
        for (addr, conn) in &self.shards {
            if ping(&mut conn.clone()).await.is_err() {
                dead.push(addr.clone());
            }
        }
        for addr in &dead {
            self.shards.remove(addr);
        }
        let moved: Vec<(String, Addr)> = self
            .placed
            .iter()
            .filter(|(channel, addr)| {
                !self.shards.contains_key(*addr)
                    || self.topology.owner(slot(channel.as_bytes())).as_ref() != Some(*addr)
            })
            .map(|(c, a)| (c.clone(), a.clone()))
            .collect();
        for (channel, addr) in moved {
            self.placed.remove(&channel);
            if let Some(mut conn) = self.shards.get(&addr).cloned() {
                let _ = one("SUNSUBSCRIBE", &channel, &mut conn).await;
            }
            again.push(Subscription::Shard(channel));
        }
        Ok(again)
    }
}

async fn ping<C: redis::aio::ConnectionLike + Send>(conn: &mut C) -> RedisResult<()> {
    redis::cmd("PING")
        .query_async::<redis::Value>(conn)
        .await
        .map(drop)
}

/// One (un)subscription per command: its single confirmation is the command's reply.
async fn one<C: redis::aio::ConnectionLike + Send>(
    command: &str,
    channel: &str,
    conn: &mut C,
) -> RedisResult<()> {
    redis::cmd(command)
        .arg(channel)
        .query_async::<redis::Value>(conn)
        .await
        .map(drop)
}

impl Subscriber {
    /// Subscribes (`on`) or unsubscribes one subscription.
    pub(crate) async fn apply(&mut self, sub: &Subscription, on: bool) -> RedisResult<()> {
        match self {
            Subscriber::Single { conn, .. } => {
                let mut conn = conn.current();
                match (sub, on) {
                    (Subscription::Channel(c), true) => conn.subscribe(c).await,
                    (Subscription::Channel(c), false) => conn.unsubscribe(c).await,
                    (Subscription::Pattern(p), true) => conn.psubscribe(p).await,
                    (Subscription::Pattern(p), false) => conn.punsubscribe(p).await,
                    (Subscription::Shard(c), true) => one("SSUBSCRIBE", c, &mut conn).await,
                    (Subscription::Shard(c), false) => one("SUNSUBSCRIBE", c, &mut conn).await,
                }
            }
            Subscriber::Cluster(cluster) => {
                let mut pinned = cluster.pinned.clone();
                match (sub, on) {
                    (Subscription::Channel(c), true) => one("SUBSCRIBE", c, &mut pinned).await,
                    (Subscription::Channel(c), false) => one("UNSUBSCRIBE", c, &mut pinned).await,
                    (Subscription::Pattern(p), true) => one("PSUBSCRIBE", p, &mut pinned).await,
                    (Subscription::Pattern(p), false) => one("PUNSUBSCRIBE", p, &mut pinned).await,
                    (Subscription::Shard(c), on) => cluster.shard(c, on).await,
                }
            }
        }
    }

    /// Checks the connections (a `PING`, which also reconnects one that went down while idle)
    /// and says which of the `wanted` subscriptions must be made again.
    pub(crate) async fn check(
        &mut self,
        wanted: &[Subscription],
    ) -> RedisResult<Vec<Subscription>> {
        match self {
            Subscriber::Single { conn, seen } => {
                ping(conn).await?;
                // Moved to a new master (Sentinel): it has none of the subscriptions.
                let generation = conn.generation();
                if generation == *seen {
                    return Ok(Vec::new());
                }
                *seen = generation;
                Ok(wanted.to_vec())
            }
            Subscriber::Cluster(cluster) => cluster.check(wanted).await,
        }
    }

    /// Resolves when the connection moved to another master (Sentinel), so that the
    /// subscriptions are made again at once rather than at the next check; never otherwise.
    pub(crate) async fn moved(&self) {
        match self {
            Subscriber::Single { conn, .. } => conn.moved().await,
            Subscriber::Cluster(_) => std::future::pending().await,
        }
    }
}
