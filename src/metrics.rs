//! Metrics, recorded through the [`metrics`](https://docs.rs/metrics) facade (feature
//! `metrics`): plug in the exporter of your monitoring stack (`metrics-exporter-prometheus`,
//! an OpenTelemetry bridge, ...) and these appear. Without the feature, every recording point
//! compiles to nothing.
//!
//! | name | kind | labels | what |
//! | --- | --- | --- | --- |
//! | `socketio_sockets_connected` | gauge | `namespace` | sockets connected to this node |
//! | `socketio_engine_sessions` | gauge | `transport` | Engine.IO sessions (`polling`, `websocket`) |
//! | `socketio_engine_upgrades_total` | counter | | sessions moved from polling to WebSocket |
//! | `socketio_engine_messages_received_total` | counter | | Engine.IO messages from clients |
//! | `socketio_engine_received_bytes_total` | counter | | their payload bytes |
//! | `socketio_engine_messages_sent_total` | counter | | Engine.IO messages queued to clients |
//! | `socketio_engine_sent_bytes_total` | counter | | their payload bytes |
//! | `socketio_engine_queue_depth` | histogram | | messages waiting in a session's queue when it is written out (by its transport, or by a sender writing straight into an idle WebSocket) |
//! | `socketio_engine_slow_consumer_closes_total` | counter | | sessions closed because their queue was full |
//! | `socketio_handler_duration_seconds` | histogram | `namespace` | event handlers, from the packet to the end of the handler's future |
//! | `socketio_ack_timeouts_total` | counter | | acknowledgements that did not come in time |
//! | `socketio_adapter_publish_duration_seconds` | histogram | `adapter` | a cluster message (Redis: a pipeline of them) handed to Redis or PostgreSQL, until it confirmed |
//! | `socketio_adapter_publish_errors_total` | counter | `adapter` | cluster messages that could not be published |
//! | `socketio_adapter_request_duration_seconds` | histogram | `request` | cluster-wide requests (`fetch_sockets`, `server_count`, ...) until every node answered |
//! | `socketio_adapter_request_errors_total` | counter | `request` | cluster-wide requests that failed or timed out |
//! | `socketio_recovery_attempts_total` | counter | | reconnections that asked to recover a session |
//! | `socketio_recovery_successes_total` | counter | | reconnections that recovered one |
//!
//! Labels take only values the server chose (namespace names, transports, adapters), never
//! anything a client sends, so their number stays bounded: the namespaces a client creates
//! through [`SocketIo::dyn_ns`](crate::SocketIo::dyn_ns) share the label `namespace="(dynamic)"`. Handles are looked up once (per
//! server, namespace or adapter) and reused, so recording costs an atomic operation: install
//! the recorder before building the [`SocketIo`](crate::SocketIo).
//!
//! ```
//! # #[cfg(feature = "metrics")]
//! tower_socketio::metrics::describe();
//! ```
//!
//! `examples/metrics.rs` serves `/metrics` for Prometheus next to the chat.

// This module depends on nothing of the crate: every layer records into it.

#[cfg(feature = "metrics")]
use ::metrics::{Counter, Gauge, Histogram};
#[cfg(not(feature = "metrics"))]
use off::{Counter, Gauge, Histogram};

