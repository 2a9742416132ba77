//! A small WebSocket client (tokio-tungstenite) with bounded waits.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Default bound for waiting on one frame.
pub const RECV_TIMEOUT: Duration = Duration::from_secs(5);

/// What the client observed next on the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsEvent {
    Text(String),
    Binary(Vec<u8>),
    /// A close frame: its status code (None for a close frame without code).
    Close(Option<u16>),
    /// The connection ended (EOF or error) without a close frame.
    Gone,
}

pub struct WsClient {
    inner: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl WsClient {
    pub async fn connect(url: &str) -> Result<WsClient, tungstenite::Error> {
        let (inner, _response) =
            tokio::time::timeout(RECV_TIMEOUT, tokio_tungstenite::connect_async(url))
                .await
                .map_err(|_| {
                    tungstenite::Error::Io(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "ws connect timed out",
                    ))
                })??;
        Ok(WsClient { inner })
    }

    pub async fn send_text(&mut self, text: &str) {
        self.send(Message::text(text)).await;
    }

    pub async fn send_binary(&mut self, bytes: &[u8]) {
        self.send(Message::binary(bytes.to_vec())).await;
    }

    /// Sends a message; panics on failure or timeout.
    pub async fn send(&mut self, msg: Message) {
        tokio::time::timeout(RECV_TIMEOUT, self.inner.send(msg))
            .await
            .expect("ws send timed out")
            .expect("ws send failed");
    }

    /// Sends a message; reports failure (and timeout) instead of panicking.
    pub async fn try_send(&mut self, msg: Message) -> Result<(), String> {
        match tokio::time::timeout(RECV_TIMEOUT, self.inner.send(msg)).await {
            Err(_) => Err("ws send timed out".to_string()),
            Ok(r) => r.map_err(|e| e.to_string()),
        }
    }

    /// Next frame, waiting at most `wait`; None on timeout. WebSocket-level
    /// ping/pong frames are skipped.
    pub async fn recv_within(&mut self, wait: Duration) -> Option<WsEvent> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let next = tokio::time::timeout_at(deadline, self.inner.next())
                .await
                .ok()?;
            return Some(match next {
                Some(Ok(Message::Text(t))) => WsEvent::Text(t.as_str().to_string()),
                Some(Ok(Message::Binary(b))) => WsEvent::Binary(b.to_vec()),
                Some(Ok(Message::Close(frame))) => WsEvent::Close(frame.map(|f| u16::from(f.code))),
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                Some(Err(_)) | None => WsEvent::Gone,
            });
        }
    }

    /// Next frame; panics after [`RECV_TIMEOUT`].
    pub async fn recv(&mut self) -> WsEvent {
        self.recv_within(RECV_TIMEOUT)
            .await
            .expect("no WebSocket frame in time")
    }

    /// Next Engine.IO packet that is not a ping; pings (`2`) are answered with `3`.
    pub async fn recv_skip_pings(&mut self) -> WsEvent {
        loop {
            match self.recv().await {
                WsEvent::Text(t) if t == "2" => self.send_text("3").await,
                other => return other,
            }
        }
    }

    /// Waits until the connection ends; returns the close code if a close
    /// frame came. Text/binary frames before it are ignored. Panics if the
    /// connection is still open after `wait`.
    pub async fn expect_closed_within(&mut self, wait: Duration) -> Option<u16> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.recv_within(left).await {
                None => panic!("WebSocket still open after {wait:?}"),
                Some(WsEvent::Close(code)) => return code,
                Some(WsEvent::Gone) => return None,
                Some(_) => {}
            }
        }
    }

    /// Closes cleanly (best effort, bounded): sends a close frame, waits for
    /// the server's close frame or the end of the stream, then drops the TCP
    /// connection. (Node's `ws` only reports a connection closed, and so
    /// engine.io only ends the session, once the TCP connection is gone.)
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(RECV_TIMEOUT, self.inner.close(None)).await;
        let _ = tokio::time::timeout(RECV_TIMEOUT, async {
            while let Some(Ok(_)) = self.inner.next().await {}
        })
        .await;
    }
}
