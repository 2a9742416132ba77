//! The handler's last extractor may take the event's arguments instead of copying them
//! (`FromMessageParts::from_last_message_parts`): whatever their order, every extractor of a
//! handler sees the same arguments.

use serde_json::{Value, json};
use tower_socketio::extract::{Args, Bin, Data, SocketRef, TryData};
use tower_socketio::{SocketIo, SocketIoLayer};

use crate::support::sio::{SioClient, SioPacket, Transport};
use crate::support::stress;

fn server() -> SocketIo {
    let io = SocketIo::new();
    io.ns("/", |socket: SocketRef| {
        socket.on(
            "data-first",
            |socket: SocketRef, Data(first): Data<Value>, Args(all): Args| {
                socket.emit("data-first", &(first, all)).ok();
            },
        );
        socket.on(
            "data-last",
            |socket: SocketRef, Args(all): Args, Data(last): Data<Value>| {
                socket.emit("data-last", &(all, last)).ok();
            },
        );
        socket.on(
            "typed-last",
            |socket: SocketRef, Data((name, n)): Data<(String, u32)>| {
                socket.emit("typed-last", &(name, n)).ok();
            },
        );
        socket.on(
            "try-last",
            |socket: SocketRef, Args(all): Args, TryData(last): TryData<Value>| {
                socket.emit("try-last", &(all, last.ok())).ok();
            },
        );
        socket.on(
            "bin-first",
            |socket: SocketRef, Bin(first): Bin, Args(all): Args, Bin(last): Bin| {
                socket
                    .emit("bin-first", &(all, first.len(), last.len()))
                    .ok();
            },
        );
        socket.on(
            "twice",
            |socket: SocketRef, Data(a): Data<Value>, Data(b): Data<Value>| {
                socket.emit("twice", &(a, b)).ok();
            },
        );
    });
    io
}

#[tokio::test]
async fn every_extractor_sees_the_arguments_whatever_their_order() {
    let app = axum::Router::new().layer(SocketIoLayer::new(server()));
    let target = stress::serve(app).await.target;
    let mut client = SioClient::open(&target, Transport::WebSocket).await;
    client.connect("/", None).await;
    let one = json!({"k": [1, "two"]});
    let cases = [
        ("data-first", vec![one.clone()], json!([one, [one]])),
        ("data-last", vec![one.clone()], json!([[one], one])),
        ("typed-last", vec![json!("x"), json!(7)], json!(["x", 7])),
        ("try-last", vec![one.clone()], json!([[one], one])),
        ("twice", vec![one.clone()], json!([one, one])),
        (
            "data-last",
            vec![json!(1), json!(2)],
            json!([[1, 2], [1, 2]]),
        ),
    ];
    // Attachments too: every `Bin` gets them.
    client
        .emit(&SioPacket::binary_event(
            "/",
            json!(["bin-first", {"_placeholder": true, "num": 0}]),
            vec![vec![1, 2, 3]],
        ))
        .await;
    let (got, _) = client.expect_event("/", "bin-first").await;
    assert_eq!(
        got,
        json!(["bin-first", [{"_placeholder": true, "num": 0}], 1, 1])
    );
    for (event, args, want) in cases {
        client.emit(&SioPacket::event("/", event, &args)).await;
        let (got, _) = client.expect_event("/", event).await;
        // The answer's tuple spreads into arguments, after the event's name.
        let mut full = vec![json!(event)];
        full.extend(want.as_array().cloned().unwrap_or_default());
        assert_eq!(got, Value::Array(full), "{event} with {args:?}");
    }
}
