//! Soak: connection churn against the in-process conformance server. Thousands of Socket.IO
//! clients (WebSocket, and polling on one keep-alive connection each) connect, exchange a
//! message, and leave, 32 at a time; afterwards the process's memory (VmRSS, heap trimmed) is
//! back within a small margin of its baseline, no task is left alive and the server holds no
//! session.
//!
//! Short form by default (2 000 sessions); `TSIO_SOAK=1` runs 30 000 (`TSIO_SOAK_SESSIONS=N`
//! sets the number). Client sockets are spread over the source addresses 127.0.0.1–127.0.0.8,
//! so that tens of thousands of closed connections in TIME_WAIT never exhaust the ephemeral
//! ports.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Message;

use crate::support;
use crate::support::Target;
use crate::support::stress;

/// Bound on one session (a hang guard).
const SESSION_BOUND: Duration = Duration::from_secs(10);
const CONCURRENCY: usize = 32;

static NEXT_SOURCE: AtomicUsize = AtomicUsize::new(0);

/// A TCP connection to `target` from one of 127.0.0.1..=127.0.0.8.
async fn tcp(target: &Target) -> TcpStream {
    let n = NEXT_SOURCE.fetch_add(1, Ordering::Relaxed);
    let source = SocketAddr::from((Ipv4Addr::new(127, 0, 0, 1 + (n % 8) as u8), 0));
    let socket = TcpSocket::new_v4().expect("socket");
    socket.bind(source).expect("bind source address");
    let stream = socket
        .connect(target.addr.parse().expect("address"))
        .await
        .expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    stream
}

type Ws = tokio_tungstenite::WebSocketStream<TcpStream>;

/// The next text message, Engine.IO pings answered.
async fn next_text(ws: &mut Ws, i: usize) -> String {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) if t.as_str() == "2" => {
                ws.send(Message::text("3")).await.expect("pong");
            }
            Some(Ok(Message::Text(t))) => return t.as_str().to_owned(),
            Some(Ok(_)) => {}
            other => panic!("session {i}: connection ended: {other:?}"),
        }
    }
}

/// One WebSocket session: open, CONNECT `/`, one echo, close.
async fn ws_session(target: &Target, i: usize) {
    let url = format!("ws://{}/socket.io/?EIO=4&transport=websocket", target.addr);
    let (mut ws, _) = tokio_tungstenite::client_async(url, tcp(target).await)
        .await
        .expect("WebSocket handshake");
    assert!(next_text(&mut ws, i).await.starts_with("0{"));
    ws.send(Message::text("40")).await.expect("send");
    let connected = next_text(&mut ws, i).await;
    assert!(
        connected.starts_with("40{\"sid\""),
        "session {i}: {connected}"
    );
    assert_eq!(next_text(&mut ws, i).await, "42[\"auth\",{}]");
    ws.send(Message::text(format!("42[\"message\",{i}]")))
        .await
        .expect("send");
    assert_eq!(
        next_text(&mut ws, i).await,
        format!("42[\"message-back\",{i}]")
    );
    let _ = ws.close(None).await;
    while let Some(Ok(_)) = ws.next().await {}
}

/// A keep-alive HTTP/1.1 connection for sequential polling requests.
struct KeepAlive {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl KeepAlive {
    async fn request(&mut self, target: &Target, method: &str, path: &str, body: &str) -> String {
        let req = support::http::build_request(
            method,
            &target.addr,
            path,
            &[("Content-Type", "text/plain;charset=UTF-8")],
            body.as_bytes(),
        );
        self.stream.write_all(&req).await.expect("write");
        // read the head
        let head_end = loop {
            if let Some(at) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            self.fill().await;
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end]).into_owned();
        assert!(head.starts_with("HTTP/1.1 200"), "{method} {path}: {head}");
        let len: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .expect("content-length");
        while self.buf.len() < head_end + len {
            self.fill().await;
        }
        let body = String::from_utf8_lossy(&self.buf[head_end..head_end + len]).into_owned();
        self.buf.drain(..head_end + len);
        body
    }

    async fn fill(&mut self) {
        let mut chunk = [0u8; 8192];
        let n = self.stream.read(&mut chunk).await.expect("read");
        assert!(n > 0, "connection closed");
        self.buf.extend_from_slice(&chunk[..n]);
    }
}

