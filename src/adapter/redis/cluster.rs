//! Redis Cluster: the slot map, connections to single nodes, and where each command goes.
//!
//! We route ourselves over the `redis` crate's single-node connections rather than use its
//! `cluster-async` client, for two reasons found in its 1.8 source. Its router sends a keyless
//! `PUBLISH` by the hash of its channel, so one node's broadcasts to a namespace and to a room
//! would travel through different masters and could arrive out of order; the classic mode needs
//! all of them on one connection. And after a topology change it resubscribes a node's shard
//! channels in one `SSUBSCRIBE` spanning slots, which Redis refuses with `CROSSSLOT` (the very
//! failure that leaves Node's sharded adapter deaf); we subscribe each shard channel by itself.
//!
//! - [`Topology`] keeps the slot map (`CLUSTER SLOTS`), asked of any node that answers: the
//!   known nodes first, then the seeds.
//! - [`Pinned`] is one connection to one node, chosen by a [`Target`] (any master, or the
//!   master of a slot), that moves to another node after any error: the classic subscriber
//!   and the stream reader.
//! - [`Pool`] holds one multiplexed connection per node and routes each command: the
//!   publisher, and the commands of every mode.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{
    AsyncConnectionConfig, ConnectionAddr, IntoConnectionInfo, ProtocolVersion, PushInfo,
    RedisConnectionInfo, RedisFuture, RedisResult, Value,
};

use super::RedisAdapterError;
use crate::core::sync::{lock, read, write};

/// How many hash slots a Redis Cluster has.
const SLOTS: u16 = 16_384;
/// How long connecting to one node may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// Hands a push message (a subscribed message) on; `Err` once nobody listens.
pub(crate) type PushFn = Arc<dyn Fn(PushInfo) -> Result<(), ()> + Send + Sync>;

/// The slot of a key or shard channel: CRC16 (XMODEM) of the key, or of its `{hash tag}` when it
/// has a non-empty one, modulo 16 384.
pub(crate) fn slot(key: &[u8]) -> u16 {
    let tagged = key
        .iter()
        .position(|&b| b == b'{')
        .and_then(|open| {
            let rest = &key[open + 1..];
            rest.iter()
                .position(|&b| b == b'}')
                .map(|close| &rest[..close])
        })
        .filter(|tag| !tag.is_empty());
    crc16(tagged.unwrap_or(key)) % SLOTS
}

fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in data {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// A node's `host:port`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Addr {
    host: String,
    port: u16,
}

impl std::fmt::Display for Addr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

#[derive(Debug, Default)]
struct SlotMap {
    /// `(first slot, last slot, master)`, sorted.
    ranges: Vec<(u16, u16, Addr)>,
    /// Every node the map names, masters first.
    nodes: Vec<Addr>,
    masters: usize,
}

/// What the cluster looks like, as last asked.
pub(crate) struct Topology {
    seeds: Vec<Addr>,
    /// Credentials and protocol (RESP3) shared by every node.
    settings: RedisConnectionInfo,
    map: RwLock<SlotMap>,
    /// The connection the slot map was last read on, kept for the next read (subscribers read
    /// it every second).
    probe: Mutex<Option<(Addr, MultiplexedConnection)>>,
    /// Spreads the nodes that pick "any master" over the masters.
    rotation: AtomicUsize,
}

impl std::fmt::Debug for Topology {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Topology")
            .field("seeds", &self.seeds)
            .finish_non_exhaustive()
    }
}

impl Topology {
    /// Parses the seed URLs (their credentials are used for every node) and asks the first
    /// seed that answers for the slot map.
    pub(crate) async fn discover(seeds: &[String]) -> Result<Arc<Topology>, RedisAdapterError> {
        let mut addrs = Vec::new();
        let mut settings = None;
        for seed in seeds {
            let info = seed
                .as_str()
                .into_connection_info()
                .map_err(|e| RedisAdapterError::InvalidUrl(e.to_string()))?;
            let ConnectionAddr::Tcp(host, port) = info.addr() else {
                return Err(RedisAdapterError::InvalidUrl(format!(
                    "{seed}: a cluster seed must be a redis:// TCP address"
                )));
            };
            addrs.push(Addr {
                host: host.clone(),
                port: *port,
            });
            settings.get_or_insert_with(|| info.redis_settings().clone());
        }
        let settings = settings
            .ok_or_else(|| RedisAdapterError::InvalidUrl("no cluster seed node".into()))?
            .set_protocol(ProtocolVersion::RESP3);
        let topology = Arc::new(Topology {
            seeds: addrs,
            settings,
            map: RwLock::new(SlotMap::default()),
            probe: Mutex::new(None),
            rotation: AtomicUsize::new(rand_start()),
        });
        topology
            .refresh()
            .await
            .map_err(|e| RedisAdapterError::Connect(format!("no cluster seed answered: {e}")))?;
        Ok(topology)
    }

