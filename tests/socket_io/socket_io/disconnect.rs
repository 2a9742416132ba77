//! DISCONNECT from the client, and closing the Engine.IO session.

use std::time::Duration;

use super::{assert_still_serves, on};
use crate::support::sio::{QUIET, SioClient, Transport};
use crate::support::{self};

#[tokio::test]
async fn disconnect_of_the_last_namespace_keeps_the_session() {
    // Node only removes the socket: the Engine.IO session stays open (the
    // connectTimeout no longer runs), and the client may CONNECT again.
    let target = support::start().await;
    for t in Transport::ALL {
        on(t, "41 then wait");
        let (mut c, sid) = SioClient::connected(&target, t, "/", None).await;
        c.send_text("1").await;
        c.expect_silence(Duration::from_millis(1500)).await;
        assert!(c.alive().await);
        let sid2 = c.connect_with_auth_event("/", None).await;
        assert_ne!(sid, sid2);
        c.assert_echo_works("reconnected").await;
    }
    assert_still_serves(&target).await;
}

#[tokio::test]
async fn event_after_disconnect_closes_the_session() {
    // After `41` the namespace is no longer connected: an event for it is a
    // packet for a namespace the client is not in.
    let target = support::start().await;
    for t in Transport::ALL {
        on(t, "41 then event");
        let (mut c, _) = SioClient::connected(&target, t, "/", None).await;
        c.send_text("1").await;
        c.send_text(r#"2["message","late"]"#).await;
        c.expect_server_close().await;
    }
    assert_still_serves(&target).await;
}

#[tokio::test]
async fn disconnect_one_of_two_namespaces() {
    let target = support::start().await;
    for t in Transport::ALL {
        on(t, "41/custom, with / connected");
        let mut c = SioClient::open(&target, t).await;
        c.connect_with_auth_event("/", None).await;
        c.connect_with_auth_event("/custom", None).await;
        // the JS client's form, with the trailing comma
        c.send_text("1/custom,").await;
        c.assert_echo_works("/ still connected").await;
        // and /custom can be joined again
        c.connect_with_auth_event("/custom", None).await;
        c.send_text("1").await;
        c.expect_silence(QUIET).await;
        assert!(c.alive().await);
    }
    assert_still_serves(&target).await;
}

#[tokio::test]
async fn disconnect_of_a_namespace_not_connected_closes_the_session() {
    let target = support::start().await;
    for t in Transport::ALL {
        on(t, "41/custom, without /custom");
        let (mut c, _) = SioClient::connected(&target, t, "/", None).await;
        c.send_text("1/custom,").await;
        c.expect_server_close().await;
    }
    assert_still_serves(&target).await;
}

#[tokio::test]
async fn client_closing_the_engine_ends_everything() {
    let target = support::start().await;
    for t in Transport::ALL {
        on(t, "Engine.IO close from the client");
        let (c, _) = SioClient::connected(&target, t, "/", None).await;
        let ep = c.ep.clone();
        let sid = c.eio_sid.clone();
        c.close().await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!ep.session_exists(&sid, t.name()).await);
    }
    assert_still_serves(&target).await;
}
