//! The server side of the [Socket.IO Admin UI](https://socket.io/docs/v4/admin-ui/)
//! (`@socket.io/admin-ui` 0.5), behind the `admin-ui` feature: one line, and the official UI
//! (the hosted one at admin.socket.io, or the static build its npm package ships) shows this
//! server's sockets, rooms, events and traffic, and can act on them.
//!
//! ```no_run
//! use tower_socketio::admin::{AdminUi, BasicAuth};
//! use tower_socketio::SocketIo;
//!
//! # #[tokio::main] async fn main() -> Result<(), tower_socketio::admin::InstrumentError> {
//! let io = SocketIo::new();
//! // The hash of "changeit": `node -e 'console.log(require("bcryptjs").hashSync("changeit", 10))'`.
//! io.instrument(AdminUi::new().auth(BasicAuth::bcrypt(
//!     "admin",
//!     "$2a$10$KGtHhoY0LyQuyUeIrVKuX.r6eRPD.mWiSRRjvg4.CMOux4hQUp6LS",
//! )))?;
//! # Ok(()) }
//! ```
//!
//! What the UI gets, as from Node's `instrument(io, options)`:
//! - on connecting to the admin namespace (`/admin` unless [`namespace`](AdminUi::namespace)
//!   says otherwise): `session` (after a login with credentials), `config` (the supported
//!   features) and, in development mode, `all_sockets` (every socket of every namespace, on
//!   every node, through the adapter);
//! - `server_stats` at once and every 2 seconds: host, pid, uptime, client counts, sockets per
//!   namespace, and the aggregated events of the last seconds (connections, disconnections by
//!   reason, messages and bytes in and out);
//! - in development mode, as they happen: `socket_connected`, `socket_updated` (upgrade to
//!   WebSocket, data changes), `socket_disconnected`, `room_joined`, `room_left`,
//!   `event_received` and `event_sent`.
//!
//! What the UI can do unless [`readonly`](AdminUi::readonly): `emit`, `join`, `leave` and
//! `_disconnect` on a socket, a room or a whole namespace, on every node.
//!
//! Every event goes to the admin namespace through its adapter, so with a multi-node adapter
//! each node reports to every admin connected anywhere, and a UI connected to one node sees the
//! whole cluster, Node.js nodes running `instrument()` included.
//!
//! ## Letting the UI in (CORS)
//!
//! The UI runs on another origin (https://admin.socket.io, or wherever its static files are
//! served) and connects with credentials (`withCredentials: true`), so the server must answer
//! its long-polling requests with that exact origin and `Access-Control-Allow-Credentials`:
//!
//! ```
//! use http::{HeaderValue, Method};
//! use tower_http::cors::CorsLayer;
//! use tower_socketio::{SocketIo, SocketIoLayer};
//!
//! let io = SocketIo::new();
//! let cors = CorsLayer::new()
//!     .allow_origin(HeaderValue::from_static("https://admin.socket.io"))
//!     .allow_methods([Method::GET, Method::POST])
//!     .allow_credentials(true);
//! let app: axum::Router = axum::Router::new().layer(SocketIoLayer::new(io)).layer(cors);
//! ```

mod actions;
mod auth;
mod observer;
mod stats;
mod store;
mod wire;

use std::sync::Arc;

pub use auth::BasicAuth;
#[cfg(feature = "redis")]
pub use store::RedisStore;
pub use store::{MemoryStore, SessionStore, SessionStoreError, StoreFuture};

use crate::SocketIo;
use crate::extract::SocketRef;
use auth::Authenticator;
use observer::AdminObserver;
use store::SharedStore;

/// How much the UI is told (Node's `mode` option).
///
/// ```
/// use tower_socketio::admin::{AdminUi, Mode};
///
/// let ui = AdminUi::new().no_auth().mode(Mode::Production);
/// # let _ = ui;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Everything: the socket list, every connection, room change and event as it happens
    /// (Node's default when `NODE_ENV` is unset).
    #[default]
    Development,
    /// Only the aggregated statistics, every 2 seconds: nothing per socket or per event, so
    /// the cost on a busy server is a few counters.
    Production,
}

