//! The connections to Redis, shared by every namespace of one server: a publisher that drains an
//! ordered queue, a subscriber whose subscriptions survive reconnections, a router that hands
//! each incoming message to the namespaces it concerns, and in streams mode a reader that
//! follows the stream.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

use redis::aio::ConnectionManagerConfig;
use redis::{PushInfo, PushKind};
use tokio::sync::{mpsc, oneshot};

use super::adapter::NsShared;
use super::cluster::{self, Pinned, PushFn, Target};
use super::conns::{Commands, Reader};
use super::master::Master;
use super::subscriber::{ClusterSubscriber, Subscriber};
use super::{RedisAdapterConfig, RedisAdapterError};
use crate::core::error::AdapterError;
use crate::core::sync::{lock, read, write};

/// How many messages one pipeline to Redis carries at most.
const MAX_BATCH: usize = 512;
/// How often the subscriber connection is checked (and, when down, reconnected).
const HEALTH_INTERVAL: Duration = Duration::from_secs(1);
/// How long a batch that Redis refused is retried (the connection manager reconnects meanwhile)
/// before its messages are dropped.
const PUBLISH_RETRY_WINDOW: Duration = Duration::from_secs(2);
/// The same on a Redis Cluster, where a shard channel's master may be failing over.
const CLUSTER_RETRY_WINDOW: Duration = Duration::from_secs(10);
/// The same for a batch that adds to the stream: the stream is the recovery log, so its entries
/// wait out a Redis restart rather than being lost.
const STREAM_RETRY_WINDOW: Duration = Duration::from_secs(30);
/// How long the stream reader waits before reading again after an error.
const READ_RETRY_DELAY: Duration = Duration::from_millis(200);

/// Told the id Redis gave a stream entry (`None` when it could not be added).
pub(crate) type OnOffset = Box<dyn FnOnce(Option<String>) + Send>;

/// What to send to Redis.
pub(crate) enum Command {
    /// `PUBLISH` (or `SPUBLISH`, when `sharded`) on a channel.
    Publish {
        channel: String,
        payload: Vec<u8>,
        sharded: bool,
    },
    /// `XADD <stream> MAXLEN ~ <max_len> * <field> <value>…`.
    StreamAdd {
        fields: Vec<(&'static str, Vec<u8>)>,
        on_offset: Option<OnOffset>,
    },
}

/// A message to send, in order with the others.
pub(crate) struct Outgoing {
    pub command: Command,
    /// Told how the publication went, when someone waits for it.
    pub done: Option<oneshot::Sender<Result<(), AdapterError>>>,
}

impl Outgoing {
    pub(crate) fn publish(channel: String, payload: Vec<u8>, sharded: bool) -> Self {
        Outgoing {
            command: Command::Publish {
                channel,
                payload,
                sharded,
            },
            done: None,
        }
    }

    pub(crate) fn stream_add(
        fields: Vec<(&'static str, Vec<u8>)>,
        on_offset: Option<OnOffset>,
    ) -> Self {
        Outgoing {
            command: Command::StreamAdd { fields, on_offset },
            done: None,
        }
    }

    fn is_stream_add(&self) -> bool {
        matches!(self.command, Command::StreamAdd { .. })
    }

    /// Tells whoever waits that the message will not be sent: a stream entry's local delivery
    /// then happens without an offset.
    fn refuse(self, err: AdapterError) {
        if let Command::StreamAdd {
            on_offset: Some(on_offset),
            ..
        } = self.command
        {
            on_offset(None);
        }
        if let Some(done) = self.done {
            let _ = done.send(Err(err));
        }
    }
}

/// A subscription of the subscriber connection.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Subscription {
    Channel(String),
    Pattern(String),
    Shard(String),
}

enum Control {
    Register(u64, Weak<NsShared>),
    Unregister(u64),
    Subscribe(u64, Vec<Subscription>),
    Unsubscribe(u64, Vec<Subscription>),
}

/// The namespaces of this server that listen on Redis.
#[derive(Default)]
pub(crate) struct Registry {
    adapters: RwLock<Vec<(u64, Weak<NsShared>)>>,
    /// Streams mode: the id of the last entry read and handed to every namespace (where
    /// reading started, before the first).
    read_to: Mutex<Option<String>>,
}

/// The shared connections of one server.
pub(crate) struct Driver {
    pub(crate) config: RedisAdapterConfig,
    publisher: mpsc::Sender<Outgoing>,
    control: mpsc::UnboundedSender<Control>,
    pub(crate) commands: Commands,
    tasks: Vec<tokio::task::AbortHandle>,
    dropped: Arc<LogLimiter>,
    registry: Arc<Registry>,
}

impl std::fmt::Debug for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

fn manager_config() -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_number_of_retries(4)
        .set_min_delay(Duration::from_millis(50))
        .set_max_delay(Duration::from_secs(1))
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_secs(3)))
}

