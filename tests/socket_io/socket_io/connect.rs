//! CONNECT to `/`, `/custom` and unknown namespaces.

use serde_json::json;

use super::{assert_still_serves, on};
use crate::support::sio::{CONNECT, CONNECT_ERROR, SioClient, SioPacket, Transport};
use crate::support::{self};

/// A Socket.IO sid as Node makes them: 20 chars of base64url.
fn assert_sid(sid: &str, eio_sid: &str) {
    assert_eq!(sid.len(), 20, "sid {sid:?}");
    assert!(
        sid.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "sid {sid:?}"
    );
    assert_ne!(
        sid, eio_sid,
        "the Socket.IO sid must not be the Engine.IO sid"
    );
}

#[tokio::test]
async fn connect_to_main_namespace() {
    let target = support::start().await;
    for t in [
        Transport::Polling,
        Transport::WebSocket,
        Transport::Upgraded,
    ] {
        on(t, "CONNECT /");
        let mut c = SioClient::open(&target, t).await;
        c.send_text("0").await;
        let p = c.expect_packet().await;
        // exactly `0{"sid":"..."}`
        let sid = p.data()["sid"].as_str().expect("sid").to_string();
        assert_eq!(p.encode(), format!(r#"0{{"sid":"{sid}"}}"#));
        assert_sid(&sid, &c.eio_sid);
        // then the `auth` event, with `{}` when CONNECT had no payload
        let auth = c.expect_packet().await;
        assert_eq!(auth.encode(), r#"2["auth",{}]"#);
        c.assert_echo_works("after connect").await;
    }
    assert_still_serves(&target).await;
}

#[tokio::test]
async fn connect_with_auth_payload() {
    let target = support::start().await;
    let auth = json!({
        "token": "abc",
        "n": 12,
        "nested": { "list": [1, "two", null, true], "empty": {} },
        "unicode": "é€😀"
    });
    for t in Transport::ALL {
        on(t, "CONNECT / with auth");
        let (mut c, sid) = SioClient::connected(&target, t, "/", Some(auth.clone())).await;
        assert_sid(&sid, &c.eio_sid);
        c.assert_echo_works("after auth").await;
    }
    // an empty object is the same as no payload
    let (mut c, _) = SioClient::connected(&target, Transport::Polling, "/", Some(json!({}))).await;
    c.assert_echo_works("empty auth").await;
    assert_still_serves(&target).await;
}

#[tokio::test]
async fn each_connect_gets_a_new_sid() {
    let target = support::start().await;
    let (_a, sid_a) = SioClient::connected(&target, Transport::Polling, "/", None).await;
    let (_b, sid_b) = SioClient::connected(&target, Transport::WebSocket, "/", None).await;
    assert_ne!(sid_a, sid_b);
    assert_still_serves(&target).await;
}

#[tokio::test]
async fn explicit_main_namespace() {
    // `0/,` names `/` explicitly; the answer omits it as usual.
    let target = support::start().await;
    for t in Transport::ALL {
        on(t, "CONNECT /,");
        let mut c = SioClient::open(&target, t).await;
        c.send_text("0/,").await;
        let p = c.expect_packet().await;
        assert_eq!((p.kind, p.nsp.as_str()), (CONNECT, "/"), "{p}");
        assert!(p.encode().starts_with(r#"0{"sid":""#), "{p}");
        assert_eq!(c.expect_packet().await.encode(), r#"2["auth",{}]"#);
        c.assert_echo_works("explicit /").await;
    }
    assert_still_serves(&target).await;
}

#[tokio::test]
async fn connect_to_custom_namespace() {
    let target = support::start().await;
    for t in Transport::ALL {
        on(t, "CONNECT /custom");
        let mut c = SioClient::open(&target, t).await;
        // the JS client sends `0/custom,` without auth
        c.send_text("0/custom,").await;
        let p = c.expect_packet().await;
        let sid = p.data()["sid"].as_str().expect("sid").to_string();
        assert_eq!(p.encode(), format!(r#"0/custom,{{"sid":"{sid}"}}"#));
        assert_sid(&sid, &c.eio_sid);
        assert_eq!(c.expect_packet().await.encode(), r#"2/custom,["auth",{}]"#);

        // with auth, on another session
        let auth = json!({ "token": "xyz", "list": [1, 2] });
        let (c2, sid2) = SioClient::connected(&target, t, "/custom", Some(auth.clone())).await;
        assert_sid(&sid2, &c2.eio_sid);
        // `/custom` has no `message` handler: nothing comes back
        c.emit(&SioPacket::event("/custom", "message", &[json!(1)]))
            .await;
        c.expect_silence(crate::support::sio::QUIET).await;
    }
    assert_still_serves(&target).await;
}

#[tokio::test]
async fn two_namespaces_on_one_session() {
    let target = support::start().await;
    for t in Transport::ALL {
        on(t, "/ and /custom multiplexed");
        let mut c = SioClient::open(&target, t).await;
        let main = c
            .connect_with_auth_event("/", Some(json!({ "who": "main" })))
            .await;
        let custom = c
            .connect_with_auth_event("/custom", Some(json!({ "who": "custom" })))
            .await;
        assert_ne!(main, custom);
        c.assert_echo_works("multiplexed").await;
    }
    assert_still_serves(&target).await;
}

#[tokio::test]
async fn unknown_namespace_is_refused() {
    let target = support::start().await;
    for t in Transport::ALL {
        on(t, "CONNECT /nope");
        let mut c = SioClient::open(&target, t).await;
        for connect in ["0/nope,", r#"0/nope,{"token":"abc"}"#, "0/nope"] {
            c.send_text(connect).await;
            let p = c.expect_packet().await;
            assert_eq!(p.kind, CONNECT_ERROR, "{p}");
            assert_eq!(p.encode(), r#"4/nope,{"message":"Invalid namespace"}"#);
        }
        // the Engine.IO session stays usable
        assert!(c.alive().await);
        c.connect_with_auth_event("/", None).await;
        c.assert_echo_works("after refusal").await;
    }
    assert_still_serves(&target).await;
}

#[tokio::test]
async fn unknown_namespace_next_to_a_connected_one() {
    let target = support::start().await;
    for t in Transport::ALL {
        on(t, "CONNECT /nope while on /");
        let (mut c, _) = SioClient::connected(&target, t, "/", None).await;
        c.send_text("0/admin,").await;
        assert_eq!(
            c.expect_packet().await.encode(),
            r#"4/admin,{"message":"Invalid namespace"}"#
        );
        c.assert_echo_works("/ unaffected").await;
    }
    assert_still_serves(&target).await;
}
