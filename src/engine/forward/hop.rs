//! The forwarding side of the internal hop: one pooled HTTP/1.1 client to the other nodes.
//!
//! A polling request is read (within `max_http_buffer_size`, as the owner would), signed and
//! sent to the owner; its answer comes back with the owner's status, headers and body. A
//! WebSocket upgrade is sent to the owner first: once the owner switched protocols, the client
//! gets the owner's `101` and the two upgraded connections are spliced byte for byte.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::upgrade::OnUpgrade;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};

use super::OWNER_DEADLINE;
use super::auth::{SIGNATURE_HEADER, Signed, TIME_HEADER};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The most an owner's answer to a polling request may weigh when relayed (the owner drains
/// at most its whole outbox, which `max_buffered_bytes` bounds well below this).
const MAX_ANSWER: usize = 256 * 1024 * 1024;

/// Why a request could not be forwarded.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HopError {
    /// The owner refused the connection, did not answer in time, or broke the exchange.
    #[error("owner unreachable: {0}")]
    Unreachable(#[source] BoxError),
    /// The client's body is over `max_http_buffer_size`.
    #[error("request body too large")]
    TooLarge,
    /// The client's body could not be read.
    #[error("reading the request body: {0}")]
    Body(#[source] BoxError),
    /// An upgrade request hyper cannot upgrade.
    #[error("not an upgradable request")]
    NotUpgradable,
}

/// The client of the internal hop.
pub(crate) struct Hop {
    secret: Arc<[u8]>,
    client: Client<HttpConnector, Full<Bytes>>,
    /// How long a forwarded polling request may take: a GET waits up to a ping interval for
    /// something to send.
    answer_deadline: Duration,
}

impl Hop {
    pub(crate) fn new(secret: Arc<[u8]>, ping: Duration) -> Hop {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(OWNER_DEADLINE));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Hop {
            secret,
            client,
            answer_deadline: ping + OWNER_DEADLINE,
        }
    }

    /// The secret requests are signed with.
    pub(crate) fn secret(&self) -> &[u8] {
        &self.secret
    }

    /// Sends a polling request to the owner at `owner` and brings back its answer.
    pub(crate) async fn forward<B>(
        &self,
        owner: SocketAddr,
        req: Request<B>,
        max_body: usize,
    ) -> Result<Response<Full<Bytes>>, HopError>
    where
        B: http_body::Body + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let (parts, body) = req.into_parts();
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > max_body as u64) {
            return Err(HopError::TooLarge);
        }
        let body = match Limited::new(body, max_body).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(err) if err.is::<http_body_util::LengthLimitError>() => {
                return Err(HopError::TooLarge);
            }
            Err(err) => return Err(HopError::Body(err)),
        };
        let out = self.signed_request(owner, &parts, body, false)?;
        let exchange = async {
            let res = self
                .client
                .request(out)
                .await
                .map_err(|e| HopError::Unreachable(e.into()))?;
            let (parts, body) = res.into_parts();
            let body = Limited::new(body, MAX_ANSWER)
                .collect()
                .await
                .map_err(HopError::Unreachable)?
                .to_bytes();
            Ok(relayed(parts.status, &parts.headers, body))
        };
        tokio::time::timeout(self.answer_deadline, exchange)
            .await
            .map_err(|elapsed| HopError::Unreachable(elapsed.into()))?
    }

    /// Asks the owner to upgrade; once it switched protocols, answers the client with the
    /// owner's `101` and splices the two connections.
    pub(crate) async fn tunnel<B>(
        &self,
        owner: SocketAddr,
        mut req: Request<B>,
    ) -> Result<Response<Full<Bytes>>, HopError> {
        let client_side = req
            .extensions_mut()
            .remove::<OnUpgrade>()
            .ok_or(HopError::NotUpgradable)?;
        let (parts, _) = req.into_parts();
        let out = self.signed_request(owner, &parts, Bytes::new(), true)?;
        let res = tokio::time::timeout(OWNER_DEADLINE, self.client.request(out))
            .await
            .map_err(|elapsed| HopError::Unreachable(elapsed.into()))?
            .map_err(|e| HopError::Unreachable(e.into()))?;
        if res.status() != StatusCode::SWITCHING_PROTOCOLS {
            // The owner refused the upgrade: the client gets its refusal as it is.
            let (parts, body) = res.into_parts();
            let body =
                tokio::time::timeout(OWNER_DEADLINE, Limited::new(body, 64 * 1024).collect())
                    .await
                    .map_err(|elapsed| HopError::Unreachable(elapsed.into()))?
                    .map_err(HopError::Unreachable)?
                    .to_bytes();
            return Ok(relayed(parts.status, &parts.headers, body));
        }
        let mut answer = Response::new(Full::new(Bytes::new()));
        *answer.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        for name in [
            header::UPGRADE,
            header::CONNECTION,
            header::SEC_WEBSOCKET_ACCEPT,
            header::SEC_WEBSOCKET_EXTENSIONS,
            header::SEC_WEBSOCKET_PROTOCOL,
        ] {
            for value in res.headers().get_all(&name) {
                answer.headers_mut().append(name.clone(), value.clone());
            }
        }
        tracing::debug!(%owner, "WebSocket tunnelled to the session's owner");
        let owner_side = hyper::upgrade::on(res);
        tokio::spawn(splice(client_side, owner_side));
        Ok(answer)
    }

    /// The request to the owner: the client's method, path, query and end-to-end headers, the
    /// body, and the signature.
    fn signed_request(
        &self,
        owner: SocketAddr,
        parts: &http::request::Parts,
        body: Bytes,
        upgrade: bool,
    ) -> Result<Request<Full<Bytes>>, HopError> {
        let path_and_query = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        let uri = format!("http://{owner}{path_and_query}");
        let signed = Signed {
            upgrade,
            method: &parts.method,
            path_and_query,
            body: &body,
        };
        let mut headers = HeaderMap::with_capacity(parts.headers.len() + 2);
        for (name, value) in &parts.headers {
            if is_end_to_end(name, upgrade) {
                headers.append(name.clone(), value.clone());
            }
        }
        signed.sign(&self.secret, &mut headers);
        let mut out = Request::builder()
            .method(parts.method.clone())
            .uri(uri)
            .body(Full::new(body))
            .map_err(|e| HopError::Unreachable(e.into()))?;
        *out.headers_mut() = headers;
        Ok(out)
    }
}

