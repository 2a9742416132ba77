//! The handshake query: `EIO`, `transport`, `sid`, `b64`, percent-decoded.

use std::borrow::Cow;

use super::ProtocolVersion;
use super::error::RequestError;
use super::sid::Sid;

/// The transport a request names.
///
/// ```
/// use tower_socketio::engine::TransportKind;
///
/// assert_eq!(TransportKind::WebSocket.as_str(), "websocket");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// HTTP long-polling.
    Polling,
    /// WebSocket.
    WebSocket,
}

impl TransportKind {
    /// The transport's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            TransportKind::Polling => "polling",
            TransportKind::WebSocket => "websocket",
        }
    }
}

/// What an Engine.IO request says about itself in its query string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EngineQuery {
    pub transport: TransportKind,
    /// `None` when the sid is absent; `Some(Err(()))` when present but malformed.
    pub sid: Option<Result<Sid, ()>>,
    pub protocol: Option<ProtocolVersion>,
    pub b64: bool,
}

/// Parses the query. A missing or unknown transport is `Transport unknown`; everything else is
/// judged later, in Node's order.
pub(crate) fn parse(query: Option<&str>) -> Result<EngineQuery, RequestError> {
    let mut transport = None;
    let mut sid = None;
    let mut eio = None;
    let mut b64 = false;
    for (key, value) in pairs(query.unwrap_or("")) {
        match &*key {
            // Like URLSearchParams in Node, the last occurrence wins.
            "transport" => transport = Some(value),
            "sid" => sid = Some(value),
            "EIO" => eio = Some(value),
            "b64" => b64 = !value.is_empty() && &*value != "0" && &*value != "false",
            _ => {}
        }
    }
    let transport = match transport.as_deref() {
        Some("polling") => TransportKind::Polling,
        Some("websocket") => TransportKind::WebSocket,
        _ => return Err(RequestError::UnknownTransport),
    };
    let protocol = match eio.as_deref() {
        Some("4") => Some(ProtocolVersion::V4),
        Some("3") => Some(ProtocolVersion::V3),
        _ => None,
    };
    let sid = sid.map(|s| s.parse::<Sid>().map_err(|_| ()));
    Ok(EngineQuery {
        transport,
        sid,
        protocol,
        b64,
    })
}

/// Splits `a=b&c=d` into percent-decoded pairs.
pub(crate) fn pairs(query: &str) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> {
    query.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(k), percent_decode(v))
    })
}

/// Decodes `%XX` escapes and `+` (as a space, like Node's `querystring`); invalid escapes are
/// kept as they are, as Node keeps them.
pub(crate) fn percent_decode(s: &str) -> Cow<'_, str> {
    if !s.bytes().any(|b| b == b'%' || b == b'+') {
        return Cow::Borrowed(s);
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_handshake() {
        let q = parse(Some("EIO=4&transport=polling&t=abc")).unwrap();
        assert_eq!(q.transport, TransportKind::Polling);
        assert_eq!(q.protocol, Some(ProtocolVersion::V4));
        assert_eq!(q.sid, None);
    }

    #[test]
    fn percent_decodes_values() {
        let q = parse(Some("EIO=%34&transport=web%73ocket")).unwrap();
        assert_eq!(q.transport, TransportKind::WebSocket);
        assert_eq!(q.protocol, Some(ProtocolVersion::V4));
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("%"), "%");
        assert_eq!(percent_decode("a+b%20c"), "a b c");
    }

    #[test]
    fn prototype_names_are_unknown_transports() {
        for t in ["__proto__", "constructor", "hasOwnProperty", "", "Polling"] {
            assert_eq!(
                parse(Some(&format!("EIO=4&transport={t}"))),
                Err(RequestError::UnknownTransport)
            );
        }
        assert_eq!(parse(Some("EIO=4")), Err(RequestError::UnknownTransport));
    }
}