/// One polling session on one keep-alive connection: handshake, CONNECT `/`, one echo, `1`.
async fn polling_session(target: &Target, i: usize) {
    let mut conn = KeepAlive {
        stream: tcp(target).await,
        buf: Vec::new(),
    };
    let open = conn
        .request(target, "GET", "/socket.io/?EIO=4&transport=polling", "")
        .await;
    let sid = support::eio::parse_open(&open)["sid"]
        .as_str()
        .expect("sid")
        .to_owned();
    let url = format!("/socket.io/?EIO=4&transport=polling&sid={sid}");
    assert_eq!(conn.request(target, "POST", &url, "40").await, "ok");
    let got = poll_data(&mut conn, target, &url).await;
    assert!(got[0].starts_with("40{\"sid\""), "session {i}: {got:?}");
    let body = format!("42[\"message\",{i}]");
    assert_eq!(conn.request(target, "POST", &url, &body).await, "ok");
    let want = format!("42[\"message-back\",{i}]");
    let mut got = Vec::new();
    while !got.contains(&want) {
        got.extend(poll_data(&mut conn, target, &url).await);
    }
    assert_eq!(conn.request(target, "POST", &url, "1").await, "ok");
}

/// One GET: its packets other than pings (answered with a pong) and noops; at least one.
async fn poll_data(conn: &mut KeepAlive, target: &Target, url: &str) -> Vec<String> {
    loop {
        let body = conn.request(target, "GET", url, "").await;
        let mut data = Vec::new();
        for p in body.split('\u{1e}') {
            match p {
                "2" => assert_eq!(conn.request(target, "POST", url, "3").await, "ok"),
                "6" => {}
                other => data.push(other.to_owned()),
            }
        }
        if !data.is_empty() {
            return data;
        }
    }
}

/// Runs `count` sessions (every fourth over polling), `CONCURRENCY` at a time.
async fn churn(target: &Target, first: usize, count: usize) {
    let next = Arc::new(AtomicUsize::new(first));
    let end = first + count;
    let mut workers = Vec::new();
    for _ in 0..CONCURRENCY {
        let (target, next) = (target.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= end {
                    return;
                }
                let session = async {
                    if i % 4 == 0 {
                        polling_session(&target, i).await;
                    } else {
                        ws_session(&target, i).await;
                    }
                };
                tokio::time::timeout(SESSION_BOUND, session)
                    .await
                    .unwrap_or_else(|_| panic!("session {i} took over {SESSION_BOUND:?}"));
            }
        }));
    }
    for w in workers {
        w.await.expect("churn worker");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_churn_returns_to_baseline() {
    // Shares its binary with the hostile-input floods, which also read the process's memory.
    let _heavy = stress::HEAVY.lock().await;
    let sessions: usize = std::env::var("TSIO_SOAK_SESSIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if stress::env_flag("TSIO_SOAK") {
            30_000
        } else {
            2_000
        });
    let target = support::start().await;
    // warm up: the allocator, the runtime's and the kernel's buffers reach their working size
    churn(&target, 0, 500).await;
    let sio = support::sio::endpoint(&target);
    let idle_tasks = stress::settle_tasks(0, Duration::from_secs(3)).await;
    let base_rss = stress::settled_rss_kib();
    let started = Instant::now();
    churn(&target, 500, sessions).await;
    let elapsed = started.elapsed();
    let tasks = stress::settle_tasks(idle_tasks, Duration::from_secs(10)).await;
    let rss = stress::settled_rss_kib();
    eprintln!(
        "soak: {sessions} sessions in {elapsed:.1?} ({:.0}/s); tasks {idle_tasks} -> {tasks}; RSS {} KiB -> {} KiB ({:+} KiB)",
        sessions as f64 / elapsed.as_secs_f64(),
        base_rss,
        rss,
        rss as i64 - base_rss as i64
    );
    assert_eq!(tasks, idle_tasks, "tasks left alive after the churn");
    assert!(
        rss <= base_rss + 8 * 1024,
        "RSS grew by {} KiB over {sessions} sessions",
        rss - base_rss
    );
    // the server holds no session: a fresh one still works
    let (sid, _) = sio.handshake_polling().await;
    assert!(!sid.is_empty());
}
