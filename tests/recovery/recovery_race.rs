//! In-memory connection state recovery against a broadcast in flight (issue #13, item 7).
//!
//! A restore takes the packets the session missed from the log and then joins the socket to
//! its rooms; a broadcast on another thread records its packet in the log and then fans it out
//! to the rooms. Unless the two are atomic against each other, a packet recorded after the
//! snapshot and fanned out before the join is lost, and one recorded before the snapshot and
//! fanned out after the join arrives twice.
//!
//! Built to hit that window: a sender on a thread of its own broadcasts to room `r` at full
//! speed (kept at most [`MAX_LAG`] packets ahead of the receiver), while a receiver on the
//! test's multi-thread runtime cuts its connection and recovers, [`ITERATIONS`] times. Every
//! packet it gets, replayed or live, must be the next one: no gap, no repeat.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tower_socketio::extract::SocketRef;
use tower_socketio::{ConnectionStateRecovery, SocketIo, SocketIoLayer};

const ITERATIONS: usize = 300;
/// Live packets read after each recovery, before the next cut.
const LIVE_PER_ITERATION: u64 = 100;
/// How far ahead of the receiver the sender may run.
const MAX_LAG: u64 = 5_000;
/// Waits that only a hang reaches.
const BOUND: Duration = Duration::from_secs(10);

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// How many disconnections the server has finished handling (its session is persisted by
/// then).
type Disconnects = Arc<Mutex<usize>>;

async fn serve(disconnects: Disconnects) -> (String, SocketIo) {
    let io = SocketIo::builder()
        .connection_state_recovery(ConnectionStateRecovery {
            // Room for every packet the sender may be ahead, so no offset expires.
            max_packets: 10 * MAX_LAG as usize,
            ..Default::default()
        })
        .build();
    io.ns("/", move |socket: SocketRef| {
        if !socket.recovered() {
            socket.join("r");
        }
        let disconnects = disconnects.clone();
        socket.on_disconnect(move || *disconnects.lock().unwrap() += 1);
    });
    let app = axum::Router::new().layer(SocketIoLayer::new(io.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (
        format!("ws://{addr}/socket.io/?EIO=4&transport=websocket"),
        io,
    )
}

/// Broadcasts `n` 0, 1, 2… to room `r` from a plain thread, as fast as the receiver allows.
fn start_sender(
    io: SocketIo,
    received: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut sent = 0u64;
        while !stop.load(Ordering::Relaxed) {
            if sent >= received.load(Ordering::Relaxed) + MAX_LAG {
                std::thread::sleep(Duration::from_micros(50));
                continue;
            }
            io.to("r").emit("n", &sent).ok();
            sent += 1;
        }
        sent
    })
}

/// What the receiver checks: every packet is the one after the previous.
#[derive(Default, Debug)]
struct Sequence {
    last: Option<u64>,
    offset: Option<String>,
    received: u64,
    lost: u64,
    duplicated: u64,
}

impl Sequence {
    /// Takes `42["n",i,"<offset>"]`; anything else is ignored.
    fn take(&mut self, text: &str) {
        let Some(Ok(args)) = text.strip_prefix("42").map(serde_json::from_str::<Value>) else {
            return;
        };
        let (Some(i), Some(offset)) = (args[1].as_u64(), args[2].as_str()) else {
            return;
        };
        self.received += 1;
        match self.last {
            Some(last) if i <= last => self.duplicated += 1,
            Some(last) => {
                self.lost += i - last - 1;
                self.last = Some(i);
            }
            None => self.last = Some(i),
        }
        self.offset = Some(offset.to_owned());
    }
}

async fn next_text(ws: &mut Ws) -> String {
    loop {
        match tokio::time::timeout(BOUND, ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => return t.to_string(),
            Ok(Some(Ok(_))) => {}
            other => panic!("the connection ended or stalled: {other:?}"),
        }
    }
}

/// Opens a connection and sends CONNECT with `auth`; events before the reply go to `seq`.
async fn connect(url: &str, auth: Option<Value>, seq: &mut Sequence) -> (Ws, Value) {
    let (mut ws, _) = tokio::time::timeout(BOUND, tokio_tungstenite::connect_async(url))
        .await
        .expect("handshake in time")
        .expect("handshake");
    assert!(next_text(&mut ws).await.starts_with('0'), "open packet");
    let connect = match auth {
        Some(auth) => format!("40{auth}"),
        None => "40".into(),
    };
    ws.send(Message::text(connect)).await.expect("send");
    loop {
        let text = next_text(&mut ws).await;
        if let Some(reply) = text.strip_prefix("40") {
            return (ws, serde_json::from_str(reply).expect("CONNECT reply"));
        }
        seq.take(&text);
    }
}

async fn wait_disconnects(disconnects: &Disconnects, count: usize) {
    let deadline = Instant::now() + BOUND;
    while *disconnects.lock().unwrap() < count {
        assert!(Instant::now() < deadline, "the server never saw the cut");
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_racing_a_broadcast_loses_and_repeats_nothing() {
    let disconnects = Disconnects::default();
    let (url, io) = serve(disconnects.clone()).await;
    let received = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut seq = Sequence::default();

    let (mut ws, reply) = connect(&url, None, &mut seq).await;
    let sid = reply["sid"].as_str().expect("sid").to_owned();
    let mut pid = reply["pid"].as_str().expect("pid").to_owned();
    let sender = start_sender(io, received.clone(), stop.clone());

    let started = Instant::now();
    let mut faulty = 0;
    for iteration in 0..ITERATIONS {
        while seq.offset.is_none() {
            let text = next_text(&mut ws).await;
            seq.take(&text);
        }
        // The cut: the server sees the TCP connection end ("transport close") and keeps the
        // session; the receiver comes back once it did.
        drop(ws);
        wait_disconnects(&disconnects, iteration + 1).await;
        let before = (seq.lost, seq.duplicated);
        let auth = json!({ "pid": pid, "offset": seq.offset });
        let (again, reply) = connect(&url, Some(auth), &mut seq).await;
        // The replay may have been all the sender had sent: let it go on.
        received.store(seq.last.unwrap_or(0), Ordering::Relaxed);
        assert_eq!(
            reply["sid"].as_str(),
            Some(sid.as_str()),
            "iteration {iteration}: recovered"
        );
        pid = reply["pid"].as_str().expect("pid").to_owned();
        ws = again;
        // What the restore got wrong shows at the latest in the next iteration's packets.
        let until = seq.received + LIVE_PER_ITERATION;
        while seq.received < until {
            let text = next_text(&mut ws).await;
            seq.take(&text);
            received.store(seq.last.unwrap_or(0), Ordering::Relaxed);
        }
        if (seq.lost, seq.duplicated) != before {
            faulty += 1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let sent = sender.join().expect("sender");
    println!(
        "{ITERATIONS} recoveries in {:?}; {sent} packets sent, {} received, {} lost, {} \
         duplicated; {faulty} recoveries went wrong",
        started.elapsed(),
        seq.received,
        seq.lost,
        seq.duplicated
    );
    assert_eq!(
        (seq.lost, seq.duplicated),
        (0, 0),
        "packets lost and duplicated across {ITERATIONS} recoveries"
    );
}
