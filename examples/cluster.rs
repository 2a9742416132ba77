//! One node of a Socket.IO cluster on Redis or PostgreSQL: start several, with the same Redis
//! URL (or database), and put them behind a sticky load balancer.
//!
//! ```sh
//! cargo run --release --features redis --example cluster -- 3001 redis://127.0.0.1:6379
//! cargo run --release --features redis --example cluster -- 3002 redis://127.0.0.1:6379
//! # PostgreSQL (LISTEN/NOTIFY):
//! cargo run --release --features redis,postgres --example cluster -- --engine=postgres 3001 "host=127.0.0.1 user=postgres"
//! CLUSTER_ENGINE=postgres cargo run --release --features redis,postgres --example cluster -- 3002
//! # Redis Sentinel: the master that the sentinels name, followed after a failover:
//! REDIS_SENTINELS=redis://127.0.0.1:26379,redis://127.0.0.1:26380 REDIS_SENTINEL_MASTER=mymaster \
//!   cargo run --release --features redis --example cluster -- --engine=redis-sentinel 3001
//! # A Redis Cluster (seed nodes, comma-separated):
//! cargo run --release --features redis --example cluster -- --engine=redis-cluster 3001 redis://127.0.0.1:7000,redis://127.0.0.1:7001
//! ```
//!
//! Arguments: `--engine=redis|redis-sentinel|redis-cluster|postgres` (default `CLUSTER_ENGINE`
//! or `redis`), the port (default `PORT` or 3000) and where the engine is: the Redis URL
//! (default `REDIS_URL` or `redis://127.0.0.1:6379`), the sentinels' URLs, comma-separated
//! (default `REDIS_SENTINELS` or `redis://127.0.0.1:26379`; the master's name is
//! `REDIS_SENTINEL_MASTER` or `mymaster`), the Redis Cluster's seed URLs, comma-separated
//! (default `REDIS_CLUSTER_URLS` or `redis://127.0.0.1:7000`), or the PostgreSQL connection
//! string (default `DATABASE_URL` or
//! `host=127.0.0.1 user=postgres`); `--sharded` uses Redis 7 sharded Pub/Sub. Node.js servers
//! with `@socket.io/redis-adapter` on the same Redis (same prefix and mode), or
//! `@socket.io/postgres-adapter` on the same database, join the same cluster. The node listens
//! only once the engine confirmed its subscriptions (`io.ready()`), so a load balancer never
//! sends a client to a node that would miss the others' broadcasts.
//!
//! Events (namespace `/`):
//! - `join` (room): joins it; acks the socket's rooms.
//! - `chat` (text): sent to every client of every node as `chat` `{node, text}`.
//! - `whoami`: acks `{node, servers, sockets}` (the cluster's server count and sockets).
//! - `blast` `{count, size, room}`: broadcasts `tick` `(i, payload)` `count` times to `room`
//!   (default `bench`) as fast as it can; used by `tests/js/redis-bench.mjs` to measure
//!   cross-node throughput.

use serde::Deserialize;
use serde_json::json;
use tower_socketio::adapter::redis::{RedisAdapter, RedisAdapterConfig, SubscriptionMode};
use tower_socketio::extract::{AckSender, Data, SocketRef};
use tower_socketio::{SocketIo, SocketIoLayer};
use tracing_subscriber::EnvFilter;

#[derive(Deserialize)]
struct Blast {
    count: usize,
    #[serde(default)]
    size: usize,
    #[serde(default)]
    room: Option<String>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();

    let args: Vec<String> = std::env::args().skip(1).collect();
    let sharded = args.iter().any(|a| a == "--sharded");
    let engine = args
        .iter()
        .find_map(|a| a.strip_prefix("--engine=").map(str::to_owned))
        .or_else(|| std::env::var("CLUSTER_ENGINE").ok())
        .unwrap_or_else(|| "redis".into());
    let mut positional = args.iter().filter(|a| !a.starts_with("--"));
    let port: u16 = match positional.next() {
        Some(p) => p.parse()?,
        None => std::env::var("PORT")
            .ok()
            .and_then(|p| p.parse().ok())
            .unwrap_or(3000),
    };
    let location = positional.next().cloned();

