//! What connection state recovery keeps in memory, measured with a heap profiler (`dhat`):
//! 1 000 WebSocket clients in two rooms each are cut and their sessions kept, then 10 000
//! events are logged for replay. Prints bytes per session and per logged packet, and checks
//! them against generous bounds (memory, never time).
//!
//! Its own test binary, kept out of `tests/recovery/`: it installs dhat's global allocator, and a
//! global allocator is per binary, so it would slow down (and be skewed by) every test sharing
//! the binary. Run it alone with `scripts/test recovery_memory`.

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tower_socketio::extract::SocketRef;
use tower_socketio::{ConnectionStateRecovery, SocketIo, SocketIoLayer};

const CLIENTS: usize = 1_000;
const PACKETS: usize = 10_000;

fn heap_bytes() -> i64 {
    dhat::HeapStats::get().curr_bytes as i64
}

async fn next_text(
    ws: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> String {
    loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => return t.to_string(),
            Ok(Some(Ok(_))) => continue,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

#[test]
fn memory_of_recoverable_sessions_and_the_log() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(measure());
}

async fn measure() {
    let io = SocketIo::builder()
        .connection_state_recovery(ConnectionStateRecovery::default())
        .build();
    io.ns("/", |socket: SocketRef| {
        socket.join(["lobby", "news"]);
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = axum::Router::new().layer(SocketIoLayer::new(io.clone()));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");

    // Warm up (lazy statics, the first connection's one-off allocations) before the baseline.
    let (mut warm, _) = tokio_tungstenite::connect_async(&url).await.expect("ws");
    next_text(&mut warm).await;
    drop(warm);
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The clients live in this process too: the baseline is taken with none connected and
    // the figure after they are all gone, so only what the server kept remains.
    let baseline = heap_bytes();

    let mut clients = Vec::with_capacity(CLIENTS);
    for _ in 0..CLIENTS {
        let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.expect("ws");
        let open = next_text(&mut ws).await;
        assert!(open.starts_with('0'), "open packet: {open}");
        ws.send(Message::text("40")).await.expect("send CONNECT");
        let connect = next_text(&mut ws).await;
        assert!(
            connect.contains("\"pid\""),
            "CONNECT reply with a pid: {connect}"
        );
        clients.push(ws);
    }

    // Cut every transport: each socket leaves for "transport close" and is kept as a session.
    drop(clients);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !io.fetch_sockets().await.expect("fetch").is_empty() {
        assert!(Instant::now() < deadline, "sockets did not leave");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let kept = heap_bytes();

    // Events for the sessions' rooms, logged for replay (about 60 bytes of JSON each).
    for i in 0..PACKETS {
        io.to("news")
            .emit(
                "headline",
                &serde_json::json!({ "n": i, "text": "x".repeat(32) }),
            )
            .expect("emit");
    }
    let logged = heap_bytes();

    let per_session = (kept - baseline) / CLIENTS as i64;
    let per_packet = (logged - kept) / PACKETS as i64;
    println!(
        "heap: {per_session} B per kept session ({} KiB for {CLIENTS}); {per_packet} B per \
         logged packet ({} KiB for {PACKETS})",
        (kept - baseline) / 1024,
        (logged - kept) / 1024
    );
    assert!(
        per_session < 2048,
        "a kept session takes {per_session} B (sid, pid, two rooms and the log bookkeeping)"
    );
    assert!(
        per_packet < 1024,
        "a logged packet takes {per_packet} B for ~80 bytes of frame"
    );
}
