//! Where the session ids handed out after a login are kept: in this process
//! ([`MemoryStore`], Node's `InMemoryStore`), or in Redis so that every node of a cluster
//! accepts them ([`RedisStore`], Node's `RedisStore` and `RedisV4Store`, same keys).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::core::sync::lock;

/// What a [`SessionStore`] operation returns.
///
/// ```
/// use tower_socketio::admin::StoreFuture;
///
/// fn yes() -> StoreFuture<'static, bool> {
///     Box::pin(std::future::ready(Ok(true)))
/// }
/// # let _ = yes();
/// ```
pub type StoreFuture<'a, T> =
    Pin<Box<dyn Future<Output = Result<T, SessionStoreError>> + Send + 'a>>;

/// A [`SessionStore`] could not answer (its database is unreachable, say). A login with a
/// session id then falls back to the credentials; a session that could not be saved is still
/// given to the UI, as Node does, and works on the nodes that saved it.
///
/// ```
/// use tower_socketio::admin::SessionStoreError;
///
/// let err = SessionStoreError::new(std::io::Error::other("down"));
/// assert_eq!(err.to_string(), "the admin session store failed");
/// ```
#[derive(Debug, thiserror::Error)]
#[error("the admin session store failed")]
pub struct SessionStoreError(#[source] Box<dyn std::error::Error + Send + Sync>);

impl SessionStoreError {
    /// Wraps the store's own error.
    pub fn new(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        SessionStoreError(source.into())
    }
}

/// Keeps the session ids that admins log in with again after a first login with a password
/// (Node's `Store`: `doesSessionExist` and `saveSession`). Give one to
/// [`AdminUi::store`](super::AdminUi::store); the default is a [`MemoryStore`].
///
/// ```
/// use std::collections::HashSet;
/// use std::sync::Mutex;
/// use tower_socketio::admin::{AdminUi, SessionStore, StoreFuture};
///
/// /// Sessions that never expire, for a demo.
/// #[derive(Default)]
/// struct Forever(Mutex<HashSet<String>>);
///
/// impl SessionStore for Forever {
///     fn exists<'a>(&'a self, id: &'a str) -> StoreFuture<'a, bool> {
///         let known = self.0.lock().unwrap().contains(id);
///         Box::pin(std::future::ready(Ok(known)))
///     }
///     fn save<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()> {
///         self.0.lock().unwrap().insert(id.to_owned());
///         Box::pin(std::future::ready(Ok(())))
///     }
/// }
///
/// let ui = AdminUi::new().no_auth().store(Forever::default());
/// # let _ = ui;
/// ```
pub trait SessionStore: Send + Sync + 'static {
    /// Whether `id` was saved and has not expired.
    fn exists<'a>(&'a self, id: &'a str) -> StoreFuture<'a, bool>;
    /// Saves a new session id.
    fn save<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()>;
}

/// The store an [`AdminUi`](super::AdminUi) was given, cheap to clone.
#[derive(Clone)]
pub(crate) struct SharedStore(pub(crate) Arc<dyn SessionStore>);

impl std::fmt::Debug for SharedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionStore")
    }
}

impl Default for SharedStore {
    fn default() -> Self {
        SharedStore(Arc::new(MemoryStore::default()))
    }
}

/// Session ids kept in this process for a day (the lifetime Node's Redis store gives them):
/// a UI that reconnects to another node must log in again. Bounded: past 10 000 sessions, the
/// oldest go first.
///
/// ```
/// use tower_socketio::admin::{AdminUi, MemoryStore};
///
/// let ui = AdminUi::new().no_auth().store(MemoryStore::default());
/// # let _ = ui;
/// ```
#[derive(Debug, Default)]
pub struct MemoryStore {
    sessions: Mutex<HashMap<String, Instant>>,
}

const SESSION_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);
const MAX_SESSIONS: usize = 10_000;

impl MemoryStore {
    fn contains(&self, id: &str) -> bool {
        lock(&self.sessions)
            .get(id)
            .is_some_and(|created| created.elapsed() < SESSION_LIFETIME)
    }

    fn insert(&self, id: String) {
        let mut sessions = lock(&self.sessions);
        if sessions.len() >= MAX_SESSIONS {
            sessions.retain(|_, created| created.elapsed() < SESSION_LIFETIME);
        }
        if sessions.len() >= MAX_SESSIONS
            && let Some(oldest) = sessions
                .iter()
                .min_by_key(|(_, created)| **created)
                .map(|(id, _)| id.clone())
        {
            sessions.remove(&oldest);
        }
        sessions.insert(id, Instant::now());
    }
}

