//! Malformed polling payloads: separators, base64 variants, invalid UTF-8, content types,
//! and Engine.IO v3 length framing on a server with `allow_eio3`.

use std::time::Duration;

use tower_socketio::engine::{EngineConfig, EngineIoLayer};

use super::{assert_closed_now, assert_engine_serves, skip_external};
use crate::support::eio::TEXT_PLAIN;
use crate::support::stress;
use crate::support::{self, Endpoint, Packet};

const WAIT: Duration = Duration::from_secs(5);

/// POSTs `body` on a fresh session; returns the sid once the POST was answered `200 ok`
/// (Node answers ok once the body is read, whatever it held).
async fn post_fresh(ep: &Endpoint, content_type: &str, body: &[u8]) -> String {
    let (sid, _) = ep.handshake_polling().await;
    let res = ep
        .target
        .post(&ep.polling_url(&sid), content_type, body)
        .await;
    assert_eq!(
        (res.status, String::from_utf8_lossy(&res.body).as_ref()),
        (200, "ok"),
        "POST {:?}",
        String::from_utf8_lossy(body)
    );
    sid
}

#[tokio::test]
async fn bad_separators_close_the_session_with_parse_error() {
    let target = support::start().await;
    let ep = target.engine();
    for body in [
        "4a\u{1e}\u{1e}4b",
        "\u{1e}4a",
        "\u{1e}",
        "\u{1e}\u{1e}\u{1e}",
        "4a\u{1e}x",
        "bAQID\u{1e}",
    ] {
        eprintln!("--- {body:?}");
        let sid = post_fresh(&ep, TEXT_PLAIN, body.as_bytes()).await;
        assert_closed_now(&ep, &sid, "polling").await;
    }
    assert_engine_serves(&target).await;
}

#[tokio::test]
async fn packet_types_with_trailing_data() {
    let target = support::start().await;
    let ep = target.engine();
    // Node reads only the type of these and ignores their data; the session stays open.
    for body in ["6garbage", "5garbage", "0{\"sid\":\"x\"}", "3garbage", "4"] {
        eprintln!("--- {body:?}");
        let sid = post_fresh(&ep, TEXT_PLAIN, body.as_bytes()).await;
        ep.send_packets(&sid, &[Packet::text("4after")]).await;
        let got = ep.poll_until_data(&sid, WAIT).await;
        let expected = if body == "4" {
            vec![Packet::text("4"), Packet::text("4after")]
        } else {
            vec![Packet::text("4after")]
        };
        assert_eq!(got, expected, "{body:?}");
    }
    // `1` with data is still a close: "transport close"
    let sid = post_fresh(&ep, TEXT_PLAIN, b"1garbage").await;
    assert_closed_now(&ep, &sid, "polling").await;
    assert_engine_serves(&target).await;
}

#[tokio::test]
async fn canonical_base64_round_trips() {
    let target = support::start().await;
    let ep = target.engine();
    for (body, bytes) in [
        ("b", vec![]),
        ("bAA==", vec![0u8]),
        ("bAQI=", vec![1, 2]),
        ("bAQID", vec![1, 2, 3]),
        ("b/+8=", vec![0xff, 0xef]),
    ] {
        let sid = post_fresh(&ep, TEXT_PLAIN, body.as_bytes()).await;
        assert_eq!(
            ep.poll_until_data(&sid, WAIT).await,
            vec![Packet::Binary(bytes)],
            "{body:?}"
        );
    }
    assert_engine_serves(&target).await;
}

/// Non-canonical base64. Node decodes it with the lenient `Buffer.from(data, "base64")`
/// (missing padding, whitespace, the URL-safe alphabet and stray characters are all accepted,
/// `b%%%` is an empty buffer) and delivers a message; this server refuses it as a parse error
/// and closes the session (POST still `200 ok`). A deliberate difference: no client encodes
/// like this.
#[tokio::test]
async fn non_canonical_base64_is_a_parse_error() {
    if skip_external("Node's base64 decoder is lenient") {
        return;
    }
    let target = support::start().await;
    let ep = target.engine();
    for body in [
        "bAQI", "bAR==", "bAQ ID", "bAQ\nID", "b-_8=", "b%%%", "b====", "bA", "bAQ=D",
    ] {
        eprintln!("--- {body:?}");
        let sid = post_fresh(&ep, TEXT_PLAIN, body.as_bytes()).await;
        assert_closed_now(&ep, &sid, "polling").await;
    }
    assert_engine_serves(&target).await;
}