/// Copies bytes both ways between the client's and the owner's upgraded connections until
/// either side closes.
async fn splice(client_side: OnUpgrade, owner_side: OnUpgrade) {
    let (client_side, owner_side) = tokio::join!(client_side, owner_side);
    let (Ok(client_side), Ok(owner_side)) = (client_side, owner_side) else {
        tracing::debug!("tunnel abandoned before both sides upgraded");
        return;
    };
    let mut client_side = TokioIo::new(client_side);
    let mut owner_side = TokioIo::new(owner_side);
    let _ = tokio::io::copy_bidirectional(&mut client_side, &mut owner_side).await;
}

/// An answer as the owner gave it, less what belongs to the owner's own connection.
fn relayed(status: StatusCode, headers: &HeaderMap, body: Bytes) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(body));
    *res.status_mut() = status;
    for (name, value) in headers {
        if is_end_to_end(name, false) {
            res.headers_mut().append(name.clone(), value.clone());
        }
    }
    res
}

/// Whether a header travels over the hop: not the hop-by-hop ones (RFC 9110 §7.6.1), not the
/// host or length of the other connection, not a signature (ours replaces any the client
/// sent); the upgrade headers only on an upgrade.
fn is_end_to_end(name: &HeaderName, upgrade: bool) -> bool {
    if *name == header::UPGRADE || *name == header::CONNECTION {
        return upgrade;
    }
    !(*name == header::HOST
        || *name == header::CONTENT_LENGTH
        || *name == header::TRANSFER_ENCODING
        || *name == header::TE
        || *name == header::TRAILER
        || *name == header::PROXY_AUTHORIZATION
        || *name == header::PROXY_AUTHENTICATE
        || name.as_str() == "keep-alive"
        || name.as_str() == TIME_HEADER
        || name.as_str() == SIGNATURE_HEADER)
}
