//! The one support tree of the integration tests, declared by every test binary
//! (`tests/{engine,socket_io,clients,cluster,recovery,hostile}/main.rs`) as
//! `#[path = "../support/mod.rs"] mod support;`.
//!
//! Black-box wire-level test clients for tower-socketio (and any Engine.IO v4 /
//! Socket.IO v4 server): [`eio`], [`http`], [`sio`], [`ws`] and the hand-written
//! WebSocket frames of [`rawws`]. `start()` gives a [`Target`]: either the
//! external server named by the `TSIO_TARGET` environment variable (e.g.
//! `http://127.0.0.1:3000`, used to validate the tests against the Node
//! reference server), or the in-process conformance example served on an
//! ephemeral port.
//!
//! Harnesses: [`node`] (the Node.js / npm / Chromium scripts of `tests/js`),
//! [`redis`] (private `redis-server`s and cluster nodes, feature `redis`),
//! [`redis_cluster`] (a private Redis Cluster of `redis-server`s, feature `redis`),
//! [`slow_proxy`] (a lagging TCP proxy to Redis), [`stress`] (purpose-built
//! servers, VmRSS and task counts). Test apps: [`conformance`]
//! (`examples/conformance.rs`), [`legacy_app`], [`features_app`],
//! [`recovery_app`], and the [`browser_pages`] they serve.
// Every test binary uses its own subset of this tree (the engine tests never
// start Node, the cluster tests never touch `rawws`, ...), so unused items and
// re-exports are expected here; allowed once for the whole tree.
#![allow(dead_code, unused_imports)]

pub mod browser_pages;
pub mod eio;
pub mod features_app;
pub mod http;
pub mod legacy_app;
pub mod node;
#[cfg(all(feature = "redis", feature = "postgres"))]
pub mod postgres;
#[cfg(feature = "metrics")]
pub mod prometheus;
pub mod rawws;
pub mod recovery_app;
#[cfg(feature = "redis")]
pub mod redis;
#[cfg(feature = "redis")]
pub mod redis_cluster;
#[cfg(feature = "no-sticky")]
pub mod round_robin;
#[cfg(feature = "redis")]
pub mod sentinel;
pub mod sio;
pub mod slow_proxy;
pub mod stress;
pub mod ws;

#[path = "../../examples/conformance.rs"]
pub mod conformance;

pub use eio::{Endpoint, Packet};
pub use http::Response;
pub use ws::{WsClient, WsEvent};

/// Where the server under test listens.
#[derive(Debug, Clone)]
pub struct Target {
    /// `host:port`
    pub addr: String,
}

/// Starts (or names) the server under test.
///
/// With no `TSIO_TARGET`, the conformance app is served in a task of the
/// current tokio runtime, so it lives as long as the calling test.
pub async fn start() -> Target {
    if let Ok(url) = std::env::var("TSIO_TARGET") {
        let addr = url
            .trim()
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        assert!(
            !addr.is_empty() && !addr.contains('/'),
            "TSIO_TARGET must look like http://127.0.0.1:3000, got {url:?}"
        );
        return Target { addr };
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr").to_string();
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    tokio::spawn(async move {
        axum::serve(listener, conformance::app())
            .await
            .expect("conformance server failed");
    });
    Target { addr }
}

impl Target {
    /// `http://host:port`
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `ws://host:port{path_and_query}`
    pub fn ws_url(&self, path_and_query: &str) -> String {
        format!("ws://{}{}", self.addr, path_and_query)
    }

    /// The plain Engine.IO endpoint of the conformance server.
    pub fn engine(&self) -> Endpoint {
        self.endpoint("/engine.io/")
    }

    /// An Engine.IO endpoint mounted at `path` (e.g. `/socket.io/`).
    pub fn endpoint(&self, path: &str) -> Endpoint {
        Endpoint {
            target: self.clone(),
            path: path.to_string(),
        }
    }

    /// Any request; panics on I/O errors or timeouts.
    pub async fn request(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        http::send(&self.addr, method, path_and_query, headers, body)
            .await
            .unwrap_or_else(|e| panic!("{method} {path_and_query}: {e}"))
    }

    pub async fn get(&self, path_and_query: &str) -> Response {
        self.request("GET", path_and_query, &[], b"").await
    }

    pub async fn post(&self, path_and_query: &str, content_type: &str, body: &[u8]) -> Response {
        self.request(
            "POST",
            path_and_query,
            &[("Content-Type", content_type)],
            body,
        )
        .await
    }

    /// A fresh raw connection, for hand-written requests.
    pub async fn connect(&self) -> http::Conn {
        http::Conn::connect(&self.addr).await.expect("connect")
    }
}
