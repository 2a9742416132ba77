//! WebSocket frames that break RFC 6455, and wrong upgrade probes.
//!
//! Node (`ws` 8) fails the connection with close code 1002 for a protocol error and 1007 for
//! invalid UTF-8, and engine.io closes the session with "transport error"; the same codes are
//! expected here. During an upgrade, anything but `2probe` then `5` on the candidate WebSocket
//! makes Node close that WebSocket without a status code, and the session stays on polling.

use std::time::Duration;

use super::{assert_closed_now, assert_engine_serves, assert_session_gone, skip_external};
use crate::support::eio::parse_open;
use crate::support::rawws::{BINARY, CLOSE, CONTINUATION, Ended, PING, PONG, RawWs, TEXT};
use crate::support::{self, Endpoint, Packet};

const WAIT: Duration = Duration::from_secs(5);

/// A direct WebSocket session on `/engine.io/`: the raw client and its sid.
async fn open(ep: &Endpoint) -> (RawWs, String) {
    let mut ws = RawWs::connect(&ep.target.addr, &ep.url("EIO=4&transport=websocket")).await;
    let open = ws.next_text(WAIT).await.expect("open packet");
    let sid = parse_open(&open)["sid"].as_str().expect("sid").to_string();
    // the session works before the violation
    ws.text("4before").await;
    assert_eq!(ws.next_text(WAIT).await.as_deref(), Some("4before"));
    (ws, sid)
}

/// Each case, on a fresh session: the server closes with `code` and forgets the session.
async fn assert_each_fails(cases: Vec<(&str, Vec<u8>)>, code: u16) {
    let target = support::start().await;
    let ep = target.engine();
    for (name, bytes) in cases {
        eprintln!("--- {name}");
        let (mut ws, sid) = open(&ep).await;
        ws.write(&bytes).await;
        assert_eq!(ws.expect_close(WAIT).await, Ended::Code(code), "{name}");
        assert_session_gone(&ep, &sid, "websocket").await;
    }
    assert_engine_serves(&target).await;
}

fn frame(fin: bool, rsv: u8, opcode: u8, masked: bool, payload: &[u8]) -> Vec<u8> {
    crate::support::rawws::encode(fin, rsv, opcode, masked, payload)
}

#[tokio::test]
async fn reserved_bits_close_1002() {
    let mut cases = Vec::new();
    for rsv in 1..=7u8 {
        cases.push((
            "text frame with RSV bits",
            frame(true, rsv, TEXT, true, b"4x"),
        ));
    }
    cases.push((
        "binary frame with RSV1",
        frame(true, 4, BINARY, true, b"\x01"),
    ));
    cases.push(("ping with RSV1", frame(true, 4, PING, true, b"")));
    assert_each_fails(cases, 1002).await;
}

#[tokio::test]
async fn reserved_opcodes_close_1002() {
    let cases = (0x3..=0x7u8)
        .chain(0xB..=0xF)
        .map(|op| ("reserved opcode", frame(true, 0, op, true, b"4x")))
        .collect();
    assert_each_fails(cases, 1002).await;
}

#[tokio::test]
async fn unmasked_client_frames_close_1002() {
    assert_each_fails(
        vec![
            ("unmasked text", frame(true, 0, TEXT, false, b"4x")),
            ("unmasked binary", frame(true, 0, BINARY, false, b"\x01")),
            ("unmasked ping", frame(true, 0, PING, false, b"")),
            (
                "unmasked close",
                frame(true, 0, CLOSE, false, &1000u16.to_be_bytes()),
            ),
        ],
        1002,
    )
    .await;
}

#[tokio::test]
async fn bad_control_frames_close_1002() {
    let cases = vec![
        ("ping of 126 bytes", frame(true, 0, PING, true, &[0u8; 126])),
        ("pong of 200 bytes", frame(true, 0, PONG, true, &[0u8; 200])),
        (
            "close of 126 bytes",
            frame(true, 0, CLOSE, true, &[3u8; 126]),
        ),
        ("fragmented ping", frame(false, 0, PING, true, b"x")),
        (
            "fragmented close",
            frame(false, 0, CLOSE, true, &1000u16.to_be_bytes()),
        ),
        (
            "close with a 1-byte payload",
            frame(true, 0, CLOSE, true, b"\x03"),
        ),
    ];
    assert_each_fails(cases, 1002).await;
}

