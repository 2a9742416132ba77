//! Broadcast fan-out to in-memory sockets: one encode per broadcast, the bytes shared by every
//! receiver's queue.
//!
//! ```sh
//! cargo bench --features internals --bench fanout
//! ```

use std::hint::black_box;

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;
use tower_socketio::internals::FanoutFixture;

fn fanout(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let _guard = runtime.enter();
    let data = json!({"user": "alice", "text": "hello everyone", "n": 42});
    // Straight to the adapter: one encode, the bytes shared by every receiver's queue.
    bench_receivers(
        c,
        "broadcast_fanout",
        &[1_000, 10_000],
        FanoutFixture::new,
        |f| f.broadcast("message", black_box(&data)),
    );
    // Through the public API with connection state recovery on: each broadcast is also logged
    // with its offset, and fanned out under the log's lock.
    bench_receivers(
        c,
        "broadcast_recorded",
        &[1, 1_000],
        FanoutFixture::with_recovery,
        |f| f.emit("message", black_box(&data)),
    );
}

/// One benchmark per receiver count: `send` once per iteration, receivers' queues drained
/// between iterations (not measured).
fn bench_receivers<R>(
    c: &mut Criterion,
    name: &str,
    counts: &[usize],
    fixture: impl Fn(usize) -> FanoutFixture,
    send: impl Fn(&FanoutFixture) -> R,
) {
    let mut group = c.benchmark_group(name);
    for &receivers in counts {
        let fixture = fixture(receivers);
        group.throughput(Throughput::Elements(receivers as u64));
        group.bench_with_input(
            BenchmarkId::from_parameter(receivers),
            &receivers,
            |b, _| {
                b.iter_batched(
                    || fixture.drain(),
                    |_| send(&fixture),
                    BatchSize::SmallInput,
                )
            },
        );
    }
    group.finish();
}

criterion_group!(benches, fanout);
criterion_main!(benches);
