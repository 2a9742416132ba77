//! The chat, with Prometheus metrics: `cargo run --example metrics --features metrics`, then
//! open http://127.0.0.1:3000 for the chat and http://127.0.0.1:3000/metrics for what a
//! Prometheus server would scrape (`tower_socketio::metrics` lists every metric).
//!
//! The `metrics` feature records through the `metrics` facade; this example plugs in
//! `metrics-exporter-prometheus` and serves its text on the chat's own axum app. Install the
//! recorder before building the server: the server looks its handles up once.

// The chat's server, handlers and page (examples/chat); its own `main` goes unused here.
#[allow(dead_code)]
#[path = "chat/main.rs"]
mod chat;

use std::time::Duration;

use axum::routing::get;
use http::HeaderValue;
use metrics_exporter_prometheus::PrometheusBuilder;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();

    let prometheus = PrometheusBuilder::new().install_recorder()?;
    tower_socketio::metrics::describe();
    // Histograms keep their samples until the exporter drains them.
    let upkeep = prometheus.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(5));
        loop {
            every.tick().await;
            upkeep.run_upkeep();
        }
    });

    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3000);
    let origins = HeaderValue::from_str("https://admin.socket.io")
        .into_iter()
        .collect();
    let io = chat::server();
    let app = chat::app(io.clone(), origins).route(
        "/metrics",
        get(move || std::future::ready(prometheus.render())),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("chat:    http://127.0.0.1:{port}   (open it in two tabs)");
    println!("metrics: http://127.0.0.1:{port}/metrics");
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = tokio::signal::ctrl_c().await;
            io.shutdown().await;
        })
        .await?;
    Ok(())
}