/// A client's close frame is answered with a close frame (RFC 6455 section 5.5.1: "it MUST
/// send a Close frame in response"); Node's `ws` echoes the status code. Then the session ends
/// ("transport close").
#[tokio::test]
async fn client_close_frame_is_answered() {
    let target = support::start().await;
    let ep = target.engine();
    for (code, reason) in [(1000u16, &b""[..]), (1001, b"going away"), (4000, b"app")] {
        let (mut ws, sid) = open(&ep).await;
        let mut payload = code.to_be_bytes().to_vec();
        payload.extend_from_slice(reason);
        ws.frame(true, 0, CLOSE, true, &payload).await;
        assert_eq!(
            ws.expect_close(WAIT).await,
            Ended::Code(code),
            "close {code}"
        );
        assert_session_gone(&ep, &sid, "websocket").await;
    }
    // and a close frame without a code is answered without one
    let (mut ws, sid) = open(&ep).await;
    ws.frame(true, 0, CLOSE, true, b"").await;
    assert_eq!(ws.expect_close(WAIT).await, Ended::NoCode);
    assert_session_gone(&ep, &sid, "websocket").await;
    assert_engine_serves(&target).await;
}

/// RFC 6455 section 7.4: a close frame whose status code is not one an endpoint may send
/// (0-999, 1004-1006, 1015, 1016-2999 unassigned, 5000+) is a protocol error. Node's `ws`
/// (`lib/receiver.js`, `isValidStatusCode`) answers 1002 and engine.io closes the session with
/// "transport error".
#[tokio::test]
async fn close_frames_with_invalid_codes_close_1002() {
    let close_with = |code: u16| {
        let mut p = code.to_be_bytes().to_vec();
        p.extend_from_slice(b"bye");
        frame(true, 0, CLOSE, true, &p)
    };
    let names: Vec<String> = [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000]
        .iter()
        .map(|c| format!("close code {c}"))
        .collect();
    let cases = [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000]
        .iter()
        .zip(&names)
        .map(|(code, name)| (name.as_str(), close_with(*code)))
        .collect();
    assert_each_fails(cases, 1002).await;
}

#[tokio::test]
async fn broken_fragmentation_closes_1002() {
    let mut interleaved = frame(false, 0, TEXT, true, b"4ab");
    interleaved.extend(frame(true, 0, TEXT, true, b"4cd"));
    let mut binary_in_text = frame(false, 0, TEXT, true, b"4ab");
    binary_in_text.extend(frame(true, 0, BINARY, true, b"\x01"));
    assert_each_fails(
        vec![
            (
                "continuation without a first frame",
                frame(true, 0, CONTINUATION, true, b"4x"),
            ),
            ("new text frame inside a fragmented message", interleaved),
            (
                "binary frame inside a fragmented text message",
                binary_in_text,
            ),
        ],
        1002,
    )
    .await;
}

#[tokio::test]
async fn invalid_utf8_closes_1007() {
    let mut split = frame(false, 0, TEXT, true, b"4\xe2\x82");
    split.extend(frame(true, 0, CONTINUATION, true, b"\xff"));
    let mut close_reason = 1000u16.to_be_bytes().to_vec();
    close_reason.extend_from_slice(b"\xff\xfe");
    assert_each_fails(
        vec![
            (
                "lone continuation byte",
                frame(true, 0, TEXT, true, b"4\x80"),
            ),
            ("invalid byte", frame(true, 0, TEXT, true, b"4\xff")),
            (
                "truncated sequence",
                frame(true, 0, TEXT, true, b"4\xe2\x82"),
            ),
            (
                "overlong encoding",
                frame(true, 0, TEXT, true, b"4\xc0\xaf"),
            ),
            (
                "UTF-16 surrogate",
                frame(true, 0, TEXT, true, b"4\xed\xa0\x80"),
            ),
            (
                "above U+10FFFF",
                frame(true, 0, TEXT, true, b"4\xf4\x90\x80\x80"),
            ),
            ("invalid across fragments", split),
            (
                "invalid close reason",
                frame(true, 0, CLOSE, true, &close_reason),
            ),
        ],
        1007,
    )
    .await;
}

