//! The `metrics` feature, read through a real recorder: Prometheus' exporter
//! (`metrics-exporter-prometheus`, as `examples/metrics.rs` uses it) installed as the global
//! recorder, a server driven over TCP by wire-level clients, and the rendered `/metrics` text
//! checked metric by metric.
//!
//! Its own test binary: a recorder is global to the process, and the server looks its handles
//! up once, so it must be installed before any server of the process records anything. Run it
//! alone with `scripts/test metrics`.
#![cfg(feature = "metrics")]

#[path = "support/mod.rs"]
mod support;

use std::time::Duration;

use serde_json::{Value, json};
use tower_socketio::extract::{AckSender, Data, SocketRef};
use tower_socketio::{ConnectionStateRecovery, SocketIo, SocketIoConfig, SocketIoLayer};

use support::Target;
use support::eio::Packet;
use support::prometheus::{eventually, recorder, sample};
use support::sio::{SioClient, SioPacket, Transport};

const QUEUE_BOUND: usize = 64 * 1024;
const WAIT: Duration = Duration::from_secs(5);

async fn serve(io: &SocketIo) -> Target {
    let app = axum::Router::new().layer(SocketIoLayer::new(io.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Target { addr }
}

/// Sends a CONNECT to `nsp` and returns the server's answer (`sid`, `pid`, `recovered`).
async fn connect(client: &mut SioClient, nsp: &str, auth: Value) -> Value {
    client.emit(&SioPacket::new(0, nsp, None, Some(auth))).await;
    let answer = client.expect_packet().await;
    assert_eq!((answer.kind, answer.nsp.as_str()), (0, nsp), "{answer}");
    answer.data().clone()
}

fn server() -> SocketIo {
    let config = SocketIoConfig::default()
        .ack_timeout(Duration::from_millis(200))
        .with_engine(|e| e.max_buffered_bytes(QUEUE_BOUND));
    let io = SocketIo::builder()
        .config(config)
        .connection_state_recovery(ConnectionStateRecovery::default())
        .build();
    io.ns("/", |socket: SocketRef, Data(auth): Data<Value>| {
        socket.on("slow", |ack: AckSender| async move {
            tokio::time::sleep(Duration::from_millis(60)).await;
            let _ = ack.send(&"done");
        });
        socket.on("ask", |socket: SocketRef| async move {
            // the client never answers: an ack timeout
            if let Ok(ack) = socket.emit_with_ack("question", &()) {
                let _ = ack.await;
            }
        });
        if auth.get("flood").is_some() {
            // more than the queue takes, to a client that does not read: a slow consumer
            let payload = "x".repeat(1024);
            for i in 0..2 * QUEUE_BOUND / 1024 {
                if socket.emit("flood", &(i, &payload)).is_err() {
                    break;
                }
            }
        }
    });
    io.ns("/chat", |_: SocketRef| {});
    io.dyn_ns(|name| name.starts_with("/team-"), |_: SocketRef| {});
    io
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_follow_the_server() {
    let handle = recorder();
    let io = server();
    let target = serve(&io).await;

    // One client upgraded from polling, one on WebSocket from the start, in two namespaces.
    let mut upgraded = SioClient::open(&target, Transport::Upgraded).await;
    connect(&mut upgraded, "/", json!({})).await;
    let mut direct = SioClient::open(&target, Transport::WebSocket).await;
    connect(&mut direct, "/", json!({})).await;
    connect(&mut direct, "/chat", json!({})).await;
    // Namespaces made by clients share one label: their names are not the server's.
    connect(&mut direct, "/team-1", json!({})).await;
    connect(&mut upgraded, "/team-2", json!({})).await;
    let text = eventually("two sockets on /, one on /chat", WAIT, |t| {
        sample(t, "socketio_sockets_connected", r#"namespace="/""#) == 2.0
            && sample(t, "socketio_sockets_connected", r#"namespace="/chat""#) == 1.0
            && sample(t, "socketio_sockets_connected", r#"namespace="(dynamic)""#) == 2.0
    })
    .await;
    assert_eq!(
        sample(
            &text,
            "socketio_engine_sessions",
            r#"transport="websocket""#
        ),
        2.0
    );
    assert_eq!(
        sample(&text, "socketio_engine_sessions", r#"transport="polling""#),
        0.0
    );
    assert_eq!(sample(&text, "socketio_engine_upgrades_total", ""), 1.0);
    assert!(text.contains("# HELP socketio_sockets_connected"), "{text}");
    assert!(
        !text.contains("team-"),
        "a client's namespace name in a label: {text}"
    );

    // A handler that takes 60 ms, timed to the end of its future.
    let before = handle.render();
    let received = sample(&before, "socketio_engine_messages_received_total", "");
    let received_bytes = sample(&before, "socketio_engine_received_bytes_total", "");
    let sent = sample(&before, "socketio_engine_messages_sent_total", "");
    direct
        .emit(&SioPacket::event("/", "slow", &[]).with_id(1))
        .await;
    let answer = direct.expect_packet().await;
    assert_eq!(answer.data(), &json!(["done"]), "ack: {answer}");
    let text = eventually("the handler's duration", WAIT, |t| {
        sample(
            t,
            "socketio_handler_duration_seconds_count",
            r#"namespace="/""#,
        ) >= 1.0
    })
    .await;
    let took = sample(
        &text,
        "socketio_handler_duration_seconds_sum",
        r#"namespace="/""#,
    );
    assert!(took >= 0.06, "the handler took {took} s");
    assert!(sample(&text, "socketio_engine_messages_received_total", "") > received);
    assert!(sample(&text, "socketio_engine_received_bytes_total", "") >= received_bytes + 10.0);
    assert!(sample(&text, "socketio_engine_messages_sent_total", "") > sent);
    assert!(sample(&text, "socketio_engine_sent_bytes_total", "") > 0.0);
    assert!(sample(&text, "socketio_engine_queue_depth_count", "") >= 1.0);

    // An ack the client never sends.
    direct.emit(&SioPacket::event("/", "ask", &[])).await;
    let (_, id) = direct.expect_event("/", "question").await;
    assert!(id.is_some(), "the question asks for an ack");
    eventually("an ack timeout", WAIT, |t| {
        sample(t, "socketio_ack_timeouts_total", "") == 1.0
    })
    .await;

    // A cluster-wide request, on the in-memory adapter.
    let sockets = io.fetch_sockets().await.expect("fetch_sockets");
    assert_eq!(sockets.len(), 2);
    eventually("the fetch_sockets request", WAIT, |t| {
        sample(
            t,
            "socketio_adapter_request_duration_seconds_count",
            r#"request="fetch_sockets""#,
        ) == 1.0
    })
    .await;

    // A client that never polls, flooded past its queue: closed as a slow consumer.
    let ep = support::sio::endpoint(&target);
    let (sid, _) = ep.handshake_polling().await;
    ep.send_packets(&sid, &[Packet::text(r#"40{"flood":true}"#)])
        .await;
    eventually("a slow consumer closed", WAIT, |t| {
        sample(t, "socketio_engine_slow_consumer_closes_total", "") == 1.0
    })
    .await;

    // Recovery: a socket cut off comes back with its pid; a made-up pid is an attempt only.
    let mut client = SioClient::open(&target, Transport::WebSocket).await;
    let answer = connect(&mut client, "/", json!({})).await;
    let pid = answer["pid"].as_str().expect("pid").to_owned();
    client.close().await;
    eventually("the cut socket gone", WAIT, |t| {
        sample(t, "socketio_sockets_connected", r#"namespace="/""#) == 2.0
    })
    .await;
    for (pid, recovered) in [(pid.as_str(), true), ("not-a-session", false)] {
        let mut again = SioClient::open(&target, Transport::WebSocket).await;
        let answer = connect(&mut again, "/", json!({ "pid": pid, "offset": null })).await;
        // A recovered socket gets its session id back (the client's test for recovery).
        assert_eq!(answer["pid"] == json!(pid), recovered, "{answer}");
        again.close().await;
    }
    let text = eventually("two recovery attempts", WAIT, |t| {
        sample(t, "socketio_recovery_attempts_total", "") == 2.0
    })
    .await;
    assert_eq!(sample(&text, "socketio_recovery_successes_total", ""), 1.0);

    // Everyone leaves: the gauges come back to zero.
    upgraded.close().await;
    direct.close().await;
    eventually("no socket and no session left", WAIT, |t| {
        sample(t, "socketio_sockets_connected", r#"namespace="/""#) == 0.0
            && sample(t, "socketio_sockets_connected", r#"namespace="/chat""#) == 0.0
            && sample(t, "socketio_sockets_connected", r#"namespace="(dynamic)""#) == 0.0
            && sample(t, "socketio_engine_sessions", r#"transport="websocket""#) == 0.0
            && sample(t, "socketio_engine_sessions", r#"transport="polling""#) == 0.0
    })
    .await;
}
