//! A reverse proxy with no affinity at all: every HTTP request, and every WebSocket upgrade,
//! goes to the next backend in turn, each over a connection of its own. Behind it, the
//! requests of one Engine.IO session are spread over every node.
//!
//! Like a load balancer with health checks, it can be told to drop a backend
//! ([`RoundRobin::remove`]); it answers 502 when a backend refuses.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

/// The proxy; it stops accepting when dropped.
pub struct RoundRobin {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    accept: tokio::task::JoinHandle<()>,
}

struct Shared {
    backends: Mutex<Vec<SocketAddr>>,
    next: AtomicUsize,
    /// Requests sent to each backend, in the order of `backends` at start.
    served: Mutex<Vec<(SocketAddr, usize)>>,
}

impl Drop for RoundRobin {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl RoundRobin {
    /// A proxy on `127.0.0.1:0` in front of `backends`.
    pub async fn start(backends: Vec<SocketAddr>) -> RoundRobin {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let shared = Arc::new(Shared {
            served: Mutex::new(backends.iter().map(|b| (*b, 0)).collect()),
            backends: Mutex::new(backends),
            next: AtomicUsize::new(0),
        });
        let s = shared.clone();
        let accept = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let s = s.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        let s = s.clone();
                        async move { Ok::<_, Infallible>(s.proxy(req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .with_upgrades()
                        .await;
                });
            }
        });
        RoundRobin {
            addr,
            shared,
            accept,
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops sending anything to `backend` (a failed health check).
    pub fn remove(&self, backend: SocketAddr) {
        self.shared
            .backends
            .lock()
            .unwrap()
            .retain(|b| *b != backend);
    }

    /// How many requests each backend was sent.
    pub fn served(&self) -> Vec<(SocketAddr, usize)> {
        self.shared.served.lock().unwrap().clone()
    }
}

impl Shared {
    fn pick(&self) -> Option<SocketAddr> {
        let backends = self.backends.lock().unwrap();
        if backends.is_empty() {
            return None;
        }
        let backend = backends[self.next.fetch_add(1, Ordering::Relaxed) % backends.len()];
        if let Some(count) = self
            .served
            .lock()
            .unwrap()
            .iter_mut()
            .find(|(b, _)| *b == backend)
        {
            count.1 += 1;
        }
        Some(backend)
    }

    async fn proxy(&self, mut req: Request<Incoming>) -> Response<Full<Bytes>> {
        let Some(backend) = self.pick() else {
            return status(StatusCode::BAD_GATEWAY);
        };
        let upgrade = req.headers().contains_key(http::header::UPGRADE);
        let client_side = upgrade.then(|| hyper::upgrade::on(&mut req));
        let (parts, body) = req.into_parts();
        let Ok(body) = body.collect().await.map(|b| b.to_bytes()) else {
            return status(StatusCode::BAD_REQUEST);
        };
        let Ok(stream) = TcpStream::connect(backend).await else {
            return status(StatusCode::BAD_GATEWAY);
        };
        let Ok((mut sender, conn)) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
        else {
            return status(StatusCode::BAD_GATEWAY);
        };
        tokio::spawn(conn.with_upgrades());
        let mut out = Request::from_parts(parts, Full::new(body));
        out.headers_mut()
            .insert(http::header::HOST, backend.to_string().parse().unwrap());
        let Ok(res) = sender.send_request(out).await else {
            return status(StatusCode::BAD_GATEWAY);
        };
        if res.status() == StatusCode::SWITCHING_PROTOCOLS
            && let Some(client_side) = client_side
        {
            let mut answer = Response::new(Full::new(Bytes::new()));
            *answer.status_mut() = res.status();
            *answer.headers_mut() = res.headers().clone();
            let backend_side = hyper::upgrade::on(res);
            tokio::spawn(async move {
                if let (Ok(a), Ok(b)) = tokio::join!(client_side, backend_side) {
                    let _ =
                        tokio::io::copy_bidirectional(&mut TokioIo::new(a), &mut TokioIo::new(b))
                            .await;
                }
            });
            return answer;
        }
        let (parts, body) = res.into_parts();
        let Ok(body) = body.collect().await.map(|b| b.to_bytes()) else {
            return status(StatusCode::BAD_GATEWAY);
        };
        let mut answer = Response::from_parts(parts, Full::new(body));
        answer.headers_mut().remove(http::header::TRANSFER_ENCODING);
        answer.headers_mut().remove(http::header::CONTENT_LENGTH);
        answer
    }
}

fn status(code: StatusCode) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(Bytes::new()));
    *res.status_mut() = code;
    res
}
