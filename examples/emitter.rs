//! A worker that is not a Socket.IO server: every second it tells the clients of a cluster
//! (Rust or Node nodes, e.g. `examples/cluster.rs`) the time, through Redis or PostgreSQL.
//!
//! ```sh
//! cargo run --release --features redis --example cluster -- 3001 redis://127.0.0.1:6379
//! cargo run --features redis --example emitter -- redis://127.0.0.1:6379
//!
//! cargo run --release --features redis,postgres --example cluster -- --engine=postgres 3001 "host=127.0.0.1 user=postgres"
//! cargo run --features redis,postgres --example emitter -- --engine=postgres "host=127.0.0.1 user=postgres"
//! ```
//!
//! Arguments: `--engine=redis|postgres` (default `CLUSTER_ENGINE` or `redis`) and where the
//! engine is: the Redis URL (default `REDIS_URL` or `redis://127.0.0.1:6379`), or the
//! PostgreSQL connection string (default `DATABASE_URL` or `host=127.0.0.1 user=postgres`);
//! `--sharded` or `--streams` for Redis servers in that mode. Every second it emits `clock`
//! `{now, tick}` to every client of namespace `/`, every tenth tick also to room `news` only,
//! with 16 bytes of binary data, and asks the servers' own `stats` listeners
//! (`io.on_server_side("stats", ...)`) to log.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;
use tower_socketio::adapter::redis::{RedisAdapterConfig, RedisMode, SubscriptionMode};
use tower_socketio::emitter::{Emitter, EmitterError};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let engine = args
        .iter()
        .find_map(|a| a.strip_prefix("--engine=").map(str::to_owned))
        .or_else(|| std::env::var("CLUSTER_ENGINE").ok())
        .unwrap_or_else(|| "redis".into());
    let location = args.iter().find(|a| !a.starts_with("--")).cloned();
    let emitter = match engine.as_str() {
        "redis" => redis_emitter(&args, location).await?,
        "postgres" => postgres_emitter(location).await?,
        other => return Err(format!("unknown engine {other:?}: redis or postgres").into()),
    };
    println!("emitting in {:?} format", emitter.format());

    let mut interval = tokio::time::interval(Duration::from_secs(1));
    for tick in 0u64.. {
        interval.tick().await;
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as u64;
        // A failed emit (the engine away) is reported and the worker carries on: the
        // connection comes back by itself.
        if let Err(err) = send(&emitter, tick, now).await {
            eprintln!("tick {tick}: {err}");
        }
    }
    Ok(())
}

/// The servers' Redis adapter configuration: the same URL, prefix and mode.
async fn redis_emitter(
    args: &[String],
    url: Option<String>,
) -> Result<Emitter, Box<dyn std::error::Error>> {
    let mode = if args.iter().any(|a| a == "--sharded") {
        RedisMode::Sharded(SubscriptionMode::Dynamic)
    } else if args.iter().any(|a| a == "--streams") {
        RedisMode::Streams
    } else {
        RedisMode::Classic
    };
    let url = url
        .or_else(|| std::env::var("REDIS_URL").ok())
        .unwrap_or_else(|| "redis://127.0.0.1:6379".into());
    Ok(Emitter::redis(RedisAdapterConfig::new(url).mode(mode)).await?)
}

/// The servers' PostgreSQL adapter configuration: the same database, channel prefix and table.
#[cfg(feature = "postgres")]
async fn postgres_emitter(
    connection: Option<String>,
) -> Result<Emitter, Box<dyn std::error::Error>> {
    use tower_socketio::adapter::postgres::PostgresAdapterConfig;
    let connection = connection
        .or_else(|| std::env::var("DATABASE_URL").ok())
        .unwrap_or_else(|| "host=127.0.0.1 user=postgres".into());
    Ok(Emitter::postgres(PostgresAdapterConfig::new(connection)).await?)
}

#[cfg(not(feature = "postgres"))]
async fn postgres_emitter(_: Option<String>) -> Result<Emitter, Box<dyn std::error::Error>> {
    Err("this example was built without PostgreSQL: build it with --features redis,postgres".into())
}

async fn send(emitter: &Emitter, tick: u64, now: u64) -> Result<(), EmitterError> {
    emitter
        .emit("clock", &json!({ "now": now, "tick": tick }))
        .await?;
    if tick.is_multiple_of(10) {
        // Binary data: through the attachments table with PostgreSQL.
        let bytes = bytes::Bytes::from(tick.to_be_bytes().repeat(2));
        let data = ("tick", tick, tower_socketio::placeholder(0));
        emitter
            .to("news")
            .bin([bytes])
            .emit("headline", &data)
            .await?;
        emitter.server_side_emit("stats", &tick).await?;
    }
    Ok(())
}
