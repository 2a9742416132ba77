//! Faults around the Redis adapter: Redis restarted under load, a node that holds its
//! subscriptions but never answers, hostile or foreign messages on every channel, and a node
//! whose subscriptions wait for Redis to come back before it is ready. Each test
//! has its own `redis-server` where it needs to kill it.
#![cfg(feature = "redis")]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::json;
use tower_socketio::adapter::redis::{RedisAdapter, RedisMode, SubscriptionMode};
use tower_socketio::{AdapterError, SocketIo};

use crate::support::redis::{
    Clients, Node, RedisServer, RustNode, Target, command, command_bytes, config,
};

/// Captures this process's log lines, to check that ignored messages are logged.
fn logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer = buf.clone();
        let _ = tracing_subscriber::fmt()
            .with_env_filter("tower_socketio=warn")
            .with_ansi(false)
            .with_writer(move || LogWriter(writer.clone()))
            .try_init();
        buf
    })
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn rust_nodes(
    server: &RedisServer,
    mode: RedisMode,
    key: &str,
    timeout: Duration,
) -> Vec<Node> {
    let mut nodes = Vec::new();
    for name in ["r1", "r2", "r3"] {
        let cfg = config(server, mode).key(key).requests_timeout(timeout);
        nodes.push(Node::Rust(RustNode::start(name, cfg).await));
    }
    for node in &nodes {
        node.wait_server_count(3).await;
    }
    nodes
}

