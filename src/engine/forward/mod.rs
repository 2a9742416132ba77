//! Sessions served by any node of a cluster without sticky sessions.
//!
//! A session lives on the node that opened it (its *owner*), whose [`NodeId`] is the first four
//! characters of the sid. A polling request or a WebSocket upgrade for a session that another
//! node owns is forwarded to the owner's internal listener: the request as it came, signed with
//! an HMAC of the cluster secret ([`auth`]); the owner answers it exactly as if the client had
//! reached it directly, and the answer goes back to the client unchanged. A WebSocket upgrade is
//! tunnelled: after both sides switched protocols the bytes flow through untouched, so the
//! probe, the upgrade packet and the buffered packets are the owner's own.
//!
//! The engine knows nothing of the cluster: a [`NodeLocator`] (in a Socket.IO server, one built
//! on the adapter) tells where a node listens.

mod auth;
mod hop;
mod listener;
mod routing;

use std::fmt;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

pub(crate) use auth::Signed;
pub(crate) use hop::{Hop, HopError};
pub(crate) use listener::serve as serve_internal;
pub(crate) use routing::to_owner;

/// How long a forwarding node waits for the owner to accept a connection, and for a locator to
/// answer, before it answers "Session ID unknown" (so the client reconnects to a live node).
pub(crate) const OWNER_DEADLINE: Duration = Duration::from_secs(1);

/// The id of a node in a cluster without sticky sessions: four URL-safe base64 characters
/// (three random bytes), the first four characters of every sid the node hands out.
///
/// ```
/// use tower_socketio::engine::NodeId;
///
/// let node = NodeId::random();
/// assert_eq!(node.as_str().len(), 4);
/// assert_eq!(node.as_str().parse::<NodeId>().unwrap(), node);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId([u8; 4]);

impl NodeId {
    /// A fresh random node id.
    pub fn random() -> Self {
        let mut raw = [0u8; 3];
        rand::fill(&mut raw);
        let mut out = [0u8; 4];
        // Three bytes encode to exactly four base64 characters, so this cannot fail.
        let _ = URL_SAFE_NO_PAD.encode_slice(raw, &mut out);
        NodeId(out)
    }

    /// The node that owns this session: the sid's first four characters.
    pub fn of_sid(sid: &super::Sid) -> Self {
        NodeId(sid.node_prefix())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        // Only URL-safe base64 characters are ever stored (see `random` and `from_str`).
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    pub(crate) fn bytes(&self) -> [u8; 4] {
        self.0
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({})", self.as_str())
    }
}

/// The text given is not a node id (four URL-safe base64 characters).
///
/// ```
/// use tower_socketio::engine::{InvalidNodeId, NodeId};
///
/// assert_eq!("node".parse::<NodeId>().is_ok(), true);
/// assert_eq!("nodes!".parse::<NodeId>(), Err(InvalidNodeId));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed node id")]
pub struct InvalidNodeId;

impl std::str::FromStr for NodeId {
    type Err = InvalidNodeId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes: [u8; 4] = s.as_bytes().try_into().map_err(|_| InvalidNodeId)?;
        if !bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
        {
            return Err(InvalidNodeId);
        }
        Ok(NodeId(bytes))
    }
}

impl serde::Serialize for NodeId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for NodeId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

type LocateFuture<'a> = Pin<Box<dyn Future<Output = Option<SocketAddr>> + Send + 'a>>;

