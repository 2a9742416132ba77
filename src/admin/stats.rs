//! `server_stats`: the counters the engine feeds, aggregated per second as Node's `EventBuffer`
//! does, and the timer that sends them to the UI every 2 seconds.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use super::Settings;
use super::observer::AdminObserver;
use super::wire::{AggregatedEvent, NamespaceDetails, ServerStats};
use crate::SocketIo;
use crate::io::ServerCore;

/// How often the stats go out (fixed in `@socket.io/admin-ui` 0.5).
const INTERVAL: Duration = Duration::from_secs(2);

/// Kept lines at most: a UI that never drains them (the timer stalled) costs bounded memory.
const MAX_LINES: usize = 4_096;

/// Events counted per second and kind since the last `server_stats`.
#[derive(Debug, Default)]
pub(crate) struct EventBuffer {
    lines: Vec<AggregatedEvent>,
}

impl EventBuffer {
    /// Counts `count` events of `kind` (and `sub_type`) in the current second.
    pub(crate) fn push(&mut self, kind: &'static str, sub_type: Option<&'static str>, count: u64) {
        self.push_at(second_of(SystemTime::now()), kind, sub_type, count);
    }

    /// Counts `count` events of `kind` in the second starting at `second` (ms since the epoch).
    fn push_at(
        &mut self,
        second: u64,
        kind: &'static str,
        sub_type: Option<&'static str>,
        count: u64,
    ) {
        if count == 0 {
            return;
        }
        // Lines of the current second are at the end: look there first.
        let line = self
            .lines
            .iter_mut()
            .rev()
            .take_while(|line| line.timestamp == second)
            .find(|line| line.kind == kind && line.sub_type == sub_type);
        if let Some(line) = line {
            line.count += count;
        } else if self.lines.len() < MAX_LINES {
            self.lines.push(AggregatedEvent {
                timestamp: second,
                kind,
                sub_type,
                count,
            });
        }
    }

    /// Everything counted so far; the buffer starts again empty.
    pub(crate) fn take(&mut self) -> Vec<AggregatedEvent> {
        std::mem::take(&mut self.lines)
    }
}

/// The start of the second `at` is in, in milliseconds since the epoch.
fn second_of(at: SystemTime) -> u64 {
    crate::core::time::unix_millis(at) / 1_000 * 1_000
}

/// Messages and bytes in and out: counted on every message, so with relaxed atomics rather
/// than under the buffer's lock, and moved into the buffer once a second (the buffer's
/// resolution) by [`flush_into`](Self::flush_into).
#[derive(Debug, Default)]
pub(crate) struct Traffic {
    packets_in: AtomicU64,
    bytes_in: AtomicU64,
    packets_out: AtomicU64,
    bytes_out: AtomicU64,
}

impl Traffic {
    pub(crate) fn count_in(&self, bytes: usize) {
        self.packets_in.fetch_add(1, Ordering::Relaxed);
        self.bytes_in.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub(crate) fn count_out(&self, packets: usize, bytes: usize) {
        self.packets_out
            .fetch_add(packets as u64, Ordering::Relaxed);
        self.bytes_out.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Moves what was counted since the last flush into `buffer`, in the second that just
    /// ended (flushes run about once a second).
    pub(crate) fn flush_into(&self, buffer: &mut EventBuffer) {
        let second = second_of(SystemTime::now() - Duration::from_millis(500));
        for (kind, counter) in [
            ("packetsIn", &self.packets_in),
            ("bytesIn", &self.bytes_in),
            ("packetsOut", &self.packets_out),
            ("bytesOut", &self.bytes_out),
        ] {
            buffer.push_at(second, kind, None, counter.swap(0, Ordering::Relaxed));
        }
    }
}

/// Sends `server_stats` at once, then every 2 seconds, while the server lives; moves the
/// traffic counters into the aggregated events every second.
pub(crate) async fn emit_every_two_seconds(
    core: Weak<ServerCore>,
    settings: Arc<Settings>,
    observer: Arc<AdminObserver>,
) {
    let mut ticks = tokio::time::interval(INTERVAL / 2);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for tick in 0u64.. {
        ticks.tick().await;
        let Some(core) = core.upgrade() else {
            return;
        };
        observer.flush_traffic();
        if tick % 2 == 1 {
            continue;
        }
        let io = SocketIo::from_core(core);
        let stats = collect(&io, &settings, &observer);
        if let Some(admin) = io.of(&settings.namespace)
            && let Err(error) = admin.emit("server_stats", &stats)
        {
            tracing::debug!(%error, "Admin UI: server_stats not sent");
        }
    }
}

fn collect(io: &SocketIo, settings: &Settings, observer: &AdminObserver) -> ServerStats {
    let namespaces =
        io.0.namespaces()
            .into_iter()
            .map(|ns| NamespaceDetails {
                name: ns.name.clone(),
                sockets_count: ns.socket_count(),
            })
            .collect();
    ServerStats {
        server_id: settings.server_id.clone(),
        hostname: settings.hostname.clone(),
        pid: std::process::id(),
        uptime: settings.started.elapsed().as_secs_f64(),
        clients_count: io.client_count(),
        polling_clients_count: observer.polling_clients(),
        aggregated_events: observer.take_events(),
        namespaces,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_add_up_per_second_and_kind() {
        let mut buffer = EventBuffer::default();
        buffer.push("packetsIn", None, 1);
        buffer.push("bytesIn", None, 10);
        buffer.push("packetsIn", None, 1);
        buffer.push("rawDisconnection", Some("transport close"), 1);
        let lines = buffer.take();
        let packets: u64 = lines
            .iter()
            .filter(|l| l.kind == "packetsIn")
            .map(|l| l.count)
            .sum();
        assert_eq!(packets, 2);
        assert!(lines.len() <= 6, "{lines:?}");
        assert!(buffer.take().is_empty());
    }

    #[test]
    fn traffic_moves_into_the_buffer_once_counted() {
        let traffic = Traffic::default();
        traffic.count_in(10);
        traffic.count_in(5);
        traffic.count_out(3, 30);
        let mut buffer = EventBuffer::default();
        traffic.flush_into(&mut buffer);
        let count = |lines: &[AggregatedEvent], kind: &str| {
            lines
                .iter()
                .filter(|l| l.kind == kind)
                .map(|l| l.count)
                .sum::<u64>()
        };
        let lines = buffer.take();
        assert_eq!(count(&lines, "packetsIn"), 2);
        assert_eq!(count(&lines, "bytesIn"), 15);
        assert_eq!(count(&lines, "packetsOut"), 3);
        assert_eq!(count(&lines, "bytesOut"), 30);
        traffic.flush_into(&mut buffer);
        assert!(buffer.take().is_empty(), "nothing counted, no line");
    }
}