/// Sockets connected to this node (gauge, label `namespace`).
pub const SOCKETS_CONNECTED: &str = "socketio_sockets_connected";
/// Engine.IO sessions open on this node (gauge, label `transport`).
pub const ENGINE_SESSIONS: &str = "socketio_engine_sessions";
/// Sessions moved from polling to WebSocket (counter).
pub const ENGINE_UPGRADES: &str = "socketio_engine_upgrades_total";
/// Engine.IO messages received from clients (counter).
pub const MESSAGES_RECEIVED: &str = "socketio_engine_messages_received_total";
/// Payload bytes of the messages received (counter).
pub const RECEIVED_BYTES: &str = "socketio_engine_received_bytes_total";
/// Engine.IO messages queued to clients (counter).
pub const MESSAGES_SENT: &str = "socketio_engine_messages_sent_total";
/// Payload bytes of the messages queued to clients (counter).
pub const SENT_BYTES: &str = "socketio_engine_sent_bytes_total";
/// Messages waiting in a session's queue when its transport writes (histogram).
pub const QUEUE_DEPTH: &str = "socketio_engine_queue_depth";
/// Sessions closed because their outbound queue was full (counter).
pub const SLOW_CONSUMER_CLOSES: &str = "socketio_engine_slow_consumer_closes_total";
/// Event handlers' duration in seconds (histogram, label `namespace`).
pub const HANDLER_DURATION: &str = "socketio_handler_duration_seconds";
/// Acknowledgements that did not come before their timeout (counter).
pub const ACK_TIMEOUTS: &str = "socketio_ack_timeouts_total";
/// Time to publish a cluster message, in seconds (histogram, label `adapter`).
pub const ADAPTER_PUBLISH_DURATION: &str = "socketio_adapter_publish_duration_seconds";
/// Cluster messages that could not be published (counter, label `adapter`).
pub const ADAPTER_PUBLISH_ERRORS: &str = "socketio_adapter_publish_errors_total";
/// Time for a cluster-wide request to complete, in seconds (histogram, label `request`).
pub const ADAPTER_REQUEST_DURATION: &str = "socketio_adapter_request_duration_seconds";
/// Cluster-wide requests that failed or timed out (counter, label `request`).
pub const ADAPTER_REQUEST_ERRORS: &str = "socketio_adapter_request_errors_total";
/// Reconnections that asked to recover a session (counter).
pub const RECOVERY_ATTEMPTS: &str = "socketio_recovery_attempts_total";
/// Reconnections that recovered their session (counter).
pub const RECOVERY_SUCCESSES: &str = "socketio_recovery_successes_total";

/// Registers the description and unit of every metric above with the installed recorder, for
/// exporters that show them (Prometheus' `# HELP`). Call it once, after installing the
/// recorder.
///
/// ```
/// tower_socketio::metrics::describe();
/// ```
#[cfg(feature = "metrics")]
pub fn describe() {
    use ::metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_gauge!(SOCKETS_CONNECTED, "Sockets connected to this node");
    describe_gauge!(ENGINE_SESSIONS, "Engine.IO sessions open on this node");
    describe_counter!(
        ENGINE_UPGRADES,
        "Sessions upgraded from polling to WebSocket"
    );
    describe_counter!(MESSAGES_RECEIVED, "Engine.IO messages received");
    describe_counter!(RECEIVED_BYTES, Unit::Bytes, "Payload bytes received");
    describe_counter!(MESSAGES_SENT, "Engine.IO messages queued to clients");
    describe_counter!(SENT_BYTES, Unit::Bytes, "Payload bytes queued to clients");
    describe_histogram!(QUEUE_DEPTH, "Messages waiting when a transport writes");
    describe_counter!(SLOW_CONSUMER_CLOSES, "Sessions closed with a full queue");
    describe_histogram!(HANDLER_DURATION, Unit::Seconds, "Event handler duration");
    describe_counter!(ACK_TIMEOUTS, "Acknowledgements that timed out");
    describe_histogram!(
        ADAPTER_PUBLISH_DURATION,
        Unit::Seconds,
        "Time to publish a cluster message"
    );
    describe_counter!(ADAPTER_PUBLISH_ERRORS, "Cluster messages not published");
    describe_histogram!(
        ADAPTER_REQUEST_DURATION,
        Unit::Seconds,
        "Time for a cluster-wide request"
    );
    describe_counter!(ADAPTER_REQUEST_ERRORS, "Cluster-wide requests that failed");
    describe_counter!(RECOVERY_ATTEMPTS, "Reconnections asking to recover");
    describe_counter!(RECOVERY_SUCCESSES, "Reconnections that recovered");
}

/// The engine's handles, shared by every session of the process.
pub(crate) struct EngineMetrics {
    pub(crate) polling_sessions: Gauge,
    pub(crate) websocket_sessions: Gauge,
    pub(crate) upgrades: Counter,
    pub(crate) messages_received: Counter,
    pub(crate) received_bytes: Counter,
    pub(crate) messages_sent: Counter,
    pub(crate) sent_bytes: Counter,
    pub(crate) queue_depth: Histogram,
    pub(crate) slow_consumer_closes: Counter,
    pub(crate) ack_timeouts: Counter,
    pub(crate) recovery_attempts: Counter,
    pub(crate) recovery_successes: Counter,
}

