//! What the client said about itself when it connected.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use serde_json::Value;

use crate::engine::Session;

/// What the client said about itself when it connected: Node's `socket.handshake`.
///
/// The request it was made with is the Engine.IO session's, shared by every socket of the
/// client rather than copied into each; the query is parsed the first time it is asked for.
///
/// ```
/// use tower_socketio::SocketRef;
///
/// fn on_connect(socket: SocketRef) {
///     let hs = socket.handshake();
///     let agent = hs.headers().get("user-agent");
///     println!("{:?} from {:?} with {} ({agent:?})", hs.query().get("room"), hs.address(), hs.auth());
/// }
/// ```
#[derive(Debug, Clone)]
pub struct Handshake {
    /// The first HTTP request's head, shared with the Engine.IO session.
    request: Arc<crate::engine::RequestHead>,
    /// Boxed: the map's own 48 bytes are paid only by the sockets whose query is read.
    #[allow(clippy::box_collection)]
    query: OnceLock<Box<HashMap<String, String>>>,
    /// `None` for `{}`, which is what most clients send.
    auth: Option<Box<Value>>,
    issued: SystemTime,
}

/// The auth payload of a client that sent none, or `{}`.
static NO_AUTH: std::sync::LazyLock<Value> =
    std::sync::LazyLock::new(|| Value::Object(Default::default()));

impl Handshake {
    pub(crate) fn new(session: &Session, auth: Option<Value>) -> Self {
        Handshake {
            request: session.0.request.clone(),
            query: OnceLock::new(),
            auth: auth
                .filter(|auth| auth.as_object().is_none_or(|o| !o.is_empty()))
                .map(Box::new),
            issued: SystemTime::now(),
        }
    }

    /// The headers of the first HTTP request.
    pub fn headers(&self) -> &http::HeaderMap {
        &self.request.parts().headers
    }

    /// The query string of the first request, percent-decoded.
    pub fn query(&self) -> &HashMap<String, String> {
        self.query.get_or_init(|| {
            Box::new(
                self.request
                    .uri()
                    .query()
                    .map(|q| {
                        crate::engine::query_pairs(q)
                            .map(|(k, v)| (k.into_owned(), v.into_owned()))
                            .collect()
                    })
                    .unwrap_or_default(),
            )
        })
    }

    /// The auth payload of the CONNECT packet (`{}` when the client sent none).
    pub fn auth(&self) -> &Value {
        self.auth.as_deref().unwrap_or(&NO_AUTH)
    }

    /// The client's address, when the server knows it (axum's `ConnectInfo`).
    pub fn address(&self) -> Option<SocketAddr> {
        self.request
            .parts()
            .extensions
            .get::<axum::extract::ConnectInfo<SocketAddr>>()
            .map(|info| info.0)
    }

    /// The URL of the first request.
    pub fn url(&self) -> String {
        self.request.uri().to_string()
    }

    /// When the socket connected.
    pub fn issued(&self) -> SystemTime {
        self.issued
    }

    /// Whether the connection came over TLS, as far as the URI tells.
    pub fn secure(&self) -> bool {
        self.request.uri().scheme_str() == Some("https")
    }

    /// The handshake as Node's adapters exchange it in fetch answers.
    pub(crate) fn node_json(&self) -> Value {
        let headers: serde_json::Map<String, Value> = self
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.to_string(), v.to_str().ok()?.into())))
            .collect();
        serde_json::json!({
            "headers": headers,
            "time": crate::core::time::js_date_string(self.issued),
            "query": self.query(),
            "auth": self.auth(),
            "address": self.address().map(|a| a.ip().to_string()),
            "xdomain": self.headers().contains_key(http::header::ORIGIN),
            "url": self.url(),
            "issued": crate::core::time::unix_millis(self.issued),
            "secure": self.secure(),
        })
    }
}
