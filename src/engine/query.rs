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
///
/// Every polling request comes through here, so only the four keys it needs are decoded, and
/// only when they carry escapes.
pub(crate) fn parse(query: Option<&str>) -> Result<EngineQuery, RequestError> {
    let mut transport = None;
    let mut sid = None;
    let mut eio = None;
    let mut b64 = None;
    for (key, value) in raw_pairs(query.unwrap_or("")) {
        // Like URLSearchParams in Node, the last occurrence wins.
        match &*percent_decode(key) {
            "transport" => transport = Some(value),
            "sid" => sid = Some(value),
            "EIO" => eio = Some(value),
            "b64" => b64 = Some(value),
            _ => {}
        }
    }
    let transport = match transport.map(percent_decode).as_deref() {
        Some("polling") => TransportKind::Polling,
        Some("websocket") => TransportKind::WebSocket,
        _ => return Err(RequestError::UnknownTransport),
    };
    let protocol = match eio.map(percent_decode).as_deref() {
        Some("4") => Some(ProtocolVersion::V4),
        Some("3") => Some(ProtocolVersion::V3),
        _ => None,
    };
    let b64 = b64
        .map(percent_decode)
        .is_some_and(|v| !v.is_empty() && v != "0" && v != "false");
    let sid = sid.map(|s| percent_decode(s).parse::<Sid>().map_err(|_| ()));
    Ok(EngineQuery {
        transport,
        sid,
        protocol,
        b64,
    })
}

/// Splits `a=b&c=d` into percent-decoded pairs.
pub(crate) fn pairs(query: &str) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> {
    raw_pairs(query).map(|(k, v)| (percent_decode(k), percent_decode(v)))
}

/// Splits `a=b&c=d` into its pairs as written (empty pairs skipped, a pair without `=` has an
/// empty value), scanning bytes: `&` and `=` are ASCII, so every cut is a char boundary.
fn raw_pairs(query: &str) -> impl Iterator<Item = (&str, &str)> {
    let mut rest = query;
    std::iter::from_fn(move || {
        loop {
            if rest.is_empty() {
                return None;
            }
            let end = rest.bytes().position(|b| b == b'&').unwrap_or(rest.len());
            let pair = &rest[..end];
            rest = rest.get(end + 1..).unwrap_or("");
            if pair.is_empty() {
                continue;
            }
            return Some(match pair.bytes().position(|b| b == b'=') {
                Some(eq) => (&pair[..eq], &pair[eq + 1..]),
                None => (pair, ""),
            });
        }
    })
}

/// Decodes `%XX` escapes and `+` (as a space, like Node's `querystring`); invalid escapes are
/// kept as they are, as Node keeps them.
#[inline]
pub(crate) fn percent_decode(s: &str) -> Cow<'_, str> {
    if s.bytes().any(|b| b == b'%' || b == b'+') {
        Cow::Owned(decode_escapes(s.as_bytes()))
    } else {
        Cow::Borrowed(s)
    }
}

#[cold]
fn decode_escapes(bytes: &[u8]) -> String {
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
    String::from_utf8_lossy(&out).into_owned()
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
    fn splits_pairs_as_node_does() {
        let split: Vec<(String, String)> = pairs("a=1&&b&=c&d=%41&e=x=y&")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let expected = [("a", "1"), ("b", ""), ("", "c"), ("d", "A"), ("e", "x=y")];
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(split, expected);
        let q = parse(Some(
            "transport=polling&sid=x&b64=0&b64=1&transport=websocket",
        ))
        .unwrap();
        assert_eq!(q.transport, TransportKind::WebSocket, "the last one wins");
        assert!(q.b64);
        assert_eq!(q.sid, Some(Err(())));
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
