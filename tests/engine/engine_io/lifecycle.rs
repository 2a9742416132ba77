//! Closing sessions, and CORS.

use std::time::Duration;

use super::assert_still_serves;
use crate::support::eio::{assert_error, decode_payload};
use crate::support::{self, Packet};

#[tokio::test]
async fn polling_close_packet_ends_the_session() {
    let ep = support::start().await.engine();
    let (sid, _) = ep.handshake_polling().await;
    let res = ep.send(&sid, "1").await;
    assert_eq!((res.status, res.text().as_str()), (200, "ok"));
    assert_error(&ep.poll(&sid).await, 400, 1, "Session ID unknown");
    assert_error(&ep.send(&sid, "4late").await, 400, 1, "Session ID unknown");
    assert_still_serves(&ep).await;
}

#[tokio::test]
async fn polling_close_packet_releases_the_pending_poll_with_noop() {
    let ep = support::start().await.engine();
    let (sid, _) = ep.handshake_polling().await;
    let pending = ep.start_poll(&sid).await;
    let res = ep.send(&sid, "1").await;
    assert_eq!((res.status, res.text().as_str()), (200, "ok"));
    let res = pending.response().await;
    assert_eq!(res.status, 200);
    assert_eq!(decode_payload(&res.text()), vec![Packet::text("6")]);
    assert_error(&ep.poll(&sid).await, 400, 1, "Session ID unknown");
    assert_still_serves(&ep).await;
}

#[tokio::test]
async fn packets_after_close_in_the_same_payload_are_ignored() {
    let ep = support::start().await.engine();
    let (sid, _) = ep.handshake_polling().await;
    let res = ep.send(&sid, "4before\u{1e}1\u{1e}4after").await;
    assert_eq!((res.status, res.text().as_str()), (200, "ok"));
    assert_error(&ep.poll(&sid).await, 400, 1, "Session ID unknown");
    assert_still_serves(&ep).await;
}

#[tokio::test]
async fn websocket_close_frame_ends_the_session() {
    let ep = support::start().await.engine();
    let (ws, sid, _) = ep.handshake_ws().await;
    assert!(ep.session_exists(&sid, "websocket").await);
    ws.close().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!ep.session_exists(&sid, "websocket").await);
    assert_still_serves(&ep).await;
}

#[tokio::test]
async fn cors_preflight() {
    let ep = support::start().await.engine();
    let res = ep
        .target
        .request(
            "OPTIONS",
            &ep.url("EIO=4&transport=polling"),
            &[
                ("Origin", "http://example.com"),
                ("Access-Control-Request-Method", "POST"),
                ("Access-Control-Request-Headers", "content-type"),
            ],
            b"",
        )
        .await;
    // Node's `cors` package answers 204; any 2xx passes a browser's preflight
    // (tower-http's CorsLayer answers 200), so only success is required.
    assert!(
        (200..300).contains(&res.status),
        "preflight status {}",
        res.status
    );
    assert_eq!(res.header("access-control-allow-origin"), Some("*"));
    // Node lists GET,HEAD,PUT,PATCH,POST,DELETE and reflects the requested
    // headers; a wildcard allows them as well.
    let allows = |header: &str, item: &str| {
        let value = res.header(header).unwrap_or_else(|| panic!("no {header}"));
        value
            .split(',')
            .any(|x| x.trim() == "*" || x.trim().eq_ignore_ascii_case(item))
    };
    for m in ["GET", "POST"] {
        assert!(allows("access-control-allow-methods", m), "{m} not allowed");
    }
    assert!(allows("access-control-allow-headers", "content-type"));
    assert_still_serves(&ep).await;
}

#[tokio::test]
async fn cors_header_on_every_answer() {
    let ep = support::start().await.engine();
    let origin = [("Origin", "http://example.com")];
    let res = ep
        .target
        .request("GET", &ep.url("EIO=4&transport=polling"), &origin, b"")
        .await;
    assert_eq!(res.status, 200);
    assert_eq!(res.header("access-control-allow-origin"), Some("*"));
    let sid = crate::support::eio::parse_open(&res.text())["sid"]
        .as_str()
        .unwrap()
        .to_string();
    let res = ep
        .target
        .request(
            "POST",
            &ep.polling_url(&sid),
            &[origin[0], ("Content-Type", "text/plain;charset=UTF-8")],
            b"4x",
        )
        .await;
    assert_eq!(res.status, 200);
    assert_eq!(res.header("access-control-allow-origin"), Some("*"));
    let res = ep
        .target
        .request("GET", &ep.polling_url(&sid), &origin, b"")
        .await;
    assert_eq!(res.status, 200);
    assert_eq!(res.header("access-control-allow-origin"), Some("*"));
    assert_eq!(res.text(), "4x");
    assert_still_serves(&ep).await;
}
