//! What one idle WebSocket connection costs the server, measured with a heap profiler (`dhat`):
//! 1 000 clients connect over TCP to namespace `/` (whose connection handler registers the four
//! event handlers of `examples/bench_server.rs`) and stay idle. Prints the heap bytes per
//! connection and checks them against a bound (memory, never time).
//!
//! The clients are blocking `std` sockets that speak the WebSocket handshake and frames by hand,
//! so that all a client keeps on the heap is its slot in one vector reserved before the
//! baseline: everything the heap grows by is the server's (sessions, sockets, tasks, buffers,
//! the registries' share). A client library would allocate as much as the server in the same
//! process and hide what we measure.
//!
//! Its own test binary, as `tests/recovery_memory.rs`: a global allocator is per binary. Run it
//! with `scripts/test idle_memory`. With `TSIO_DHAT_FILE=dhat-idle.json` it writes the whole
//! profile instead, taken while the clients are connected (`dhat`'s viewer shows where each
//! byte comes from), and checks nothing.

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::Value;
use tower_socketio::extract::{AckSender, Data, SocketRef};
use tower_socketio::{SocketIo, SocketIoLayer};

const CLIENTS: usize = 1_000;

/// The bound on what the server keeps per idle connection, in heap bytes; what it takes now is
/// in the README's Performance section.
const MAX_BYTES_PER_CONNECTION: i64 = 4096;

/// The headers a browser sends with a WebSocket handshake (Chromium's set): they are what the
/// server keeps of the request.
fn handshake_request(addr: SocketAddr) -> String {
    format!(
        "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n\
         Host: {addr}\r\n\
         Connection: Upgrade\r\n\
         Pragma: no-cache\r\n\
         Cache-Control: no-cache\r\n\
         User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
         Chrome/131.0.0.0 Safari/537.36\r\n\
         Upgrade: websocket\r\n\
         Origin: http://{addr}\r\n\
         Sec-WebSocket-Version: 13\r\n\
         Accept-Encoding: gzip, deflate, br, zstd\r\n\
         Accept-Language: en-US,en;q=0.9\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n"
    )
}

/// A WebSocket client reduced to what this test needs, on a blocking socket.
struct RawClient {
    stream: TcpStream,
    /// Bytes read past what was consumed.
    buf: Vec<u8>,
}

impl RawClient {
    /// Connects, upgrades, reads the open packet, joins namespace `/` and reads its answer.
    fn connect(addr: SocketAddr) -> TcpStream {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut client = RawClient {
            stream,
            buf: Vec::new(),
        };
        client.write(handshake_request(addr).as_bytes());
        let head = client.read_until_blank_line();
        assert!(head.starts_with("HTTP/1.1 101"), "upgrade answer: {head}");
        let open = client.read_text_frame();
        assert!(open.starts_with("0{"), "open packet: {open}");
        client.write_text_frame("40");
        let connect = client.read_text_frame();
        assert!(
            connect.starts_with("40{\"sid\""),
            "CONNECT answer: {connect}"
        );
        assert!(
            client.buf.is_empty(),
            "nothing more is sent to an idle client"
        );
        client.stream
    }

    fn write(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    fn fill(&mut self) {
        let mut chunk = [0u8; 512];
        let n = self.stream.read(&mut chunk).expect("read");
        assert!(n > 0, "the server closed the connection");
        self.buf.extend_from_slice(&chunk[..n]);
    }

    fn read_until_blank_line(&mut self) -> String {
        loop {
            if let Some(at) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head: Vec<u8> = self.buf.drain(..at + 4).collect();
                return String::from_utf8_lossy(&head).into_owned();
            }
            self.fill();
        }
    }

    /// One unmasked text frame from the server (short: under 64 KiB).
    fn read_text_frame(&mut self) -> String {
        loop {
            if self.buf.len() >= 2 {
                assert_eq!(self.buf[0], 0x81, "a final text frame");
                let (len, header) = match self.buf[1] {
                    126 if self.buf.len() >= 4 => {
                        (u16::from_be_bytes([self.buf[2], self.buf[3]]) as usize, 4)
                    }
                    126 => (usize::MAX, 4),
                    n => (n as usize, 2),
                };
                if len != usize::MAX && self.buf.len() >= header + len {
                    let frame: Vec<u8> = self.buf.drain(..header + len).collect();
                    return String::from_utf8(frame[header..].to_vec()).expect("UTF-8");
                }
            }
            self.fill();
        }
    }

