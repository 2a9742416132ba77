//! Broadcast fan-out to in-memory sockets: one encode per broadcast, the bytes shared by every
//! receiver's queue.
//!
//! ```sh
//! cargo bench --bench fanout
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
    let mut group = c.benchmark_group("broadcast_fanout");
    let data = json!({"user": "alice", "text": "hello everyone", "n": 42});
    for receivers in [1_000usize, 10_000] {
        let fixture = FanoutFixture::new(receivers);
        group.throughput(Throughput::Elements(receivers as u64));
        group.bench_with_input(
            BenchmarkId::from_parameter(receivers),
            &receivers,
            |b, _| {
                b.iter_batched(
                    || fixture.drain(),
                    |_| fixture.broadcast("message", black_box(&data)),
                    BatchSize::SmallInput,
                )
            },
        );
    }
    group.finish();

    // Through the public API with connection state recovery on: each broadcast is also logged
    // with its offset, and fanned out under the log's lock.
    let mut group = c.benchmark_group("broadcast_recorded");
    for receivers in [1usize, 1_000] {
        let fixture = FanoutFixture::with_recovery(receivers);
        group.throughput(Throughput::Elements(receivers as u64));
        group.bench_with_input(
            BenchmarkId::from_parameter(receivers),
            &receivers,
            |b, _| {
                b.iter_batched(
                    || fixture.drain(),
                    |_| fixture.emit("message", black_box(&data)),
                    BatchSize::SmallInput,
                )
            },
        );
    }
    group.finish();
}

criterion_group!(benches, fanout);
criterion_main!(benches);
