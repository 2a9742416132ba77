//! The signature on a forwarded request.
//!
//! `HMAC-SHA256(secret, "tsio-hop-v1\n{unix seconds}\n{kind}\n{METHOD}\n{path and query}\n{hex
//! SHA-256 of the body}")`, sent in hex with the time in two headers. The path and query carry
//! the sid, so a signature drives one session only, with one body, for one kind of request
//! (`http` or the `ws` upgrade), within [`MAX_SKEW`] of the time it names. Without the secret
//! the internal listener is of no use: it refuses anything unsigned before looking at it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderValue, Method};
use sha2::{Digest, Sha256};

/// The header with the signing time (Unix seconds).
pub(crate) const TIME_HEADER: &str = "x-tsio-hop-time";
/// The header with the hex HMAC.
pub(crate) const SIGNATURE_HEADER: &str = "x-tsio-hop-signature";

/// How far the signing time may be from the receiver's clock.
const MAX_SKEW: Duration = Duration::from_secs(30);

/// What a signature covers, besides the secret and the time.
pub(crate) struct Signed<'a> {
    pub(crate) upgrade: bool,
    pub(crate) method: &'a Method,
    pub(crate) path_and_query: &'a str,
    pub(crate) body: &'a [u8],
}

impl Signed<'_> {
    fn mac(&self, secret: &[u8], time: u64) -> Hmac<Sha256> {
        // HMAC takes a key of any length; this cannot fail.
        let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
            Ok(mac) => mac,
            Err(_) => unreachable_key(),
        };
        let kind = if self.upgrade { "ws" } else { "http" };
        let body = Sha256::digest(self.body);
        mac.update(b"tsio-hop-v1\n");
        mac.update(time.to_string().as_bytes());
        mac.update(b"\n");
        mac.update(kind.as_bytes());
        mac.update(b"\n");
        mac.update(self.method.as_str().as_bytes());
        mac.update(b"\n");
        mac.update(self.path_and_query.as_bytes());
        mac.update(b"\n");
        mac.update(hex(&body).as_bytes());
        mac
    }

    /// Adds the time and signature headers.
    pub(crate) fn sign(&self, secret: &[u8], headers: &mut HeaderMap) {
        self.sign_at(secret, headers, now());
    }

    fn sign_at(&self, secret: &[u8], headers: &mut HeaderMap, time: u64) {
        let tag = self.mac(secret, time).finalize().into_bytes();
        if let (Ok(time), Ok(tag)) = (
            HeaderValue::from_str(&time.to_string()),
            HeaderValue::from_str(&hex(&tag)),
        ) {
            headers.insert(TIME_HEADER, time);
            headers.insert(SIGNATURE_HEADER, tag);
        }
    }

    /// Whether the headers carry a valid, fresh signature of this request (compared in
    /// constant time).
    pub(crate) fn verify(&self, secret: &[u8], headers: &HeaderMap) -> bool {
        let time = headers
            .get(TIME_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let tag = headers
            .get(SIGNATURE_HEADER)
            .and_then(|v| unhex(v.as_bytes()));
        let (Some(time), Some(tag)) = (time, tag) else {
            return false;
        };
        if now().abs_diff(time) > MAX_SKEW.as_secs() {
            return false;
        }
        self.mac(secret, time).verify_slice(&tag).is_ok()
    }
}

#[cold]
fn unreachable_key() -> Hmac<Sha256> {
    // `new_from_slice` accepts every key length for HMAC; keep a defined value anyway.
    <Hmac<Sha256> as Mac>::new(&Default::default())
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    out
}

/// Exactly 64 lowercase hex digits (a SHA-256 tag), or nothing.
fn unhex(text: &[u8]) -> Option<Vec<u8>> {
    if text.len() != 64 {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    text.chunks(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed(body: &[u8]) -> Signed<'_> {
        Signed {
            upgrade: false,
            method: &Method::POST,
            path_and_query: "/socket.io/?EIO=4&transport=polling&sid=abcd",
            body,
        }
    }

    #[test]
    fn a_signature_verifies_only_what_it_signed() {
        let mut headers = HeaderMap::new();
        signed(b"4hello").sign(b"secret", &mut headers);
        assert!(signed(b"4hello").verify(b"secret", &headers));
        assert!(!signed(b"4hellO").verify(b"secret", &headers));
        assert!(!signed(b"4hello").verify(b"other", &headers));
        let upgrade = Signed {
            upgrade: true,
            ..signed(b"4hello")
        };
        assert!(!upgrade.verify(b"secret", &headers));
        let other_sid = Signed {
            path_and_query: "/socket.io/?EIO=4&transport=polling&sid=abce",
            ..signed(b"4hello")
        };
        assert!(!other_sid.verify(b"secret", &headers));
    }

    #[test]
    fn stale_or_malformed_signatures_are_refused() {
        assert!(!signed(b"").verify(b"secret", &HeaderMap::new()));
        let mut headers = HeaderMap::new();
        signed(b"").sign_at(b"secret", &mut headers, now() - 25);
        assert!(signed(b"").verify(b"secret", &headers));
        signed(b"").sign_at(b"secret", &mut headers, now() - 35);
        assert!(!signed(b"").verify(b"secret", &headers));
        signed(b"").sign_at(b"secret", &mut headers, now() + 35);
        assert!(!signed(b"").verify(b"secret", &headers));
        headers.insert(SIGNATURE_HEADER, HeaderValue::from_static("zz"));
        assert!(!signed(b"").verify(b"secret", &headers));
    }
}
