//! A reader that stalls is closed by the slow-consumer policy, reconnects within the recovery
//! window, and gets every packet it was sent, once and in order.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use tower_socketio::extract::{Data, SocketRef};
use tower_socketio::{ConnectionStateRecovery, SocketIo, SocketIoConfig, SocketIoLayer};

const COUNT: u64 = 3_000;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn serve() -> String {
    let io = SocketIo::builder()
        .config(SocketIoConfig::default().with_engine(|e| e.max_buffered_bytes(64 * 1024)))
        .connection_state_recovery(ConnectionStateRecovery::default())
        .build();
    io.ns("/", |socket: SocketRef| {
        socket.on("burst", |socket: SocketRef, Data(count): Data<u64>| {
            // 3 000 packets are far more than the 64 KiB queue takes at once: the socket is
            // closed as a slow consumer part-way, and the rest is only in the recovery log.
            let padding = "x".repeat(512);
            for i in 0..count {
                let _ = socket.emit("n", &(i, &padding));
            }
        });
    });
    let app = axum::Router::new().layer(SocketIoLayer::new(io));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("ws://{addr}/socket.io/?EIO=4&transport=websocket")
}

async fn next_text(ws: &mut Ws) -> Option<String> {
    loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => return Some(t.to_string()),
            Ok(Some(Ok(_))) => continue,
            _ => return None,
        }
    }
}

/// `42["n",i,"x…","<offset>"]` → (i, offset)
fn event(text: &str) -> Option<(u64, String)> {
    let args: Value = serde_json::from_str(text.strip_prefix("42")?).ok()?;
    let i = args.get(1)?.as_u64()?;
    let offset = args.get(3)?.as_str()?.to_owned();
    Some((i, offset))
}

#[tokio::test]
async fn a_slow_consumer_recovers_everything_it_missed() {
    let url = serve().await;
    let (mut ws, _) = tokio_tungstenite::connect_async(&url)
        .await
        .expect("connect");
    assert!(next_text(&mut ws).await.expect("open").starts_with('0'));
    ws.send(Message::text("40")).await.expect("send");
    let reply = next_text(&mut ws).await.expect("connect reply");
    let reply: Value = serde_json::from_str(&reply[2..]).expect("json");
    let pid = reply["pid"].as_str().expect("pid").to_owned();
    let sid = reply["sid"].as_str().expect("sid").to_owned();

    // A first, small burst the client reads in full: it now holds an offset to recover from.
    ws.send(Message::text(r#"42["burst",10]"#))
        .await
        .expect("send");
    let mut seen = Vec::new();
    let mut last_offset = None;
    while seen.len() < 10 {
        let text = next_text(&mut ws).await.expect("the first burst");
        if let Some((i, offset)) = event(&text) {
            seen.push(i);
            last_offset = Some(offset);
        }
    }
    ws.send(Message::text(format!(r#"42["burst",{COUNT}]"#)))
        .await
        .expect("send");
    // Read what arrived before the server closed the connection.
    while let Some(text) = next_text(&mut ws).await {
        if let Some((i, offset)) = event(&text) {
            seen.push(i);
            last_offset = Some(offset);
        }
    }
    assert!(
        (seen.len() as u64) < 10 + COUNT,
        "the burst should have overflowed the queue (got all {} packets)",
        seen.len()
    );
    let last_offset = last_offset.expect("the first burst carried offsets");

    let (mut ws, _) = tokio_tungstenite::connect_async(&url)
        .await
        .expect("reconnect");
    assert!(next_text(&mut ws).await.expect("open").starts_with('0'));
    ws.send(Message::text(format!(
        r#"40{{"pid":"{pid}","offset":"{last_offset}"}}"#
    )))
    .await
    .expect("send");
    loop {
        let text = next_text(&mut ws).await.expect("replay or connect reply");
        if let Some((i, _)) = event(&text) {
            seen.push(i);
            continue;
        }
        let reply: Value = serde_json::from_str(&text[2..]).expect("connect reply");
        assert_eq!(reply["sid"], Value::String(sid.clone()), "same socket id");
        break;
    }
    let expected: Vec<u64> = (0..10).chain(0..COUNT).collect();
    assert_eq!(seen, expected, "every packet exactly once, in order");
}