/// Tells where the other nodes of a cluster listen for forwarded requests.
///
/// A Socket.IO server builds its own on the adapter
/// ([`SocketIoBuilder::without_sticky_sessions`](crate::SocketIoBuilder::without_sticky_sessions));
/// a bare Engine.IO server is given one with [`Forwarding::locator`].
///
/// ```
/// use std::collections::HashMap;
/// use std::net::SocketAddr;
/// use tower_socketio::engine::{NodeId, NodeLocator};
///
/// /// A fixed table, for a cluster whose nodes are known in advance.
/// struct Table(HashMap<NodeId, SocketAddr>);
///
/// impl NodeLocator for Table {
///     fn locate(&self, node: NodeId) -> std::pin::Pin<Box<dyn std::future::Future<Output = Option<SocketAddr>> + Send + '_>> {
///         Box::pin(async move { self.0.get(&node).copied() })
///     }
/// }
/// ```
pub trait NodeLocator: Send + Sync + 'static {
    /// The internal address of `node`, or `None` when no live node has that id. Answers within
    /// about a second: a request waits for it.
    fn locate(&self, node: NodeId) -> LocateFuture<'_>;

    /// This node started serving forwarded requests at `advertised`, under `node`.
    fn started(&self, node: NodeId, advertised: SocketAddr) {
        let _ = (node, advertised);
    }

    /// `node` could not be reached at the address `locate` gave.
    fn unreachable(&self, node: NodeId) {
        let _ = node;
    }
}

/// How this node takes part in a cluster without sticky sessions: the cluster secret that
/// signs forwarded requests, where it listens for them, and the address it tells other nodes.
///
/// ```
/// use tower_socketio::engine::Forwarding;
///
/// let forwarding = Forwarding::new("a long random secret shared by every node")
///     .listen("0.0.0.0:7000".parse().unwrap())
///     .advertise("10.0.0.5:7000".parse().unwrap());
/// # let _ = forwarding;
/// ```
#[derive(Clone)]
pub struct Forwarding {
    pub(crate) secret: Arc<[u8]>,
    pub(crate) listen: SocketAddr,
    pub(crate) advertise: Option<SocketAddr>,
    pub(crate) locator: Option<Arc<dyn NodeLocator>>,
}

impl Forwarding {
    /// Forwarding signed with `secret`, the same on every node (keep it out of the source; 32
    /// random bytes or more). Listens on every interface, on a port the system picks.
    pub fn new(secret: impl AsRef<[u8]>) -> Self {
        Forwarding {
            secret: Arc::from(secret.as_ref()),
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
            advertise: None,
            locator: None,
        }
    }

    /// Where to listen for requests forwarded by other nodes. Default `0.0.0.0:0`. Keep this
    /// port off the public load balancer: only other nodes need it.
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// The address other nodes reach this one at. Default: the listening address, or when it
    /// listens on every interface, the address of the interface that routes outwards (what
    /// other hosts of a private network see) with the listening port.
    pub fn advertise(mut self, addr: SocketAddr) -> Self {
        self.advertise = Some(addr);
        self
    }

    /// How this node finds the others (a Socket.IO server sets its own).
    pub fn locator(mut self, locator: Arc<dyn NodeLocator>) -> Self {
        self.locator = Some(locator);
        self
    }
}

impl fmt::Debug for Forwarding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Forwarding")
            .field("secret", &"<redacted>")
            .field("listen", &self.listen)
            .field("advertise", &self.advertise)
            .field("locator", &self.locator.is_some())
            .finish()
    }
}

/// The forwarding side of a running engine: its node id, its internal listener (until the
/// engine's first request starts serving it) and the hop to other nodes.
pub(crate) struct Forwarder {
    pub(crate) node: NodeId,
    pub(crate) hop: Hop,
    pub(crate) locator: Option<Arc<dyn NodeLocator>>,
    pub(crate) advertised: Option<SocketAddr>,
    pending: Mutex<Option<std::net::TcpListener>>,
    /// Whether `pending` was taken: checked on every request without the lock.
    taken: AtomicBool,
    /// Dropped with the engine: the internal listener stops accepting.
    stop: tokio::sync::watch::Sender<()>,
}

