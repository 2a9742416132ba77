//! The handshake request's head, kept for the session's life in as little memory as it takes.
//!
//! A session must be able to show the request it was opened with ([`Session::request`]), but
//! most applications never look at it, and an `http::HeaderMap` costs about 100 bytes per
//! header on top of the bytes themselves: more than anything else an idle connection keeps.
//! So the head is kept as one buffer of names and values, and the `http::request::Parts` are
//! built from it the first time anyone asks.
//!
//! [`Session::request`]: super::Session::request

use std::sync::{Mutex, OnceLock};

use bytes::{Bytes, BytesMut};
use http::header::{HeaderName, HeaderValue};
use http::request::Parts;
use http::{Extensions, HeaderMap, Method, Request, Uri, Version};

use crate::core::sync::lock;

/// A request head: compact until [`parts`](Self::parts) is first called.
pub(crate) struct RequestHead {
    /// Also here, so that the query and the URL never need the headers.
    uri: Uri,
    compact: Mutex<Option<Compact>>,
    parts: OnceLock<Box<Parts>>,
}

/// The head with its headers as one buffer: per header, a flag byte (1 for a sensitive value,
/// 0 otherwise), the name, a `\0`, the value and a `\n` (neither byte can occur in a name or
/// a value).
struct Compact {
    method: Method,
    version: Version,
    extensions: Extensions,
    headers: Bytes,
}

impl RequestHead {
    /// Keeps `parts` with bytes of its own: hyper parses the URI and the header values as
    /// slices of its connection's read buffer (8 to 16 KiB), and keeping those slices would
    /// keep that whole buffer alive for every connection.
    pub(crate) fn new(mut parts: Parts) -> Self {
        let uri = parts.uri.to_string();
        let mut buf = BytesMut::with_capacity(
            uri.len()
                + parts
                    .headers
                    .iter()
                    .map(|(n, v)| n.as_str().len() + v.len() + 3)
                    .sum::<usize>(),
        );
        buf.extend_from_slice(uri.as_bytes());
        for (name, value) in &parts.headers {
            buf.extend_from_slice(&[u8::from(value.is_sensitive())]);
            buf.extend_from_slice(name.as_str().as_bytes());
            buf.extend_from_slice(b"\0");
            buf.extend_from_slice(value.as_bytes());
            buf.extend_from_slice(b"\n");
        }
        let buf = buf.freeze();
        if let Ok(owned) = Uri::from_maybe_shared(buf.slice(..uri.len())) {
            // axum's router keeps a copy of the URI too, as an extension.
            if let Some(original) = parts.extensions.get_mut::<axum::extract::OriginalUri>() {
                if original.0 == parts.uri {
                    original.0 = owned.clone();
                } else if let Ok(copy) = Uri::try_from(original.0.to_string()) {
                    original.0 = copy;
                }
            }
            parts.uri = owned;
        }
        let compact = Compact {
            method: parts.method.clone(),
            version: parts.version,
            extensions: std::mem::take(&mut parts.extensions),
            headers: buf.slice(uri.len()..),
        };
        // Bytes hyper let through that `HeaderValue` would not take back: keep the parts as
        // they are (a rare request, in full).
        if compact.expand_headers().len() != parts.headers.len() {
            parts.extensions = compact.extensions;
            return RequestHead {
                uri: parts.uri.clone(),
                compact: Mutex::new(None),
                parts: OnceLock::from(Box::new(parts)),
            };
        }
        RequestHead {
            uri: parts.uri,
            compact: Mutex::new(Some(compact)),
            parts: OnceLock::new(),
        }
    }

    /// The request's URI.
    pub(crate) fn uri(&self) -> &Uri {
        &self.uri
    }

    /// The head as `http` has it, built on first use.
    pub(crate) fn parts(&self) -> &Parts {
        self.parts.get_or_init(|| {
            let (mut parts, ()) = Request::new(()).into_parts();
            if let Some(compact) = lock(&self.compact).take() {
                parts.headers = compact.expand_headers();
                parts.method = compact.method;
                parts.uri = self.uri.clone();
                parts.version = compact.version;
                parts.extensions = compact.extensions;
            }
            Box::new(parts)
        })
    }
}

impl Compact {
    fn expand_headers(&self) -> HeaderMap {
        let lines = || {
            self.headers
                .split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
        };
        let mut headers = HeaderMap::with_capacity(lines().count());
        let mut at = 0;
        for line in lines() {
            let start = at;
            at += line.len() + 1;
            // After the flag byte, which may be a 0 itself.
            let Some(split) = line.iter().skip(1).position(|&b| b == 0).map(|at| at + 1) else {
                continue;
            };
            let Ok(name) = HeaderName::from_bytes(&line[1..split]) else {
                continue;
            };
            let value = self.headers.slice(start + split + 1..start + line.len());
            if let Ok(mut value) = HeaderValue::from_maybe_shared(value) {
                value.set_sensitive(line[0] == 1);
                headers.append(name, value);
            }
        }
        headers
    }
}

impl std::fmt::Debug for RequestHead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.parts().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header;

    #[test]
    fn keeps_the_request_head() {
        let head = Bytes::from_static(b"/socket.io/?EIO=4&transport=websocket cookie a b");
        let uri = Uri::from_maybe_shared(head.slice(..37)).unwrap();
        let mut req = Request::get(uri.clone()).body(()).unwrap();
        let mut secret = HeaderValue::from_maybe_shared(head.slice(38..44)).unwrap();
        secret.set_sensitive(true);
        req.headers_mut().insert(header::COOKIE, secret);
        req.headers_mut().append(
            "x-multi",
            HeaderValue::from_maybe_shared(head.slice(45..46)).unwrap(),
        );
        req.headers_mut().append(
            "x-multi",
            HeaderValue::from_maybe_shared(head.slice(47..48)).unwrap(),
        );
        req.headers_mut()
            .insert(header::USER_AGENT, HeaderValue::from_static(""));
        req.extensions_mut()
            .insert(axum::extract::OriginalUri(uri.clone()));
        req.extensions_mut().insert(7u32);
        let (parts, ()) = req.into_parts();
        let kept = RequestHead::new(parts);
        assert_eq!(kept.uri(), &uri);
        assert!(kept.parts.get().is_none(), "compact until asked");
        let parts = kept.parts();
        assert_eq!(parts.method, Method::GET);
        assert_eq!(parts.uri, uri);
        assert_eq!(parts.headers.len(), 4);
        assert_eq!(parts.headers[header::COOKIE], "cookie");
        assert!(parts.headers[header::COOKIE].is_sensitive());
        assert!(!parts.headers[header::USER_AGENT].is_sensitive());
        assert_eq!(parts.headers[header::USER_AGENT], "");
        let multi: Vec<_> = parts.headers.get_all("x-multi").iter().collect();
        assert_eq!(multi, ["a", "b"]);
        let original = parts
            .extensions
            .get::<axum::extract::OriginalUri>()
            .unwrap();
        assert_eq!(original.0, uri);
        assert_eq!(parts.extensions.get::<u32>(), Some(&7));
    }
}