#[tokio::test]
async fn frame_announcing_gigabytes_closes_1009_at_once() {
    // Only the header is sent: the answer must not wait for 4 GiB that never come.
    let mut header = vec![0x82u8, 0x80 | 127];
    header.extend_from_slice(&(4u64 << 30).to_be_bytes());
    header.extend_from_slice(&[1, 2, 3, 4]);
    let mut text_header = vec![0x81u8, 0x80 | 127];
    text_header.extend_from_slice(&(1u64 << 62).to_be_bytes());
    text_header.extend_from_slice(&[1, 2, 3, 4]);
    assert_each_fails(
        vec![
            ("binary frame of 4 GiB", header),
            ("text frame of 2^62 bytes", text_header),
        ],
        1009,
    )
    .await;
}

#[tokio::test]
async fn fragments_adding_up_over_max_payload_close_1009() {
    // 10 fragments of 200 000 bytes: each under maxPayload (1 000 000), 2 000 000 together.
    let mut bytes = frame(false, 0, BINARY, true, &[7u8; 200_000]);
    for i in 1..10 {
        bytes.extend(frame(i == 9, 0, CONTINUATION, true, &[7u8; 200_000]));
    }
    assert_each_fails(vec![("fragmented 2 MB message", bytes)], 1009).await;
}

#[tokio::test]
async fn many_empty_fragments_do_not_hang_or_grow() {
    if skip_external("a bound of this server's") {
        return;
    }
    // 100 000 empty continuation frames make one message "4" at the end.
    let target = support::start().await;
    let ep = target.engine();
    let (mut ws, _) = open(&ep).await;
    let mut bytes = frame(false, 0, TEXT, true, b"4");
    let empty = frame(false, 0, CONTINUATION, true, b"");
    for _ in 0..100_000 {
        bytes.extend_from_slice(&empty);
    }
    bytes.extend(frame(true, 0, CONTINUATION, true, b"x"));
    ws.write(&bytes).await;
    assert_eq!(ws.next_text(WAIT).await.as_deref(), Some("4x"));
    assert_engine_serves(&target).await;
}

/// A polling session with a WebSocket attached for its upgrade (no probe sent yet), and a
/// GET poll pending the way a real client keeps one.
async fn candidate(ep: &Endpoint) -> (String, RawWs) {
    let (sid, _) = ep.handshake_polling().await;
    let ws = RawWs::connect(
        &ep.target.addr,
        &ep.url(&format!("EIO=4&transport=websocket&sid={sid}")),
    )
    .await;
    (sid, ws)
}

/// The session is still served over polling after its upgrade was aborted.
async fn assert_still_on_polling(ep: &Endpoint, sid: &str) {
    ep.send_packets(sid, &[Packet::text("4still polling")])
        .await;
    assert_eq!(
        ep.poll_until_data(sid, WAIT).await,
        vec![Packet::text("4still polling")]
    );
}

#[tokio::test]
async fn binary_before_the_probe_aborts_the_upgrade() {
    let target = support::start().await;
    let ep = target.engine();
    let (sid, mut ws) = candidate(&ep).await;
    ws.binary(&[1, 2, 3]).await;
    // Node: the candidate transport is closed (no status code), the session stays on polling.
    assert_eq!(ws.expect_close(WAIT).await, Ended::NoCode);
    assert_still_on_polling(&ep, &sid).await;
    assert_engine_serves(&target).await;
}

#[tokio::test]
async fn binary_between_probe_and_upgrade_aborts_the_upgrade() {
    let target = support::start().await;
    let ep = target.engine();
    let (sid, mut ws) = candidate(&ep).await;
    ws.text("2probe").await;
    assert_eq!(ws.next_text(WAIT).await.as_deref(), Some("3probe"));
    ws.binary(&[1, 2, 3]).await;
    assert_eq!(ws.expect_close(WAIT).await, Ended::NoCode);
    assert_still_on_polling(&ep, &sid).await;
    assert_engine_serves(&target).await;
}

#[tokio::test]
async fn wrong_probes_abort_the_upgrade() {
    let target = support::start().await;
    let ep = target.engine();
    for probe in [
        "2PROBE", "2prob", "2probe ", "3probe", "2", "4probe", "6", "1",
    ] {
        eprintln!("--- {probe:?}");
        let (sid, mut ws) = candidate(&ep).await;
        ws.text(probe).await;
        assert_eq!(ws.expect_close(WAIT).await, Ended::NoCode, "{probe:?}");
        assert_still_on_polling(&ep, &sid).await;
    }
    assert_engine_serves(&target).await;
}

