//! connectTimeout (1000 ms): an Engine.IO session that joins no namespace
//! in time is closed by the server.

use std::time::Duration;

use tokio::time::Instant;

use super::{assert_still_serves, on};
use crate::support::sio::{CONNECT_ERROR, SioClient, Transport};
use crate::support::{self};

const CONNECT_TIMEOUT: Duration = Duration::from_millis(1000);

/// The session ends about connectTimeout after the handshake.
async fn expect_closed_at_connect_timeout(c: &mut SioClient, opened: Instant) {
    c.expect_server_close().await;
    let elapsed = opened.elapsed();
    assert!(
        elapsed >= CONNECT_TIMEOUT - Duration::from_millis(150)
            && elapsed <= CONNECT_TIMEOUT + Duration::from_millis(700),
        "closed after {elapsed:?}, expected about {CONNECT_TIMEOUT:?}"
    );
}

#[tokio::test]
async fn session_without_namespace_is_closed() {
    let target = support::start().await;
    for t in Transport::ALL {
        on(t, "no CONNECT");
        let opened = Instant::now();
        let mut c = SioClient::open(&target, t).await;
        // heartbeats are answered all along: only connectTimeout can end it
        expect_closed_at_connect_timeout(&mut c, opened).await;
    }
    assert_still_serves(&target).await;
}

#[tokio::test]
async fn refused_namespace_does_not_stop_connect_timeout() {
    let target = support::start().await;
    for t in Transport::ALL {
        on(t, "only a refused CONNECT");
        let opened = Instant::now();
        let mut c = SioClient::open(&target, t).await;
        c.send_text("0/nope,").await;
        assert_eq!(c.expect_packet().await.kind, CONNECT_ERROR);
        expect_closed_at_connect_timeout(&mut c, opened).await;
    }
    assert_still_serves(&target).await;
}

#[tokio::test]
async fn connect_before_the_timeout_keeps_the_session() {
    let target = support::start().await;
    for t in Transport::ALL {
        on(t, "CONNECT after 500 ms");
        let mut c = SioClient::open(&target, t).await;
        c.expect_silence(Duration::from_millis(500)).await;
        c.connect_with_auth_event("/", None).await;
        // well past connectTimeout
        c.expect_silence(Duration::from_millis(1200)).await;
        assert!(c.alive().await);
        c.assert_echo_works("kept").await;
    }
    assert_still_serves(&target).await;
}

#[tokio::test]
async fn custom_namespace_alone_stops_connect_timeout() {
    let target = support::start().await;
    for t in Transport::ALL {
        on(t, "only /custom");
        let (mut c, _) = SioClient::connected(&target, t, "/custom", None).await;
        c.expect_silence(Duration::from_millis(1500)).await;
        assert!(c.alive().await);
    }
    assert_still_serves(&target).await;
}
