//! The owner side of the internal hop: a plain HTTP/1.1 listener that serves only signed
//! requests for this node's sessions, as if they had come from the client.

use std::convert::Infallible;
use std::sync::Weak;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::watch;

use super::super::{Engine, EngineHandler};

/// How long a connection to the internal listener may take to send a request head.
const HEAD_DEADLINE: Duration = Duration::from_secs(10);

/// Accepts connections until the engine is dropped (its forwarder drops `stop`'s sender).
pub(crate) async fn serve<H: EngineHandler>(
    engine: Weak<Engine<H>>,
    listener: std::net::TcpListener,
    mut stop: watch::Receiver<()>,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(error) => {
            tracing::error!(%error, "cannot serve forwarded requests");
            return;
        }
    };
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of file descriptors and the like: back off a little.
                    tracing::debug!(%error, "internal accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let _ = stream.set_nodelay(true);
        let engine = engine.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let engine = engine.clone();
                async move {
                    Ok::<_, Infallible>(match engine.upgrade() {
                        Some(engine) => engine.handle_forwarded(req).await,
                        None => super::super::error::empty_response(
                            http::StatusCode::SERVICE_UNAVAILABLE,
                        ),
                    })
                }
            });
            let served = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEAD_DEADLINE)
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades()
                .await;
            if let Err(error) = served {
                tracing::debug!(%error, "internal connection ended");
            }
        });
    }
}
