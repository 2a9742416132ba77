//! The connections to the Redis master: at a fixed URL, or wherever Redis Sentinel says it is.
//!
//! Every connection of the adapter (and of the emitter) is a [`MasterConn`]: a handle on a
//! `ConnectionManager`, which reconnects by itself to the address it was made for. With a fixed
//! URL that is all. With Sentinel, a watch task checks once per [`CHECK_INTERVAL`] that the
//! Redis it talks to still says it is the master (`ROLE`); when it does not answer, or answers
//! that it is a replica, the task asks the sentinels for the master (the `redis` crate's
//! `Sentinel`, which also checks the master's `ROLE`), and once they name another one, it makes
//! a new manager for each handle on the new master and puts it in place. Commands after that go
//! to the new master; commands in flight on the old one fail (or time out) as on any lost
//! connection, so nothing waits for a master that is gone. Subscriptions live on a
//! connection: the subscriber notices the new [`generation`](MasterConn::generation) and
//! subscribes again.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::sentinel::{Sentinel, SentinelNodeConnectionInfo};
use redis::{
    Cmd, ConnectionAddr, IntoConnectionInfo, Pipeline, ProtocolVersion, RedisFuture, Value,
};

use super::{RedisAdapterConfig, RedisAdapterError};
use crate::core::sync::{lock, read, write};

/// How often the watch task checks that the master is still the master.
const CHECK_INTERVAL: Duration = Duration::from_millis(500);
/// How long that check (`ROLE`) may take before the master counts as unreachable.
const CHECK_TIMEOUT: Duration = Duration::from_secs(1);
/// How long asking the sentinels, or connecting to a new master, may take.
const SWITCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the master is: Sentinel's options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SentinelOptions {
    /// The sentinels' URLs (`redis://host:port`).
    pub(crate) sentinels: Vec<String>,
    /// The name the sentinels know the master by (`sentinel monitor <name> ...`).
    pub(crate) master_name: String,
}

/// One connection: its current manager and the Redis it is on, how to make another, and how
/// many times it was moved.
struct Slot {
    manager: RwLock<ConnectionManager>,
    on: Mutex<ConnectionAddr>,
    config: ConnectionManagerConfig,
    generation: AtomicU64,
    /// Told each time the connection moves (a permit is kept when nobody waits).
    moved: tokio::sync::Notify,
}

/// A connection to the master, which follows it when Sentinel names another. Cheap to clone;
/// clones share the connection.
#[derive(Clone)]
pub(crate) struct MasterConn(Arc<Slot>);

impl MasterConn {
    /// The manager commands go through now.
    pub(crate) fn current(&self) -> ConnectionManager {
        read(&self.0.manager).clone()
    }

    /// How many times the connection moved to another master (0 until it does).
    pub(crate) fn generation(&self) -> u64 {
        self.0.generation.load(Ordering::Acquire)
    }

    /// Resolves when the connection moved to another master (at once if it moved since the
    /// last call): for the one task that has something to redo then.
    pub(crate) async fn moved(&self) {
        self.0.moved.notified().await;
    }
}

impl ConnectionLike for MasterConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        let mut manager = self.current();
        Box::pin(async move { manager.req_packed_command(cmd).await })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        let mut manager = self.current();
        Box::pin(async move { manager.req_packed_commands(pipeline, offset, count).await })
    }

    fn get_db(&self) -> i64 {
        self.current().get_db()
    }
}

/// The sentinels and what the watch task needs to ask them.
struct Watch {
    sentinel: Sentinel,
    master_name: String,
    node: SentinelNodeConnectionInfo,
}

/// Makes the connections of one server (or emitter) to the master, and with Sentinel follows
/// it.
pub(crate) struct Master {
    /// The master's client now (RESP3: subscriptions are push messages on the connection).
    client: redis::Client,
    watch: Option<Watch>,
    slots: Vec<Weak<Slot>>,
}

impl Master {
    /// Finds the master: `config`'s URL, or the one the sentinels name.
    pub(crate) async fn resolve(config: &RedisAdapterConfig) -> Result<Master, RedisAdapterError> {
        let Some(options) = &config.sentinel else {
            let info = config
                .url
                .as_str()
                .into_connection_info()
                .map_err(|e| RedisAdapterError::InvalidUrl(e.to_string()))?;
            let settings = info
                .redis_settings()
                .clone()
                .set_protocol(ProtocolVersion::RESP3);
            let client = redis::Client::open(info.set_redis_settings(settings))
                .map_err(|e| RedisAdapterError::InvalidUrl(e.to_string()))?;
            return Ok(Master {
                client,
                watch: None,
                slots: Vec::new(),
            });
        };
        let sentinel = Sentinel::build(options.sentinels.clone())
            .map_err(|e| RedisAdapterError::InvalidUrl(e.to_string()))?;
        // The master's settings come from the first sentinel URL's (user, password, db).
        let mut settings = redis::RedisConnectionInfo::default();
        if let Some(first) = options.sentinels.first()
            && let Ok(info) = first.as_str().into_connection_info()
        {
            settings = info.redis_settings().clone();
        }
        let node = SentinelNodeConnectionInfo::default()
            .set_redis_connection_info(settings.set_protocol(ProtocolVersion::RESP3));
        let mut watch = Watch {
            sentinel,
            master_name: options.master_name.clone(),
            node,
        };
        let client = match tokio::time::timeout(SWITCH_TIMEOUT, watch.ask()).await {
            Ok(Ok(client)) => client,
            Ok(Err(err)) => return Err(RedisAdapterError::Connect(err.to_string())),
            Err(_) => {
                return Err(RedisAdapterError::Connect(format!(
                    "the sentinels did not name master {:?} within {SWITCH_TIMEOUT:?}",
                    options.master_name
                )));
            }
        };
        Ok(Master {
            client,
            watch: Some(watch),
            slots: Vec::new(),
        })
    }