impl Driver {
    /// Connects the publisher and subscriber connections and starts their tasks.
    pub(crate) async fn connect(
        config: RedisAdapterConfig,
    ) -> Result<Arc<Driver>, RedisAdapterError> {
        let (push_tx, push_rx) = mpsc::channel::<PushInfo>(config.incoming_capacity.max(1));
        let dropped_in = Arc::new(LogLimiter::default());
        let dropped = dropped_in.clone();
        let push: PushFn = Arc::new(move |info: PushInfo| -> Result<(), ()> {
            match push_tx.try_send(info) {
                Ok(()) => Ok(()),
                Err(mpsc::error::TrySendError::Full(_)) => {
                    dropped_in.note("incoming Redis messages dropped: the router is behind");
                    Ok(())
                }
                Err(mpsc::error::TrySendError::Closed(_)) => Err(()),
            }
        });
        let Links {
            commands,
            subscriber,
            reader,
            follower,
        } = if config.seeds.is_empty() {
            Links::single(&config, push).await?
        } else {
            Links::cluster(&config, push).await?
        };

        let registry = Arc::new(Registry::default());
        let (publisher, out_rx) = mpsc::channel(config.queue_capacity.max(1));
        let (control, control_rx) = mpsc::unbounded_channel();
        let stream = StreamTarget {
            name: config.streams.stream_name.clone(),
            max_len: config.streams.max_len,
            next_seq: 0,
        };
        let mut tasks = vec![
            tokio::spawn(publish_loop(commands.clone(), out_rx, stream)).abort_handle(),
            tokio::spawn(control_loop(subscriber, control_rx, registry.clone())).abort_handle(),
            tokio::spawn(route_loop(push_rx, registry.clone())).abort_handle(),
        ];
        if let Some(mut reader) = reader {
            let options = config.streams.clone();
            // From the stream's end as it is now rather than `$` as of the first `XREAD`: what is
            // added once `connect` returned is read, however late that `XREAD` reaches Redis.
            let start = stream_end(&mut reader, &options.stream_name).await?;
            *lock(&registry.read_to) = Some(start.clone());
            let reader = read_stream_loop(reader, options, registry.clone(), start);
            tasks.push(tokio::spawn(reader).abort_handle());
        }
        // With Sentinel: follows the master, moving every connection above to a new one.
        tasks.extend(follower);
        Ok(Arc::new(Driver {
            config,
            publisher,
            control,
            commands,
            tasks,
            dropped,
            registry,
        }))
    }

    /// Streams mode: the id of the last entry read and delivered to every namespace.
    pub(crate) fn stream_position(&self) -> Option<String> {
        lock(&self.registry.read_to).clone()
    }

    /// Queues a message; the queue keeps the order of calls. Fails at once when the queue is
    /// full (Redis has been unreachable for a while) or the driver is shutting down.
    pub(crate) fn publish(&self, message: Outgoing) -> Result<(), AdapterError> {
        match self.publisher.try_send(message) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(message)) => {
                self.dropped
                    .note("Redis publish queue full: messages to other nodes dropped");
                let err = AdapterError::QueueFull;
                message.refuse(err.clone());
                Err(err)
            }
            Err(mpsc::error::TrySendError::Closed(message)) => {
                let err = AdapterError::Closed;
                message.refuse(err.clone());
                Err(err)
            }
        }
    }

    /// `PUBSUB NUMSUB channel` (or `SHARDNUMSUB`): how many connections listen on it.
    pub(crate) async fn numsub(&self, channel: &str, sharded: bool) -> Result<usize, AdapterError> {
        let query = self.commands.numsub(channel, sharded);
        match tokio::time::timeout(self.config.requests_timeout, query).await {
            Ok(Ok(count)) => Ok(count),
            Ok(Err(err)) => Err(err),
            Err(_) => Err(AdapterError::Timeout),
        }
    }

    /// Starts routing messages to a namespace and subscribes its channels. Subscriptions are
    /// kept per adapter id, so [`unregister`](Self::unregister) drops exactly these.
    pub(crate) fn register(&self, id: u64, ns: Weak<NsShared>) {
        let _ = self.control.send(Control::Register(id, ns));
    }

    pub(crate) fn unregister(&self, id: u64) {
        let _ = self.control.send(Control::Unregister(id));
    }

    pub(crate) fn subscribe(&self, id: u64, subscriptions: Vec<Subscription>) {
        let _ = self.control.send(Control::Subscribe(id, subscriptions));
    }

    pub(crate) fn unsubscribe(&self, id: u64, subscriptions: Vec<Subscription>) {
        let _ = self.control.send(Control::Unsubscribe(id, subscriptions));
    }
}

