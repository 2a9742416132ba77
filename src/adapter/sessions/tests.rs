use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use serde_json::Value;

use super::*;
use crate::adapter::NamespaceHandle;
use crate::core::ack::AckFuture;
use crate::core::delivery::LocalSockets;
use crate::parser::{Parser, encode_args};

/// This node's sockets, as far as the store can tell: what each was sent, in order.
#[derive(Default)]
struct Received(Mutex<HashMap<Sid, Vec<String>>>);

impl Received {
    fn of(&self, sid: Sid) -> Vec<String> {
        lock(&self.0).get(&sid).cloned().unwrap_or_default()
    }
    fn push(&self, sid: Sid, frames: &[Frame]) {
        let mut all = lock(&self.0);
        let texts = frames.iter().filter_map(|f| f.as_text().map(str::to_owned));
        all.entry(sid).or_default().extend(texts);
    }
}

impl LocalSockets for Received {
    fn send(&self, sids: &[Sid], frames: &[Frame], _volatile: bool) {
        for sid in sids {
            self.push(*sid, frames);
        }
    }
    fn send_unbounded(&self, sid: Sid, frames: Vec<Frame>) {
        self.push(sid, &frames);
    }
    fn send_with_ack(&self, _: &[Sid], _: &[Frame], _: u64, _: Duration) -> Vec<AckFuture> {
        Vec::new()
    }
    fn disconnect(&self, _: &[Sid], _: bool) {}
    fn describe(&self, _: &[Sid]) -> Vec<(Sid, Value, Value)> {
        Vec::new()
    }
    fn contains(&self, _: Sid) -> bool {
        true
    }
    fn server_side(&self, _: &str, _: Vec<Value>) -> Option<Option<Value>> {
        None
    }
    fn next_ack_id(&self) -> u64 {
        0
    }
}

struct Fixture {
    received: Arc<Received>,
    local: LocalAdapter,
    store: SessionStore,
}

fn fixture(config: ConnectionStateRecovery) -> Fixture {
    let received = Arc::new(Received::default());
    let weak: Weak<dyn LocalSockets> = Arc::downgrade(&(received.clone() as Arc<dyn LocalSockets>));
    let ns = NamespaceHandle::new(weak, "/", Parser::Default, Some(config));
    Fixture {
        received,
        local: LocalAdapter::new(ns),
        store: SessionStore::new(config),
    }
}

