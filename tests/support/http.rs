//! A deliberately small HTTP/1.1 client written on a bare `TcpStream`.
//!
//! The requests are written byte by byte by the caller (or by the helpers
//! below), so tests can also send malformed, partial or oversized requests and
//! observe exactly what the server answers.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// Upper bound for any single request/response exchange.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// A parsed HTTP response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    /// Header names as received; look them up with [`Response::header`].
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// First header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as UTF-8 text (panics if it is not UTF-8).
    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("response body is not UTF-8")
    }

    /// The body parsed as JSON (panics if it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The value of `Content-Type` without parameters, lower-cased.
    pub fn mime(&self) -> Option<String> {
        self.header("content-type").map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
    }
}

/// One TCP connection that can carry several requests (keep-alive).
pub struct Conn {
    reader: Reader,
    writer: OwnedWriteHalf,
}

struct Reader {
    half: OwnedReadHalf,
    buf: Vec<u8>,
}

impl Conn {
    pub async fn connect(addr: &str) -> io::Result<Conn> {
        let stream = tokio::time::timeout(IO_TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
        stream.set_nodelay(true)?;
        let (half, writer) = stream.into_split();
        Ok(Conn {
            reader: Reader {
                half,
                buf: Vec::new(),
            },
            writer,
        })
    }

    /// Writes raw bytes.
    pub async fn write_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        tokio::time::timeout(IO_TIMEOUT, self.writer.write_all(bytes))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "write timed out"))?
    }

    /// Reads one response. `head_request` suppresses the body (HEAD).
    pub async fn read_response(&mut self, head_request: bool) -> io::Result<Response> {
        tokio::time::timeout(IO_TIMEOUT, self.reader.read_response(head_request))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no response in time"))?
    }

    /// Writes `bytes` while already reading the response, so a server that
    /// answers early (e.g. 413 on an oversized body) and stops reading does
    /// not block the exchange. A write error is only reported if no response
    /// could be read.
    pub async fn exchange(&mut self, bytes: &[u8], head_request: bool) -> io::Result<Response> {
        let Conn { reader, writer } = self;
        let work = async {
            let write = writer.write_all(bytes);
            let read = reader.read_response(head_request);
            tokio::pin!(write, read);
            let mut write_result: Option<io::Result<()>> = None;
            loop {
                tokio::select! {
                    response = &mut read => {
                        return match (response, write_result) {
                            (Ok(r), _) => Ok(r),
                            (Err(_), Some(Err(w))) => Err(w),
                            (Err(e), _) => Err(e),
                        };
                    }
                    w = &mut write, if write_result.is_none() => write_result = Some(w),
                }
            }
        };
        tokio::time::timeout(IO_TIMEOUT, work)
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no response in time"))?
    }

    /// Reads until the peer closes the connection (bounded by [`IO_TIMEOUT`]);
    /// returns whatever was buffered or received.
    pub async fn read_to_end(&mut self) -> io::Result<Vec<u8>> {
        tokio::time::timeout(IO_TIMEOUT, self.reader.read_to_end())
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "peer did not close"))?
    }

    /// True if the peer closed the connection within `wait`.
    pub async fn closed_within(&mut self, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.reader.fill()).await {
                Err(_) => return false,
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(_)) => {}
            }
        }
    }
}

impl Reader {
    async fn read_to_end(&mut self) -> io::Result<Vec<u8>> {
        while self.fill().await? > 0 {}
        Ok(std::mem::take(&mut self.buf))
    }

    /// Reads more bytes into the buffer; 0 means the peer closed (or reset).
    async fn fill(&mut self) -> io::Result<usize> {
        let mut chunk = [0u8; 16 * 1024];
        let n = match self.half.read(&mut chunk).await {
            Ok(n) => n,
            Err(e) if is_reset(&e) => 0,
            Err(e) => return Err(e),
        };
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    async fn read_line(&mut self) -> io::Result<String> {
        loop {
            if let Some(pos) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line: Vec<u8> = self.buf.drain(..pos + 2).take(pos).collect();
                return String::from_utf8(line).map_err(|_| {
                    io::Error::new(io::ErrorKind::InvalidData, "non UTF-8 header line")
                });
            }
            if self.fill().await? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed in head",
                ));
            }
        }
    }

    async fn read_exact_body(&mut self, len: usize) -> io::Result<Vec<u8>> {
        while self.buf.len() < len {
            if self.fill().await? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed in body",
                ));
            }
        }
        Ok(self.buf.drain(..len).collect())
    }

    async fn read_response(&mut self, head_request: bool) -> io::Result<Response> {
        let status_line = self.read_line().await?;
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or_default();
        if !version.starts_with("HTTP/1.") {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("bad status line {status_line:?}"),
            ));
        }
        let status: u16 = parts.next().and_then(|s| s.parse().ok()).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("bad status line {status_line:?}"),
            )
        })?;
        let reason = parts.next().unwrap_or_default().to_string();

        let mut headers = Vec::new();
        loop {
            let line = self.read_line().await?;
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidData, format!("bad header {line:?}"))
            })?;
            headers.push((name.trim().to_string(), value.trim().to_string()));
        }
        let mut response = Response {
            status,
            reason,
            headers,
            body: Vec::new(),
        };

        if head_request || status / 100 == 1 || status == 204 || status == 304 {
            return Ok(response);
        }
        let chunked = response
            .header("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
        if chunked {
            loop {
                let size_line = self.read_line().await?;
                let size_hex = size_line.split(';').next().unwrap_or("").trim();
                let size = usize::from_str_radix(size_hex, 16).map_err(|_| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("bad chunk size {size_line:?}"),
                    )
                })?;
                if size == 0 {
                    // trailers, then the empty line
                    while !self.read_line().await?.is_empty() {}
                    break;
                }
                let chunk = self.read_exact_body(size).await?;
                response.body.extend_from_slice(&chunk);
                if !self.read_line().await?.is_empty() {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "missing CRLF after chunk",
                    ));
                }
            }
        } else if let Some(len) = response.header("content-length") {
            let len: usize = len
                .parse()
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad content-length"))?;
            response.body = self.read_exact_body(len).await?;
        } else {
            // No framing: the body runs until the server closes the connection.
            response.body = self.read_to_end().await?;
        }
        Ok(response)
    }
}

fn is_reset(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionAborted
    )
}

/// Builds the bytes of a request with a `Content-Length` body (omitted for
/// an empty body on GET/HEAD/OPTIONS).
pub fn build_request(
    method: &str,
    host: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Vec<u8> {
    let mut out = format!("{method} {path_and_query} HTTP/1.1\r\nHost: {host}\r\n").into_bytes();
    for (k, v) in headers {
        out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    let bodyless = matches!(method, "GET" | "HEAD" | "OPTIONS");
    if !(bodyless && body.is_empty()) {
        out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

/// Sends one request on a fresh connection and reads the response (see
/// [`Conn::exchange`] for how early answers to large bodies are handled).
pub async fn send(
    addr: &str,
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<Response> {
    let mut conn = Conn::connect(addr).await?;
    let bytes = build_request(method, addr, path_and_query, headers, body);
    conn.exchange(&bytes, method == "HEAD").await
}