    /// A new connection to the master, with these manager settings.
    pub(crate) async fn connect(
        &mut self,
        config: ConnectionManagerConfig,
    ) -> Result<MasterConn, RedisAdapterError> {
        let manager = ConnectionManager::new_with_config(self.client.clone(), config.clone())
            .await
            .map_err(|e| RedisAdapterError::Connect(e.to_string()))?;
        let slot = Arc::new(Slot {
            manager: RwLock::new(manager),
            on: Mutex::new(self.client.get_connection_info().addr().clone()),
            config,
            generation: AtomicU64::new(0),
            moved: tokio::sync::Notify::new(),
        });
        self.slots.push(Arc::downgrade(&slot));
        Ok(MasterConn(slot))
    }

    /// With Sentinel, starts following the master (the task ends once every connection made
    /// here is dropped); without, nothing to do.
    pub(crate) fn follow(self) -> Option<tokio::task::AbortHandle> {
        let watch = self.watch?;
        let follower = Follower {
            client: self.client,
            watch,
            slots: self.slots,
        };
        Some(tokio::spawn(follower.run()).abort_handle())
    }
}

impl Watch {
    /// The master the sentinels name, checked with `ROLE`.
    async fn ask(&mut self) -> redis::RedisResult<redis::Client> {
        self.sentinel
            .async_master_for(&self.master_name, Some(&self.node))
            .await
    }
}

/// The watch task's state.
struct Follower {
    client: redis::Client,
    watch: Watch,
    slots: Vec<Weak<Slot>>,
}

impl Follower {
    async fn run(mut self) {
        let mut tick = tokio::time::interval(CHECK_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            self.slots.retain(|slot| slot.strong_count() > 0);
            let slots: Vec<Arc<Slot>> = self.slots.iter().filter_map(Weak::upgrade).collect();
            let Some(first) = slots.first() else { return };
            if !still_master(&MasterConn(first.clone())).await {
                self.ask().await;
            }
            let master = self.client.get_connection_info().addr().clone();
            for slot in &slots {
                if *lock(&slot.on) != master {
                    self.move_slot(slot, &master).await;
                }
            }
        }
    }

    /// Asks the sentinels for the master; when they name another, it becomes the one to
    /// follow.
    async fn ask(&mut self) {
        let client = match tokio::time::timeout(SWITCH_TIMEOUT, self.watch.ask()).await {
            Ok(Ok(client)) => client,
            Ok(Err(err)) => {
                return tracing::debug!(error = %err, "the sentinels name no reachable master yet");
            }
            Err(_) => return tracing::debug!("the sentinels did not answer in time"),
        };
        let named = client.get_connection_info().addr();
        if named != self.client.get_connection_info().addr() {
            tracing::warn!(master = %named, "Redis Sentinel named a new master: moving to it");
            self.client = client;
        }
    }

    /// Puts a manager on `master` in place of the slot's (tried again at the next check when
    /// it fails).
    async fn move_slot(&self, slot: &Slot, master: &ConnectionAddr) {
        let made = ConnectionManager::new_with_config(self.client.clone(), slot.config.clone());
        match tokio::time::timeout(SWITCH_TIMEOUT, made).await {
            Ok(Ok(manager)) => {
                *write(&slot.manager) = manager;
                *lock(&slot.on) = master.clone();
                slot.generation.fetch_add(1, Ordering::AcqRel);
                slot.moved.notify_one();
            }
            Ok(Err(err)) => tracing::debug!(error = %err, "connecting to the new master failed"),
            Err(_) => tracing::debug!("connecting to the new master took too long"),
        }
    }
}

/// Whether the Redis behind `conn` answers `ROLE` with `master`, in time.
async fn still_master(conn: &MasterConn) -> bool {
    let mut manager = conn.current();
    let command = redis::cmd("ROLE");
    let role = command.query_async::<redis::Role>(&mut manager);
    matches!(
        tokio::time::timeout(CHECK_TIMEOUT, role).await,
        Ok(Ok(redis::Role::Primary { .. }))
    )
}