impl Forwarder {
    /// Binds the internal listener; a node that cannot bind still opens sessions (tagged with
    /// its id) but other nodes cannot reach them, which they answer as unknown sessions.
    pub(crate) fn bind(options: &Forwarding, ping: Duration) -> Forwarder {
        let node = NodeId::random();
        let bound = std::net::TcpListener::bind(options.listen)
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .and_then(|l| l.local_addr().map(|addr| (l, addr)));
        let (pending, advertised) = match bound {
            Ok((listener, local)) => {
                let advertised = options.advertise.unwrap_or_else(|| advertised_for(local));
                tracing::info!(%node, %local, %advertised, "serving forwarded requests");
                (Some(listener), Some(advertised))
            }
            Err(error) => {
                tracing::error!(%error, listen = %options.listen, "cannot listen for forwarded requests");
                (None, None)
            }
        };
        Forwarder {
            node,
            hop: Hop::new(options.secret.clone(), ping),
            locator: options.locator.clone(),
            advertised,
            pending: Mutex::new(pending),
            taken: AtomicBool::new(false),
            stop: tokio::sync::watch::channel(()).0,
        }
    }

    /// Whether the internal listener was handed to a task already (or there is none).
    pub(crate) fn listener_taken(&self) -> bool {
        self.taken.load(Ordering::Acquire)
    }

    /// The bound listener and what tells it to stop, once: the first caller on a runtime
    /// serves it.
    pub(crate) fn take_listener(
        &self,
    ) -> Option<(std::net::TcpListener, tokio::sync::watch::Receiver<()>)> {
        if self.taken.load(Ordering::Acquire) {
            return None;
        }
        let listener = self
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        self.taken.store(true, Ordering::Release);
        Some((listener?, self.stop.subscribe()))
    }

    /// Where `node` listens, within [`OWNER_DEADLINE`].
    pub(crate) async fn locate(&self, node: NodeId) -> Option<SocketAddr> {
        let locator = self.locator.as_ref()?;
        tokio::time::timeout(OWNER_DEADLINE, locator.locate(node))
            .await
            .ok()
            .flatten()
    }
}

/// The default advertised address: the bound one, unless it is the unspecified address, in
/// which case the host's outward-facing address (the one a UDP socket "connected" to a
/// documentation address would use; connecting a UDP socket sends nothing).
fn advertised_for(local: SocketAddr) -> SocketAddr {
    if !local.ip().is_unspecified() {
        return local;
    }
    let outward = std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| s.connect("192.0.2.1:9").map(|()| s))
        .and_then(|s| s.local_addr())
        .map(|a| a.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
    SocketAddr::new(outward, local.port())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Sid;

    #[test]
    fn a_sid_names_its_node_and_stays_a_sid() {
        let node = NodeId::random();
        let sid = Sid::with_node(node.bytes());
        assert_eq!(NodeId::of_sid(&sid), node);
        assert!(sid.as_str().starts_with(node.as_str()));
        assert_eq!(sid.as_str().parse::<Sid>(), Ok(sid));
        // The rest is random.
        assert_ne!(Sid::with_node(node.bytes()), sid);
    }

    #[test]
    fn node_ids_parse_strictly() {
        assert!("ab-_".parse::<NodeId>().is_ok());
        for bad in ["", "abc", "abcde", "ab/c", "ab c"] {
            assert_eq!(bad.parse::<NodeId>(), Err(InvalidNodeId), "{bad:?}");
        }
        let node: NodeId = serde_json::from_str("\"abcd\"").unwrap();
        assert_eq!(serde_json::to_string(&node).unwrap(), "\"abcd\"");
    }

    #[test]
    fn the_default_advertised_address_is_a_concrete_one() {
        let local: SocketAddr = "127.0.0.1:7000".parse().unwrap();
        assert_eq!(advertised_for(local), local);
        let any: SocketAddr = "0.0.0.0:7000".parse().unwrap();
        let advertised = advertised_for(any);
        assert!(!advertised.ip().is_unspecified());
        assert_eq!(advertised.port(), 7000);
    }
}
