//! A complete, minimal custom adapter: it keeps rooms and delivers locally through
//! [`LocalAdapter`], and counts what it is asked to do, the way a real adapter would add a
//! transport to other nodes. It passes the crate's adapter conformance suite
//! (`tests/cluster/adapter_conformance.rs`), which every adapter in the crate runs.
//!
//! ```sh
//! cargo run --example custom_adapter   # a server on 127.0.0.1:3000 with this adapter
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::Value;
use tower_socketio::adapter::{
    Adapter, AdapterFuture, BroadcastOptions, BroadcastPacket, LocalAdapter, NamespaceHandle, Room,
    SocketInfo,
};
use tower_socketio::engine::Sid;
use tower_socketio::{AdapterError, BroadcastAckFuture, SocketIo};

/// How many operations every namespace's adapter carried, for all to see.
#[derive(Debug, Default)]
pub struct Counters {
    pub broadcasts: AtomicU64,
    pub requests: AtomicU64,
}

/// One namespace's adapter.
pub struct CountingAdapter {
    local: LocalAdapter,
    counters: Arc<Counters>,
}

/// The builder to hand to `SocketIo::builder().adapter(...)`: one adapter per namespace.
pub fn builder(
    counters: Arc<Counters>,
) -> impl Fn(NamespaceHandle) -> Arc<dyn Adapter> + Send + Sync + 'static {
    move |ns| {
        Arc::new(CountingAdapter {
            local: LocalAdapter::new(ns),
            counters: counters.clone(),
        }) as Arc<dyn Adapter>
    }
}

/// A request's answer, at once: everything is on this node.
fn ready<'a, T: Send + 'a>(value: T) -> AdapterFuture<'a, T> {
    Box::pin(std::future::ready(Ok(value)))
}

impl CountingAdapter {
    fn request(&self) {
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
    }
}

impl Adapter for CountingAdapter {
    // Rooms: this node's, synchronous.
    fn add_all(&self, sid: Sid, rooms: Vec<Room>) {
        self.local.add_all(sid, rooms);
    }

    fn del(&self, sid: Sid, room: &Room) {
        self.local.del(sid, room);
    }

    fn del_all(&self, sid: Sid) {
        self.local.del_all(sid);
    }

    fn socket_rooms(&self, sid: Sid) -> Vec<Room> {
        self.local.socket_rooms(sid)
    }

    // Fire and forget: local part done, remote part (none here) queued, before returning.
    fn broadcast(
        &self,
        packet: BroadcastPacket,
        opts: BroadcastOptions,
    ) -> Result<(), AdapterError> {
        self.counters.broadcasts.fetch_add(1, Ordering::Relaxed);
        self.local.broadcast(&packet, &opts);
        Ok(())
    }

    fn add_sockets(&self, opts: BroadcastOptions, rooms: Vec<Room>) -> Result<(), AdapterError> {
        self.local.add_sockets(&opts, &rooms);
        Ok(())
    }

    fn del_sockets(&self, opts: BroadcastOptions, rooms: Vec<Room>) -> Result<(), AdapterError> {
        self.local.del_sockets(&opts, &rooms);
        Ok(())
    }

    fn disconnect_sockets(&self, opts: BroadcastOptions, close: bool) -> Result<(), AdapterError> {
        self.local.disconnect_sockets(&opts, close);
        Ok(())
    }

    fn server_side_emit(&self, _event: String, _args: Vec<Value>) -> Result<(), AdapterError> {
        Ok(()) // no other node to hear it
    }

    // Requests: futures the caller polls to the end.
    fn broadcast_with_ack(
        &self,
        packet: BroadcastPacket,
        opts: BroadcastOptions,
        timeout: Duration,
    ) -> AdapterFuture<'_, BroadcastAckFuture> {
        self.request();
        ready(self.local.broadcast_with_ack(&packet, &opts, timeout))
    }

    fn fetch_sockets(&self, opts: BroadcastOptions) -> AdapterFuture<'_, Vec<SocketInfo>> {
        self.request();
        // Done inside `async`, as a transport would: the caller polls it to the end.
        Box::pin(async move { Ok(self.local.fetch_sockets(&opts)) })
    }

    fn server_side_emit_with_ack(
        &self,
        _event: String,
        _args: Vec<Value>,
        _timeout: Duration,
    ) -> AdapterFuture<'_, Vec<Value>> {
        self.request();
        ready(Vec::new())
    }

    fn all_rooms(&self) -> AdapterFuture<'_, Vec<Room>> {
        self.request();
        Box::pin(async move { Ok(self.local.rooms()) })
    }

    fn server_count(&self) -> AdapterFuture<'_, usize> {
        ready(1)
    }
}

/// A server whose namespaces use the counting adapter.
pub fn server(counters: Arc<Counters>) -> SocketIo {
    SocketIo::builder().adapter(builder(counters)).build()
}

#[cfg_attr(test, allow(dead_code))] // tests/cluster/adapter_conformance.rs includes this file
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let counters = Arc::new(Counters::default());
    let io = server(counters.clone());
    io.ns("/", |socket: tower_socketio::SocketRef| {
        socket.on("chat", |socket: tower_socketio::SocketRef, tower_socketio::extract::Data(text): tower_socketio::extract::Data<String>| {
            socket.broadcast().emit("chat", &text).ok();
        });
    });
    let app = axum::Router::new().layer(tower_socketio::SocketIoLayer::new(io));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("custom adapter on http://127.0.0.1:3000");
    axum::serve(listener, app).await?;
    Ok(())
}