    /// A masked text frame, as a client must send (short: under 126 bytes).
    fn write_text_frame(&mut self, text: &str) {
        let mask = [0x5a, 0x13, 0xc7, 0x2e];
        let mut frame = vec![0x81, 0x80 | text.len() as u8];
        frame.extend_from_slice(&mask);
        frame.extend(text.bytes().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.write(&frame);
    }
}

/// The connection handler of `examples/bench_server.rs`: four event handlers per socket.
fn on_connect(socket: SocketRef) {
    socket.on("echo", |socket: SocketRef, Data(data): Data<Value>| {
        socket.emit("echo", &data).ok();
    });
    socket.on("ack", |Data(data): Data<Value>, ack: AckSender| {
        ack.send(&data).ok();
    });
    socket.on(
        "join",
        |socket: SocketRef, Data(room): Data<String>, ack: AckSender| {
            socket.join(room);
            ack.send(&()).ok();
        },
    );
    socket.on(
        "broadcast",
        |io: SocketIo, Data((room, data)): Data<(String, Value)>| {
            io.to(room).emit("bcast", &data).ok();
        },
    );
}

fn heap_bytes() -> i64 {
    dhat::HeapStats::get().curr_bytes as i64
}

/// Waits until `io` has `count` sockets in `/`.
fn wait_for_sockets(runtime: &tokio::runtime::Runtime, io: &SocketIo, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while runtime.block_on(io.fetch_sockets()).expect("fetch").len() != count {
        assert!(Instant::now() < deadline, "expected {count} sockets");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn memory_of_idle_websocket_connections() {
    let profile_file = std::env::var_os("TSIO_DHAT_FILE");
    let mut profiler = Some(match &profile_file {
        Some(file) => dhat::Profiler::builder()
            .file_name(file)
            .trim_backtraces(Some(40))
            .build(),
        None => dhat::Profiler::builder().testing().build(),
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let io = SocketIo::new();
    io.ns("/", on_connect);
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = axum::Router::new().layer(SocketIoLayer::new(io.clone()));
    runtime.spawn(async move {
        let _ = axum::serve(listener, app).await;
    });

    // Warm up (lazy statics, the runtime's and the registries' first allocations), then let
    // the warm-up connection go before the baseline.
    let warm = RawClient::connect(addr);
    wait_for_sockets(&runtime, &io, 1);
    drop(warm);
    wait_for_sockets(&runtime, &io, 0);
    std::thread::sleep(Duration::from_millis(200));

    // The clients run on this thread, off the runtime: what they keep is a file descriptor
    // each, in a vector reserved before the baseline.
    let mut clients = Vec::with_capacity(CLIENTS);
    let baseline = heap_bytes();
    for _ in 0..CLIENTS {
        clients.push(RawClient::connect(addr));
    }
    // Every socket is in, and every connection's task has gone idle.
    std::thread::sleep(Duration::from_millis(500));
    let held = heap_bytes();
    if profile_file.is_some() {
        drop(profiler.take());
        return;
    }
    wait_for_sockets(&runtime, &io, CLIENTS);

    #[cfg(feature = "internals")]
    for (name, size) in tower_socketio::internals::struct_sizes() {
        println!("size of {name}: {size} B");
    }
    let per_connection = (held - baseline) / CLIENTS as i64;
    println!(
        "heap: {per_connection} B per idle WebSocket connection ({} KiB for {CLIENTS})",
        (held - baseline) / 1024
    );

    // Every connection gives back what it took once its client goes: only the registries'
    // grown tables stay.
    drop(clients);
    wait_for_sockets(&runtime, &io, 0);
    std::thread::sleep(Duration::from_millis(500));
    let left = (heap_bytes() - baseline) / CLIENTS as i64;
    println!("heap: {left} B per connection left once they are closed");

    assert!(
        per_connection <= MAX_BYTES_PER_CONNECTION,
        "an idle WebSocket connection takes {per_connection} B of heap"
    );
    assert!(
        left < 512,
        "closed connections left {left} B each on the heap"
    );
    drop(profiler);
}