    /// Asks the known nodes, then the seeds, for `CLUSTER SLOTS` until one answers with a map
    /// that covers slots.
    pub(crate) async fn refresh(&self) -> RedisResult<()> {
        let probe = lock(&self.probe).take();
        let mut candidates = read(&self.map).nodes.clone();
        for seed in &self.seeds {
            if !candidates.contains(seed) {
                candidates.push(seed.clone());
            }
        }
        let mut attempts: Vec<(Addr, Option<MultiplexedConnection>)> = probe
            .map(|(addr, conn)| (addr, Some(conn)))
            .into_iter()
            .collect();
        attempts.extend(candidates.into_iter().map(|addr| (addr, None)));
        let mut last_err = None;
        for (addr, conn) in attempts {
            let answer = async {
                let mut conn = match conn {
                    Some(conn) => conn,
                    None => self.connect(&addr, None).await?,
                };
                let value = redis::cmd("CLUSTER")
                    .arg("SLOTS")
                    .query_async::<Value>(&mut conn)
                    .await?;
                Ok::<_, redis::RedisError>((value, conn))
            };
            match answer.await {
                Ok((value, conn)) => match parse_slots(&value, &addr) {
                    Some(map) if !map.ranges.is_empty() => {
                        *write(&self.map) = map;
                        *lock(&self.probe) = Some((addr, conn));
                        return Ok(());
                    }
                    _ => tracing::debug!(node = %addr, "CLUSTER SLOTS answer without slots"),
                },
                Err(err) => last_err = Some(err),
            }
        }
        Err(last_err.unwrap_or_else(|| {
            redis::RedisError::from((redis::ErrorKind::Io, "no cluster node has a slot map"))
        }))
    }

    /// The master serving `slot`.
    pub(crate) fn owner(&self, slot: u16) -> Option<Addr> {
        let map = read(&self.map);
        map.ranges
            .iter()
            .find(|(first, last, _)| (*first..=*last).contains(&slot))
            .map(|(_, _, addr)| addr.clone())
    }

    /// Every master, starting from a different one at each call.
    pub(crate) fn masters(&self) -> Vec<Addr> {
        let map = read(&self.map);
        let mut masters = map.nodes[..map.masters].to_vec();
        if !masters.is_empty() {
            let start = self.rotation.fetch_add(1, Ordering::Relaxed) % masters.len();
            masters.rotate_left(start);
        }
        masters
    }

    /// Every node, masters and replicas.
    pub(crate) fn nodes(&self) -> Vec<Addr> {
        read(&self.map).nodes.clone()
    }

    /// A new RESP3 connection to one node, its pushes handed to `push`.
    pub(crate) async fn connect(
        &self,
        addr: &Addr,
        push: Option<PushFn>,
    ) -> RedisResult<MultiplexedConnection> {
        let info = ConnectionAddr::Tcp(addr.host.clone(), addr.port)
            .into_connection_info()?
            .set_redis_settings(self.settings.clone());
        let client = redis::Client::open(info)?;
        let mut config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(Duration::from_secs(3)));
        if let Some(push) = push {
            config = config.set_push_sender(move |info: PushInfo| push(info));
        }
        client
            .get_multiplexed_async_connection_with_config(&config)
            .await
    }
}

fn rand_start() -> usize {
    // Any start will do; the clock's nanoseconds differ between the nodes of a cluster.
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as usize)
        .unwrap_or(0)
}

/// `CLUSTER SLOTS`: `[[first, last, [host, port, id, …], [replica host, port, …]…]…]`. An empty
/// host means the node that answered.
fn parse_slots(value: &Value, asked: &Addr) -> Option<SlotMap> {
    let Value::Array(ranges) = value else {
        return None;
    };
    let mut map = SlotMap::default();
    let mut replicas = Vec::new();
    for range in ranges {
        let Value::Array(items) = range else {
            return None;
        };
        let (Some(Value::Int(first)), Some(Value::Int(last))) = (items.first(), items.get(1))
        else {
            return None;
        };
        let mut nodes = items[2..].iter().filter_map(|node| parse_node(node, asked));
        let master = nodes.next()?;
        map.ranges.push((
            u16::try_from(*first).ok()?,
            u16::try_from(*last).ok()?,
            master.clone(),
        ));
        if !map.nodes.contains(&master) {
            map.nodes.push(master);
        }
        replicas.extend(nodes);
    }
    map.masters = map.nodes.len();
    for replica in replicas {
        if !map.nodes.contains(&replica) {
            map.nodes.push(replica);
        }
    }
    map.ranges.sort_by_key(|(first, _, _)| *first);
    Some(map)
}