/// The options of the Admin UI instrumentation (Node's `instrument(io, options)`); install them
/// with [`SocketIo::instrument`].
///
/// ```
/// use tower_socketio::admin::{AdminUi, BasicAuth, Mode};
///
/// let ui = AdminUi::new()
///     .auth(BasicAuth::bcrypt("admin", "$2a$10$KGtHhoY0LyQuyUeIrVKuX.r6eRPD.mWiSRRjvg4.CMOux4hQUp6LS"))
///     .namespace("/ops")
///     .readonly(true)
///     .mode(Mode::Production)
///     .server_id("eu-1");
/// # let _ = ui;
/// ```
#[derive(Debug, Clone)]
#[must_use = "install it with `io.instrument(ui)`"]
pub struct AdminUi {
    namespace: String,
    auth: Option<Option<BasicAuth>>,
    readonly: bool,
    mode: Mode,
    server_id: Option<String>,
    store: SharedStore,
}

impl Default for AdminUi {
    fn default() -> Self {
        AdminUi::new()
    }
}

impl AdminUi {
    /// The defaults: namespace `/admin`, development mode, actions allowed, and no choice of
    /// authentication yet: call [`auth`](Self::auth) or [`no_auth`](Self::no_auth), as Node
    /// requires `auth` to be given.
    pub fn new() -> Self {
        AdminUi {
            namespace: "/admin".to_owned(),
            auth: None,
            readonly: false,
            mode: Mode::Development,
            server_id: None,
            store: SharedStore::default(),
        }
    }

    /// Admins log in with this user name and password (Node's `auth: { type: "basic" }`).
    pub fn auth(mut self, auth: BasicAuth) -> Self {
        self.auth = Some(Some(auth));
        self
    }

    /// Anyone who reaches the server may use the UI (Node's `auth: false`): for a server that
    /// only trusted people can reach.
    pub fn no_auth(mut self) -> Self {
        self.auth = Some(None);
        self
    }

    /// The admin namespace (default `/admin`).
    pub fn namespace(mut self, name: impl Into<String>) -> Self {
        let mut name = name.into();
        if !name.starts_with('/') {
            name.insert(0, '/');
        }
        self.namespace = name;
        self
    }

    /// Whether the UI may only watch (default `false`): no emit, join, leave or disconnect.
    pub fn readonly(mut self, readonly: bool) -> Self {
        self.readonly = readonly;
        self
    }

    /// How much the UI is told (default [`Mode::Development`]).
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// The name of this node in the UI (default: the host name, as in Node).
    pub fn server_id(mut self, id: impl Into<String>) -> Self {
        self.server_id = Some(id.into());
        self
    }

    /// Where the session ids of logged-in admins are kept (default: a [`MemoryStore`] in this
    /// process). Behind a load balancer, give every node the same [`RedisStore`] (features
    /// `admin-ui` and `redis`; Node's `RedisStore` keys) so that a UI reconnecting to another
    /// node stays logged in.
    pub fn store(mut self, store: impl SessionStore) -> Self {
        self.store = SharedStore(Arc::new(store));
        self
    }
}

