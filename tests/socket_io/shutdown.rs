//! Graceful shutdown: a server run with `axum::serve(..).with_graceful_shutdown(..)` whose
//! shutdown future calls `io.shutdown()` (the pattern of `examples/chat`).
//!
//! Expected (issue 6, and Node's `io.close()`): every socket gets its disconnect with the
//! reason "server shutting down"; packets queued before the shutdown reach the clients, over
//! polling and WebSocket; pending polls are released; the server future completes within a
//! bounded time and no task is left behind (counted with tokio's stable
//! `RuntimeMetrics::num_alive_tasks`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tower_socketio::extract::{Data, SocketRef};
use tower_socketio::{DisconnectReason, SocketIo, SocketIoConfig, SocketIoLayer};

use crate::support;
use crate::support::eio::decode_payload;
use crate::support::http;
use crate::support::rawws::RawWs;
use crate::support::sio::{Closed, Next, SioClient, Transport};
use crate::support::stress;
use crate::support::stress::Served;
use crate::support::{Packet, Target};

/// How long the whole shutdown may take, at most (a hang guard, not a timing assertion).
const BOUND: Duration = Duration::from_secs(15);

#[derive(Default)]
struct Log(Mutex<Vec<String>>);

impl Log {
    fn lines(&self) -> Vec<String> {
        let mut lines = self.0.lock().unwrap().clone();
        lines.sort();
        lines
    }
}

/// Namespace `/`; each socket joins the room named by its `tag` (auth) and logs
/// `<tag>: <reason>` on disconnect. Heartbeat 5 s / 1 s, so
/// that hand-driven polling clients need not answer pings, and a draining session that is
/// never polled again is let go after 1 s.
fn io_and_app() -> (SocketIo, axum::Router, Arc<Log>) {
    let config = SocketIoConfig::default().with_engine(|e| {
        e.ping_interval(Duration::from_secs(5))
            .ping_timeout(Duration::from_secs(1))
    });
    let io = SocketIo::builder().config(config).build();
    let log = Arc::new(Log::default());
    {
        let log = log.clone();
        io.ns("/", move |socket: SocketRef, Data(auth): Data<Value>| {
            let tag = auth["tag"].as_str().unwrap_or("untagged").to_owned();
            socket.join(tag.clone());
            let log = log.clone();
            socket.on_disconnect(move |reason: DisconnectReason| {
                log.0.lock().unwrap().push(format!("{tag}: {reason}"));
            });
        });
    }
    let app = axum::Router::new().layer(SocketIoLayer::new(io.clone()));
    (io, app, log)
}

/// The pattern of `examples/chat`: the shutdown future calls `io.shutdown()` and returns.
async fn serve_simple(io: &SocketIo, app: axum::Router) -> Served {
    let io = io.clone();
    stress::serve_graceful(app, move || async move { io.shutdown().await }).await
}

async fn sio_client(target: &Target, t: Transport, tag: &str) -> SioClient {
    let mut c = SioClient::open(target, t).await;
    c.connect("/", Some(json!({ "tag": tag }))).await;
    c
}

