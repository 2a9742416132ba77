//! Encode/decode of Engine.IO and Socket.IO packets and polling payloads.
//!
//! ```sh
//! cargo bench --features internals --bench codec
//! ```

use std::hint::black_box;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;
use tower_socketio::engine::Frame;
use tower_socketio::internals;
use tower_socketio::parser::Decoder;

fn socketio_decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("socketio_decode");
    let event = r#"2["message",{"user":"alice","text":"hello there","n":42,"tags":["a","b"]}]"#;
    group.throughput(Throughput::Bytes(event.len() as u64));
    group.bench_function("event", |b| {
        let mut decoder = Decoder::new(10);
        b.iter(|| decoder.decode_text(black_box(event)).map(|p| p.is_some()))
    });
    let ack = r#"3/chat,123["ok",{"id":7}]"#;
    group.bench_function("ack_with_namespace", |b| {
        let mut decoder = Decoder::new(10);
        b.iter(|| decoder.decode_text(black_box(ack)).map(|p| p.is_some()))
    });
    let binary = r#"52-["file",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#;
    let attachment = Bytes::from(vec![7u8; 1024]);
    group.bench_function("binary_event_2x1KiB", |b| {
        let mut decoder = Decoder::new(10);
        b.iter(|| {
            let _ = decoder.decode_text(black_box(binary));
            let _ = decoder.decode_binary(attachment.clone());
            decoder
                .decode_binary(attachment.clone())
                .map(|p| p.is_some())
        })
    });
    group.finish();
}

fn socketio_encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("socketio_encode");
    let data = json!({"user": "alice", "text": "hello there", "n": 42, "tags": ["a", "b"]});
    group.bench_function("event", |b| {
        b.iter(|| internals::encode_event("/", "message", black_box(&data), Vec::new(), None))
    });
    group.bench_function("event_with_ack_id", |b| {
        b.iter(|| {
            internals::encode_event("/chat", "message", black_box(&data), Vec::new(), Some(99))
        })
    });
    let attachment = Bytes::from(vec![7u8; 1024]);
    let with_placeholder = json!({"name": "a.bin", "content": tower_socketio::placeholder(0)});
    group.bench_function("binary_event_1KiB", |b| {
        b.iter(|| {
            internals::encode_event(
                "/",
                "file",
                black_box(&with_placeholder),
                vec![attachment.clone()],
                None,
            )
        })
    });
    group.finish();
}

fn engine_codec(c: &mut Criterion) {
    let mut group = c.benchmark_group("engine");
    group.bench_function("decode_packet", |b| {
        b.iter(|| internals::engine_decode_packet(black_box(r#"42["message","hello"]"#)))
    });
    let frames: Vec<Frame> = (0..16)
        .map(|i| {
            if i % 4 == 3 {
                Frame::binary(vec![i as u8; 64])
            } else {
                Frame::text(r#"2["message","hello there"]"#)
            }
        })
        .collect();
    group.bench_function("encode_payload_16", |b| {
        b.iter(|| internals::engine_encode_payload(black_box(&frames)))
    });
    let body = internals::engine_encode_payload(&frames);
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("decode_payload_16", |b| {
        b.iter(|| internals::engine_decode_payload(black_box(body.clone()), false, false))
    });
    group.finish();
}

criterion_group!(benches, socketio_decode, socketio_encode, engine_codec);
criterion_main!(benches);
