//! The publishing and command connections, to one Redis server or a Redis Cluster, behind one
//! type: where the driver and the transport send what they send.

use std::sync::Arc;

use redis::aio::ConnectionLike;
use redis::{RedisFuture, RedisResult, Value};

use super::cluster::{Pinned, Pool, Route, Target, Topology, slot};
use super::driver::{Command, Outgoing, StreamTarget, add_command, parse_numsub, pipeline};
use super::live::SessionWrite;
use super::master::MasterConn;
use super::{RedisAdapterConfig, RedisAdapterError, RedisMode};
use crate::core::error::AdapterError;

/// The connection that publishes and runs commands.
#[derive(Clone)]
pub(crate) enum Commands {
    /// One Redis server (the master Sentinel names, with Sentinel), one multiplexed connection.
    Single(MasterConn),
    /// A Redis Cluster: one connection per node, and the home connection.
    Cluster(Arc<Pool>),
}

/// A batch ready to send (numbered once: a retry sends the same stream entries).
pub(crate) enum Prepared {
    Single(redis::Pipeline),
    /// One pipeline per route, each with its answers once sent.
    Cluster(Vec<(Route, redis::Pipeline, Option<Vec<Value>>)>),
}

impl Commands {
    /// The command connections to a Redis Cluster (`config.seeds`): the home connection goes to
    /// any master, or in streams mode to the stream's master.
    pub(crate) async fn cluster(
        config: &RedisAdapterConfig,
    ) -> Result<Commands, RedisAdapterError> {
        let topology = Topology::discover(&config.seeds).await?;
        let home = match config.mode {
            RedisMode::Streams => Target::Slot(slot(config.streams.stream_name.as_bytes())),
            _ => Target::AnyMaster,
        };
        let pool = Arc::new(Pool::new(topology, home));
        // Fail now, as with one server, when no node takes a connection.
        pool.run(Route::Home, redis::pipe().cmd("PING"))
            .await
            .map_err(|e| RedisAdapterError::Connect(e.to_string()))?;
        Ok(Commands::Cluster(pool))
    }

    /// A batch's commands: one pipeline for one server; on a cluster, one per route, each in
    /// the batch's order (`PUBLISH` and `XADD` on the home connection, `SPUBLISH` on its slot's
    /// master).
    pub(crate) fn prepare(&self, batch: &[Outgoing], stream: &mut StreamTarget) -> Prepared {
        if let Commands::Single(_) = self {
            return Prepared::Single(pipeline(batch, stream));
        }
        let mut groups: Vec<(Route, redis::Pipeline, Option<Vec<Value>>)> = Vec::new();
        for message in batch {
            let route = match &message.command {
                Command::Publish {
                    channel,
                    sharded: true,
                    ..
                } => Route::Slot(slot(channel.as_bytes())),
                _ => Route::Home,
            };
            let index = match groups.iter().position(|(r, _, _)| *r == route) {
                Some(index) => index,
                None => {
                    groups.push((route, redis::pipe(), None));
                    groups.len() - 1
                }
            };
            add_command(&mut groups[index].1, message, stream);
        }
        Prepared::Cluster(groups)
    }

    /// Sends a prepared batch; the answers (the `XADD` ids) in order. On a cluster, the routes
    /// that went through are not sent again when the others are retried.
    pub(crate) async fn send(&self, prepared: &mut Prepared) -> RedisResult<Vec<Value>> {
        match (self, prepared) {
            (Commands::Single(conn), Prepared::Single(pipe)) => {
                pipe.query_async(&mut conn.clone()).await
            }
            (Commands::Cluster(pool), Prepared::Cluster(groups)) => {
                let pending = groups
                    .iter_mut()
                    .filter(|(_, _, answers)| answers.is_none())
                    .map(|(route, pipe, answers)| async move {
                        let result = pool.run(*route, pipe).await;
                        result.map(|values| *answers = Some(values))
                    });
                let results = futures_util::future::join_all(pending).await;
                results.into_iter().collect::<RedisResult<Vec<()>>>()?;
                // Only `XADD`s answer, and they all go home.
                Ok(groups
                    .iter_mut()
                    .filter(|(route, _, _)| *route == Route::Home)
                    .flat_map(|(_, _, answers)| answers.take().unwrap_or_default())
                    .collect())
            }
            _ => Err(redis::RedisError::from((
                redis::ErrorKind::Client,
                "a batch prepared for another connection",
            ))),
        }
    }

    /// Runs a pipeline where `route` says (one server: there).
    pub(crate) async fn run(
        &self,
        route: Route,
        pipe: &redis::Pipeline,
    ) -> RedisResult<Vec<Value>> {
        match self {
            Commands::Single(conn) => pipe.query_async(&mut conn.clone()).await,
            Commands::Cluster(pool) => pool.run(route, pipe).await,
        }
    }

