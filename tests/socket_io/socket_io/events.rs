//! Events with JSON and binary arguments, echoed as `message-back`.

use serde_json::{Value, json};

use super::{assert_still_serves, on, sio};
use crate::support::eio::Packet;
use crate::support::sio::{
    ACK, BINARY_EVENT, EVENT, QUIET, SioClient, SioPacket, Transport, bin, nested_arrays,
    placeholder,
};
use crate::support::{self};

fn arg_lists() -> Vec<Vec<Value>> {
    vec![
        vec![],
        vec![json!("hello")],
        vec![
            json!(1),
            json!("two"),
            json!({ "three": [3, { "four": 4 }] }),
            json!(null),
            json!(true),
            json!(false),
            json!([]),
            json!({}),
            json!(-17),
            json!(1.5),
            json!(9_007_199_254_740_991_u64),
        ],
        vec![
            json!("é€😀 中文"),
            json!("line\nbreak\ttab \u{2028}\u{2029}"),
            json!("quote\" back\\slash / \u{1}"),
            json!({ "ключ": "значение", "😀": ["🎉"] }),
            json!(""),
        ],
    ]
}

#[tokio::test]
async fn events_round_trip_as_message_back() {
    let target = support::start().await;
    for t in Transport::ALL {
        on(t, "message -> message-back");
        let (mut c, _) = SioClient::connected(&target, t, "/", None).await;
        for args in arg_lists() {
            c.emit(&SioPacket::event("/", "message", &args)).await;
            let p = c.expect_packet().await;
            assert_eq!((p.kind, p.nsp.as_str(), p.id), (EVENT, "/", None), "{p}");
            let mut expected = vec![json!("message-back")];
            expected.extend(args.iter().cloned());
            assert_eq!(p.data(), &Value::Array(expected));
        }
    }
    assert_still_serves(&target).await;
}