/// Why [`SocketIo::instrument`] refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InstrumentError {
    /// Neither [`AdminUi::auth`] nor [`AdminUi::no_auth`] was called.
    #[error("choose the authentication: `.auth(BasicAuth::bcrypt(..))` or `.no_auth()`")]
    AuthNotChosen,
    /// The password of [`BasicAuth::bcrypt`] is not a bcrypt hash.
    #[error("the password must be a valid bcrypt hash")]
    InvalidHash(#[source] bcrypt::BcryptError),
    /// The server is already instrumented.
    #[error(transparent)]
    AlreadyInstrumented(#[from] crate::AlreadyInstrumented),
    /// Not called from within a tokio runtime, which the statistics timer needs.
    #[error("instrument() must be called from within a tokio runtime")]
    NoRuntime,
}

impl SocketIo {
    /// Serves the [Admin UI](crate::admin) on this server. Call it once, at start-up, before
    /// clients connect: what happened before is not reported.
    ///
    /// ```
    /// use tower_socketio::admin::AdminUi;
    /// use tower_socketio::SocketIo;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tower_socketio::admin::InstrumentError> {
    /// let io = SocketIo::new();
    /// io.instrument(AdminUi::new().no_auth())?;
    /// # Ok(()) }
    /// ```
    pub fn instrument(&self, ui: AdminUi) -> Result<(), InstrumentError> {
        let auth = ui.auth.clone().ok_or(InstrumentError::AuthNotChosen)?;
        let authenticator = match auth {
            Some(basic) => Some(Authenticator::new(basic).map_err(InstrumentError::InvalidHash)?),
            None => {
                tracing::warn!("Admin UI: authentication is disabled, please use with caution");
                None
            }
        };
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|_| InstrumentError::NoRuntime)?;
        let settings = Arc::new(Settings::new(&ui));
        let (observer, notices) = AdminObserver::new(settings.clone());
        let observer = Arc::new(observer);
        self.0.hooks.install(observer.clone())?;
        register_namespace(self, settings.clone(), authenticator, ui.store.clone());
        runtime.spawn(observer::forward_notices(
            Arc::downgrade(&self.0),
            settings.clone(),
            notices,
        ));
        runtime.spawn(stats::emit_every_two_seconds(
            Arc::downgrade(&self.0),
            settings,
            observer,
        ));
        Ok(())
    }
}

/// The options once installed, shared by the namespace's handlers and the tasks.
pub(crate) struct Settings {
    pub(crate) namespace: String,
    pub(crate) readonly: bool,
    pub(crate) development: bool,
    pub(crate) server_id: String,
    pub(crate) hostname: String,
    pub(crate) started: std::time::Instant,
}

impl Settings {
    fn new(ui: &AdminUi) -> Self {
        let hostname = hostname();
        Settings {
            namespace: ui.namespace.clone(),
            readonly: ui.readonly,
            development: ui.mode == Mode::Development,
            server_id: ui.server_id.clone().unwrap_or_else(|| hostname.clone()),
            hostname,
            started: std::time::Instant::now(),
        }
    }

    /// Node's feature list: the actions unless read-only, the aggregated events always, every
    /// event in development mode.
    pub(crate) fn features(&self) -> Vec<&'static str> {
        let mut features = if self.readonly {
            Vec::new()
        } else {
            actions::FEATURES.to_vec()
        };
        features.push("AGGREGATED_EVENTS");
        if self.development {
            features.push("ALL_EVENTS");
        }
        features
    }
}

/// The host name, as Node's `os.hostname()`.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// The admin namespace: its login middleware, then on each connection the session id, the
/// actions, the config and the socket list.
fn register_namespace(
    io: &SocketIo,
    settings: Arc<Settings>,
    auth: Option<Authenticator>,
    sessions: SharedStore,
) {
    let on_connect = {
        let settings = settings.clone();
        move |socket: SocketRef, io: SocketIo| {
            let settings = settings.clone();
            async move {
                if let Some(auth::NewSession(id)) = socket.extension::<auth::NewSession>() {
                    let _ = socket.emit("session", &id);
                }
                if !settings.readonly {
                    actions::register(&socket);
                }
                let config = wire::Config {
                    supported_features: settings.features(),
                };
                let _ = socket.emit("config", &config);
                if settings.development {
                    let sockets = observer::all_sockets(&io).await;
                    let _ = socket.emit("all_sockets", &sockets);
                }
            }
        }
    };
    let builder = io.ns(settings.namespace.clone(), on_connect);
    if let Some(auth) = auth {
        let auth = Arc::new(auth);
        builder.with(move |socket: SocketRef| {
            let auth = auth.clone();
            let sessions = sessions.clone();
            async move { auth.admit(&socket, sessions.0.as_ref()).await }
        });
    }
}