    /// How many connections listen on `channel`. On a cluster a subscriber is counted by the
    /// node it is connected to: `PUBSUB SHARDNUMSUB` of the shard channel's master, or the sum
    /// of `PUBSUB NUMSUB` over every node that answers.
    pub(crate) async fn numsub(&self, channel: &str, sharded: bool) -> Result<usize, AdapterError> {
        let mut pipe = redis::pipe();
        pipe.cmd("PUBSUB")
            .arg(if sharded { "SHARDNUMSUB" } else { "NUMSUB" })
            .arg(channel);
        let count = |values: Vec<Value>| {
            values.first().and_then(parse_numsub).ok_or_else(|| {
                AdapterError::transport(format!("unexpected PUBSUB NUMSUB answer: {values:?}"))
            })
        };
        let routes: Vec<Route> = match self {
            Commands::Cluster(pool) if !sharded => {
                (0..pool.topology.nodes().len()).map(Route::Node).collect()
            }
            _ => vec![Route::Slot(slot(channel.as_bytes()))],
        };
        let mut total = 0;
        let mut answered = false;
        let mut last_err = None;
        for route in routes {
            match self.run(route, &pipe).await {
                Ok(values) => {
                    total += count(values)?;
                    answered = true;
                }
                // A node that is down has no subscribers.
                Err(err) => last_err = Some(err),
            }
        }
        match (answered, last_err) {
            (false, Some(err)) => Err(AdapterError::transport(err)),
            _ => Ok(total),
        }
    }

    /// Session keys written and deleted, in order per key, each on its slot's master.
    pub(crate) async fn write_sessions(&self, writes: Vec<SessionWrite>) -> RedisResult<()> {
        let mut groups: Vec<(Route, redis::Pipeline)> = Vec::new();
        for write in writes {
            let key = match &write {
                SessionWrite::Put { key, .. } | SessionWrite::Delete { key } => key,
            };
            let route = match self {
                Commands::Single(_) => Route::Home,
                Commands::Cluster(_) => Route::Slot(slot(key.as_bytes())),
            };
            let index = match groups.iter().position(|(r, _)| *r == route) {
                Some(index) => index,
                None => {
                    groups.push((route, redis::pipe()));
                    groups.len() - 1
                }
            };
            let pipe = &mut groups[index].1;
            match write {
                SessionWrite::Put { key, value, ttl_ms } => {
                    pipe.cmd("SET")
                        .arg(key)
                        .arg(value)
                        .arg("PX")
                        .arg(ttl_ms)
                        .ignore();
                }
                SessionWrite::Delete { key } => {
                    pipe.cmd("DEL").arg(key).ignore();
                }
            }
        }
        for (route, pipe) in groups {
            self.run(route, &pipe).await?;
        }
        Ok(())
    }

    /// `GETDEL <key>` and `XRANGE <stream> <id> <id>`: one round trip on one server; on a
    /// cluster, each on its slot's master.
    pub(crate) async fn take_and_find(
        &self,
        key: String,
        stream: &str,
        id: &str,
    ) -> RedisResult<(Option<Vec<u8>>, Value)> {
        let mut getdel = redis::pipe();
        getdel.cmd("GETDEL").arg(&key);
        let mut xrange = redis::pipe();
        xrange.cmd("XRANGE").arg(stream).arg(id).arg(id);
        if let Commands::Single(conn) = self {
            getdel.cmd("XRANGE").arg(stream).arg(id).arg(id);
            return getdel.query_async(&mut conn.clone()).await;
        }
        let taken = self.run(Route::Slot(slot(key.as_bytes())), &getdel).await?;
        let found = self.run(Route::Home, &xrange).await?;
        let taken = match taken.into_iter().next() {
            Some(Value::BulkString(bytes)) => Some(bytes),
            _ => None,
        };
        Ok((taken, found.into_iter().next().unwrap_or(Value::Nil)))
    }

    /// One command about the stream, on its master.
    pub(crate) async fn stream_command<T: redis::FromRedisValue>(
        &self,
        cmd: redis::Cmd,
    ) -> RedisResult<T> {
        let mut pipe = redis::pipe();
        pipe.add_command(cmd);
        let values = self.run(Route::Home, &pipe).await?;
        Ok(redis::from_redis_value(
            values.into_iter().next().unwrap_or(Value::Nil),
        )?)
    }
}

/// The stream reader's own connection.
#[derive(Clone)]
pub(crate) enum Reader {
    Single(MasterConn),
    /// On the stream's master, wherever it moves.
    Cluster(Pinned),
}

impl ConnectionLike for Reader {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a redis::Cmd) -> RedisFuture<'a, Value> {
        match self {
            Reader::Single(conn) => conn.req_packed_command(cmd),
            Reader::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Reader::Single(conn) => conn.req_packed_commands(pipeline, offset, count),
            Reader::Cluster(conn) => conn.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Reader::Single(conn) => conn.get_db(),
            Reader::Cluster(conn) => conn.get_db(),
        }
    }
}
