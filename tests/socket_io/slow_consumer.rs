//! Slow consumers: a client that stops reading while the server bursts 1 000 packets at it.
//!
//! The policy under test (README, "Reliability"): each connection's outbound queue is bounded
//! in bytes (`max_buffered_bytes`, 256 KiB here); an `emit` that would go past it returns
//! `EmitError::QueueFull` to its caller and the connection is closed with the disconnect
//! reason `slow consumer`; `volatile` emits are dropped instead of queued; nothing is ever
//! dropped silently for a client that keeps up, and other clients are not affected. Memory is
//! read from `/proc/self/status` (VmRSS) before and after each burst.
//!
//! Over WebSocket the back-pressure is TCP's: a raw client with a 4 KiB receive buffer that
//! never reads its socket. Over polling it is a client that never sends its GET.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tower_socketio::extract::{Data, SocketRef};
use tower_socketio::{DisconnectReason, EmitError, SocketIo, SocketIoConfig, SocketIoLayer};

use crate::support;
use crate::support::Target;
use crate::support::eio::{TEXT_PLAIN, decode_payload};
use crate::support::rawws;
use crate::support::rawws::RawWs;
use crate::support::sio::{SioClient, Transport};
use crate::support::stress;

const QUEUE_BOUND: usize = 256 * 1024;
const BURST: usize = 1_000;
const MIB: u64 = 1024;

/// What the server saw: for each client (its `tag` auth field), how its burst ended and why
/// it disconnected.
#[derive(Default)]
struct Log {
    lines: Mutex<Vec<String>>,
}

