//! Packets written straight into idle WebSockets by whoever sends them (issue 19): a sender
//! that finds a connection idle writes its queue out itself, and otherwise leaves it to the
//! connection's task. Both paths run at once here, on every connection, and the guarantees
//! must hold across them: per-socket order, nothing lost, nothing twice.
//!
//! A server task broadcasts numbered packets to a room, yielding now and then so that
//! connections are sometimes idle (written to directly) and sometimes busy; meanwhile every
//! client keeps asking for echoes, so its own task is writing replies and holds its link. Each
//! client must see the broadcasts 0..N in order, exactly once, and an answer to every echo.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tower_socketio::extract::{Data, SocketRef};
use tower_socketio::{SocketIo, SocketIoLayer};

use crate::support::sio::{Next, SioClient, SioPacket, Transport};
use crate::support::stress;

const CLIENTS: usize = 12;
const BROADCASTS: u64 = 600;
const ECHOES: u64 = 150;
/// Well past what the test takes (a fraction of a second), well short of the heartbeat (25 s),
/// whose ping would flush a queue that nobody was told to write.
const WITHIN: Duration = Duration::from_secs(10);

fn server() -> SocketIo {
    let io = SocketIo::new();
    io.ns("/", |socket: SocketRef| {
        socket.join("r");
        socket.on("echo", |socket: SocketRef, Data(v): Data<Value>| {
            socket.emit("echo", &v).ok();
        });
        socket.on("go", |io: SocketIo| async move {
            for i in 0..BROADCASTS {
                io.to("r").emit("b", &i).ok();
                if i % 7 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        });
    });
    io
}

/// Reads until every broadcast and every echo arrived; returns the broadcasts' numbers in the
/// order they came and the echoes' count.
async fn read_all(client: &mut SioClient) -> (Vec<u64>, u64) {
    let deadline = Instant::now() + WITHIN;
    let (mut seen, mut echoes) = (Vec::new(), 0);
    while (seen.len() as u64) < BROADCASTS || echoes < ECHOES {
        let left = deadline.saturating_duration_since(Instant::now());
        match client.next_within(left).await {
            Next::Packet(packet) => match packet.event_name() {
                Some("b") => seen.push(packet.data()[1].as_u64().expect("a number")),
                Some("echo") => echoes += 1,
                _ => {}
            },
            other => panic!(
                "after {} broadcasts and {echoes} echoes: {other:?}",
                seen.len()
            ),
        }
    }
    (seen, echoes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcasts_from_other_tasks_stay_in_order_beside_replies() {
    let io = server();
    let app = axum::Router::new().layer(SocketIoLayer::new(io));
    let target = stress::serve(app).await.target;
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let mut client = SioClient::open(&target, Transport::WebSocket).await;
        client.connect("/", None).await;
        clients.push(client);
    }
    clients[0].emit(&SioPacket::event("/", "go", &[])).await;
    let readers = clients.into_iter().enumerate().map(|(n, mut client)| {
        tokio::spawn(async move {
            for i in 0..ECHOES {
                client
                    .emit(&SioPacket::event("/", "echo", &[json!([n, i])]))
                    .await;
            }
            read_all(&mut client).await
        })
    });
    for (n, reader) in readers.enumerate() {
        let (seen, echoes) = reader.await.expect("reader");
        let expected: Vec<u64> = (0..BROADCASTS).collect();
        assert_eq!(
            seen, expected,
            "client {n}: broadcasts out of order, lost or repeated"
        );
        assert_eq!(echoes, ECHOES, "client {n}: echoes");
    }
}
