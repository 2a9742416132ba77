//! Standalone mode: `SocketIo::serve` without a router of one's own.

use std::time::Duration;

use crate::support;
use crate::support::Target;
use crate::support::sio::{SioClient, Transport};

#[tokio::test]
async fn serves_socket_io_alone_and_stops_on_shutdown() {
    let io = support::conformance::socket_io();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let target = Target {
        addr: listener.local_addr().expect("addr").to_string(),
    };
    let server = tokio::spawn({
        let io = io.clone();
        async move { io.serve(listener).await }
    });

    for transport in [Transport::Polling, Transport::WebSocket] {
        let (mut client, sid) = SioClient::connected(&target, transport, "/", None).await;
        assert_eq!(sid.len(), 20);
        client.assert_echo_works("standalone").await;
    }
    let other = target.get("/index.html").await;
    assert_eq!(other.status, 404, "requests outside the path get 404");

    io.shutdown().await;
    assert_eq!(io.client_count(), 0, "every session finished");
    let stopped = tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("serve returns after shutdown")
        .expect("the server task");
    assert!(stopped.is_ok());
}