/// The connections of one driver.
struct Links {
    commands: Commands,
    subscriber: Subscriber,
    /// Streams mode: the reader's own connection (`XREAD BLOCK` holds it).
    reader: Option<Reader>,
    /// With Sentinel: the task that moves the connections to the master it names.
    follower: Option<tokio::task::AbortHandle>,
}

impl Links {
    /// One Redis server (or the master Sentinel names): connection managers, which reconnect
    /// (and resubscribe) by themselves, and with Sentinel move to a new master.
    async fn single(config: &RedisAdapterConfig, push: PushFn) -> Result<Links, RedisAdapterError> {
        // Subscriptions share the multiplexed connection as RESP3 push messages, and only RESP3
        // lets the connection manager replay them after a reconnection: the master's client
        // speaks RESP3.
        let mut master = Master::resolve(config).await?;
        let commands = master.connect(manager_config()).await?;
        let subscriber = master
            .connect(
                manager_config()
                    .set_push_sender(move |info: PushInfo| push(info))
                    .set_automatic_resubscription(),
            )
            .await?;
        let reader = if config.mode == super::RedisMode::Streams {
            // The reader's response timeout outlasts the block.
            let timeout = config.streams.block_time + Duration::from_secs(3);
            let reader = master
                .connect(manager_config().set_response_timeout(Some(timeout)))
                .await?;
            Some(Reader::Single(reader))
        } else {
            None
        };
        Ok(Links {
            commands: Commands::Single(commands),
            subscriber: Subscriber::Single {
                conn: subscriber,
                seen: 0,
            },
            reader,
            follower: master.follow(),
        })
    }

    /// A Redis Cluster: see [`cluster`](super::cluster) for why we route ourselves.
    async fn cluster(
        config: &RedisAdapterConfig,
        push: PushFn,
    ) -> Result<Links, RedisAdapterError> {
        let commands = Commands::cluster(config).await?;
        let Commands::Cluster(pool) = &commands else {
            return Err(RedisAdapterError::Connect("not a cluster".into()));
        };
        let topology = pool.topology.clone();
        let reader = (config.mode == super::RedisMode::Streams).then(|| {
            // On the stream's master, with a response timeout that outlasts the block.
            let slot = cluster::slot(config.streams.stream_name.as_bytes());
            let timeout = config.streams.block_time + Duration::from_secs(3);
            Reader::Cluster(Pinned::new(
                topology.clone(),
                Target::Slot(slot),
                None,
                Some(timeout),
            ))
        });
        Ok(Links {
            commands,
            subscriber: Subscriber::Cluster(ClusterSubscriber::new(topology, push)),
            reader,
            follower: None,
        })
    }
}

/// `[channel, count]` as an array (RESP2) or a map (RESP3).
pub(crate) fn parse_numsub(value: &redis::Value) -> Option<usize> {
    use redis::Value as V;
    let count = match value {
        V::Array(items) => items.get(1)?,
        V::Map(entries) => &entries.first()?.1,
        _ => return None,
    };
    match count {
        V::Int(n) => usize::try_from(*n).ok(),
        V::BulkString(s) => std::str::from_utf8(s).ok()?.parse().ok(),
        _ => None,
    }
}

/// Where stream entries go.
pub(crate) struct StreamTarget {
    name: String,
    max_len: u64,
    /// Numbers this node's entries in the order it adds them (the `seq` field).
    next_seq: u64,
}

