//! One reader stalls while its room gets a flood of broadcasts, with connection state recovery
//! on: the slow-consumer close of that one connection must not stop the node (issue #13, item
//! 6: the close ran under the streams adapter's `restores` lock, which it takes again, and
//! every worker ended up blocked on it).
//!
//! The node runs on a runtime of its own (two workers, as in the report), so that when it hangs
//! the test's clients, on the test's runtime, still see it and fail within their bounds instead
//! of hanging with it. While the flood overflows the slow client's queue, other clients keep
//! asking for echoes and must each get an answer within a second; afterwards a new client
//! connects within a second. Then the slow client reads again, reconnects with its `pid` and
//! last offset, and must get every packet of its room exactly once, in order.
//!
//! Run with the in-memory adapter, and with the Redis Streams adapter (feature `redis`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tower_socketio::extract::{AckSender, Data, SocketRef};
use tower_socketio::{ConnectionStateRecovery, SocketIo, SocketIoConfig, SocketIoLayer};

/// The slow client's queue bound: far less than one flood.
const QUEUE_BOUND: usize = 64 * 1024;
/// Packets the slow client reads in full before stalling, so it holds an offset.
const WARMUP: u64 = 10;
/// Packets of the flood (each ~600 bytes): ~1.8 MB, far past the bound and the socket buffers
/// ([`SERVER_SNDBUF`] and [`SLOW_RCVBUF`]: a sender writing straight into an idle connection
/// fills the kernel's buffers before the queue).
const FLOOD: u64 = 3_000;
const PADDING: usize = 512;
/// The node's socket send buffers.
const SERVER_SNDBUF: u32 = 32 * 1024;
/// The slow client's socket receive buffer.
const SLOW_RCVBUF: u32 = 4096;
/// Clients that keep asking for echoes meanwhile.
const FAST: usize = 3;
/// "Normal latency" on a loaded 2-core machine; the hang it guards against is forever.
const NORMAL: Duration = Duration::from_secs(1);
/// The bound of the whole scenario's waits.
const SCENARIO: Duration = Duration::from_secs(30);
/// How long the flood may take to reach every client (it takes well under a second).
const FLOOD_TIME: Duration = Duration::from_secs(10);

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Where the node's adapter lives.
#[derive(Clone)]
enum Backend {
    Memory,
    #[cfg(feature = "redis")]
    Streams(Box<tower_socketio::adapter::redis::RedisAdapterConfig>),
}

/// What the node saw: why its sockets disconnected.
type Disconnects = Arc<Mutex<Vec<String>>>;

/// Serves the node on a thread and runtime of its own; returns its WebSocket URL.
fn serve(backend: Backend, disconnects: Disconnects) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("node runtime");
        runtime.block_on(async move {
            let io = build(backend, disconnects).await;
            let app = axum::Router::new().layer(SocketIoLayer::new(io));
            // Small send buffers (accepted sockets inherit the listener's): on loopback the
            // kernel would otherwise let a connection's send buffer grow to megabytes, and a
            // sender writing straight into the slow client would fill that before its queue.
            let socket = tokio::net::TcpSocket::new_v4().expect("socket");
            socket
                .set_send_buffer_size(SERVER_SNDBUF)
                .expect("SO_SNDBUF");
            socket
                .bind(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
                .expect("bind");
            let listener = socket.listen(128).expect("listen");
            let addr = listener.local_addr().expect("addr");
            tx.send(format!("ws://{addr}/socket.io/?EIO=4&transport=websocket"))
                .expect("url");
            let _ = axum::serve(listener, app).await;
        });
    });
    rx.recv_timeout(SCENARIO).expect("the node started")
}