    let (io, engine_at) = match engine.as_str() {
        "redis" => {
            let redis_url = location
                .or_else(|| std::env::var("REDIS_URL").ok())
                .unwrap_or_else(|| "redis://127.0.0.1:6379".into());
            let mut config = RedisAdapterConfig::new(&redis_url);
            if sharded {
                config = config.sharded(SubscriptionMode::Dynamic);
            }
            let adapter = RedisAdapter::connect(config).await?;
            (
                SocketIo::builder().adapter(adapter).build(),
                format!("Redis at {redis_url}"),
            )
        }
        "redis-sentinel" => {
            let sentinels = location
                .or_else(|| std::env::var("REDIS_SENTINELS").ok())
                .unwrap_or_else(|| "redis://127.0.0.1:26379".into());
            let master =
                std::env::var("REDIS_SENTINEL_MASTER").unwrap_or_else(|_| "mymaster".into());
            let mut config = RedisAdapterConfig::sentinel(sentinels.split(','), &master);
            if sharded {
                config = config.sharded(SubscriptionMode::Dynamic);
            }
            let adapter = RedisAdapter::connect(config).await?;
            (
                SocketIo::builder().adapter(adapter).build(),
                format!("Redis master {master:?} of the sentinels {sentinels}"),
            )
        }
        "redis-cluster" => {
            let seeds = location
                .or_else(|| std::env::var("REDIS_CLUSTER_URLS").ok())
                .unwrap_or_else(|| "redis://127.0.0.1:7000".into());
            let mut config = RedisAdapterConfig::cluster(seeds.split(','));
            if sharded {
                config = config.sharded(SubscriptionMode::Dynamic);
            }
            let adapter = RedisAdapter::connect(config).await?;
            (
                SocketIo::builder().adapter(adapter).build(),
                format!("the Redis Cluster of {seeds}"),
            )
        }
        "postgres" => postgres_node(location).await?,
        other => {
            let known = "redis, redis-sentinel, redis-cluster or postgres";
            return Err(format!("unknown engine {other:?}: {known}").into());
        }
    };
    let node = format!("rust:{port}");

    let me = node.clone();
    io.ns("/", move |socket: SocketRef| {
        let me = me.clone();
        socket.on(
            "join",
            |socket: SocketRef, Data(room): Data<String>, ack: AckSender| {
                socket.join(room);
                let rooms: Vec<String> = socket.rooms().iter().map(|r| r.to_string()).collect();
                ack.send(&rooms).ok();
            },
        );
        let from = me.clone();
        socket.on("chat", move |io: SocketIo, Data(text): Data<String>| {
            io.emit("chat", &json!({ "node": from, "text": text })).ok();
        });
        let from = me.clone();
        socket.on("whoami", move |io: SocketIo, ack: AckSender| {
            let from = from.clone();
            async move {
                let servers = io.server_count().await.unwrap_or(0);
                let sockets = io.fetch_sockets().await.map(|s| s.len()).unwrap_or(0);
                ack.send(&json!({ "node": from, "servers": servers, "sockets": sockets }))
                    .ok();
            }
        });
        socket.on("blast", |io: SocketIo, Data(blast): Data<Blast>| {
            let payload = "x".repeat(blast.size);
            let room = blast.room.unwrap_or_else(|| "bench".into());
            for i in 0..blast.count {
                io.to(room.clone()).emit("tick", &(i, &payload)).ok();
            }
        });
    });

    // Announce the node (here: listen) only once it hears the other nodes.
    io.ready().await?;

    let app = axum::Router::new()
        .route(
            "/",
            axum::routing::get(
                move || async move { format!("{node}: Socket.IO on /socket.io/\n") },
            ),
        )
        .layer(SocketIoLayer::new(io.clone()));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    tracing::info!("node on http://127.0.0.1:{port}, ready, {engine_at}");
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = tokio::signal::ctrl_c().await;
            io.shutdown();
        })
        .await?;
    Ok(())
}

/// A server on the PostgreSQL adapter (`LISTEN`/`NOTIFY` on the database `location` names).
#[cfg(feature = "postgres")]
async fn postgres_node(
    location: Option<String>,
) -> Result<(SocketIo, String), Box<dyn std::error::Error>> {
    use tower_socketio::adapter::postgres::{PostgresAdapter, PostgresAdapterConfig};
    let connection = location
        .or_else(|| std::env::var("DATABASE_URL").ok())
        .unwrap_or_else(|| "host=127.0.0.1 user=postgres".into());
    let adapter = PostgresAdapter::connect(PostgresAdapterConfig::new(&connection)).await?;
    let io = SocketIo::builder().adapter(adapter).build();
    Ok((io, format!("PostgreSQL at {connection}")))
}

#[cfg(not(feature = "postgres"))]
async fn postgres_node(
    _location: Option<String>,
) -> Result<(SocketIo, String), Box<dyn std::error::Error>> {
    Err("this example was built without the PostgreSQL adapter: build it with --features redis,postgres".into())
}