impl Log {
    fn push(&self, line: String) {
        self.lines.lock().unwrap().push(line);
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    fn has(&self, line: &str) -> bool {
        self.lines().iter().any(|l| l == line)
    }

    fn find(&self, prefix: &str) -> Option<String> {
        self.lines().into_iter().find(|l| l.starts_with(prefix))
    }
}

/// Emits packet `i` of a burst (`size` bytes of payload), with `socket.volatile()` or not.
fn emit_one(socket: &SocketRef, i: usize, payload: &str, volatile: bool) -> Result<(), EmitError> {
    if volatile {
        socket.volatile().emit("v", &(i, payload))
    } else {
        socket.emit("n", &(i, payload))
    }
}

/// The slow-consumer server: namespace `/` whose sockets, on `burst [count, size, paced,
/// volatile]`, emit `count` packets of `size` bytes (yielding to the runtime between emits
/// when `paced`, with `socket.volatile()` when `volatile`) and log how it ended, then emit `done`; `message` is echoed as
/// `message-back`.
async fn server() -> (Target, SocketIo, Arc<Log>) {
    let config = SocketIoConfig::default().with_engine(|e| e.max_buffered_bytes(QUEUE_BOUND));
    let io = SocketIo::builder().config(config).build();
    let log = Arc::new(Log::default());
    let on_connect = {
        let log = log.clone();
        move |socket: SocketRef, Data(auth): Data<Value>| {
            let tag = auth["tag"].as_str().unwrap_or("untagged").to_owned();
            {
                let (log, tag) = (log.clone(), tag.clone());
                socket.on_disconnect(move |reason: DisconnectReason| {
                    log.push(format!("{tag}: disconnect {reason}"));
                });
            }
            socket.on("message", |socket: SocketRef, Data(v): Data<Value>| {
                socket.emit("message-back", &v).ok();
            });
            let log = log.clone();
            socket.on(
                "burst",
                move |socket: SocketRef, Data((count, size, paced, volatile)): Data<(usize, usize, bool, bool)>| {
                    let (log, tag) = (log.clone(), tag.clone());
                    async move {
                        let payload = "x".repeat(size);
                        let mut result = Ok(count);
                        for i in 0..count {
                            if let Err(err) = emit_one(&socket, i, &payload, volatile) {
                                result = Err((i, err));
                                break;
                            }
                            if paced {
                                // lets the transport write the packets out as they come
                                tokio::task::yield_now().await;
                            }
                        }
                        let line = match &result {
                            Ok(n) => format!("{tag}: burst ok {n}"),
                            Err((i, EmitError::QueueFull)) => format!("{tag}: burst QueueFull at {i}"),
                            Err((i, err)) => format!("{tag}: burst error at {i}: {err}"),
                        };
                        log.push(line);
                        socket.emit("done", &()).ok();
                    }
                },
            );
        }
    };
    io.ns("/", on_connect);
    let app = axum::Router::new().layer(SocketIoLayer::new(io.clone()));
    (stress::serve(app).await.target, io, log)
}

/// A raw WebSocket Socket.IO client in `/` that will never read once told to stop.
async fn raw_ws_client(target: &Target, tag: &str, rcvbuf: Option<u32>) -> RawWs {
    let mut ws = RawWs::connect_with(
        &target.addr,
        "/socket.io/?EIO=4&transport=websocket",
        rcvbuf,
    )
    .await;
    let open = ws.next_text(Duration::from_secs(5)).await.expect("open");
    assert!(open.starts_with("0{"), "{open}");
    ws.text(&format!(r#"40{{"tag":"{tag}"}}"#)).await;
    let connected = ws.next_text(Duration::from_secs(5)).await.expect("CONNECT");
    assert!(connected.starts_with("40{\"sid\""), "{connected}");
    ws
}

/// A bystander on each transport, tagged, whose echo must keep working.
async fn bystanders(target: &Target) -> Vec<SioClient> {
    let mut out = Vec::new();
    for (t, tag) in [
        (Transport::WebSocket, "bystander-ws"),
        (Transport::Polling, "bystander-polling"),
    ] {
        let mut c = SioClient::open(target, t).await;
        c.connect("/", Some(json!({ "tag": tag }))).await;
        out.push(c);
    }
    out
}

async fn assert_bystanders_fine(clients: &mut [SioClient], log: &Log) {
    for c in clients.iter_mut() {
        c.emit(&support::sio::SioPacket::event(
            "/",
            "message",
            &[json!("still here")],
        ))
        .await;
        let (data, _) = c.expect_event("/", "message-back").await;
        assert_eq!(data, json!(["message-back", "still here"]));
    }
    assert!(
        !log.lines().iter().any(|l| l.starts_with("bystander")),
        "a bystander was affected: {:?}",
        log.lines()
    );
}

/// WebSocket: a client with a 4 KiB receive buffer stops reading; the server bursts 1 000
/// packets of 32 KiB (32 MiB in all), yielding between emits so the transport writes as much as
/// TCP takes. Once the kernel's buffers and the 256 KiB queue are full, `emit` returns
/// `QueueFull` and the socket is disconnected with `slow consumer`; memory grows by a small,
/// fixed amount, not by the 32 MiB sent.
#[tokio::test]
async fn websocket_reader_that_never_reads() {
    let _heavy = stress::HEAVY.lock().await;
    let (target, io, log) = server().await;
    let mut others = bystanders(&target).await;
    let mut slow = raw_ws_client(&target, "ws-slow", Some(4096)).await;
    let base = stress::settled_rss_kib();
    slow.text(r#"42["burst",1000,32768,true,false]"#).await;
    stress::eventually(Duration::from_secs(30), "the burst ended", || {
        log.find("ws-slow: burst").is_some()
    })
    .await;
    let peak = stress::vm_rss_kib();
    let line = log.find("ws-slow: burst").unwrap();
    stress::eventually(
        Duration::from_secs(5),
        "the slow socket disconnected",
        || log.has("ws-slow: disconnect slow consumer"),
    )
    .await;
    eprintln!(
        "websocket slow consumer: {line}; queue bound {} KiB; RSS +{} KiB at the end of the burst ({} MiB were emitted at most)",
        QUEUE_BOUND / 1024,
        peak.saturating_sub(base),
        32
    );
    let at: usize = line
        .strip_prefix("ws-slow: burst QueueFull at ")
        .unwrap_or_else(|| panic!("expected QueueFull, got {line:?}"))
        .parse()
        .unwrap();
    assert!(at < BURST, "{line}");
    assert!(
        peak.saturating_sub(base) < 16 * MIB,
        "RSS grew {} KiB for a 256 KiB queue bound",
        peak.saturating_sub(base)
    );
    // What reaches the client is a prefix of the burst, in order, and then the end of the
    // connection (the close frame is not waited for: the client does not read).
    let mut next = 0usize;
    loop {
        match slow.next_frame(Duration::from_secs(10)).await {
            Some(f) if f.opcode == rawws::TEXT => {
                let text = String::from_utf8_lossy(&f.payload).into_owned();
                if let Some(json) = text.strip_prefix("42[\"n\",") {
                    let i: usize = json.split(',').next().unwrap().parse().unwrap();
                    assert_eq!(i, next, "packets out of order or missing");
                    next += 1;
                }
            }
            Some(f) if f.opcode == rawws::CLOSE => break,
            Some(_) => {}
            None => break,
        }
    }
    eprintln!("the slow client got packets 0..{next} of the burst before the end");
    assert!(next <= at, "got {next} packets, but emit {at} failed");
    assert_eq!(io.client_count(), 2, "only the two bystanders are left");
    assert_bystanders_fine(&mut others, &log).await;
}

/// A burst of 1 000 packets of 8 KiB (8 MiB) to a WebSocket client that reads as they come:
/// every packet arrives, in order, and no emit fails. The bound costs nothing to a client that
/// keeps up. (A client that reads slower than the server emits is, by definition, one that
/// does not keep up: the producer has no way to wait for room in the queue.)
#[tokio::test]
async fn websocket_reader_that_reads_gets_every_packet() {
    let _heavy = stress::HEAVY.lock().await;
    let (target, _io, log) = server().await;
    let mut reader = raw_ws_client(&target, "ws-reader", None).await;
    reader.text(r#"42["burst",1000,8192,true,false]"#).await;
    for i in 0..BURST {
        let text = reader
            .next_text(Duration::from_secs(10))
            .await
            .unwrap_or_else(|| panic!("packet {i} did not come: {:?}", log.lines()));
        assert!(
            text.starts_with(&format!("42[\"n\",{i},")),
            "packet {i}: {}",
            &text[..text.len().min(40)]
        );
    }
    assert_eq!(
        reader.next_text(Duration::from_secs(5)).await.as_deref(),
        Some(r#"42["done"]"#)
    );
    assert!(log.has("ws-reader: burst ok 1000"), "{:?}", log.lines());
}

/// Polling: a client that never sends its GET. The burst is 1 000 packets of 64 KiB (64 MiB);
/// the queue takes 256 KiB of it, then `emit` returns `QueueFull` and the session is closed
/// ("slow consumer"). The client's next GET finds the session gone: `400
/// {"code":1,"message":"Session ID unknown"}`.
#[tokio::test]
async fn polling_client_that_never_polls() {
    let _heavy = stress::HEAVY.lock().await;
    let (target, io, log) = server().await;
    let mut others = bystanders(&target).await;
    let ep = support::sio::endpoint(&target);
    let (sid, _) = ep.handshake_polling().await;
    ep.send(&sid, r#"40{"tag":"poll-slow"}"#).await;
    let connected = ep.poll_packets(&sid).await;
    assert!(matches!(&connected[0], support::Packet::Text(t) if t.starts_with("40{\"sid\"")));
    let base = stress::settled_rss_kib();
    let res = ep.send(&sid, r#"42["burst",1000,65536,false,false]"#).await;
    assert_eq!(res.status, 200);
    stress::eventually(Duration::from_secs(30), "the burst ended", || {
        log.find("poll-slow: burst").is_some()
    })
    .await;
    let peak = stress::vm_rss_kib();
    let line = log.find("poll-slow: burst").unwrap();
    eprintln!(
        "polling slow consumer: {line}; RSS +{} KiB at the end of the burst (64 MiB emitted at most)",
        peak.saturating_sub(base)
    );
    // 256 KiB holds 3 packets of 64 KiB: the 4th does not fit
    assert_eq!(line, "poll-slow: burst QueueFull at 3");
    assert!(
        log.has("poll-slow: disconnect slow consumer"),
        "{:?}",
        log.lines()
    );
    assert!(
        peak.saturating_sub(base) < 16 * MIB,
        "RSS +{} KiB",
        peak - base
    );
    let res = ep.poll(&sid).await;
    support::eio::assert_error(&res, 400, 1, "Session ID unknown");
    assert_eq!(io.client_count(), 2);
    assert_bystanders_fine(&mut others, &log).await;
}

/// Volatile emits to a polling client with no GET pending are dropped, not queued: 1 000 of
/// them (64 MiB) leave the queue empty and the session open; a regular emit after them is the
/// only packet the next GET gets.
#[tokio::test]
async fn volatile_emits_to_a_client_that_does_not_poll_are_dropped() {
    let _heavy = stress::HEAVY.lock().await;
    let (target, _io, log) = server().await;
    let ep = support::sio::endpoint(&target);
    let (sid, _) = ep.handshake_polling().await;
    ep.send(&sid, r#"40{"tag":"poll-volatile"}"#).await;
    ep.poll_packets(&sid).await;
    let base = stress::settled_rss_kib();
    let res = ep.send(&sid, r#"42["burst",1000,65536,false,true]"#).await;
    assert_eq!(res.status, 200);
    stress::eventually(Duration::from_secs(30), "the burst ended", || {
        log.find("poll-volatile: burst").is_some()
    })
    .await;
    let grown = stress::vm_rss_kib().saturating_sub(base);
    assert!(log.has("poll-volatile: burst ok 1000"), "{:?}", log.lines());
    let packets = ep.poll_packets(&sid).await;
    assert_eq!(packets, vec![support::Packet::text(r#"42["done"]"#)]);
    eprintln!("1000 volatile emits of 64 KiB to a client not polling: RSS +{grown} KiB");
    assert!(grown < 16 * MIB);
    assert!(ep.session_exists(&sid, "polling").await);
    // POST body check for completeness: the session still takes packets
    let res = target
        .post(
            &ep.polling_url(&sid),
            TEXT_PLAIN,
            br#"42["message","after"]"#,
        )
        .await;
    assert_eq!(res.status, 200);
    let packets = decode_payload(&ep.poll(&sid).await.text());
    assert_eq!(
        packets,
        vec![support::Packet::text(r#"42["message-back","after"]"#)]
    );
}

/// Volatile emits to a WebSocket client that stopped reading: once TCP pushes back they are
/// dropped, the queue does not grow and the connection stays open; when the client reads
/// again it gets a prefix of the burst, in order, then `done`.
#[tokio::test]
async fn volatile_emits_to_a_websocket_that_does_not_read_are_dropped() {
    let _heavy = stress::HEAVY.lock().await;
    let (target, io, log) = server().await;
    let mut slow = raw_ws_client(&target, "ws-volatile", Some(4096)).await;
    slow.text(r#"42["burst",1000,32768,true,true]"#).await;
    stress::eventually(Duration::from_secs(30), "the burst ended", || {
        log.find("ws-volatile: burst").is_some()
    })
    .await;
    assert!(log.has("ws-volatile: burst ok 1000"), "{:?}", log.lines());
    let mut next = 0usize;
    let mut seen = Vec::new();
    loop {
        let text = slow
            .next_text(Duration::from_secs(10))
            .await
            .expect("the connection stays open");
        if text == r#"42["done"]"# {
            break;
        }
        let i: usize = text
            .strip_prefix("42[\"v\",")
            .and_then(|j| j.split(',').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("unexpected {}", &text[..text.len().min(40)]));
        assert!(i >= next, "out of order");
        next = i + 1;
        seen.push(i);
    }
    eprintln!(
        "volatile burst to a WebSocket not reading: {} of 1000 delivered",
        seen.len()
    );
    assert!(
        seen.len() < BURST,
        "nothing was dropped: TCP never pushed back"
    );
    assert_eq!(io.client_count(), 1);
    assert!(!log.lines().iter().any(|l| l.contains("disconnect")));
}

/// A broadcast to a room where one client stopped reading: the reader gets all 1 000
/// packets, the slow one is disconnected (`slow consumer`); `io.emit` itself succeeds (a
/// broadcast reports no per-receiver failure).
#[tokio::test]
async fn broadcast_with_one_slow_receiver() {
    let _heavy = stress::HEAVY.lock().await;
    let (target, io, log) = server().await;
    let mut reader = SioClient::open(&target, Transport::WebSocket).await;
    reader
        .connect("/", Some(json!({"tag": "bystander-reader"})))
        .await;
    let _slow = raw_ws_client(&target, "broadcast-slow", Some(4096)).await;
    let payload = "y".repeat(32 * 1024);
    let mut received = 0usize;
    for i in 0..BURST {
        io.emit("b", &(i, &payload)).expect("broadcast");
        tokio::task::yield_now().await;
        // read as we go, like a client that keeps up
        while let support::sio::Next::Packet(p) = reader.next_within(Duration::from_millis(1)).await
        {
            assert_eq!(p.data()[1], json!(received), "reader: out of order");
            received += 1;
        }
    }
    while received < BURST {
        let p = reader.expect_packet().await;
        assert_eq!(p.data()[1], json!(received));
        received += 1;
    }
    stress::eventually(
        Duration::from_secs(5),
        "the slow receiver disconnected",
        || log.has("broadcast-slow: disconnect slow consumer"),
    )
    .await;
    assert!(
        !log.lines().iter().any(|l| l.starts_with("bystander")),
        "{:?}",
        log.lines()
    );
}
