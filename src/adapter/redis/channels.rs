//! Every Redis channel of one namespace, per format, and what this node subscribes to.

use std::time::Duration;

use super::RedisMode;
use super::adapter::NsShared;
use super::driver::Subscription;

/// The channels of one namespace.
#[derive(Debug)]
pub(super) struct Names {
    pub(super) nsp: String,
    /// `<prefix>#<nsp>#`: broadcasts (classic), everything (sharded).
    pub(super) channel: String,
    /// `<prefix>-request#<nsp>#` (classic).
    pub(super) request: String,
    /// `<prefix>-response#<nsp>#` (classic), `<prefix>#<nsp>#<uid>#` (sharded).
    pub(super) response: String,
    /// `<prefix>-response#<nsp>#<uid>#` (classic).
    pub(super) specific_response: String,
}

/// Escapes the glob characters of a `PSUBSCRIBE` pattern.
pub(super) fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl NsShared {
    pub(super) fn names(&self) -> Option<&Names> {
        if let Some(names) = self.names.get() {
            return Some(names);
        }
        let nsp = self.ns.name().to_owned();
        let prefix = &self.driver.config().key;
        let channel = format!("{prefix}#{nsp}#");
        let names = match self.mode() {
            RedisMode::Classic => {
                let response = format!("{prefix}-response#{nsp}#");
                Names {
                    request: format!("{prefix}-request#{nsp}#"),
                    specific_response: format!("{response}{}#", self.uid),
                    response,
                    channel,
                    nsp,
                }
            }
            RedisMode::Sharded(_) | RedisMode::Streams => Names {
                response: format!("{channel}{}#", self.uid),
                request: String::new(),
                specific_response: String::new(),
                channel,
                nsp,
            },
        };
        Some(self.names.get_or_init(|| names))
    }

    /// The namespace's channels, once it can be named. The adapter is built while its namespace
    /// is being created, when the name cannot be read yet; this waits (briefly) for it.
    pub(crate) async fn resolve_subscriptions(&self) -> Option<Vec<Subscription>> {
        for _ in 0..200 {
            if let Some(names) = self.names() {
                return Some(match self.mode() {
                    RedisMode::Classic => vec![
                        Subscription::Pattern(format!("{}*", glob_escape(&names.channel))),
                        Subscription::Channel(names.request.clone()),
                        Subscription::Channel(names.response.clone()),
                        Subscription::Channel(names.specific_response.clone()),
                    ],
                    RedisMode::Sharded(_) => vec![
                        Subscription::Shard(names.channel.clone()),
                        Subscription::Shard(names.response.clone()),
                    ],
                    RedisMode::Streams => vec![
                        Subscription::Channel(names.channel.clone()),
                        Subscription::Channel(names.response.clone()),
                    ],
                });
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tracing::warn!("Redis adapter: the namespace never became available; not subscribed");
        None
    }
}