impl EngineMetrics {
    /// The gauge of sessions on WebSocket, or on polling.
    #[inline]
    pub(crate) fn sessions(&self, websocket: bool) -> &Gauge {
        if websocket {
            &self.websocket_sessions
        } else {
            &self.polling_sessions
        }
    }

    /// A session moved from polling to WebSocket.
    #[inline]
    pub(crate) fn upgraded(&self) {
        self.upgrades.increment(1);
        self.polling_sessions.decrement(1.0);
        self.websocket_sessions.increment(1.0);
    }

    /// A message of `bytes` bytes came in.
    #[inline]
    pub(crate) fn message_received(&self, bytes: usize) {
        self.messages_received.increment(1);
        self.received_bytes.increment(bytes as u64);
    }

    /// `count` messages of `bytes` bytes in all were queued to a client.
    #[inline]
    pub(crate) fn messages_sent(&self, count: usize, bytes: usize) {
        self.messages_sent.increment(count as u64);
        self.sent_bytes.increment(bytes as u64);
    }
}

/// The process-wide handles, looked up the first time a server records anything.
#[cfg(feature = "metrics")]
pub(crate) fn global() -> &'static EngineMetrics {
    use ::metrics::{counter, gauge, histogram};
    static GLOBAL: std::sync::OnceLock<EngineMetrics> = std::sync::OnceLock::new();
    GLOBAL.get_or_init(|| EngineMetrics {
        polling_sessions: gauge!(ENGINE_SESSIONS, "transport" => "polling"),
        websocket_sessions: gauge!(ENGINE_SESSIONS, "transport" => "websocket"),
        upgrades: counter!(ENGINE_UPGRADES),
        messages_received: counter!(MESSAGES_RECEIVED),
        received_bytes: counter!(RECEIVED_BYTES),
        messages_sent: counter!(MESSAGES_SENT),
        sent_bytes: counter!(SENT_BYTES),
        queue_depth: histogram!(QUEUE_DEPTH),
        slow_consumer_closes: counter!(SLOW_CONSUMER_CLOSES),
        ack_timeouts: counter!(ACK_TIMEOUTS),
        recovery_attempts: counter!(RECOVERY_ATTEMPTS),
        recovery_successes: counter!(RECOVERY_SUCCESSES),
    })
}

/// Nothing to look up: every handle is a no-op.
#[cfg(not(feature = "metrics"))]
#[inline(always)]
pub(crate) fn global() -> &'static EngineMetrics {
    &EngineMetrics {
        polling_sessions: Gauge,
        websocket_sessions: Gauge,
        upgrades: Counter,
        messages_received: Counter,
        received_bytes: Counter,
        messages_sent: Counter,
        sent_bytes: Counter,
        queue_depth: Histogram,
        slow_consumer_closes: Counter,
        ack_timeouts: Counter,
        recovery_attempts: Counter,
        recovery_successes: Counter,
    }
}

/// A namespace's handles.
#[derive(Clone)]
pub(crate) struct NamespaceMetrics {
    pub(crate) sockets: Gauge,
    pub(crate) handler_duration: Histogram,
}

/// The `namespace` label of every namespace created through a dynamic pattern: their names
/// come from clients.
pub const DYNAMIC_NAMESPACE: &str = "(dynamic)";

impl NamespaceMetrics {
    /// The handles of namespace `namespace`, labelled [`DYNAMIC_NAMESPACE`] when `dynamic`.
    #[cfg_attr(not(feature = "metrics"), inline(always))]
    pub(crate) fn new(namespace: &str, dynamic: bool) -> Self {
        #[cfg(feature = "metrics")]
        {
            let namespace = if dynamic {
                DYNAMIC_NAMESPACE
            } else {
                namespace
            }
            .to_owned();
            NamespaceMetrics {
                sockets: ::metrics::gauge!(SOCKETS_CONNECTED, "namespace" => namespace.clone()),
                handler_duration: ::metrics::histogram!(HANDLER_DURATION, "namespace" => namespace),
            }
        }
        #[cfg(not(feature = "metrics"))]
        {
            let _ = (namespace, dynamic);
            NamespaceMetrics {
                sockets: Gauge,
                handler_duration: Histogram,
            }
        }
    }
}

