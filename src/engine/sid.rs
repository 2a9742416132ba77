//! Session ids: 20 characters of URL-safe base64 over 15 bytes from a CSPRNG seeded by the
//! operating system.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

const SID_LEN: usize = 20;

/// An Engine.IO session id (and, in the Socket.IO layer, a socket id).
///
/// Generated from 15 bytes of `rand`'s thread-local CSPRNG (ChaCha, seeded and periodically
/// reseeded from the operating system, as `crypto.randomBytes` pools them in Node), so it is
/// unguessable and, with 120 bits of entropy, never reused in practice. Drawing one makes no
/// system call. It is `Copy` and lives inline: no allocation.
///
/// ```
/// use tower_socketio::engine::Sid;
///
/// let a = Sid::new();
/// let b = Sid::new();
/// assert_ne!(a, b);
/// assert_eq!(a.as_str().len(), 20);
/// assert_eq!(a.as_str().parse::<Sid>().unwrap(), a);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sid([u8; SID_LEN]);

impl Sid {
    /// Draws a fresh random id.
    pub fn new() -> Self {
        let mut raw = [0u8; 15];
        rand::fill(&mut raw);
        let mut out = [0u8; SID_LEN];
        // 15 bytes encode to exactly 20 base64 characters, so this cannot fail.
        let written = URL_SAFE_NO_PAD
            .encode_slice(raw, &mut out)
            .unwrap_or_default();
        debug_assert_eq!(written, SID_LEN);
        Sid(out)
    }

    /// A fresh id whose first four characters name the node that owns the session, so any
    /// node of a cluster without sticky sessions can tell where to forward a request. The
    /// other 16 characters are 12 random bytes (96 bits).
    #[cfg(feature = "no-sticky")]
    pub(crate) fn with_node(node: [u8; 4]) -> Self {
        let mut sid = Sid::new();
        sid.0[..4].copy_from_slice(&node);
        sid
    }

    /// The first four characters: the owner node of a session opened by a cluster without
    /// sticky sessions (random characters otherwise).
    #[cfg(feature = "no-sticky")]
    pub(crate) fn node_prefix(&self) -> [u8; 4] {
        let mut node = [0u8; 4];
        node.copy_from_slice(&self.0[..4]);
        node
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        // Only URL-safe base64 characters are ever stored (see `new` and `from_str`).
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl Default for Sid {
    fn default() -> Self {
        Self::new()
    }
}

/// The text given is not a well-formed session id.
///
/// ```
/// use tower_socketio::engine::{InvalidSid, Sid};
///
/// assert_eq!("not an id".parse::<Sid>(), Err(InvalidSid));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed session id")]
pub struct InvalidSid;

impl std::str::FromStr for Sid {
    type Err = InvalidSid;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = s.as_bytes();
        if bytes.len() != SID_LEN
            || !bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
        {
            return Err(InvalidSid);
        }
        let mut out = [0u8; SID_LEN];
        out.copy_from_slice(bytes);
        Ok(Sid(out))
    }
}

impl fmt::Display for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sid({})", self.as_str())
    }
}

impl serde::Serialize for Sid {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Sid {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}
