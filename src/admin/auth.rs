//! Logging in to the admin namespace: basic authentication against a bcrypt hash, then a
//! session id the UI reconnects with, kept in a [`SessionStore`] (Node's
//! `auth: { type: "basic" }` and `store`).

use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::store::SessionStore;
use crate::ConnectError;
use crate::extract::SocketRef;

/// A user name and the bcrypt hash of its password (`$2a$`, `$2b$` or `$2y$`, as `bcryptjs` or
/// `htpasswd -B` make them). Passwords are checked as Node's `bcryptjs` checks them: the first
/// 72 bytes count, and the hashes are compared in constant time; so is the user name.
///
/// ```
/// use tower_socketio::admin::{AdminUi, BasicAuth};
///
/// // node -e 'console.log(require("bcryptjs").hashSync("changeit", 10))'
/// let auth = BasicAuth::bcrypt("admin", "$2a$10$KGtHhoY0LyQuyUeIrVKuX.r6eRPD.mWiSRRjvg4.CMOux4hQUp6LS");
/// let ui = AdminUi::new().auth(auth);
/// # let _ = ui;
/// ```
#[derive(Clone)]
pub struct BasicAuth {
    username: String,
    hash: String,
}

impl BasicAuth {
    /// The user name and the bcrypt hash of the password; the hash is checked by
    /// [`SocketIo::instrument`](crate::SocketIo::instrument).
    pub fn bcrypt(username: impl Into<String>, hash: impl Into<String>) -> Self {
        BasicAuth {
            username: username.into(),
            hash: hash.into(),
        }
    }
}

impl std::fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicAuth")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// What the UI sends in its CONNECT: credentials from the login form, or the session id it was
/// given last time. Anything else in it is ignored; a field of the wrong type counts as absent.
#[derive(Debug, Default, Deserialize)]
struct Credentials {
    #[serde(rename = "sessionId", default, deserialize_with = "string_or_none")]
    session_id: Option<String>,
    #[serde(default, deserialize_with = "string_or_none")]
    username: Option<String>,
    #[serde(default, deserialize_with = "string_or_none")]
    password: Option<String>,
}

fn string_or_none<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Loose {
        Text(String),
        Other(serde::de::IgnoredAny),
    }
    Ok(match Loose::deserialize(d)? {
        Loose::Text(text) => Some(text),
        Loose::Other(_) => None,
    })
}

/// The session id given to a socket that logged in with credentials, sent to it once it is
/// connected (Node sends it from the middleware; a socket here cannot emit before it connects).
#[derive(Debug, Clone)]
pub(crate) struct NewSession(pub(crate) String);

/// Checks logins. bcrypt takes tens of milliseconds by design: checks run off the runtime's
/// threads, two at a time at most, so a flood of logins queues up rather than taking every
/// core.
pub(crate) struct Authenticator {
    username: String,
    hash: String,
    checks: tokio::sync::Semaphore,
}

impl Authenticator {
    pub(crate) fn new(auth: BasicAuth) -> Result<Self, bcrypt::BcryptError> {
        auth.hash.parse::<bcrypt::HashParts>()?;
        Ok(Authenticator {
            username: auth.username,
            hash: auth.hash,
            checks: tokio::sync::Semaphore::new(2),
        })
    }

    /// The connect middleware: a known session id, or the right user name and password.
    pub(crate) async fn admit(
        &self,
        socket: &SocketRef,
        sessions: &dyn SessionStore,
    ) -> Result<(), ConnectError> {
        let credentials = Credentials::deserialize(socket.handshake().auth()).unwrap_or_default();
        if let Some(id) = &credentials.session_id
            && session_exists(sessions, id).await
        {
            tracing::debug!("Admin UI: login with a valid session id");
            return Ok(());
        }
        if let (Some(username), Some(password)) = (credentials.username, credentials.password) {
            // The password is checked whatever the user name, so the time taken does not tell
            // whether the name was right.
            let name_matches: bool = username.as_bytes().ct_eq(self.username.as_bytes()).into();
            if self.password_matches(password).await && name_matches {
                let id = new_session_id();
                if let Err(err) = sessions.save(&id).await {
                    tracing::warn!(error = %err, source = ?std::error::Error::source(&err), "Admin UI: the session could not be saved");
                }
                socket.insert_extension(NewSession(id));
                tracing::debug!("Admin UI: login with valid credentials");
                return Ok(());
            }
        }
        tracing::debug!("Admin UI: invalid credentials");
        Err(ConnectError::new("invalid credentials"))
    }

    async fn password_matches(&self, password: String) -> bool {
        let Ok(_permit) = self.checks.acquire().await else {
            return false;
        };
        let hash = self.hash.clone();
        tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash).unwrap_or(false))
            .await
            .unwrap_or(false)
    }
}

/// Whether the store knows `id`; a store that cannot answer knows nothing (the credentials
/// are checked next).
async fn session_exists(sessions: &dyn SessionStore, id: &str) -> bool {
    match sessions.exists(id).await {
        Ok(known) => known,
        Err(err) => {
            tracing::warn!(error = %err, source = ?std::error::Error::source(&err), "Admin UI: the session store failed");
            false
        }
    }
}

/// 16 hex digits, as Node's `randomId()`.
fn new_session_id() -> String {
    let bytes: [u8; 8] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_of_the_wrong_type_count_as_absent() {
        let auth = serde_json::json!({ "username": 1, "password": "x", "sessionId": null });
        let credentials = Credentials::deserialize(&auth).unwrap();
        assert_eq!(credentials.username, None);
        assert_eq!(credentials.password.as_deref(), Some("x"));
        assert_eq!(credentials.session_id, None);
    }

    #[test]
    fn session_ids_look_like_nodes() {
        let id = new_session_id();
        assert_eq!(id.len(), 16);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn node_hashes_are_accepted() {
        let hash = "$2a$10$KGtHhoY0LyQuyUeIrVKuX.r6eRPD.mWiSRRjvg4.CMOux4hQUp6LS";
        assert!(Authenticator::new(BasicAuth::bcrypt("admin", hash)).is_ok());
        assert!(Authenticator::new(BasicAuth::bcrypt("admin", "changeit")).is_err());
        assert!(bcrypt::verify("changeit", hash).unwrap());
    }
}