/// Drains the queue in order, many messages per pipeline; a batch Redis refuses is retried for a
/// while (the connection manager reconnects meanwhile), then dropped with a log line. The ids of
/// stream entries are handed back in order, once Redis gave them.
async fn publish_loop(conn: Commands, mut rx: mpsc::Receiver<Outgoing>, mut stream: StreamTarget) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let metrics = crate::metrics::AdapterMetrics::new("redis");
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        // Numbered once: a batch retried after Redis executed it but its answer was lost adds
        // the same numbers again, by which readers know the copies.
        let mut prepared = conn.prepare(&batch, &mut stream);
        let window = if batch.iter().any(Outgoing::is_stream_add) {
            STREAM_RETRY_WINDOW
        } else if matches!(conn, Commands::Cluster(_)) {
            // Long enough for a replica to take over a master that died.
            CLUSTER_RETRY_WINDOW
        } else {
            PUBLISH_RETRY_WINDOW
        };
        let started = Instant::now();
        let stopwatch = crate::metrics::Stopwatch::start();
        let mut delay = Duration::from_millis(50);
        let result = loop {
            match conn.send(&mut prepared).await {
                Ok(ids) => break Ok(ids),
                Err(err) if started.elapsed() >= window => {
                    tracing::warn!(
                        messages = batch.len(),
                        error = %err,
                        "Redis publish failed; messages to other nodes dropped"
                    );
                    break Err(AdapterError::transport(err));
                }
                Err(err) => {
                    tracing::debug!(error = %err, "Redis publish failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_millis(500));
                }
            }
        };
        let (status, mut ids) = match result {
            Ok(ids) => {
                metrics.published(stopwatch);
                (Ok(()), ids.into_iter())
            }
            Err(err) => {
                metrics.dropped(batch.len());
                (Err(err), Vec::new().into_iter())
            }
        };
        for message in batch.drain(..) {
            if let Command::StreamAdd { on_offset, .. } = message.command {
                let id = ids.next().and_then(|id| stream_id(&id));
                if let Some(on_offset) = on_offset {
                    on_offset(id);
                }
            }
            if let Some(done) = message.done {
                let _ = done.send(status.clone());
            }
        }
    }
}

/// One pipeline for a batch: only the `XADD`s answer (with their ids).
pub(crate) fn pipeline(batch: &[Outgoing], stream: &mut StreamTarget) -> redis::Pipeline {
    let mut pipe = redis::pipe();
    for message in batch {
        add_command(&mut pipe, message, stream);
    }
    pipe
}

/// Adds a message's command to a pipeline (numbering stream entries).
pub(crate) fn add_command(
    pipe: &mut redis::Pipeline,
    message: &Outgoing,
    stream: &mut StreamTarget,
) {
    match &message.command {
        Command::Publish {
            channel,
            payload,
            sharded,
        } => {
            pipe.cmd(if *sharded { "SPUBLISH" } else { "PUBLISH" })
                .arg(channel)
                .arg(payload)
                .ignore();
        }
        Command::StreamAdd { fields, .. } => {
            let cmd = pipe
                .cmd("XADD")
                .arg(&stream.name)
                .arg("MAXLEN")
                .arg("~")
                .arg(stream.max_len)
                .arg("*");
            for (field, value) in fields {
                cmd.arg(*field).arg(value);
            }
            cmd.arg(super::streams::SEQ_FIELD).arg(stream.next_seq);
            stream.next_seq += 1;
        }
    }
}

