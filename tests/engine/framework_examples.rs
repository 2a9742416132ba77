//! The framework-integration examples, run with the real `socket.io-client`:
//! `examples/hyper_server.rs` (the layer on a bare hyper 1 server) and
//! `examples/service_builder.rs` (the layer inside a `tower::ServiceBuilder`
//! stack with tower-http's tracing and CORS layers), each serving the
//! conformance app's Socket.IO handlers (`examples/conformance.rs`) so that
//! `tests/js/socketio-client.mjs` (every transport mode, binary, acks,
//! namespaces, heartbeats) runs against them unchanged. Plain HTTP requests
//! check that the rest of the app is reached and that CORS is applied.
//!
//! Needs Node.js 20+ and npm (`tests/js/node_modules` is installed with
//! `npm ci` on first use).

// The examples are compiled in as modules (`conformance` comes with the support tree).
#[path = "../../examples/hyper_server.rs"]
mod hyper_server;
#[path = "../../examples/service_builder.rs"]
mod service_builder;

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::support::{conformance, node};

async fn listener() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    (listener, addr)
}

/// One HTTP/1.1 request (`Connection: close`), the whole response as text.
async fn http(addr: SocketAddr, request_head: &str) -> String {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream
            .write_all(
                format!("{request_head}Host: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
            )
            .await
            .expect("write request");
        let mut response = Vec::new();
        stream
            .read_to_end(&mut response)
            .await
            .expect("read response");
        String::from_utf8_lossy(&response).into_owned()
    };
    tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .expect("no HTTP response within 10 s")
}

fn header<'a>(response: &'a str, name: &str) -> Option<&'a str> {
    let head = response.split("\r\n\r\n").next()?;
    head.lines().skip(1).find_map(|line| {
        let (k, v) = line.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyper_server_example_with_socketio_client() {
    node::prepare().await;
    let (listener, addr) = listener().await;
    tokio::spawn(hyper_server::serve(listener, conformance::socket_io()));

    // The app behind the layer.
    let home = http(addr, "GET / HTTP/1.1\r\n").await;
    assert!(home.starts_with("HTTP/1.1 200"), "GET /: {home}");
    assert!(home.contains("bare hyper server"), "GET /: {home}");
    let missing = http(addr, "GET /nope HTTP/1.1\r\n").await;
    assert!(missing.starts_with("HTTP/1.1 404"), "GET /nope: {missing}");

    node::run_script(
        "socketio-client.mjs",
        &format!("http://{addr}"),
        node::SCRIPT_TIMEOUT,
    )
    .await
    .assert_passed();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_builder_example_with_socketio_client() {
    node::prepare().await;
    let (listener, addr) = listener().await;
    let allowed = "http://app.example";
    let service = service_builder::service(conformance::socket_io(), &[allowed]);
    tokio::spawn(service_builder::serve(listener, service));

    let health = http(addr, "GET /health HTTP/1.1\r\n").await;
    assert!(health.starts_with("HTTP/1.1 200"), "GET /health: {health}");

    // CORS on Socket.IO's long-polling: the preflight is answered by CorsLayer ...
    let preflight = http(
        addr,
        &format!(
            "OPTIONS /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nOrigin: {allowed}\r\n\
             Access-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: content-type\r\n"
        ),
    )
    .await;
    assert!(
        preflight.starts_with("HTTP/1.1 200"),
        "preflight: {preflight}"
    );
    assert_eq!(
        header(&preflight, "access-control-allow-origin"),
        Some(allowed),
        "preflight: {preflight}"
    );
    // ... and the handshake's response carries the header.
    let handshake = http(
        addr,
        &format!("GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nOrigin: {allowed}\r\n"),
    )
    .await;
    assert!(
        handshake.starts_with("HTTP/1.1 200") && handshake.contains("\"sid\""),
        "handshake: {handshake}"
    );
    assert_eq!(
        header(&handshake, "access-control-allow-origin"),
        Some(allowed),
        "handshake: {handshake}"
    );
    assert_eq!(
        header(&handshake, "access-control-allow-credentials"),
        Some("true"),
        "handshake: {handshake}"
    );
    // Another origin gets no CORS header.
    let other = http(
        addr,
        "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nOrigin: http://evil.example\r\n",
    )
    .await;
    assert_eq!(
        header(&other, "access-control-allow-origin"),
        None,
        "other origin: {other}"
    );

    node::run_script(
        "socketio-client.mjs",
        &format!("http://{addr}"),
        node::SCRIPT_TIMEOUT,
    )
    .await
    .assert_passed();
}