#[tokio::test]
async fn frame_violation_on_the_candidate_websocket_leaves_the_session_on_polling() {
    let target = support::start().await;
    let ep = target.engine();
    for (name, bytes, code) in [
        ("RSV1", frame(true, 4, TEXT, true, b"2probe"), 1002),
        ("unmasked", frame(true, 0, TEXT, false, b"2probe"), 1002),
        (
            "invalid UTF-8",
            frame(true, 0, TEXT, true, b"2probe\xff"),
            1007,
        ),
    ] {
        eprintln!("--- {name}");
        let (sid, mut ws) = candidate(&ep).await;
        ws.write(&bytes).await;
        assert_eq!(ws.expect_close(WAIT).await, Ended::Code(code), "{name}");
        assert_still_on_polling(&ep, &sid).await;
    }
    assert_engine_serves(&target).await;
}

/// Node answers a second `2probe` on the candidate WebSocket with another `3probe`
/// (engine.io `socket.js` `_maybeUpgrade`: the `ping`/`probe` branch runs again) and the
/// upgrade still completes with `5`.
#[tokio::test]
async fn second_probe_is_answered_again() {
    let target = support::start().await;
    let ep = target.engine();
    let (_sid, mut ws) = candidate(&ep).await;
    ws.text("2probe").await;
    assert_eq!(ws.next_text(WAIT).await.as_deref(), Some("3probe"));
    ws.text("2probe").await;
    assert_eq!(ws.next_text(WAIT).await.as_deref(), Some("3probe"));
    ws.text("5").await;
    ws.text("4upgraded").await;
    assert_eq!(ws.next_text(WAIT).await.as_deref(), Some("4upgraded"));
    assert_engine_serves(&target).await;
}

/// Over the transport that carries the session, Engine.IO v4 clients never ping: Node treats
/// any ping, `2probe` included, as "invalid heartbeat direction" and closes the session
/// ("transport error"; engine.io `build/socket.js` `onPacket`, `case "ping"`: `if
/// (this.protocol !== 3) { this.onError(...) }`). Over polling the POST is still answered ok.
#[tokio::test]
async fn probe_posted_over_polling_is_a_heartbeat_error() {
    let target = support::start().await;
    let ep = target.engine();
    let (sid, _) = ep.handshake_polling().await;
    let res = ep.send(&sid, "2probe").await;
    assert_eq!((res.status, res.text().as_str()), (200, "ok"));
    assert_closed_now(&ep, &sid, "polling").await;
    assert_engine_serves(&target).await;
}

/// The same over an established WebSocket: Node closes it without a status code.
#[tokio::test]
async fn probe_on_an_established_websocket_is_a_heartbeat_error() {
    let target = support::start().await;
    let ep = target.engine();
    let (mut ws, sid) = open(&ep).await;
    ws.text("2probe").await;
    assert_eq!(ws.expect_close(WAIT).await, Ended::NoCode);
    assert_closed_now(&ep, &sid, "websocket").await;
    assert_engine_serves(&target).await;
}

/// Node accepts `5` on the candidate WebSocket even without a probe first (the `upgrade`
/// branch of `_maybeUpgrade` does not check that a probe came). This server refuses such an
/// upgrade instead, on purpose: no client skips the probe.
#[tokio::test]
async fn upgrade_without_probe_is_refused() {
    if skip_external("Node upgrades without a probe") {
        return;
    }
    let target = support::start().await;
    let ep = target.engine();
    let (sid, mut ws) = candidate(&ep).await;
    ws.text("5").await;
    assert_eq!(ws.expect_close(WAIT).await, Ended::NoCode);
    assert_still_on_polling(&ep, &sid).await;
    assert_engine_serves(&target).await;
}

/// The client may also just drop the TCP connection mid-frame: the session ends, nothing
/// hangs.
#[tokio::test]
async fn connection_dropped_mid_frame_ends_the_session() {
    let target = support::start().await;
    let ep = target.engine();
    let (mut ws, sid) = open(&ep).await;
    let bytes = frame(true, 0, TEXT, true, &[b'4'; 1000]);
    ws.write(&bytes[..500]).await;
    drop(ws);
    assert_session_gone(&ep, &sid, "websocket").await;
    assert_engine_serves(&target).await;
}
