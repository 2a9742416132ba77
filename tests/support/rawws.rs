//! A WebSocket client that writes frames by hand, so tests can send what no library would:
//! reserved bits and opcodes, unmasked frames, broken control frames, invalid UTF-8.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const CONTINUATION: u8 = 0x0;
pub const TEXT: u8 = 0x1;
pub const BINARY: u8 = 0x2;
pub const CLOSE: u8 = 0x8;
pub const PING: u8 = 0x9;
pub const PONG: u8 = 0xA;

const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A frame the server sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub fin: bool,
    pub opcode: u8,
    pub payload: Vec<u8>,
}

/// How the server ended the connection, as seen by [`RawWs::expect_close`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// A close frame with this status code.
    Code(u16),
    /// A close frame without a status code (1005 to an API client).
    NoCode,
    /// The TCP connection ended (or was reset) without a close frame.
    Gone,
}

pub struct RawWs {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl RawWs {
    /// Opens a WebSocket on `path_and_query` (handshake checked: 101).
    pub async fn connect(addr: &str, path_and_query: &str) -> RawWs {
        RawWs::connect_with(addr, path_and_query, None).await
    }

    /// [`RawWs::connect`] with the socket's receive buffer set to `rcvbuf` bytes before the
    /// connection is made (a small one makes TCP push back on the server sooner).
    pub async fn connect_with(addr: &str, path_and_query: &str, rcvbuf: Option<u32>) -> RawWs {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        if let Some(size) = rcvbuf {
            socket.set_recv_buffer_size(size).expect("SO_RCVBUF");
        }
        let stream = tokio::time::timeout(
            Duration::from_secs(5),
            socket.connect(addr.parse().expect("socket address")),
        )
        .await
        .expect("connect timed out")
        .expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        let mut ws = RawWs {
            stream,
            buf: Vec::new(),
        };
        let req = format!(
            "GET {path_and_query} HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        );
        ws.write(req.as_bytes()).await;
        let head = tokio::time::timeout(Duration::from_secs(5), ws.read_head())
            .await
            .expect("no upgrade answer in time");
        assert!(
            head.starts_with("HTTP/1.1 101"),
            "upgrade refused: {head:?}"
        );
        ws
    }

    async fn read_head(&mut self) -> String {
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head: Vec<u8> = self.buf.drain(..end + 4).collect();
                return String::from_utf8_lossy(&head).into_owned();
            }
            assert!(self.fill().await > 0, "connection closed during upgrade");
        }
    }

    async fn fill(&mut self) -> usize {
        let mut chunk = [0u8; 16 * 1024];
        match self.stream.read(&mut chunk).await {
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                n
            }
            Err(_) => 0,
        }
    }

    /// Writes raw bytes (errors ignored: the server may already have closed).
    pub async fn write(&mut self, bytes: &[u8]) {
        let _ = tokio::time::timeout(Duration::from_secs(5), self.stream.write_all(bytes)).await;
    }

    /// Writes one frame: `rsv` is the three reserved bits (0..=7), `masked` whether the
    /// payload is masked (clients must mask).
    pub async fn frame(&mut self, fin: bool, rsv: u8, opcode: u8, masked: bool, payload: &[u8]) {
        self.write(&encode(fin, rsv, opcode, masked, payload)).await;
    }

    /// A well-formed masked text frame.
    pub async fn text(&mut self, text: &str) {
        self.frame(true, 0, TEXT, true, text.as_bytes()).await;
    }

    /// A well-formed masked binary frame.
    pub async fn binary(&mut self, data: &[u8]) {
        self.frame(true, 0, BINARY, true, data).await;
    }

    /// Next frame from the server; `None` after `within` or when the connection ended.
    pub async fn next_frame(&mut self, within: Duration) -> Option<Frame> {
        tokio::time::timeout(within, self.read_frame())
            .await
            .ok()
            .flatten()
    }

    async fn read_frame(&mut self) -> Option<Frame> {
        loop {
            if let Some((frame, used)) = decode(&self.buf) {
                self.buf.drain(..used);
                return Some(frame);
            }
            if self.fill().await == 0 {
                return None;
            }
        }
    }

    /// Next text frame (Engine.IO pings `2` are answered `3` and skipped).
    pub async fn next_text(&mut self, within: Duration) -> Option<String> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let frame = self.next_frame(left).await?;
            match frame.opcode {
                TEXT if frame.payload == b"2" => self.text("3").await,
                TEXT => return Some(String::from_utf8_lossy(&frame.payload).into_owned()),
                CLOSE => return None,
                _ => {}
            }
        }
    }

    /// Waits for the server to end the connection (answering Engine.IO pings meanwhile);
    /// panics if it is still open after `within`. Data frames before the close are skipped.
    pub async fn expect_close(&mut self, within: Duration) -> Ended {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let read = tokio::time::timeout_at(deadline, self.read_frame()).await;
            let frame = match read {
                Err(_) => panic!("WebSocket still open after {within:?}"),
                Ok(None) => return Ended::Gone,
                Ok(Some(frame)) => frame,
            };
            match frame.opcode {
                CLOSE if frame.payload.len() >= 2 => {
                    return Ended::Code(u16::from_be_bytes([frame.payload[0], frame.payload[1]]));
                }
                CLOSE => return Ended::NoCode,
                TEXT if frame.payload == b"2" => self.text("3").await,
                _ => {}
            }
        }
    }

    /// True if the server closed the TCP connection (EOF or reset) within `within`.
    pub async fn tcp_closed_within(&mut self, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.fill()).await {
                Err(_) => return false,
                Ok(0) => return true,
                Ok(_) => self.buf.clear(),
            }
        }
    }
}

/// The bytes of one frame.
pub fn encode(fin: bool, rsv: u8, opcode: u8, masked: bool, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![(u8::from(fin) << 7) | ((rsv & 7) << 4) | (opcode & 0x0f)];
    let mask_bit = if masked { 0x80 } else { 0 };
    match payload.len() {
        n @ 0..=125 => out.push(mask_bit | n as u8),
        n @ 126..=0xffff => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if masked {
        out.extend_from_slice(&MASK);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    } else {
        out.extend_from_slice(payload);
    }
    out
}

/// Parses one (server, unmasked) frame at the start of `buf`: the frame and its length.
fn decode(buf: &[u8]) -> Option<(Frame, usize)> {
    if buf.len() < 2 {
        return None;
    }
    let fin = buf[0] & 0x80 != 0;
    let opcode = buf[0] & 0x0f;
    let masked = buf[1] & 0x80 != 0;
    let (len, mut at) = match buf[1] & 0x7f {
        126 => (u16::from_be_bytes([*buf.get(2)?, *buf.get(3)?]) as usize, 4),
        127 => {
            let bytes: [u8; 8] = buf.get(2..10)?.try_into().ok()?;
            (u64::from_be_bytes(bytes) as usize, 10)
        }
        n => (n as usize, 2),
    };
    let mask = if masked {
        let m: [u8; 4] = buf.get(at..at + 4)?.try_into().ok()?;
        at += 4;
        Some(m)
    } else {
        None
    };
    let data = buf.get(at..at + len)?;
    let payload = match mask {
        Some(m) => data.iter().enumerate().map(|(i, b)| b ^ m[i % 4]).collect(),
        None => data.to_vec(),
    };
    Some((
        Frame {
            fin,
            opcode,
            payload,
        },
        at + len,
    ))
}
