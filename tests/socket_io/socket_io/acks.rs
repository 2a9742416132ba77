//! Acknowledgements: `message-with-ack` acks with its own arguments.

use serde_json::{Value, json};

use super::{assert_still_serves, on};
use crate::support::sio::{
    ACK, BINARY_ACK, QUIET, SioClient, SioPacket, Transport, bin, placeholder,
};
use crate::support::{self};

#[tokio::test]
async fn ack_round_trip() {
    let target = support::start().await;
    let cases: Vec<(u64, Vec<Value>)> = vec![
        (0, vec![]),
        (1, vec![json!("a")]),
        (
            42,
            vec![json!(1), json!("é😀"), json!({ "k": [null, true] })],
        ),
        (9_007_199_254_740_991, vec![json!("max safe integer id")]),
    ];
    for t in Transport::ALL {
        on(t, "acks");
        let (mut c, _) = SioClient::connected(&target, t, "/", None).await;
        for (id, args) in &cases {
            c.emit(&SioPacket::event("/", "message-with-ack", args).with_id(*id))
                .await;
            let p = c.expect_packet().await;
            assert_eq!((p.kind, p.nsp.as_str(), p.id), (ACK, "/", Some(*id)), "{p}");
            assert_eq!(p.data(), &Value::Array(args.clone()));
            assert_eq!(p.encode(), format!("3{id}{}", Value::Array(args.clone())));
        }
    }
    assert_still_serves(&target).await;
}

#[tokio::test]
async fn ack_id_with_leading_zeros() {
    // Node reads the id with Number(): `007` is 7.
    let target = support::start().await;
    let (mut c, _) = SioClient::connected(&target, Transport::Polling, "/", None).await;
    c.send_text(r#"2007["message-with-ack","z"]"#).await;
    assert_eq!(c.expect_packet().await.encode(), r#"37["z"]"#);
    assert_still_serves(&target).await;
}

#[tokio::test]
async fn acks_in_one_payload_keep_their_ids() {
    let target = support::start().await;
    for t in Transport::ALL {
        on(t, "several acks");
        let (mut c, _) = SioClient::connected(&target, t, "/", None).await;
        let batch: Vec<_> = [10u64, 3, 7]
            .iter()
            .map(|id| super::sio(&format!(r#"2{id}["message-with-ack",{id}]"#)))
            .collect();
        c.send_eio(&batch).await;
        for id in [10u64, 3, 7] {
            assert_eq!(c.expect_packet().await.encode(), format!("3{id}[{id}]"));
        }
    }
    assert_still_serves(&target).await;
}

#[tokio::test]
async fn binary_ack() {
    let target = support::start().await;
    for t in [
        Transport::Polling,
        Transport::WebSocket,
        Transport::Upgraded,
    ] {
        on(t, "binary ack");
        let (mut c, _) = SioClient::connected(&target, t, "/", None).await;
        let bytes = vec![1u8, 2, 3, 250];
        let mut p = SioPacket::binary_event(
            "/",
            json!(["message-with-ack", placeholder(0), "x"]),
            vec![bytes.clone()],
        );
        p.id = Some(3);
        c.emit(&p).await;
        let a = c.expect_packet().await;
        assert_eq!(
            a.encode(),
            r#"61-3[{"_placeholder":true,"num":0},"x"]"#,
            "{a}"
        );
        assert_eq!(a.kind, BINARY_ACK);
        assert_eq!(a.attachments, vec![bytes.clone()]);
        // and with the id after a namespace-less two-attachment header
        let mut p = SioPacket::binary_event(
            "/",
            json!(["message-with-ack", { "b": placeholder(1), "a": placeholder(0) }]),
            vec![vec![0xa], vec![0xb]],
        );
        p.id = Some(77);
        c.emit(&p).await;
        let a = c.expect_packet().await;
        assert_eq!((a.kind, a.id), (BINARY_ACK, Some(77)), "{a}");
        assert_eq!(
            a.reconstructed(),
            json!([{ "b": bin(&[0xb]), "a": bin(&[0xa]) }])
        );
    }
    assert_still_serves(&target).await;
}

#[tokio::test]
async fn event_with_ack_id_on_custom_namespace_gets_no_ack() {
    // `/custom` has no handlers: the event is dropped and never acked.
    let target = support::start().await;
    for t in Transport::ALL {
        on(t, "ack on /custom");
        let mut c = SioClient::open(&target, t).await;
        c.connect_with_auth_event("/custom", None).await;
        c.send_text(r#"2/custom,1["message-with-ack","x"]"#).await;
        c.send_text(r#"2/custom,9007199254740991["message","x"]"#)
            .await;
        c.expect_silence(QUIET).await;
        assert!(c.alive().await);
    }
    assert_still_serves(&target).await;
}

#[tokio::test]
async fn acks_nobody_waits_for_are_ignored() {
    let target = support::start().await;
    for t in Transport::ALL {
        on(t, "unexpected acks");
        let (mut c, _) = SioClient::connected(&target, t, "/", None).await;
        for text in [r#"399["x"]"#, "30[]", "31", "31[]"] {
            c.send_text(text).await;
        }
        // a binary ack nobody waits for
        let mut p = SioPacket::new(BINARY_ACK, "/", Some(5), Some(json!([placeholder(0)])));
        p.attachments = vec![vec![1]];
        c.emit(&p).await;
        c.assert_echo_works("after stray acks").await;
    }
    assert_still_serves(&target).await;
}