async fn connect_all(clients: &Clients, nodes: &[Node]) {
    for node in nodes {
        clients
            .connect(&format!("c-{}", node.name()), &node.url())
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restart_under_load() {
    logs();
    let server = RedisServer::start();
    let nodes = Arc::new(
        rust_nodes(
            &server,
            RedisMode::Classic,
            "restart",
            Duration::from_secs(1),
        )
        .await,
    );
    let clients = Clients::start().await;
    connect_all(&clients, &nodes).await;
    let everyone = ["c-r1", "c-r2", "c-r3"];

    // Load: r1 broadcasts to everyone every 2 ms until told to stop (bounded to 20 s).
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    let load = {
        let (nodes, stop, sent) = (nodes.clone(), stop.clone(), sent.clone());
        tokio::spawn(async move {
            let started = Instant::now();
            while !stop.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(20) {
                let n = sent.fetch_add(1, Ordering::Relaxed);
                nodes[0].emit(&Target::all(), "load", vec![json!(n)]).await;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Kill Redis under load; requests issued meanwhile fail in bounded time with a typed error.
    server.kill();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let Node::Rust(r2) = &nodes[1] else {
        unreachable!()
    };
    for _ in 0..3 {
        let started = Instant::now();
        let result = r2.io.fetch_sockets().await;
        let elapsed = started.elapsed();
        match result {
            Err(AdapterError::Timeout | AdapterError::Transport(_) | AdapterError::QueueFull) => {}
            other => panic!("fetch_sockets with Redis down: {other:?}"),
        }
        assert!(
            elapsed < Duration::from_secs(4),
            "fetch_sockets took {elapsed:?} with Redis down"
        );
    }
    let started = Instant::now();
    let count = r2.io.server_count().await;
    assert!(count.is_err(), "server_count with Redis down: {count:?}");
    assert!(started.elapsed() < Duration::from_secs(4));

    // Restart it on the same port: the adapters reconnect and resubscribe by themselves.
    let before_restart = sent.load(Ordering::Relaxed);
    server.restart();
    for node in nodes.iter() {
        node.wait_server_count(3).await;
    }
    // Broadcasts resume: load sent after the restart reaches the other nodes' clients.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let resumed = clients
            .received("load")
            .iter()
            .filter(|r| {
                r.client == "c-r3" && r.args[0].as_u64().unwrap_or(0) as usize > before_restart
            })
            .count();
        if resumed > 10 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "broadcasts did not resume after the restart"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::Relaxed);
    load.await.expect("load task");
    for (i, node) in nodes.iter().enumerate() {
        let ev = format!("after-{i}");
        node.emit(&Target::all(), &ev, vec![]).await;
        clients.wait_all(&ev, &everyone).await;
    }
    // And requests work again.
    let fetched = nodes[2].fetch_sockets(&Target::all()).await;
    assert_eq!(fetched.len(), 3);
    println!(
        "sent {} broadcasts under load; c-r3 received {}",
        sent.load(Ordering::Relaxed),
        clients
            .received("load")
            .iter()
            .filter(|r| r.client == "c-r3")
            .count()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_in_flight_time_out() {
    let server = RedisServer::start();
    let nodes = rust_nodes(
        &server,
        RedisMode::Classic,
        "zombie",
        Duration::from_millis(800),
    )
    .await;
    // A "node" that subscribes to the request channel (so it is counted) but never answers.
    let zombie = std::net::TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
    use std::io::Write;
    let channel = "zombie-request#/#";
    (&zombie)
        .write_all(
            format!(
                "*2\r\n$9\r\nSUBSCRIBE\r\n${}\r\n{channel}\r\n",
                channel.len()
            )
            .as_bytes(),
        )
        .expect("subscribe");
    nodes[0].wait_server_count(4).await;
    let Node::Rust(r1) = &nodes[0] else {
        unreachable!()
    };
    let started = Instant::now();
    let fetched = r1.io.fetch_sockets().await;
    assert!(matches!(fetched, Err(AdapterError::Timeout)), "{fetched:?}");
    assert!(started.elapsed() >= Duration::from_millis(800));
    assert!(started.elapsed() < Duration::from_secs(3));
    let rooms = r1.io.all_rooms().await;
    assert!(matches!(rooms, Err(AdapterError::Timeout)), "{rooms:?}");
    let answers = r1.io.server_side_emit_with_ack("ping-cluster", &"x").await;
    assert!(
        matches!(
            answers,
            Err(tower_socketio::EmitError::Adapter(AdapterError::Timeout))
        ),
        "{answers:?}"
    );
    // The zombie goes away: it is no longer counted, and requests complete again.
    drop(zombie);
    nodes[0].wait_server_count(3).await;
    let fetched = r1.io.fetch_sockets().await;
    assert!(
        matches!(&fetched, Ok(sockets) if sockets.is_empty()),
        "{fetched:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_foreign_messages_are_ignored() {
    let logs = logs();
    let server = RedisServer::start();
    let nodes = rust_nodes(
        &server,
        RedisMode::Classic,
        "socket.io",
        Duration::from_secs(2),
    )
    .await;
    let clients = Clients::start().await;
    connect_all(&clients, &nodes).await;
    clients.emit("c-r1", "join", json!(["room"])).await;

    let deep: Vec<u8> = std::iter::repeat_n(0x91u8, 100_000).chain([0xc0]).collect();
    let huge_array = [0xddu8, 0xff, 0xff, 0xff, 0xff];
    let junk: Vec<&[u8]> = vec![
        b"",
        b"\xc1",
        b"{not json",
        b"{\"type\": 7}",
        b"{\"type\": \"x\", \"requestId\": []}",
        b"{\"type\": 5, \"requestId\": \"r\", \"opts\": 3}",
        b"{\"type\": 6, \"data\": 1}",
        b"{\"type\": 6, \"data\": [], \"requestId\": \"q\"}",
        b"{\"type\": 2, \"opts\": {\"rooms\": [{}, 1]}, \"rooms\": [null]}",
        b"{\"type\": 4, \"sid\": \"nope\", \"close\": 1}",
        b"{\"type\": 99}",
        b"{\"requestId\": \"unknown\", \"sockets\": 3}",
        b"[]",
        &deep,
        &huge_array,
        // msgpack [uid, packet, opts] with a wrong packet, and a foreign namespace.
        b"\x93\xa1x\x81\xa4type\x07\x80",
        b"\x93\xa1x\x83\xa4type\x02\xa4data\x91\xa2ev\xa3nsp\xa6/other\x80",
        b"\x93\xa1x\x82\xa4type\x02\xa4data\x90\x80",
        b"\x93\xa1x\x82\xa4type\x02\xa4data\x91\x91\x91\xc0\x80",
        b"\x81\xa4type\x07",
        // A broadcast with ack with no packet, and one to a room we have no member of.
        b"\x84\xa3uid\xa1z\xa9requestId\xa1r\xa4type\x07\xa4opts\x80",
    ];
    let channels = [
        "socket.io#/#",
        "socket.io#/#room#",
        "socket.io#/#nobody#",
        "socket.io-request#/#",
        "socket.io-response#/#",
    ];
    for channel in channels {
        for payload in &junk {
            command_bytes(server.port, &[b"PUBLISH", channel.as_bytes(), payload])
                .expect("publish");
        }
    }
    // Sharded-format junk on the same server must not disturb the classic nodes either.
    command(server.port, &["SPUBLISH", "socket.io#/#", "{\"uid\":1}"]).expect("spublish");

    // Everything still works, in order, on every node.
    for (i, node) in nodes.iter().enumerate() {
        let ev = format!("still-{i}");
        node.emit(&Target::all(), &ev, vec![json!(i)]).await;
        clients.wait_all(&ev, &["c-r1", "c-r2", "c-r3"]).await;
    }
    let (answers, timed_out) = nodes[1]
        .emit_with_ack(&Target::all(), "ask", Duration::from_secs(2))
        .await;
    assert_eq!(answers.len(), 3);
    assert!(!timed_out);
    assert_eq!(nodes[2].fetch_sockets(&Target::all()).await.len(), 3);
    for node in &nodes {
        assert_eq!(
            node.server_count().await,
            3,
            "node {} is still subscribed",
            node.name()
        );
    }
    let text = String::from_utf8_lossy(&logs.lock().unwrap()).to_string();
    assert!(
        text.contains("ignoring a malformed Redis"),
        "no log line for malformed messages:\n{text}"
    );
    assert!(!text.contains("panicked"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharded_restart_resubscribes() {
    let server = RedisServer::start();
    let nodes = rust_nodes(
        &server,
        RedisMode::Sharded(SubscriptionMode::Dynamic),
        "sharded-restart",
        Duration::from_secs(1),
    )
    .await;
    let clients = Clients::start().await;
    connect_all(&clients, &nodes).await;
    for c in ["c-r1", "c-r2", "c-r3"] {
        clients.emit(c, "join", json!(["public"])).await;
    }
    server.restart();
    for node in &nodes {
        node.wait_server_count(3).await;
    }
    // Both the namespace channel and the room channels came back.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut n = 0;
    loop {
        let ev = format!("room-after-{n}");
        nodes[0].emit(&Target::to(&["public"]), &ev, vec![]).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        if clients.receivers(&ev).len() == 3 {
            break;
        }
        assert!(Instant::now() < deadline, "room channels not resubscribed");
        n += 1;
    }
    nodes[2].emit(&Target::all(), "all-after", vec![]).await;
    clients
        .wait_all("all-after", &["c-r1", "c-r2", "c-r3"])
        .await;
}

/// A namespace created while Redis is away is not ready; it is once Redis is back and confirmed
/// the subscriptions the adapter retried, and it then hears what is published.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_waits_for_retried_subscriptions() {
    logs();
    let server = RedisServer::start();
    let key = "ready-retry";
    let builder = RedisAdapter::connect(config(&server, RedisMode::Classic).key(key))
        .await
        .expect("connect");
    server.kill();
    let io = SocketIo::builder().adapter(builder).build();
    let got = Arc::new(AtomicUsize::new(0));
    let counter = got.clone();
    io.on_server_side("ping-cluster", move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
        None
    });
    // Not ready while Redis is away, until the subscriptions failed (once the connection
    // manager gave up) and wait for the adapter's own retry.
    let ready = io.ready();
    tokio::pin!(ready);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let log = String::from_utf8_lossy(&logs().lock().unwrap()).into_owned();
        if log.contains("Redis subscription failed; will retry") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the subscriptions never failed: {log}"
        );
        tokio::select! {
            result = &mut ready => panic!("ready while Redis is away: {result:?}"),
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
    }
    server.start_again();
    tokio::time::timeout(Duration::from_secs(15), ready)
        .await
        .expect("ready once Redis is back")
        .expect("ready");
    let emit = json!({ "uid": "other", "type": 6, "data": ["ping-cluster", 1] }).to_string();
    let channel = format!("{key}-request#/#");
    let reply = command(server.port, &["PUBLISH", &channel, &emit]).expect("publish");
    assert_eq!(reply.trim(), ":1", "one subscriber on {channel}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while got.load(Ordering::SeqCst) == 0 {
        assert!(
            Instant::now() < deadline,
            "the server-side emit never arrived"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
