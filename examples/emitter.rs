//! A worker that is not a Socket.IO server: every second it tells the clients of a cluster
//! (Rust or Node nodes, e.g. `examples/cluster.rs`) the time, through Redis.
//!
//! ```sh
//! cargo run --release --features redis --example cluster -- 3001 redis://127.0.0.1:6379
//! cargo run --features redis --example emitter -- redis://127.0.0.1:6379
//! ```
//!
//! Arguments: the Redis URL (default `REDIS_URL` or `redis://127.0.0.1:6379`); `--sharded` or
//! `--streams` for servers in that mode. Every second it emits `clock` `{now, tick}` to every
//! client of namespace `/`, every tenth tick also to room `news` only, and asks the servers'
//! own `stats` listeners (`io.on_server_side("stats", ...)`) to log.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;
use tower_socketio::adapter::redis::{RedisAdapterConfig, RedisMode, SubscriptionMode};
use tower_socketio::emitter::{Emitter, EmitterError};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = if args.iter().any(|a| a == "--sharded") {
        RedisMode::Sharded(SubscriptionMode::Dynamic)
    } else if args.iter().any(|a| a == "--streams") {
        RedisMode::Streams
    } else {
        RedisMode::Classic
    };
    let url = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .cloned()
        .or_else(|| std::env::var("REDIS_URL").ok())
        .unwrap_or_else(|| "redis://127.0.0.1:6379".into());

    // The servers' adapter configuration: the same URL, prefix and mode.
    let emitter = Emitter::redis(RedisAdapterConfig::new(url).mode(mode)).await?;
    println!("emitting in {:?} format", emitter.format());

    let mut interval = tokio::time::interval(Duration::from_secs(1));
    for tick in 0u64.. {
        interval.tick().await;
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as u64;
        // A failed emit (Redis away) is reported and the worker carries on: the connection
        // comes back by itself.
        if let Err(err) = send(&emitter, tick, now).await {
            eprintln!("tick {tick}: {err}");
        }
    }
    Ok(())
}

async fn send(emitter: &Emitter, tick: u64, now: u64) -> Result<(), EmitterError> {
    emitter
        .emit("clock", &json!({ "now": now, "tick": tick }))
        .await?;
    if tick.is_multiple_of(10) {
        emitter.to("news").emit("headline", &("tick", tick)).await?;
        emitter.server_side_emit("stats", &tick).await?;
    }
    Ok(())
}