fn parse_node(value: &Value, asked: &Addr) -> Option<Addr> {
    let Value::Array(fields) = value else {
        return None;
    };
    let host = match fields.first()? {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok()?,
        Value::SimpleString(s) => s.clone(),
        _ => return None,
    };
    let Value::Int(port) = fields.get(1)? else {
        return None;
    };
    let host = if host.is_empty() || host == "?" {
        asked.host.clone()
    } else {
        host
    };
    Some(Addr {
        host,
        port: u16::try_from(*port).ok()?,
    })
}

/// Which node a [`Pinned`] connection talks to.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target {
    /// Any master (the classic mode's Pub/Sub reaches every node from any node).
    AnyMaster,
    /// The master serving this slot (the stream's).
    Slot(u16),
}

/// One connection to one node, chosen by its [`Target`]; after any error it is dropped, and the
/// next command connects again (to another master, or to the slot's new master after the slot
/// map is asked again). [`generation`](Self::generation) tells a subscriber when to subscribe
/// again.
#[derive(Clone)]
pub(crate) struct Pinned {
    inner: Arc<PinnedInner>,
}

struct PinnedInner {
    topology: Arc<Topology>,
    target: Target,
    push: Option<PushFn>,
    current: Mutex<Option<(u64, MultiplexedConnection)>>,
    generation: AtomicU64,
    /// The last connection failed: ask for the slot map before connecting again.
    stale: AtomicBool,
    response_timeout: Option<Duration>,
}

impl Pinned {
    pub(crate) fn new(
        topology: Arc<Topology>,
        target: Target,
        push: Option<PushFn>,
        response_timeout: Option<Duration>,
    ) -> Pinned {
        Pinned {
            inner: Arc::new(PinnedInner {
                topology,
                target,
                push,
                current: Mutex::new(None),
                generation: AtomicU64::new(0),
                stale: AtomicBool::new(false),
                response_timeout,
            }),
        }
    }

    /// How many connections were made so far: a subscriber that sees it change subscribes
    /// again.
    pub(crate) fn generation(&self) -> u64 {
        self.inner.generation.load(Ordering::Acquire)
    }

    async fn get(&self) -> RedisResult<(u64, MultiplexedConnection)> {
        if let Some(current) = lock(&self.inner.current).clone() {
            return Ok(current);
        }
        let inner = &self.inner;
        if inner.stale.swap(false, Ordering::AcqRel)
            && let Err(err) = inner.topology.refresh().await
        {
            inner.stale.store(true, Ordering::Release);
            return Err(err);
        }
        let candidates = match inner.target {
            Target::AnyMaster => inner.topology.masters(),
            Target::Slot(slot) => inner.topology.owner(slot).into_iter().collect(),
        };
        let mut last_err = None;
        for addr in candidates {
            match inner.topology.connect(&addr, inner.push.clone()).await {
                Ok(mut conn) => {
                    if let Some(timeout) = inner.response_timeout {
                        conn.set_response_timeout(timeout);
                    }
                    let generation = inner.generation.fetch_add(1, Ordering::AcqRel) + 1;
                    *lock(&inner.current) = Some((generation, conn.clone()));
                    tracing::debug!(node = %addr, "Redis Cluster connection pinned");
                    return Ok((generation, conn));
                }
                Err(err) => last_err = Some(err),
            }
        }
        inner.stale.store(true, Ordering::Release);
        Err(last_err.unwrap_or_else(|| {
            redis::RedisError::from((redis::ErrorKind::Io, "no cluster node to connect to"))
        }))
    }

    /// Drops connection `generation` after an error, unless it was replaced already.
    fn failed(&self, generation: u64) {
        let mut current = lock(&self.inner.current);
        if current.as_ref().is_some_and(|(g, _)| *g == generation) {
            *current = None;
            self.inner.stale.store(true, Ordering::Release);
        }
    }
}

impl ConnectionLike for Pinned {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a redis::Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let (generation, mut conn) = self.get().await?;
            let result = conn.req_packed_command(cmd).await;
            if result.is_err() {
                self.failed(generation);
            }
            result
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let (generation, mut conn) = self.get().await?;
            let result = conn.req_packed_commands(pipeline, offset, count).await;
            if result.is_err() {
                self.failed(generation);
            }
            result
        })
    }

    fn get_db(&self) -> i64 {
        0
    }
}