impl Fixture {
    /// Broadcasts event `n` to `rooms` (everyone when empty).
    fn emit(&self, n: u64, rooms: &[&'static str]) {
        let packet = BroadcastPacket::new(
            "e".into(),
            encode_args(&n, Vec::new()).expect("encodes"),
            None,
            true,
            Parser::Default,
            "/".into(),
        );
        let opts = BroadcastOptions {
            rooms: rooms.iter().map(|r| Room::Borrowed(*r)).collect(),
            ..Default::default()
        };
        self.store.broadcast(&self.local, &packet, &opts);
    }

    /// A socket leaves in a way it may recover from: out of its rooms, its session kept.
    fn leave(&self, sid: Sid, pid: Sid, rooms: &[&str]) {
        self.store.del_all(&self.local, sid);
        self.store.persist(session(sid, pid, rooms));
    }

    /// A socket in `rooms` receives event 0 to everyone, then leaves: its ids and offset.
    fn left_after_first_event(&self, rooms: &[&str]) -> (Sid, Sid, String) {
        let (sid, pid) = (Sid::new(), Sid::new());
        self.join(sid, rooms);
        self.emit(0, &[]);
        let offset = offset_of(&self.received.of(sid)[0]);
        self.leave(sid, pid, rooms);
        (sid, pid, offset)
    }

    fn join(&self, sid: Sid, rooms: &[&str]) {
        let mut rooms: Vec<Room> = rooms.iter().map(|r| Room::Owned((*r).to_owned())).collect();
        rooms.push(Room::Owned(sid.to_string()));
        self.store.add_all(&self.local, sid, rooms);
    }
}

/// `42["e",n,"offset"]` → n.
fn event_numbers(frames: &[String]) -> Vec<u64> {
    frames
        .iter()
        .filter_map(|f| serde_json::from_str::<Vec<Value>>(f.strip_prefix("42")?).ok())
        .filter_map(|args| args.get(1)?.as_u64())
        .collect()
}

fn offset_of(frame: &str) -> String {
    let args: Vec<Value> = serde_json::from_str(&frame[2..]).expect("an event");
    args.last()
        .and_then(Value::as_str)
        .expect("an offset")
        .to_owned()
}

fn session(sid: Sid, pid: Sid, rooms: &[&str]) -> RecoverySession {
    let mut rooms: Vec<Room> = rooms.iter().map(|r| Room::Owned((*r).to_owned())).collect();
    rooms.push(Room::Owned(sid.to_string()));
    RecoverySession {
        sid,
        pid,
        rooms,
        data: Value::Null,
    }
}

#[test]
fn replays_what_the_session_missed_in_order() {
    let f = fixture(ConnectionStateRecovery::default());
    let (sid, pid, offset) = f.left_after_first_event(&["red"]);
    f.emit(1, &["red"]);
    f.emit(2, &["blue"]);
    f.emit(3, &[]);
    let restored = f
        .store
        .restore(pid.as_str(), Some(&offset))
        .expect("restored");
    assert_eq!(restored.session.sid, sid);
    let missed: Vec<String> = restored
        .missed
        .iter()
        .filter_map(|f| f.as_text().map(str::to_owned))
        .collect();
    assert_eq!(event_numbers(&missed), vec![1, 3]);
    assert!(
        f.store.restore(pid.as_str(), Some(&offset)).is_none(),
        "a session recovers once"
    );
}

#[test]
fn what_is_broadcast_before_the_socket_rejoins_is_buffered_then_handed_over() {
    let f = fixture(ConnectionStateRecovery::default());
    let (sid, pid, offset) = f.left_after_first_event(&["red"]);
    f.emit(1, &["red"]);
    let restored = f
        .store
        .restore(pid.as_str(), Some(&offset))
        .expect("restored");
    // Between the restore and the join: buffered, and not delivered live yet.
    f.emit(2, &["red"]);
    f.emit(3, &["blue"]);
    f.emit(4, &[]);
    assert_eq!(event_numbers(&f.received.of(sid)), vec![0]);
    f.received.push(sid, &restored.missed);
    f.join(sid, &["red"]);
    f.emit(5, &["red"]);
    assert_eq!(event_numbers(&f.received.of(sid)), vec![0, 1, 2, 4, 5]);
    assert_eq!(f.store.sizes().2, 0, "the hand-over is done");
}

#[test]
fn a_join_before_the_rejoin_is_not_the_hand_over() {
    let f = fixture(ConnectionStateRecovery::default());
    let (sid, pid, offset) = f.left_after_first_event(&[]);
    let restored = f
        .store
        .restore(pid.as_str(), Some(&offset))
        .expect("restored");
    // A middleware joins a room before the socket rejoins its own.
    f.store.add_all(&f.local, sid, vec!["green".into()]);
    f.emit(1, &["green"]);
    f.emit(2, &[]);
    assert_eq!(
        event_numbers(&f.received.of(sid)),
        vec![0],
        "buffered, once each"
    );
    f.received.push(sid, &restored.missed);
    f.join(sid, &[]);
    assert_eq!(event_numbers(&f.received.of(sid)), vec![0, 1, 2]);
}

#[test]
fn an_abandoned_restore_is_forgotten() {
    let f = fixture(ConnectionStateRecovery::default());
    let (sid, pid, offset) = f.left_after_first_event(&[]);
    f.store
        .restore(pid.as_str(), Some(&offset))
        .expect("restored");
    f.store.del_all(&f.local, sid);
    f.emit(1, &[]);
    assert_eq!(f.store.sizes(), (2, 0, 0));
}

#[test]
fn the_log_is_bounded() {
    let f = fixture(ConnectionStateRecovery {
        max_packets: 3,
        ..Default::default()
    });
    for n in 0..10 {
        f.emit(n, &[]);
    }
    assert_eq!(f.store.sizes().0, 3);
    let pid = Sid::new();
    f.store.persist(session(Sid::new(), pid, &[]));
    assert!(
        f.store.restore(pid.as_str(), Some("0")).is_none(),
        "offset 0 was dropped"
    );
    assert!(f.store.restore(pid.as_str(), Some("junk")).is_none());
    assert!(f.store.restore("junk", Some("9")).is_none());
}

#[test]
fn a_session_that_never_got_an_offset_recovers_from_its_start() {
    let f = fixture(ConnectionStateRecovery::default());
    f.emit(0, &[]); // before the socket connected: not for it
    let (sid, pid) = (Sid::new(), Sid::new());
    f.join(sid, &["red"]);
    // It left before it received anything (what was sent to it was lost on the way).
    f.emit(1, &["red"]);
    f.leave(sid, pid, &["red"]);
    f.emit(2, &["red"]);
    f.emit(3, &["blue"]);
    let restored = f
        .store
        .restore(pid.as_str(), None)
        .expect("restored without an offset");
    let missed: Vec<String> = restored
        .missed
        .iter()
        .filter_map(|f| f.as_text().map(str::to_owned))
        .collect();
    assert_eq!(event_numbers(&missed), vec![1, 2]);
}

#[test]
fn without_an_offset_a_session_whose_start_left_the_log_is_not_recovered() {
    let f = fixture(ConnectionStateRecovery {
        max_packets: 2,
        ..Default::default()
    });
    let (sid, pid) = (Sid::new(), Sid::new());
    f.join(sid, &[]);
    f.leave(sid, pid, &[]);
    for n in 0..5 {
        f.emit(n, &[]);
    }
    assert!(
        f.store.restore(pid.as_str(), None).is_none(),
        "packets it missed are gone"
    );
}
