//! Where forwarding meets the engine's routing: requests for other nodes' sessions go out,
//! signed requests from other nodes come in.

use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;

use super::super::error::empty_response;
use super::super::{Engine, EngineConfig, EngineHandler, Origin, RequestError, Sid, websocket};
use super::{Forwarder, HopError, NodeId, Signed};

impl<H: EngineHandler> Engine<H> {
    /// Answers a request another node forwarded: refused unless its signature holds, then
    /// served as if the client had sent it here.
    pub(crate) async fn handle_forwarded(
        self: Arc<Self>,
        req: Request<hyper::body::Incoming>,
    ) -> Response<Full<Bytes>> {
        use http_body_util::BodyExt;
        let Some(forwarder) = &self.forwarder else {
            return empty_response(http::StatusCode::NOT_FOUND);
        };
        if !req.uri().path().starts_with(self.config.path.as_str()) {
            return empty_response(http::StatusCode::NOT_FOUND);
        }
        let is_upgrade = websocket::is_upgrade_request(&req);
        let (parts, body) = req.into_parts();
        let limited = http_body_util::Limited::new(body, self.config.max_http_buffer_size);
        let Ok(body) = limited.collect().await.map(|c| c.to_bytes()) else {
            return RequestError::Forbidden.into_response();
        };
        let signed = Signed {
            upgrade: is_upgrade,
            method: &parts.method,
            path_and_query: parts
                .uri
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/"),
            body: &body,
        };
        if !signed.verify(forwarder.hop.secret(), &parts.headers) {
            tracing::warn!(uri = %parts.uri, "unsigned or badly signed forwarded request refused");
            return RequestError::Forbidden.into_response();
        }
        let req = Request::from_parts(parts, Full::new(body));
        self.handle_from(req, Origin::Forwarded).await
    }
}

/// Forwards a request for `sid` to the node that owns it; a session of this node that is gone,
/// or an owner that cannot be found or reached within about a second, is an unknown session.
pub(crate) async fn to_owner<B>(
    forwarder: &Forwarder,
    sid: Sid,
    req: Request<B>,
    is_upgrade: bool,
    config: &EngineConfig,
) -> Result<Response<Full<Bytes>>, RequestError>
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let node = NodeId::of_sid(&sid);
    if node == forwarder.node {
        return Err(RequestError::UnknownSid);
    }
    let owner = forwarder
        .locate(node)
        .await
        .ok_or(RequestError::UnknownSid)?;
    let forwarded = if is_upgrade {
        forwarder.hop.tunnel(owner, req).await
    } else {
        forwarder
            .hop
            .forward(owner, req, config.max_http_buffer_size)
            .await
    };
    forwarded.or_else(|error| {
        tracing::debug!(%sid, %node, %owner, %error, "forwarding failed");
        match error {
            HopError::TooLarge => Ok(empty_response(http::StatusCode::PAYLOAD_TOO_LARGE)),
            HopError::Body(_) | HopError::NotUpgradable => Err(RequestError::BadRequest),
            HopError::Unreachable(_) => {
                if let Some(locator) = &forwarder.locator {
                    locator.unreachable(node);
                }
                Err(RequestError::UnknownSid)
            }
        }
    })
}