/// A polling client driven by hand (no GET pending unless the test sends one): its sid.
async fn manual_polling(target: &Target, tag: &str) -> String {
    let ep = support::sio::endpoint(target);
    let (sid, _) = ep.handshake_polling().await;
    ep.send(&sid, &format!(r#"40{{"tag":"{tag}"}}"#)).await;
    let packets = ep.poll_packets(&sid).await;
    assert!(matches!(&packets[0], Packet::Text(t) if t.starts_with("40{\"sid\"")));
    sid
}

/// The next `n` events must be `before` 0..n, in order.
async fn expect_before(c: &mut SioClient, n: usize) {
    for i in 0..n {
        let (data, _) = c.expect_event("/", "before").await;
        assert_eq!(data, json!(["before", i]));
    }
}

/// Waits for the server future (bounded) and for every task to end.
async fn assert_nothing_left(mut served: Served, baseline: usize) {
    tokio::time::timeout(BOUND, &mut served.task)
        .await
        .expect("axum::serve did not complete after the graceful shutdown")
        .expect("server task");
    let left = stress::settle_tasks(baseline, BOUND).await;
    assert_eq!(
        left,
        baseline,
        "{} task(s) still alive after the shutdown",
        left - baseline
    );
}

/// A polling client with a GET pending, a WebSocket client that reads, and a WebSocket
/// client that stopped reading with a backlog that cannot flush. Three packets are emitted
/// to everyone, then the server is shut down.
#[tokio::test]
async fn shutdown_disconnects_every_socket_flushes_and_leaves_no_task() {
    let baseline = stress::alive_tasks();
    let (io, app, log) = io_and_app();
    let mut served = serve_simple(&io, app).await;
    let target = served.target.clone();
    let mut polling = sio_client(&target, Transport::Polling, "polling").await;
    let mut ws = sio_client(&target, Transport::WebSocket, "websocket").await;
    // a WebSocket client that never reads, with 8 MiB waiting for it
    let mut stuck = RawWs::connect_with(
        &target.addr,
        "/socket.io/?EIO=4&transport=websocket",
        Some(4096),
    )
    .await;
    stuck.next_text(Duration::from_secs(5)).await.expect("open");
    stuck.text(r#"40{"tag":"stuck"}"#).await;
    stuck
        .next_text(Duration::from_secs(5))
        .await
        .expect("CONNECT");
    let big = "z".repeat(256 * 1024);
    for _ in 0..12 {
        // not all of it can be queued (4 MiB bound): the socket may go "slow consumer" first
        let _ = io.to("stuck").emit("big", &big);
        tokio::task::yield_now().await;
    }
    log.0.lock().unwrap().clear();
    let stuck_gone_already = io.client_count() == 2;
    // the packets queued before the shutdown
    for i in 0..3 {
        io.emit("before", &i).expect("emit");
    }
    served.stop();
    // the pending poll is released with what was queued, WebSocket readers get it too
    expect_before(&mut polling, 3).await;
    expect_before(&mut ws, 3).await;
    // then the connection ends: the close packet (or the end of the connection: the server
    // no longer accepts the next GET) and a close frame without status, as Node sends
    match polling.next_within(BOUND).await {
        Next::Closed(Closed::ClosePacket | Closed::Gone) => {}
        other => panic!("polling: expected the end of the session, got {other:?}"),
    }
    match ws.next_within(BOUND).await {
        Next::Closed(Closed::WsClose(None) | Closed::Gone) => {}
        other => panic!("websocket: expected a close frame, got {other:?}"),
    }
    let mut expected = vec![
        "polling: server shutting down",
        "websocket: server shutting down",
    ];
    if !stuck_gone_already {
        expected.push("stuck: server shutting down");
    }
    stress::eventually(BOUND, "every socket disconnected", || {
        log.lines().len() >= expected.len()
    })
    .await;
    expected.sort_unstable();
    assert_eq!(log.lines(), expected);
    drop((polling, ws, stuck));
    assert_nothing_left(served, baseline).await;
}

/// A polling client between two polls when the shutdown starts (the usual case: the client
/// is handling the previous answer). The packets queued for it are only flushed if it can
/// still send its next GET: issue 6 asks for queued packets to be flushed within a bounded
/// time, over polling too.
///
/// With the pattern of `examples/chat` (`with_graceful_shutdown(async { io.shutdown().await })`),
/// axum keeps accepting until every session has finished, so that GET arrives and gets them.
#[tokio::test]
async fn polling_client_between_polls_gets_what_was_queued_before_shutdown() {
    let (io, app, log) = io_and_app();
    let mut served = serve_simple(&io, app).await;
    let target = served.target.clone();
    let ep = support::sio::endpoint(&target);
    let sid = manual_polling(&target, "between-polls").await;
    for i in 0..3 {
        io.emit("before", &i).expect("emit");
    }
    served.stop();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let res = http::send(&target.addr, "GET", &ep.polling_url(&sid), &[], b"").await;
    let res = res.unwrap_or_else(|e| {
        panic!("the GET that would flush the queued packets could not reach the server: {e}")
    });
    assert_eq!(res.status, 200);
    let packets = decode_payload(&res.text());
    assert_eq!(
        packets[..3],
        [
            Packet::text(r#"42["before",0]"#),
            Packet::text(r#"42["before",1]"#),
            Packet::text(r#"42["before",2]"#),
        ]
    );
    assert_eq!(log.lines(), vec!["between-polls: server shutting down"]);
}

/// The same by hand: start the shutdown, keep serving until every session has ended
/// (`io.client_count() == 0`, bounded), and only then let axum stop. Polling clients get their queued packets and then the close packet;
/// new handshakes meanwhile are refused (`400 {"code":3,"message":"Bad request"}`); nothing is
/// left behind.
#[tokio::test]
async fn draining_before_axum_stops_flushes_polling_clients() {
    let baseline = stress::alive_tasks();
    let (io, app, log) = io_and_app();
    let drained = io.clone();
    let mut served = stress::serve_graceful(app, move || async move {
        let _started = drained.shutdown();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while drained.client_count() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let target = served.target.clone();
    let ep = support::sio::endpoint(&target);
    let sid = manual_polling(&target, "between-polls").await;
    let mut pending = sio_client(&target, Transport::Polling, "pending").await;
    for i in 0..3 {
        io.emit("before", &i).expect("emit");
    }
    served.stop();
    expect_before(&mut pending, 3).await;
    let res = ep.poll(&sid).await;
    assert_eq!(
        decode_payload(&res.text()),
        vec![
            Packet::text(r#"42["before",0]"#),
            Packet::text(r#"42["before",1]"#),
            Packet::text(r#"42["before",2]"#),
        ]
    );
    // a handshake during the drain is refused
    let res = ep.target.get(&ep.url("EIO=4&transport=polling")).await;
    support::eio::assert_error(&res, 400, 3, "Bad request");
    // the next poll gets the close packet
    let res = ep.poll(&sid).await;
    assert_eq!((res.status, res.text().as_str()), (200, "1"));
    match pending.next_within(BOUND).await {
        Next::Closed(Closed::ClosePacket | Closed::Gone) => {}
        other => panic!("expected the end of the session, got {other:?}"),
    }
    assert_eq!(
        log.lines(),
        vec![
            "between-polls: server shutting down",
            "pending: server shutting down"
        ]
    );
    drop(pending);
    assert_nothing_left(served, baseline).await;
}

/// Shutting down a server that has no client at all completes at once and leaves nothing.
#[tokio::test]
async fn shutdown_of_an_idle_server_leaves_no_task() {
    let baseline = stress::alive_tasks();
    let (io, app, _log) = io_and_app();
    let mut served = serve_simple(&io, app).await;
    // one client came and went
    let c = sio_client(&served.target, Transport::WebSocket, "gone").await;
    c.close().await;
    served.stop();
    assert_nothing_left(served, baseline).await;
}