/// A text payload that is not UTF-8. Node turns the body into a string with replacement
/// characters (`stringChunks += data`) and echoes `4\u{fffd}\u{fffd}`; this server refuses it as
/// a parse error and closes the session (POST `200 ok`). A deliberate difference.
#[tokio::test]
async fn invalid_utf8_payload_is_a_parse_error() {
    if skip_external("Node replaces invalid UTF-8") {
        return;
    }
    let target = support::start().await;
    let ep = target.engine();
    for body in [&b"4\xff\xfe"[..], b"4ok\x1e4\xc0\xaf", b"4\xed\xa0\x80"] {
        let sid = post_fresh(&ep, TEXT_PLAIN, body).await;
        assert_closed_now(&ep, &sid, "polling").await;
    }
    assert_engine_serves(&target).await;
}

#[tokio::test]
async fn nul_and_control_characters_are_data() {
    let target = support::start().await;
    let ep = target.engine();
    let text = "4\u{0}\u{1}\u{7f}\u{2028}\u{feff}";
    let sid = post_fresh(&ep, TEXT_PLAIN, text.as_bytes()).await;
    assert_eq!(
        ep.poll_until_data(&sid, WAIT).await,
        vec![Packet::text(text)]
    );
    assert_engine_serves(&target).await;
}

/// Node compares the content type with `===`: only the exact `application/octet-stream` is a
/// binary body (refused in v4 with 400 and a closed session); anything else, with parameters
/// for instance, is read as text. (This server also takes other letter cases of it as
/// binary, where Node reads `APPLICATION/OCTET-STREAM` as text: see
/// `octet_stream_in_any_case_is_refused`.)
#[tokio::test]
async fn only_the_exact_octet_stream_type_is_binary() {
    let target = support::start().await;
    let ep = target.engine();
    for content_type in [
        "application/octet-stream; charset=binary",
        "application/json",
        "multipart/form-data; boundary=x",
    ] {
        eprintln!("--- {content_type}");
        let sid = post_fresh(&ep, content_type, b"4typed").await;
        assert_eq!(
            ep.poll_until_data(&sid, WAIT).await,
            vec![Packet::text("4typed")],
            "{content_type}"
        );
    }
    assert_engine_serves(&target).await;
}

/// Media types are case-insensitive (RFC 9110), so this server refuses
/// `APPLICATION/OCTET-STREAM` on v4 like the lower-case form: 400, session closed. Node
/// compares with `===` and reads it as text. A deliberate difference.
#[tokio::test]
async fn octet_stream_in_any_case_is_refused() {
    if skip_external("Node compares the content type case-sensitively") {
        return;
    }
    let target = support::start().await;
    let ep = target.engine();
    for content_type in ["APPLICATION/OCTET-STREAM", "Application/Octet-Stream"] {
        let (sid, _) = ep.handshake_polling().await;
        let res = ep
            .target
            .post(&ep.polling_url(&sid), content_type, b"4typed")
            .await;
        assert_eq!((res.status, res.body.len()), (400, 0), "{content_type}");
        assert_closed_now(&ep, &sid, "polling").await;
    }
    assert_engine_serves(&target).await;
}

#[tokio::test]
async fn post_announcing_more_than_max_payload_is_413_before_its_body() {
    if skip_external("Node reads the body before it answers 413") {
        return;
    }
    let target = support::start().await;
    let ep = target.engine();
    let (sid, _) = ep.handshake_polling().await;
    // Only the head: the answer must not wait for the 2 MB.
    let mut conn = ep.target.connect().await;
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: text/plain\r\nContent-Length: 2000000\r\n\r\n4abc",
        ep.polling_url(&sid),
        ep.target.addr
    );
    conn.write_raw(head.as_bytes()).await.unwrap();
    let res = conn.read_response(false).await.expect("early answer");
    assert_eq!(res.status, 413);
    drop(conn);
    // Node leaves the session open after a 413... but here the client dropped the POST
    // mid-body, which ends the session as in Node ("data request connection closed
    // prematurely"): nothing more is asserted about it. A chunked body over the limit:
    let (sid, _) = ep.handshake_polling().await;
    let mut conn = ep.target.connect().await;
    let mut req = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n",
        ep.polling_url(&sid),
        ep.target.addr
    )
    .into_bytes();
    for _ in 0..20 {
        req.extend_from_slice(format!("{:x}\r\n", 100_000).as_bytes());
        req.extend(std::iter::repeat_n(b'a', 100_000));
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    let res = conn.exchange(&req, false).await.expect("answer");
    assert_eq!(res.status, 413);
    assert_engine_serves(&target).await;
}