/// A stream entry id as Redis writes it.
pub(crate) fn stream_id(value: &redis::Value) -> Option<String> {
    match value {
        redis::Value::BulkString(bytes) => String::from_utf8(bytes.clone()).ok(),
        redis::Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

/// The id of the stream's last entry (`0-0` when it is empty or missing): where reading starts.
async fn stream_end(conn: &mut Reader, stream: &str) -> Result<String, RedisAdapterError> {
    let reply = redis::cmd("XREVRANGE")
        .arg(stream)
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(1)
        .query_async::<redis::Value>(conn)
        .await
        .map_err(|e| RedisAdapterError::Connect(format!("reading the stream's end: {e}")))?;
    super::streams::last_id(&reply).ok_or_else(|| {
        RedisAdapterError::Connect(format!("unexpected XREVRANGE answer: {reply:?}"))
    })
}

/// Follows the stream from `start` (its end when the adapter connected), then from the last
/// entry read, handing each entry to the namespace it names. After an error (Redis gone), it
/// reads again from the last entry read, so nothing added meanwhile is missed.
async fn read_stream_loop(
    mut conn: Reader,
    options: super::StreamsOptions,
    registry: Arc<Registry>,
    start: String,
) {
    let mut offset = start;
    let block = u64::try_from(options.block_time.as_millis()).unwrap_or(u64::MAX);
    loop {
        let reply = redis::cmd("XREAD")
            .arg("COUNT")
            .arg(options.read_count)
            .arg("BLOCK")
            .arg(block)
            .arg("STREAMS")
            .arg(&options.stream_name)
            .arg(&offset)
            .query_async::<redis::Value>(&mut conn)
            .await;
        let reply = match reply {
            Ok(reply) => reply,
            Err(err) => {
                tracing::debug!(error = %err, "reading the Redis stream failed; retrying");
                tokio::time::sleep(READ_RETRY_DELAY).await;
                continue;
            }
        };
        for entry in super::streams::parse_xread(&reply) {
            offset.clone_from(&entry.id);
            let adapters: Vec<Arc<NsShared>> = read(&registry.adapters)
                .iter()
                .filter_map(|(_, w)| w.upgrade())
                .collect();
            for adapter in adapters {
                adapter.on_stream_entry(&entry);
            }
            // Only once every namespace had it: a socket that joins after this missed nothing
            // up to here.
            *lock(&registry.read_to) = Some(entry.id.clone());
        }
    }
}

/// Keeps the subscriptions the namespaces want (counted, so namespaces may share one), registers
/// namespaces once they can be named, marks each ready once Redis confirmed its subscriptions,
/// and pings the subscriber connection so that a connection lost while idle is reestablished
/// (with its subscriptions) without waiting for traffic.
async fn control_loop(
    mut conn: Subscriber,
    mut rx: mpsc::UnboundedReceiver<Control>,
    registry: Arc<Registry>,
) {
    let mut counts: HashMap<Subscription, usize> = HashMap::new();
    let mut held: HashMap<u64, Vec<Subscription>> = HashMap::new();
    // Wanted but not confirmed by Redis yet: retried on every health tick.
    let mut failed: HashSet<Subscription> = HashSet::new();
    // Registered namespaces not marked ready yet.
    let mut unconfirmed: Vec<(u64, Weak<NsShared>)> = Vec::new();
    let mut health = tokio::time::interval(HEALTH_INTERVAL);
    health.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let control = tokio::select! {
            control = rx.recv() => match control {
                Some(control) => control,
                None => return,
            },
            // Moved to a new master (Sentinel): subscribe again now rather than at the next tick.
            _ = conn.moved() => {
                health.reset_immediately();
                continue;
            }
            _ = health.tick() => {
                let wanted: Vec<Subscription> = counts.keys().cloned().collect();
                match conn.check(&wanted).await {
                    Ok(again) => failed.extend(again),
                    Err(err) => {
                        tracing::debug!(error = %err, "Redis subscriber connection is down");
                        continue;
                    }
                }
                let retry: Vec<Subscription> = failed.drain().collect();
                for sub in retry {
                    if counts.get(&sub).copied().unwrap_or(0) > 0
                        && let Err(err) = conn.apply(&sub, true).await
                    {
                        tracing::debug!(?sub, error = %err, "Redis subscription failed; will retry");
                        failed.insert(sub);
                    }
                }
                confirm(&held, &failed, &mut unconfirmed);
                continue;
            }
        };
        match control {
            Control::Register(id, weak) => {
                let Some(ns) = weak.upgrade() else { continue };
                let Some(subs) = ns.resolve_subscriptions().await else {
                    continue;
                };
                drop(ns);
                write(&registry.adapters).push((id, weak.clone()));
                held.entry(id).or_default().extend(subs.iter().cloned());
                add(&mut conn, &mut counts, &mut failed, subs).await;
                unconfirmed.push((id, weak));
                confirm(&held, &failed, &mut unconfirmed);
            }
            Control::Unregister(id) => {
                write(&registry.adapters).retain(|(i, w)| *i != id && w.strong_count() > 0);
                unconfirmed.retain(|(i, _)| *i != id);
                let subs = held.remove(&id).unwrap_or_default();
                remove(&mut conn, &mut counts, &mut failed, subs).await;
            }
            Control::Subscribe(id, subs) => {
                held.entry(id).or_default().extend(subs.iter().cloned());
                add(&mut conn, &mut counts, &mut failed, subs).await;
            }
            Control::Unsubscribe(id, subs) => {
                let mine = held.entry(id).or_default();
                let subs: Vec<Subscription> = subs
                    .into_iter()
                    .filter(|sub| match mine.iter().position(|s| s == sub) {
                        Some(i) => {
                            mine.swap_remove(i);
                            true
                        }
                        None => false,
                    })
                    .collect();
                remove(&mut conn, &mut counts, &mut failed, subs).await;
            }
        }
    }
}

/// Marks ready the namespaces whose every subscription Redis confirmed (none is waiting for a
/// retry); the others stay for the next retry.
fn confirm(
    held: &HashMap<u64, Vec<Subscription>>,
    failed: &HashSet<Subscription>,
    unconfirmed: &mut Vec<(u64, Weak<NsShared>)>,
) {
    unconfirmed.retain(|(id, weak)| {
        let pending = held
            .get(id)
            .is_some_and(|subs| subs.iter().any(|sub| failed.contains(sub)));
        if pending {
            return weak.strong_count() > 0;
        }
        if let Some(ns) = weak.upgrade() {
            ns.subscribed.set();
        }
        false
    });
}

async fn add(
    conn: &mut Subscriber,
    counts: &mut HashMap<Subscription, usize>,
    failed: &mut HashSet<Subscription>,
    subs: Vec<Subscription>,
) {
    for sub in subs {
        let count = counts.entry(sub.clone()).or_insert(0);
        *count += 1;
        if *count == 1
            && let Err(err) = conn.apply(&sub, true).await
        {
            tracing::warn!(?sub, error = %err, "Redis subscription failed; will retry");
            failed.insert(sub);
        }
    }
}

async fn remove(
    conn: &mut Subscriber,
    counts: &mut HashMap<Subscription, usize>,
    failed: &mut HashSet<Subscription>,
    subs: Vec<Subscription>,
) {
    for sub in subs {
        let Some(count) = counts.get_mut(&sub) else {
            continue;
        };
        *count = count.saturating_sub(1);
        if *count == 0 {
            counts.remove(&sub);
            failed.remove(&sub);
            if let Err(err) = conn.apply(&sub, false).await {
                tracing::debug!(?sub, error = %err, "Redis unsubscription failed");
            }
        }
    }
}

/// Hands every message to the namespaces whose channels it is on, in the order Redis sent them.
async fn route_loop(mut rx: mpsc::Receiver<PushInfo>, registry: Arc<Registry>) {
    while let Some(push) = rx.recv().await {
        let (channel, payload) = match (push.kind, push.data.as_slice()) {
            (PushKind::Message | PushKind::SMessage, [channel, payload]) => (channel, payload),
            (PushKind::PMessage, [_pattern, channel, payload]) => (channel, payload),
            _ => continue,
        };
        let (redis::Value::BulkString(channel), redis::Value::BulkString(payload)) =
            (channel, payload)
        else {
            tracing::debug!("ignoring a Redis message that is not a byte string");
            continue;
        };
        let Ok(channel) = std::str::from_utf8(channel) else {
            tracing::debug!("ignoring a Redis message on a channel that is not UTF-8");
            continue;
        };
        let adapters: Vec<Arc<NsShared>> = read(&registry.adapters)
            .iter()
            .filter_map(|(_, w)| w.upgrade())
            .collect();
        for adapter in adapters {
            adapter.on_channel_message(channel, payload);
        }
    }
}

/// Logs a recurring warning at most once a second, with how many times it happened meanwhile.
#[derive(Default)]
pub(crate) struct LogLimiter {
    count: AtomicU64,
    last: std::sync::Mutex<Option<Instant>>,
}

impl LogLimiter {
    pub(crate) fn note(&self, what: &'static str) {
        let count = self.count.fetch_add(1, Ordering::Relaxed) + 1;
        let mut last = crate::core::sync::lock(&self.last);
        if last.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
            *last = Some(Instant::now());
            self.count.store(0, Ordering::Relaxed);
            tracing::warn!(count, "{what}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numsub_answers() {
        use redis::Value as V;
        let resp2 = V::Array(vec![V::BulkString(b"c".to_vec()), V::Int(3)]);
        assert_eq!(parse_numsub(&resp2), Some(3));
        let resp3 = V::Map(vec![(V::BulkString(b"c".to_vec()), V::Int(2))]);
        assert_eq!(parse_numsub(&resp3), Some(2));
        assert_eq!(parse_numsub(&V::Nil), None);
    }
}