#[tokio::test]
async fn events_in_one_payload_are_answered_in_order() {
    let target = support::start().await;
    for t in Transport::ALL {
        on(t, "batch");
        let (mut c, _) = SioClient::connected(&target, t, "/", None).await;
        let batch: Vec<Packet> = (0..20)
            .map(|i| sio(&format!(r#"2["message",{i}]"#)))
            .collect();
        c.send_eio(&batch).await;
        for i in 0..20 {
            let (data, _) = c.expect_event("/", "message-back").await;
            assert_eq!(data, json!(["message-back", i]));
        }
    }
    assert_still_serves(&target).await;
}

#[tokio::test]
async fn whitespace_in_payload_is_accepted() {
    let target = support::start().await;
    let (mut c, _) = SioClient::connected(&target, Transport::Polling, "/", None).await;
    c.send_text("2[ \"message\" , { \"a\" : [ 1 , 2 ] } ]")
        .await;
    let p = c.expect_packet().await;
    // Node re-serializes: compact JSON
    assert_eq!(p.encode(), r#"2["message-back",{"a":[1,2]}]"#);
    assert_still_serves(&target).await;
}

#[tokio::test]
async fn deeply_nested_arguments_are_echoed() {
    // Node echoes 1 000 levels (up to about 4 000; at 5 000 its
    // JSON.stringify overflows the stack, see the notes).
    let target = support::start().await;
    for t in Transport::ALL {
        on(t, "1000 levels");
        let (mut c, _) = SioClient::connected(&target, t, "/", None).await;
        let nested = nested_arrays(1000);
        c.send_text(&format!(r#"2["message",{nested}]"#)).await;
        let p = c.expect_packet().await;
        assert_eq!((p.kind, p.id), (EVENT, None));
        assert_eq!(
            p.json.as_deref(),
            Some(format!(r#"["message-back",{nested}]"#).as_str())
        );
        c.assert_echo_works("after deep").await;
    }
    assert_still_serves(&target).await;
}

#[tokio::test]
async fn event_with_ack_id_to_message_forwards_the_ack() {
    // `message` emits `message-back` with all its arguments, the ack callback
    // included: the server's event then asks for an ack (an id of its own),
    // and acking it calls the client's ack.
    let target = support::start().await;
    for t in Transport::ALL {
        on(t, "message with ack id");
        let (mut c, _) = SioClient::connected(&target, t, "/", None).await;
        c.emit(&SioPacket::event("/", "message", &[json!("x")]).with_id(5))
            .await;
        let (data, server_id) = c.expect_event("/", "message-back").await;
        assert_eq!(data, json!(["message-back", "x"]));
        let server_id = server_id.expect("message-back must carry an ack id");
        c.emit(&SioPacket::new(
            ACK,
            "/",
            Some(server_id),
            Some(json!(["y", { "z": 1 }])),
        ))
        .await;
        let p = c.expect_packet().await;
        assert_eq!(p.encode(), r#"35["y",{"z":1}]"#);
        c.assert_echo_works("after forwarded ack").await;
    }
    assert_still_serves(&target).await;
}

#[tokio::test]
async fn events_without_handler_are_ignored() {
    let target = support::start().await;
    for t in Transport::ALL {
        on(t, "unhandled events");
        let mut c = SioClient::open(&target, t).await;
        c.connect_with_auth_event("/", None).await;
        c.connect_with_auth_event("/custom", None).await;
        for text in [
            r#"2["nohandler",1,2]"#,
            r#"27["nohandler"]"#,
            r#"2["message-back","x"]"#,
            r#"2["auth",{}]"#,
            r#"2["événement 😀"]"#,
            // `/custom` has no handler at all
            r#"2/custom,["message","x"]"#,
            r#"2/custom,3["message-with-ack","x"]"#,
        ] {
            c.send_text(text).await;
        }
        // the echo is the next packet: nothing was sent for the above
        c.assert_echo_works("after unhandled").await;
        c.expect_silence(QUIET).await;
    }
    assert_still_serves(&target).await;
}

/// Sends a binary event and returns the answer (checked to be a binary
/// `message-back` on `/` without id).
async fn binary_round_trip(c: &mut SioClient, data: Value, attachments: Vec<Vec<u8>>) -> SioPacket {
    c.emit(&SioPacket::binary_event("/", data, attachments))
        .await;
    let p = c.expect_packet().await;
    assert_eq!(
        (p.kind, p.nsp.as_str(), p.id, p.event_name()),
        (BINARY_EVENT, "/", None, Some("message-back")),
        "{p}"
    );
    p
}

#[tokio::test]
async fn binary_event_round_trip() {
    let target = support::start().await;
    for t in [
        Transport::Polling,
        Transport::WebSocket,
        Transport::Upgraded,
    ] {
        on(t, "one attachment");
        let (mut c, _) = SioClient::connected(&target, t, "/", None).await;
        let bytes = vec![0u8, 1, 2, 0xfe, 0xff];
        let p = binary_round_trip(
            &mut c,
            json!(["message", placeholder(0)]),
            vec![bytes.clone()],
        )
        .await;
        // exactly `51-["message-back",{"_placeholder":true,"num":0}]` + attachment
        assert_eq!(
            p.encode(),
            r#"51-["message-back",{"_placeholder":true,"num":0}]"#
        );
        assert_eq!(p.attachments, vec![bytes]);
        c.assert_echo_works("after binary").await;
    }
    assert_still_serves(&target).await;
}

/// A placeholder stands for exactly its attachment, as in Node: keys beside `_placeholder` and
/// `num` (`__proto__`, which a JS client rebuilding the packet could merge into a prototype)
/// never reach another client.
#[tokio::test]
async fn placeholder_extra_keys_never_come_back() {
    let target = support::start().await;
    for t in Transport::ALL {
        on(t, "placeholder with __proto__");
        let (mut c, _) = SioClient::connected(&target, t, "/", None).await;
        let sneaky = json!({"_placeholder": true, "num": 0, "__proto__": {"polluted": 1}, "x": 2});
        let p = binary_round_trip(&mut c, json!(["message", sneaky]), vec![vec![7]]).await;
        assert_eq!(
            p.encode(),
            r#"51-["message-back",{"_placeholder":true,"num":0}]"#
        );
        assert_eq!(p.attachments, vec![vec![7]]);
        c.assert_echo_works("after the placeholder").await;
    }
    assert_still_serves(&target).await;
}

#[tokio::test]
async fn binary_event_with_two_nested_attachments() {
    let target = support::start().await;
    for t in Transport::ALL {
        on(t, "two attachments");
        let (mut c, _) = SioClient::connected(&target, t, "/", None).await;
        let a = vec![0xaa; 3];
        let b: Vec<u8> = (0..=255).collect();
        let data = json!([
            "message",
            { "first": [placeholder(1), "x"], "second": { "deep": placeholder(0) } },
            "tail",
            7
        ]);
        let p = binary_round_trip(&mut c, data, vec![a.clone(), b.clone()]).await;
        assert_eq!(p.attachments.len(), 2, "{p}");
        assert_eq!(
            p.reconstructed(),
            json!([
                "message-back",
                { "first": [bin(&b), "x"], "second": { "deep": bin(&a) } },
                "tail",
                7
            ])
        );
    }
    assert_still_serves(&target).await;
}

#[tokio::test]
async fn binary_event_edge_attachments() {
    let target = support::start().await;
    for t in Transport::ALL {
        on(t, "empty and large attachments");
        let (mut c, _) = SioClient::connected(&target, t, "/", None).await;
        // an empty attachment (`b` over polling)
        let p = binary_round_trip(&mut c, json!(["message", placeholder(0)]), vec![vec![]]).await;
        assert_eq!(p.attachments, vec![Vec::<u8>::new()]);
        // 100 kB
        let big: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let p = binary_round_trip(
            &mut c,
            json!(["message", { "big": placeholder(0) }]),
            vec![big.clone()],
        )
        .await;
        assert_eq!(
            p.reconstructed(),
            json!(["message-back", { "big": bin(&big) }])
        );
        // the same attachment referenced twice is sent twice
        let p = binary_round_trip(
            &mut c,
            json!(["message", placeholder(0), placeholder(0)]),
            vec![vec![9, 9]],
        )
        .await;
        assert_eq!(
            p.reconstructed(),
            json!(["message-back", bin(&[9, 9]), bin(&[9, 9])])
        );
    }
    assert_still_serves(&target).await;
}

#[tokio::test]
async fn binary_event_attachments_in_separate_messages() {
    // Over polling: the packet and each attachment in their own POSTs.
    let target = support::start().await;
    for t in Transport::ALL {
        on(t, "attachments sent one by one");
        let (mut c, _) = SioClient::connected(&target, t, "/", None).await;
        c.send_text(
            r#"52-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#,
        )
        .await;
        c.send_binary(&[1]).await;
        c.expect_silence(std::time::Duration::from_millis(400))
            .await;
        c.send_binary(&[2, 2]).await;
        let p = c.expect_packet().await;
        assert_eq!(
            p.reconstructed(),
            json!(["message-back", bin(&[1]), bin(&[2, 2])])
        );
    }
    assert_still_serves(&target).await;
}

#[tokio::test]
async fn binary_event_with_unused_attachments() {
    let target = support::start().await;
    for t in Transport::ALL {
        on(t, "attachments not referenced");
        let (mut c, _) = SioClient::connected(&target, t, "/", None).await;
        // one of two attachments referenced: only that one comes back
        let p = binary_round_trip(
            &mut c,
            json!(["message", placeholder(1)]),
            vec![vec![1], vec![2]],
        )
        .await;
        assert_eq!(p.attachments, vec![vec![2]]);
        assert_eq!(p.reconstructed(), json!(["message-back", bin(&[2])]));
        // no placeholder at all: the answer is a plain event
        c.emit(&SioPacket::binary_event(
            "/",
            json!(["message", "no binary"]),
            vec![vec![1, 2, 3]],
        ))
        .await;
        let p = c.expect_packet().await;
        assert_eq!(p.encode(), r#"2["message-back","no binary"]"#);
    }
    assert_still_serves(&target).await;
}