/// An Engine.IO server that speaks v3 too, for the length-prefixed framing.
async fn eio3_server() -> Endpoint {
    let config = EngineConfig::default()
        .path("/engine.io/")
        .allow_eio3(true)
        .ping_interval(Duration::from_millis(300))
        .ping_timeout(Duration::from_millis(200));
    let app = axum::Router::new().layer(EngineIoLayer::new(stress::Echo, config));
    stress::serve(app).await.target.engine()
}

/// A v3 polling session (text framing, `b64=1`): its sid.
async fn v3_session(ep: &Endpoint) -> String {
    let res = ep
        .target
        .get(&ep.url("EIO=3&transport=polling&b64=1"))
        .await;
    assert_eq!(res.status, 200);
    let text = res.text();
    let open = text.split_once(':').expect("v3 framing").1;
    support::eio::parse_open(open)["sid"]
        .as_str()
        .expect("sid")
        .to_string()
}

fn v3_url(ep: &Endpoint, sid: &str) -> String {
    ep.url(&format!("EIO=3&transport=polling&b64=1&sid={sid}"))
}

/// v3 length prefixes that no reading accepts. (Node reads the length with `Number()`, so it
/// also takes `+2`, ` 2` or `0x2` for 2, and skips an empty `0:` packet; this server, like
/// any strict reader, takes only digits: those cases are left out.)
#[tokio::test]
async fn v3_bad_length_framing_closes_the_session() {
    if skip_external("needs a server with allow_eio3") {
        return;
    }
    let ep = eio3_server().await;
    for body in [
        "99999999999999999999999:4a",
        "18446744073709551616:4a",
        "-1:4a",
        "2:4",
        "3:4a",
        "2:4ab",
        "1:4é:",
        ":4a",
        "2:",
        "2:4a1:",
        "5:b4%%%",
        "4:b5AQ",
    ] {
        eprintln!("--- {body:?}");
        let sid = v3_session(&ep).await;
        let res = ep
            .target
            .post(&v3_url(&ep, &sid), TEXT_PLAIN, body.as_bytes())
            .await;
        assert_eq!((res.status, res.text().as_str()), (200, "ok"), "{body:?}");
        let res = ep.target.get(&v3_url(&ep, &sid)).await;
        let gone = res.status == 400 || res.text().ends_with("1:1");
        assert!(
            gone,
            "{body:?}: session still open: {} {:?}",
            res.status,
            res.text()
        );
    }
    // a well-formed v3 payload still works: two messages, one with a 2-unit character
    let sid = v3_session(&ep).await;
    let res = ep
        .target
        .post(&v3_url(&ep, &sid), TEXT_PLAIN, "2:4a3:4😀".as_bytes())
        .await;
    assert_eq!(res.status, 200);
    let res = ep.target.get(&v3_url(&ep, &sid)).await;
    assert_eq!(res.text(), "2:4a3:4😀");
}

#[tokio::test]
async fn v3_bad_binary_framing_closes_the_session() {
    if skip_external("needs a server with allow_eio3") {
        return;
    }
    let ep = eio3_server().await;
    for body in [
        &[0u8, 2, 0xff, b'4'][..],
        &[2, 1, 0xff, b'4'],
        &[0, 10, 0xff, b'4'],
        &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 2, 3, 4, 0xff, b'4'],
        &[0, 0xff],
        &[1, 1, 0xff, 5],
        &[0, 2, 0xff, b'4', 0xff],
        &[0],
    ] {
        eprintln!("--- {body:?}");
        let sid = v3_session(&ep).await;
        let res = ep
            .target
            .post(&v3_url(&ep, &sid), "application/octet-stream", body)
            .await;
        assert_eq!((res.status, res.text().as_str()), (200, "ok"), "{body:?}");
        let res = ep.target.get(&v3_url(&ep, &sid)).await;
        let gone = res.status == 400 || res.text().ends_with("1:1");
        assert!(
            gone,
            "{body:?}: session still open: {} {:?}",
            res.status,
            res.text()
        );
    }
    // a well-formed binary payload is echoed (as base64 text, the session said b64=1)
    let sid = v3_session(&ep).await;
    let res = ep
        .target
        .post(
            &v3_url(&ep, &sid),
            "application/octet-stream",
            &[0, 2, 0xff, b'4', b'a', 1, 3, 0xff, 4, 1, 2],
        )
        .await;
    assert_eq!(res.status, 200);
    let res = ep.target.get(&v3_url(&ep, &sid)).await;
    assert_eq!(res.text(), "2:4a6:b4AQI=");
}