/// Where a command goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Route {
    /// The node's one ordered connection for what may go anywhere (`PUBLISH`).
    Home,
    /// The master of this slot.
    Slot(u16),
    /// This node (`PUBSUB NUMSUB` is asked of every node).
    Node(usize),
}

/// One connection per node, shared by the publisher and the commands. `PUBLISH` goes on the
/// home connection (a [`Pinned`] one: any master, or the stream's master in streams mode, so
/// that its `PUBLISH`es and `XADD`s keep their order).
pub(crate) struct Pool {
    pub(crate) topology: Arc<Topology>,
    home: Pinned,
    conns: Mutex<HashMap<Addr, MultiplexedConnection>>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("topology", &self.topology)
            .finish_non_exhaustive()
    }
}

impl Pool {
    pub(crate) fn new(topology: Arc<Topology>, home: Target) -> Pool {
        Pool {
            home: Pinned::new(topology.clone(), home, None, None),
            topology,
            conns: Mutex::new(HashMap::new()),
        }
    }

    async fn conn_to(&self, addr: &Addr) -> RedisResult<MultiplexedConnection> {
        if let Some(conn) = lock(&self.conns).get(addr).cloned() {
            return Ok(conn);
        }
        let conn = self.topology.connect(addr, None).await?;
        lock(&self.conns).insert(addr.clone(), conn.clone());
        Ok(conn)
    }

    /// Runs `pipe` where `route` says. An error drops the connection and marks the slot map
    /// for asking again, so that a retry goes to the node that serves the slot now.
    pub(crate) async fn run(
        &self,
        route: Route,
        pipe: &redis::Pipeline,
    ) -> RedisResult<Vec<Value>> {
        let addr = match route {
            Route::Home => return pipe.query_async(&mut self.home.clone()).await,
            Route::Slot(slot) => match self.topology.owner(slot) {
                Some(addr) => addr,
                None => {
                    self.topology.refresh().await?;
                    self.topology.owner(slot).ok_or_else(|| {
                        redis::RedisError::from((redis::ErrorKind::Io, "no master for the slot"))
                    })?
                }
            },
            Route::Node(i) => self.topology.nodes().get(i).cloned().ok_or_else(|| {
                redis::RedisError::from((redis::ErrorKind::Io, "the cluster lost a node"))
            })?,
        };
        let mut conn = self.conn_to(&addr).await?;
        let result = pipe.query_async::<Vec<Value>>(&mut conn).await;
        if let Err(err) = &result {
            lock(&self.conns).remove(&addr);
            tracing::debug!(node = %addr, error = %err, "Redis Cluster command failed");
            // Our map is out of date (failover, resharding) or the node is gone: ask again.
            let _ = self.topology.refresh().await;
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_match_redis() {
        // CLUSTER KEYSLOT answers of Redis 7.
        assert_eq!(slot(b"foo"), 12182);
        assert_eq!(slot(b"bar"), 5061);
        assert_eq!(slot(b"socket.io#/#"), slot(b"socket.io#/#"));
        assert_eq!(slot(b"{user1000}.following"), slot(b"user1000"));
        assert_eq!(slot(b"foo{}{bar}"), slot(b"foo{}{bar}"));
        assert_ne!(slot(b"foo{}{bar}"), slot(b"bar"));
        assert_eq!(slot(b"foo{{bar}}zap"), slot(b"{bar"));
    }

    #[test]
    fn a_slot_map_is_read() {
        let node = |host: &str, port: i64| {
            Value::Array(vec![
                Value::BulkString(host.as_bytes().to_vec()),
                Value::Int(port),
                Value::BulkString(b"id".to_vec()),
            ])
        };
        let value = Value::Array(vec![
            Value::Array(vec![
                Value::Int(8192),
                Value::Int(16383),
                node("", 7001),
                node("127.0.0.1", 7004),
            ]),
            Value::Array(vec![
                Value::Int(0),
                Value::Int(8191),
                node("127.0.0.1", 7000),
                node("127.0.0.1", 7003),
            ]),
        ]);
        let asked = Addr {
            host: "10.0.0.1".into(),
            port: 7001,
        };
        let map = parse_slots(&value, &asked).unwrap_or_default();
        assert_eq!(map.masters, 2);
        assert_eq!(map.nodes.len(), 4);
        assert_eq!(map.ranges[0].2.port, 7000);
        assert_eq!(
            map.ranges[1].2.host, "10.0.0.1",
            "an empty host is the node asked"
        );
    }
}