/// The node: `join` a room, `echo` with an ack, and `flood [from, count]`, which broadcasts
/// packets `from..from + count` to room `flood` as fast as it can, then `flood-done` to room
/// `watchers`.
async fn build(backend: Backend, disconnects: Disconnects) -> SocketIo {
    let config = SocketIoConfig::default().with_engine(|e| e.max_buffered_bytes(QUEUE_BOUND));
    #[cfg_attr(not(feature = "redis"), allow(unused_mut))]
    let mut builder = SocketIo::builder()
        .config(config)
        .connection_state_recovery(ConnectionStateRecovery::default());
    match backend {
        Backend::Memory => {}
        #[cfg(feature = "redis")]
        Backend::Streams(config) => {
            let adapter = tower_socketio::adapter::redis::RedisAdapter::connect(*config)
                .await
                .expect("Redis adapter");
            builder = builder.adapter(adapter);
        }
    }
    let io = builder.build();
    io.ns("/", move |socket: SocketRef, io: SocketIo| {
        let disconnects = disconnects.clone();
        socket.on_disconnect(
            move |socket: SocketRef, reason: tower_socketio::DisconnectReason| {
                disconnects
                    .lock()
                    .unwrap()
                    .push(format!("{} {reason}", socket.id()));
            },
        );
        socket.on(
            "join",
            |socket: SocketRef, Data(room): Data<String>, ack: AckSender| {
                socket.join(room);
                ack.send(&()).ok();
            },
        );
        socket.on("echo", |Data(value): Data<Value>, ack: AckSender| {
            ack.send(&value).ok();
        });
        socket.on(
            "flood",
            move |Data((from, count)): Data<(u64, u64)>, ack: AckSender| {
                let io = io.clone();
                tokio::spawn(async move {
                    let padding = "x".repeat(PADDING);
                    for i in from..from + count {
                        io.to("flood").emit("n", &(i, &padding)).ok();
                    }
                    io.to("watchers").emit("flood-done", &(from + count)).ok();
                });
                ack.send(&()).ok();
            },
        );
    });
    io
}

/// A raw Socket.IO client over WebSocket.
struct Client {
    ws: Ws,
    next_ack: u64,
}

impl Client {
    /// Opens the Engine.IO session within `within`.
    async fn open(url: &str, within: Duration) -> Result<Client, String> {
        Client::open_with(url, within, None).await
    }

    /// Opens the Engine.IO session within `within`, with this socket receive buffer if any.
    async fn open_with(url: &str, within: Duration, rcvbuf: Option<u32>) -> Result<Client, String> {
        let handshake = async {
            let addr = url
                .trim_start_matches("ws://")
                .split('/')
                .next()
                .and_then(|host| host.parse().ok())
                .ok_or_else(|| format!("no address in {url}"))?;
            let socket = tokio::net::TcpSocket::new_v4().map_err(|e| e.to_string())?;
            if let Some(size) = rcvbuf {
                socket
                    .set_recv_buffer_size(size)
                    .map_err(|e| e.to_string())?;
            }
            let tcp = socket.connect(addr).await.map_err(|e| e.to_string())?;
            let tcp = tokio_tungstenite::MaybeTlsStream::Plain(tcp);
            tokio_tungstenite::client_async(url, tcp)
                .await
                .map_err(|e| format!("WebSocket handshake: {e}"))
        };
        let (ws, _) = tokio::time::timeout(within, handshake)
            .await
            .map_err(|_| "no WebSocket handshake in time".to_string())??;
        let mut client = Client { ws, next_ack: 0 };
        match client.next(within).await {
            Some(open) if open.starts_with('0') => Ok(client),
            other => Err(format!("no Engine.IO open packet in time: {other:?}")),
        }
    }

    async fn send(&mut self, text: String) {
        let sent = tokio::time::timeout(NORMAL * 5, self.ws.send(Message::text(text))).await;
        assert!(matches!(sent, Ok(Ok(()))), "send failed: {sent:?}");
    }

    /// The next text frame within `within` (pings answered); `None` on timeout or close.
    async fn next(&mut self, within: Duration) -> Option<String> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Ok(Some(Ok(Message::Text(t)))) if t.as_str() == "2" => {
                    self.send("3".into()).await;
                }
                Ok(Some(Ok(Message::Text(t)))) => return Some(t.to_string()),
                Ok(Some(Ok(Message::Close(_))) | Some(Err(_)) | None) | Err(_) => return None,
                Ok(Some(Ok(_))) => {}
            }
        }
    }

    /// Sends CONNECT to `/` with `auth`; returns the events that came before the reply, and
    /// the reply's `{sid, pid}`.
    async fn connect(
        &mut self,
        auth: Option<Value>,
        within: Duration,
    ) -> Result<(Vec<String>, Value), String> {
        let packet = match auth {
            Some(auth) => format!("40{auth}"),
            None => "40".into(),
        };
        self.send(packet).await;
        let mut before = Vec::new();
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(text) = self.next(left).await else {
                return Err(format!(
                    "no CONNECT reply within {within:?} ({} events before)",
                    before.len()
                ));
            };
            if let Some(reply) = text.strip_prefix("40") {
                let reply = serde_json::from_str(reply).map_err(|e| e.to_string())?;
                return Ok((before, reply));
            }
            before.push(text);
        }
    }

    /// Emits `event` with an ack id and waits for the ack within `within`; events that come
    /// meanwhile go to `other`.
    async fn call(
        &mut self,
        event: &str,
        arg: Value,
        within: Duration,
        other: &mut Vec<String>,
    ) -> Result<Value, String> {
        let id = self.next_ack;
        self.next_ack += 1;
        self.send(format!("42{id}{}", json!([event, arg]))).await;
        let prefix = format!("43{id}");
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(text) = self.next(left).await else {
                return Err(format!("`{event}` #{id} not answered within {within:?}"));
            };
            match text.strip_prefix(&prefix) {
                Some(answer) => return serde_json::from_str(answer).map_err(|e| e.to_string()),
                None => other.push(text),
            }
        }
    }
}

