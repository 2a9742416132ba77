//! The Redis backend: one connection that reconnects by itself, `PUBLISH` (or `SPUBLISH`) and
//! `XADD`; on a Redis Cluster, the adapter's routing (`PUBLISH` and `XADD` on one connection,
//! `SPUBLISH` on the channel's master).

use std::time::Duration;

use bytes::Bytes;
use redis::aio::ConnectionManagerConfig;

use super::{BackendFuture, Emitter, EmitterBackend, EmitterError, EmitterFormat};
use crate::adapter::redis::cluster::{Route, slot};
use crate::adapter::redis::conns::Commands;
use crate::adapter::redis::master::Master;
use crate::adapter::redis::{RedisAdapterConfig, RedisAdapterError, RedisMode};

/// Publishes on one Redis connection, which reconnects with backoff when Redis goes away (and
/// follows the master with Sentinel). One multiplexed connection keeps the order in which
/// commands are sent (on a cluster, one per route).
struct RedisBackend {
    conn: Commands,
    /// With Sentinel, the task that follows the master.
    follower: Option<tokio::task::AbortHandle>,
    /// `SPUBLISH` rather than `PUBLISH` (the sharded format).
    sharded: bool,
}

fn manager_config() -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_number_of_retries(4)
        .set_min_delay(Duration::from_millis(50))
        .set_max_delay(Duration::from_secs(1))
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_secs(3)))
}

impl Drop for RedisBackend {
    fn drop(&mut self) {
        if let Some(follower) = &self.follower {
            follower.abort();
        }
    }
}

impl EmitterBackend for RedisBackend {
    fn publish(&self, channel: String, payload: Bytes) -> BackendFuture<'_> {
        let (command, route) = if self.sharded {
            ("SPUBLISH", Route::Slot(slot(channel.as_bytes())))
        } else {
            ("PUBLISH", Route::Home)
        };
        let mut pipe = redis::pipe();
        pipe.cmd(command).arg(channel).arg(payload.as_ref());
        Box::pin(async move {
            self.conn
                .run(route, &pipe)
                .await
                .map(drop)
                .map_err(EmitterError::backend)
        })
    }

    fn append(
        &self,
        stream: String,
        max_len: u64,
        fields: Vec<(&'static str, Bytes)>,
    ) -> BackendFuture<'_> {
        Box::pin(async move {
            let mut command = redis::cmd("XADD");
            command
                .arg(stream)
                .arg("MAXLEN")
                .arg("~")
                .arg(max_len)
                .arg("*");
            for (field, value) in &fields {
                command.arg(*field).arg(value.as_ref());
            }
            let mut pipe = redis::pipe();
            pipe.add_command(command);
            self.conn
                .run(Route::Home, &pipe)
                .await
                .map(drop)
                .map_err(EmitterError::backend)
        })
    }
}

impl Emitter {
    /// Connects to Redis and returns an emitter that writes what servers with this adapter
    /// configuration read: give it the servers' [`RedisAdapterConfig`] (its URL, sentinels or
    /// seeds, prefix, mode and stream name count; the options about listening do not). A
    /// [`RedisAdapterConfig::cluster`] configuration reaches a Redis Cluster. Must run inside a
    /// Tokio runtime.
    ///
    /// ```no_run
    /// use tower_socketio::adapter::redis::{RedisAdapterConfig, SubscriptionMode};
    /// use tower_socketio::emitter::Emitter;
    ///
    /// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
    /// let config = RedisAdapterConfig::new("redis://127.0.0.1").sharded(SubscriptionMode::Dynamic);
    /// let emitter = Emitter::redis(config).await?;
    /// emitter.to("room1").emit("hello", &()).await?;
    /// # Ok(()) }
    /// ```
    pub async fn redis(config: RedisAdapterConfig) -> Result<Emitter, RedisAdapterError> {
        let (conn, follower) = if config.seeds.is_empty() {
            let mut master = Master::resolve(&config).await?;
            let conn = master.connect(manager_config()).await?;
            (Commands::Single(conn), master.follow())
        } else {
            (Commands::cluster(&config).await?, None)
        };
        let backend = RedisBackend {
            conn,
            follower,
            sharded: matches!(config.mode, RedisMode::Sharded(_)),
        };
        Ok(Emitter::new(backend, EmitterFormat::redis(&config)))
    }
}
