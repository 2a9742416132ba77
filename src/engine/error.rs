//! The answers Engine.IO gives to requests it refuses, exactly as Node's `engine.io` gives them.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::Full;

/// Why a request was refused before it reached a session. Each has Node's numeric code and
/// message, sent as the JSON body `{"code":N,"message":"..."}`.
///
/// ```
/// use tower_socketio::engine::RequestError;
///
/// assert_eq!(RequestError::UnknownSid.code(), 1);
/// assert_eq!(RequestError::UnknownSid.to_string(), "Session ID unknown");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// Code 0: the `transport` query parameter names no enabled transport.
    #[error("Transport unknown")]
    UnknownTransport,
    /// Code 1: the `sid` names no live session.
    #[error("Session ID unknown")]
    UnknownSid,
    /// Code 2: a handshake with another method than GET.
    #[error("Bad handshake method")]
    BadHandshakeMethod,
    /// Code 3: a request that does not fit the session's state.
    #[error("Bad request")]
    BadRequest,
    /// Code 4: refused by the `allow_request` hook.
    #[error("Forbidden")]
    Forbidden,
    /// Code 5: an `EIO` version this server does not speak.
    #[error("Unsupported protocol version")]
    UnsupportedProtocolVersion,
}

impl RequestError {
    /// Node's numeric code for this error.
    pub fn code(self) -> u8 {
        match self {
            RequestError::UnknownTransport => 0,
            RequestError::UnknownSid => 1,
            RequestError::BadHandshakeMethod => 2,
            RequestError::BadRequest => 3,
            RequestError::Forbidden => 4,
            RequestError::UnsupportedProtocolVersion => 5,
        }
    }

    /// The HTTP status Node answers with: 403 for `Forbidden`, 400 otherwise.
    pub fn status(self) -> StatusCode {
        match self {
            RequestError::Forbidden => StatusCode::FORBIDDEN,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// The JSON body.
    pub fn body(self) -> String {
        format!(r#"{{"code":{},"message":"{}"}}"#, self.code(), self)
    }

    /// A refused WebSocket upgrade: Node writes the bare message as `text/html`.
    pub(crate) fn into_upgrade_response(self) -> Response<Full<Bytes>> {
        let mut res = Response::new(Full::new(Bytes::from(self.to_string())));
        *res.status_mut() = StatusCode::BAD_REQUEST;
        res.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
        res.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        res
    }

    pub(crate) fn into_response(self) -> Response<Full<Bytes>> {
        let mut res = Response::new(Full::new(Bytes::from(self.body())));
        *res.status_mut() = self.status();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        res
    }
}

/// A bodiless answer with this status (Node's `res.writeHead(status); res.end()`).
pub(crate) fn empty_response(status: StatusCode) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(Bytes::new()));
    *res.status_mut() = status;
    res
}

/// Why a session ended, with the reason strings Node's `engine.io` gives.
///
/// ```
/// use tower_socketio::engine::CloseReason;
///
/// assert_eq!(CloseReason::PingTimeout.as_str(), "ping timeout");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloseReason {
    /// The client closed the connection (a `1` packet or the WebSocket/TCP connection went away).
    TransportClose,
    /// The transport failed or the client broke the transport's rules.
    TransportError,
    /// No pong within `ping_timeout`.
    PingTimeout,
    /// The server closed the session.
    ForcedClose,
    /// The server is shutting down.
    ServerShuttingDown,
    /// The client sent a packet that could not be decoded.
    ParseError,
    /// The client did not read fast enough and its outbound queue went over
    /// `max_buffered_bytes`.
    SlowConsumer,
}

impl CloseReason {
    /// The reason as Node names it.
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::TransportClose => "transport close",
            CloseReason::TransportError => "transport error",
            CloseReason::PingTimeout => "ping timeout",
            CloseReason::ForcedClose => "forced close",
            CloseReason::ServerShuttingDown => "server shutting down",
            CloseReason::ParseError => "parse error",
            CloseReason::SlowConsumer => "slow consumer",
        }
    }
}

impl std::fmt::Display for CloseReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A message could not be queued on a session.
///
/// ```
/// # fn f(session: tower_socketio::engine::Session) {
/// use tower_socketio::engine::SendError;
///
/// match session.send_text("hello") {
///     Ok(()) => {}
///     Err(SendError::Closed) => println!("gone"),
///     Err(SendError::Full) => println!("too slow: disconnected"),
/// }
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The session is closed or closing.
    #[error("the session is closed")]
    Closed,
    /// The session's outbound queue is full: the client does not read fast enough. The session
    /// is closed with [`CloseReason::SlowConsumer`].
    #[error("the session's outbound queue is full")]
    Full,
}