impl NamespaceMetrics {
    /// A synchronous handler that started at `started` returned.
    #[inline]
    pub(crate) fn handler_done(&self, started: Stopwatch) {
        self.handler_duration.record(started.seconds());
    }
}

/// A remote adapter's handles (`adapter` is `redis` or `postgres`).
#[derive(Clone)]
#[cfg_attr(not(any(feature = "redis", feature = "postgres")), allow(dead_code))]
pub(crate) struct AdapterMetrics {
    publish_duration: Histogram,
    publish_errors: Counter,
}

#[cfg_attr(not(any(feature = "redis", feature = "postgres")), allow(dead_code))]
impl AdapterMetrics {
    #[cfg_attr(not(feature = "metrics"), inline(always))]
    pub(crate) fn new(adapter: &'static str) -> Self {
        #[cfg(feature = "metrics")]
        {
            AdapterMetrics {
                publish_duration: ::metrics::histogram!(ADAPTER_PUBLISH_DURATION, "adapter" => adapter),
                publish_errors: ::metrics::counter!(ADAPTER_PUBLISH_ERRORS, "adapter" => adapter),
            }
        }
        #[cfg(not(feature = "metrics"))]
        {
            let _ = adapter;
            AdapterMetrics {
                publish_duration: Histogram,
                publish_errors: Counter,
            }
        }
    }

    /// A publish (one message, or one pipeline of them) that started at `started` was
    /// confirmed.
    #[inline]
    pub(crate) fn published(&self, started: Stopwatch) {
        self.publish_duration.record(started.seconds());
    }

    /// `count` messages could not be published.
    #[inline]
    pub(crate) fn dropped(&self, count: usize) {
        self.publish_errors.increment(count as u64);
    }
}

/// Records a cluster-wide request (`request` names it: `fetch_sockets`, `server_count`, ...)
/// that started at `started` and ended `ok` or not.
#[inline]
pub(crate) fn request_done(request: &'static str, started: Stopwatch, ok: bool) {
    #[cfg(feature = "metrics")]
    if ok {
        ::metrics::histogram!(ADAPTER_REQUEST_DURATION, "request" => request)
            .record(started.seconds());
    } else {
        ::metrics::counter!(ADAPTER_REQUEST_ERRORS, "request" => request).increment(1);
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (request, started, ok);
}

/// The start of something timed: an [`Instant`](std::time::Instant) with the feature, nothing
/// without (so reading the clock costs nothing either).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Stopwatch {
    #[cfg(feature = "metrics")]
    started: std::time::Instant,
}

impl Stopwatch {
    #[inline]
    pub(crate) fn start() -> Self {
        Stopwatch {
            #[cfg(feature = "metrics")]
            started: std::time::Instant::now(),
        }
    }

    #[cfg(feature = "metrics")]
    fn seconds(self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    #[cfg(not(feature = "metrics"))]
    #[inline(always)]
    fn seconds(self) -> f64 {
        0.0
    }
}

/// Wraps a handler's future so that its end records the handler's duration.
#[cfg(feature = "metrics")]
pub(crate) fn timed<F>(histogram: &Histogram, future: F) -> impl Future<Output = ()> + use<F>
where
    F: Future<Output = ()>,
{
    let histogram = histogram.clone();
    let started = Stopwatch::start();
    async move {
        future.await;
        histogram.record(started.seconds());
    }
}

/// Without the feature: the future itself.
#[cfg(not(feature = "metrics"))]
#[inline(always)]
pub(crate) fn timed<F>(_: &Histogram, future: F) -> F
where
    F: Future<Output = ()>,
{
    future
}

/// No-op handles, for builds without the feature.
#[cfg(not(feature = "metrics"))]
mod off {
    #[derive(Clone, Copy)]
    pub(crate) struct Counter;
    #[derive(Clone, Copy)]
    pub(crate) struct Gauge;
    #[derive(Clone, Copy)]
    pub(crate) struct Histogram;

    impl Counter {
        #[inline(always)]
        pub(crate) fn increment(&self, _: u64) {}
    }

    impl Gauge {
        #[inline(always)]
        pub(crate) fn increment(&self, _: f64) {}
        #[inline(always)]
        pub(crate) fn decrement(&self, _: f64) {}
    }

    impl Histogram {
        #[inline(always)]
        pub(crate) fn record(&self, _: f64) {}
    }
}
