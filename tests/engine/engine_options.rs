//! Engine.IO options, each on a server built for it: `allow_request`, `cookie`, HTTP
//! compression, a custom path, pass-through of other requests, restricted transports and
//! Engine.IO v3 (`allow_eio3`).

use std::io::Read as _;
use std::time::Duration;

use axum::routing::get;
use tower_socketio::engine::{
    CloseReason, EngineConfig, EngineHandler, EngineIoLayer, Message, Session, Transports,
};

use crate::support::Target;
use crate::support::eio::assert_error;

/// Echoes messages; on open, sends a large text message when asked to.
struct Echo {
    greeting: Option<String>,
}

impl EngineHandler for Echo {
    type State = ();

    fn on_open(&self, session: &Session) {
        if let Some(greeting) = &self.greeting {
            session.send_text(greeting).ok();
        }
    }

    fn on_message(&self, _: &(), session: &Session, message: Message) {
        let _ = match message {
            Message::Text(text) => session.send_text(&text),
            Message::Binary(data) => session.send_binary(data),
        };
    }

    fn on_close(&self, _: &(), _: &Session, _: CloseReason) {}
}

/// Serves an Engine.IO layer with `config` in front of a router with a `/hello` route.
async fn serve(config: EngineConfig, greeting: Option<String>) -> Target {
    let app = axum::Router::new()
        .route("/hello", get(|| async { "hello from the inner service" }))
        .layer(EngineIoLayer::new(Echo { greeting }, config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Target { addr }
}

fn open_sid(body: &str) -> String {
    let open = body.split('\u{1e}').next().unwrap_or_default();
    let json: serde_json::Value = serde_json::from_str(&open[1..]).expect("open packet");
    json["sid"].as_str().expect("sid").to_owned()
}

#[tokio::test]
async fn allow_request_refuses_with_forbidden() {
    let config = EngineConfig::default().allow_request(|parts| {
        let allowed = parts
            .headers
            .get("origin")
            .is_some_and(|o| o == "https://good.example");
        async move { allowed }
    });
    let target = serve(config, None).await;
    let path = "/engine.io/?EIO=4&transport=polling";

    let refused = target
        .request("GET", path, &[("Origin", "https://evil.example")], b"")
        .await;
    assert_error(&refused, 403, 4, "Forbidden");
    let no_origin = target.get(path).await;
    assert_error(&no_origin, 403, 4, "Forbidden");

    let allowed = target
        .request("GET", path, &[("Origin", "https://good.example")], b"")
        .await;
    assert_eq!(allowed.status, 200);
    assert!(allowed.text().starts_with("0{"));
}

#[tokio::test]
async fn cookie_carries_the_session_id() {
    let target = serve(EngineConfig::default().cookie("io"), None).await;
    let res = target.get("/engine.io/?EIO=4&transport=polling").await;
    assert_eq!(res.status, 200);
    let sid = open_sid(&res.text());
    assert_eq!(
        res.header("set-cookie"),
        Some(format!("io={sid}; Path=/; HttpOnly; SameSite=Lax").as_str())
    );

    let plain = serve(EngineConfig::default(), None).await;
    let res = plain.get("/engine.io/?EIO=4&transport=polling").await;
    assert_eq!(
        res.header("set-cookie"),
        None,
        "no cookie unless configured"
    );
}

#[tokio::test]
async fn large_polling_responses_are_compressed_when_accepted() {
    let greeting = "x".repeat(4096);
    let target = serve(EngineConfig::default(), Some(greeting.clone())).await;
    let path = "/engine.io/?EIO=4&transport=polling";

    let res = target
        .request("GET", path, &[("Accept-Encoding", "gzip, deflate")], b"")
        .await;
    assert_eq!(res.header("content-encoding"), Some("gzip"));
    let mut body = String::new();
    flate2::read::GzDecoder::new(&res.body[..])
        .read_to_string(&mut body)
        .expect("gzip body");
    assert!(
        body.ends_with(&format!("\u{1e}4{greeting}")),
        "{}",
        &body[..80]
    );
    assert!(res.body.len() < body.len() / 4, "compressed well");

    let res = target
        .request("GET", path, &[("Accept-Encoding", "deflate")], b"")
        .await;
    assert_eq!(res.header("content-encoding"), Some("deflate"));
    let mut body = String::new();
    flate2::read::ZlibDecoder::new(&res.body[..])
        .read_to_string(&mut body)
        .expect("deflate body");
    assert!(body.ends_with(&greeting));

    let res = target.get(path).await;
    assert_eq!(
        res.header("content-encoding"),
        None,
        "not without Accept-Encoding"
    );
    assert!(res.text().ends_with(&greeting));

    let small = serve(EngineConfig::default(), None).await;
    let res = small
        .request("GET", path, &[("Accept-Encoding", "gzip")], b"")
        .await;
    assert_eq!(
        res.header("content-encoding"),
        None,
        "under the 1024-byte threshold"
    );

    let off = serve(
        EngineConfig::default().http_compression(None),
        Some(greeting),
    )
    .await;
    let res = off
        .request("GET", path, &[("Accept-Encoding", "gzip")], b"")
        .await;
    assert_eq!(
        res.header("content-encoding"),
        None,
        "compression turned off"
    );
}

#[tokio::test]
async fn other_requests_reach_the_inner_service_untouched() {
    let target = serve(EngineConfig::default().path("/realtime"), None).await;
    let hello = target.get("/hello").await;
    assert_eq!(
        (hello.status, hello.text().as_str()),
        (200, "hello from the inner service")
    );

    // The default path is now an ordinary route the inner router does not know.
    let old = target.get("/engine.io/?EIO=4&transport=polling").await;
    assert_eq!(old.status, 404);

    let res = target.get("/realtime/?EIO=4&transport=polling").await;
    assert_eq!(res.status, 200);
    let sid = open_sid(&res.text());
    let echo = target
        .post(
            &format!("/realtime/?EIO=4&transport=polling&sid={sid}"),
            "text/plain;charset=UTF-8",
            b"4hi",
        )
        .await;
    assert_eq!(echo.text(), "ok");
    let polled = target
        .get(&format!("/realtime/?EIO=4&transport=polling&sid={sid}"))
        .await;
    assert_eq!(polled.text(), "4hi");
}

#[tokio::test]
async fn disabled_transports_are_unknown() {
    let websocket_only = EngineConfig::default().transports(Transports {
        polling: false,
        websocket: true,
    });
    let target = serve(websocket_only, None).await;
    let res = target.get("/engine.io/?EIO=4&transport=polling").await;
    assert_error(&res, 400, 0, "Transport unknown");
    let (_ws, _sid, open) = target.engine().handshake_ws().await;
    assert_eq!(open["upgrades"], serde_json::json!([]));

    let no_upgrades = serve(EngineConfig::default().allow_upgrades(false), None).await;
    let res = no_upgrades.get("/engine.io/?EIO=4&transport=polling").await;
    assert!(res.text().contains(r#""upgrades":[]"#), "{}", res.text());
}

#[tokio::test]
async fn engine_io_v3_frames_payloads_with_lengths() {
    let refused = serve(EngineConfig::default(), None).await;
    let res = refused.get("/engine.io/?EIO=3&transport=polling").await;
    assert_error(&res, 400, 5, "Unsupported protocol version");

    let config = EngineConfig::default()
        .allow_eio3(true)
        .ping_interval(Duration::from_millis(300))
        .ping_timeout(Duration::from_millis(200));
    let target = serve(config, None).await;
    // `b64=1` asks for text payloads only.
    let res = target
        .get("/engine.io/?EIO=3&transport=polling&b64=1")
        .await;
    assert_eq!(res.status, 200);
    let body = res.text();
    let (len, rest) = body.split_once(':').expect("length prefix");
    assert_eq!(len.parse::<usize>().unwrap(), rest.encode_utf16().count());
    assert!(rest.starts_with("0{"));
    let json: serde_json::Value = serde_json::from_str(&rest[1..]).unwrap();
    let sid = json["sid"].as_str().unwrap().to_owned();
    let url = format!("/engine.io/?EIO=3&transport=polling&b64=1&sid={sid}");

    // A text message with a character outside the BMP (two UTF-16 units), a client ping and
    // a binary message as base64.
    let res = target
        .post(
            &url,
            "text/plain;charset=UTF-8",
            "5:4hé😀1:26:b4AQI=".as_bytes(),
        )
        .await;
    assert_eq!(res.text(), "ok");
    let polled = target.get(&url).await.text();
    // The echo of the text, the pong answering the client's ping, and the binary echo.
    assert_eq!(polled, "5:4hé😀1:36:b4AQI=");

    // v3 clients ping; one that stops is closed after pingInterval + pingTimeout.
    tokio::time::sleep(Duration::from_millis(900)).await;
    let res = target.get(&url).await;
    assert!(
        res.status == 400 || res.text().ends_with("1:1"),
        "session should be closed after missing pings: {} {}",
        res.status,
        res.text()
    );
}