/// `42["n",i,"x…","<offset>"]` → (i, offset)
fn flood_packet(text: &str) -> Option<(u64, String)> {
    let args: Value = serde_json::from_str(text.strip_prefix("42")?).ok()?;
    if args.get(0)? != "n" {
        return None;
    }
    Some((args.get(1)?.as_u64()?, args.get(3)?.as_str()?.to_owned()))
}

/// The end of the flood (not of the warm-up).
fn is_flood_done(text: &str) -> bool {
    let Some(Ok(args)) = text.strip_prefix("42").map(serde_json::from_str::<Value>) else {
        return false;
    };
    args.get(0).is_some_and(|e| e == "flood-done") && args.get(1) == Some(&json!(WARMUP + FLOOD))
}

/// Asks for echoes until the flood is over and a few more went through; each must be answered
/// within [`NORMAL`]. Returns how many were answered and the slowest answer.
async fn keep_echoing(
    mut client: Client,
    name: String,
    flood_over: Arc<AtomicBool>,
) -> Result<(usize, Duration), String> {
    let started = Instant::now();
    let (mut answered, mut slowest, mut after_flood) = (0usize, Duration::ZERO, None);
    while after_flood.is_none_or(|n| n < 10) {
        if started.elapsed() > FLOOD_TIME {
            return Err(format!(
                "{name}: no `flood-done` within {FLOOD_TIME:?}: the node stopped broadcasting"
            ));
        }
        let mut other = Vec::new();
        let asked = Instant::now();
        let answer = client
            .call("echo", json!(answered), NORMAL, &mut other)
            .await
            .map_err(|e| format!("{name}: {e}: the node stopped serving it"))?;
        assert_eq!(answer, json!([answered]), "{name}: echo");
        slowest = slowest.max(asked.elapsed());
        answered += 1;
        if other.iter().any(|t| is_flood_done(t)) && after_flood.is_none() {
            after_flood = Some(0);
            flood_over.store(true, Ordering::Release);
        }
        after_flood = after_flood.map(|n| n + 1);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok((answered, slowest))
}

/// New clients keep connecting (their joins take the adapter's locks) until the flood is over;
/// each must be in within [`NORMAL`]. Returns how many came in.
async fn keep_connecting(url: String, flood_over: Arc<AtomicBool>) -> Result<usize, String> {
    let started = Instant::now();
    let mut count = 0;
    while !flood_over.load(Ordering::Acquire) && started.elapsed() < FLOOD_TIME {
        let mut client = Client::open(&url, NORMAL)
            .await
            .map_err(|e| format!("newcomer {count}: {e}"))?;
        client
            .connect(None, NORMAL)
            .await
            .map_err(|e| format!("newcomer {count}: {e}: the node stopped serving"))?;
        count += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(count)
}

async fn scenario(backend: Backend) {
    let disconnects = Disconnects::default();
    let url = serve(backend, disconnects.clone());

    let mut slow = Client::open_with(&url, NORMAL * 5, Some(SLOW_RCVBUF))
        .await
        .expect("slow client");
    let (_, reply) = slow.connect(None, NORMAL * 5).await.expect("slow connect");
    let sid = reply["sid"].as_str().expect("sid").to_owned();
    let pid = reply["pid"]
        .as_str()
        .expect("pid: recovery is on")
        .to_owned();
    let mut ignored = Vec::new();
    slow.call("join", json!("flood"), NORMAL * 5, &mut ignored)
        .await
        .expect("join");

    let mut fast = Vec::new();
    for _ in 0..FAST {
        let mut client = Client::open(&url, NORMAL * 5).await.expect("fast client");
        client
            .connect(None, NORMAL * 5)
            .await
            .expect("fast connect");
        client
            .call("join", json!("watchers"), NORMAL * 5, &mut ignored)
            .await
            .expect("join");
        fast.push(client);
    }
    let mut driver = fast.pop().expect("a fast client");

    // A warm-up the slow client reads in full: it now holds an offset to recover from.
    driver
        .call("flood", json!([0, WARMUP]), NORMAL * 5, &mut ignored)
        .await
        .expect("warm-up");
    let mut seen = Vec::new();
    let mut last_offset = None;
    while (seen.len() as u64) < WARMUP {
        let text = slow.next(NORMAL * 5).await.expect("the warm-up");
        if let Some((i, offset)) = flood_packet(&text) {
            seen.push(i);
            last_offset = Some(offset);
        }
    }

    // The slow client stops reading; the others keep asking for echoes through the flood.
    let flood_over = Arc::new(AtomicBool::new(false));
    let echoing: Vec<_> = fast
        .into_iter()
        .enumerate()
        .map(|(i, client)| {
            let name = format!("fast-{i}");
            tokio::spawn(keep_echoing(client, name, flood_over.clone()))
        })
        .collect();
    driver
        .call("flood", json!([WARMUP, FLOOD]), NORMAL, &mut ignored)
        .await
        .expect("the flood starts");
    let connecting = tokio::spawn(keep_connecting(url.clone(), flood_over.clone()));
    let echoing_driver = tokio::spawn(keep_echoing(driver, "driver".into(), flood_over));
    let newcomers = connecting
        .await
        .expect("connect task")
        .unwrap_or_else(|e| panic!("{e}"));
    for task in echoing.into_iter().chain([echoing_driver]) {
        let (answered, slowest) = task
            .await
            .expect("echo task")
            .unwrap_or_else(|e| panic!("{e}"));
        println!("{answered} echoes, the slowest in {slowest:?}");
    }
    println!("{newcomers} new clients connected during the flood");
    // A new client still gets in within normal latency (its join takes the adapter's locks).
    let mut late = Client::open(&url, NORMAL).await.expect("a new client");
    late.connect(None, NORMAL)
        .await
        .expect("a new client connects within normal latency");

    // The slow client reads again: what was queued before it was closed, then the end.
    while let Some(text) = slow.next(NORMAL * 5).await {
        if let Some((i, offset)) = flood_packet(&text) {
            seen.push(i);
            last_offset = Some(offset);
        }
    }
    assert!(
        (seen.len() as u64) < WARMUP + FLOOD,
        "the flood should have overflowed the slow client's queue (it got all {} packets)",
        seen.len()
    );
    let closed_slow = format!("{sid} slow consumer");
    assert!(
        disconnects.lock().unwrap().contains(&closed_slow),
        "the slow client was closed as a slow consumer: {:?}",
        disconnects.lock().unwrap()
    );
    let last_offset = last_offset.expect("the warm-up carried offsets");

    // It reconnects with its pid and offset, and gets every packet exactly once, in order.
    let mut again = Client::open(&url, NORMAL * 5).await.expect("reconnect");
    let auth = json!({ "pid": pid, "offset": last_offset });
    let (replayed, reply) = again
        .connect(Some(auth), NORMAL * 10)
        .await
        .expect("recovered connect");
    assert_eq!(
        reply["sid"],
        json!(sid),
        "recovered with the same socket id"
    );
    seen.extend(
        replayed
            .iter()
            .filter_map(|t| flood_packet(t))
            .map(|(i, _)| i),
    );
    let expected: Vec<u64> = (0..WARMUP + FLOOD).collect();
    if seen != expected {
        let missing = expected.iter().filter(|i| !seen.contains(i)).count();
        panic!(
            "every packet exactly once, in order: got {} of {}, {missing} missing, in order: {}",
            seen.len(),
            expected.len(),
            seen.windows(2).all(|w| w[0] < w[1])
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_reader_does_not_stop_the_node_memory() {
    scenario(Backend::Memory).await;
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_reader_does_not_stop_the_node_streams() {
    let server = crate::support::redis::RedisServer::shared();
    let key = "isolation";
    let config =
        crate::support::redis::config(server, tower_socketio::adapter::redis::RedisMode::Streams)
            .key(key)
            .stream_name(key);
    scenario(Backend::Streams(Box::new(config))).await;
}