impl SessionStore for MemoryStore {
    fn exists<'a>(&'a self, id: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(std::future::ready(Ok(self.contains(id))))
    }

    fn save<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()> {
        self.insert(id.to_owned());
        Box::pin(std::future::ready(Ok(())))
    }
}

#[cfg(feature = "redis")]
pub use redis_store::RedisStore;

#[cfg(feature = "redis")]
mod redis_store {
    use std::time::Duration;

    use redis::aio::{ConnectionManager, ConnectionManagerConfig};

    use super::{SessionStore, SessionStoreError, StoreFuture};

    /// Session ids kept in Redis, so an admin who logged in on one node is let in by every
    /// node of the cluster, Node.js nodes included: the keys are Node's `RedisStore`'s
    /// (`<prefix>#<session id>`, value `"1"`, expiring after the session duration), features
    /// `admin-ui` and `redis`.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use tower_socketio::admin::{AdminUi, BasicAuth, RedisStore};
    ///
    /// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = RedisStore::connect("redis://127.0.0.1:6379")
    ///     .await?
    ///     .prefix("socket.io-admin")
    ///     .session_duration(Duration::from_secs(8 * 60 * 60));
    /// let hash = "$2a$10$KGtHhoY0LyQuyUeIrVKuX.r6eRPD.mWiSRRjvg4.CMOux4hQUp6LS";
    /// let ui = AdminUi::new().auth(BasicAuth::bcrypt("admin", hash)).store(store);
    /// # let _ = ui;
    /// # Ok(()) }
    /// ```
    #[derive(Clone)]
    pub struct RedisStore {
        conn: ConnectionManager,
        prefix: String,
        duration: Duration,
    }

    impl std::fmt::Debug for RedisStore {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("RedisStore")
                .field("prefix", &self.prefix)
                .field("duration", &self.duration)
                .finish_non_exhaustive()
        }
    }

    impl RedisStore {
        /// Connects to Redis (a `redis://` or `rediss://` URL); the connection comes back by
        /// itself when Redis restarts. Prefix `socket.io-admin` and a duration of a day, as
        /// Node's defaults.
        pub async fn connect(url: &str) -> Result<Self, SessionStoreError> {
            let client = redis::Client::open(url).map_err(SessionStoreError::new)?;
            let config = ConnectionManagerConfig::new()
                .set_number_of_retries(4)
                .set_connection_timeout(Some(Duration::from_secs(2)))
                .set_response_timeout(Some(Duration::from_secs(3)));
            let conn = ConnectionManager::new_with_config(client, config)
                .await
                .map_err(SessionStoreError::new)?;
            Ok(RedisStore {
                conn,
                prefix: "socket.io-admin".to_owned(),
                duration: Duration::from_secs(86_400),
            })
        }

        /// The prefix of the keys (default `socket.io-admin`): the same on every node.
        pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
            self.prefix = prefix.into();
            self
        }

        /// How long a session id stays valid (default a day; whole seconds, at least one).
        pub fn session_duration(mut self, duration: Duration) -> Self {
            self.duration = duration;
            self
        }

        fn key(&self, id: &str) -> String {
            format!("{}#{id}", self.prefix)
        }
    }

    impl SessionStore for RedisStore {
        fn exists<'a>(&'a self, id: &'a str) -> StoreFuture<'a, bool> {
            let mut conn = self.conn.clone();
            let key = self.key(id);
            Box::pin(async move {
                redis::cmd("EXISTS")
                    .arg(key)
                    .query_async::<u64>(&mut conn)
                    .await
                    .map(|count| count == 1)
                    .map_err(SessionStoreError::new)
            })
        }

        fn save<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()> {
            let mut conn = self.conn.clone();
            let key = self.key(id);
            let seconds = self.duration.as_secs().max(1);
            Box::pin(async move {
                redis::cmd("SET")
                    .arg(key)
                    .arg("1")
                    .arg("EX")
                    .arg(seconds)
                    .query_async::<()>(&mut conn)
                    .await
                    .map_err(SessionStoreError::new)
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_sessions_are_bounded() {
        let store = MemoryStore::default();
        for i in 0..MAX_SESSIONS + 5 {
            store.save(&format!("s{i}")).await.unwrap();
        }
        assert_eq!(lock(&store.sessions).len(), MAX_SESSIONS);
        let newest = format!("s{}", MAX_SESSIONS + 4);
        assert!(store.exists(&newest).await.unwrap());
        assert!(!store.exists("s0").await.unwrap());
    }
}
