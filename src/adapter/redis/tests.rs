//! The message handling against an in-memory [`Transport`]: decode, dispatch, local effects and
//! answers, without a Redis. The namespace is a dead handle (no sockets): what is observable is
//! what the adapter publishes and its room bookkeeping.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use serde_json::{Value, json};

use super::adapter::{NsShared, RedisAdapter};
use super::driver::{Command, Outgoing, Subscription};
use super::transport::{Transport, TransportFuture};
use super::{RedisAdapterConfig, RedisMode, SubscriptionMode};
use crate::adapter::cluster::classic::ClassicResponse;
use crate::adapter::cluster::codec;
use crate::adapter::cluster::message::{Body, ClusterMessage};
use crate::adapter::{Adapter, BroadcastOptions, NamespaceHandle, Room};
use crate::core::error::AdapterError;
use crate::engine::Sid;

/// Records what is published; `servers` is what `NUMSUB` answers.
struct Fake {
    config: RedisAdapterConfig,
    servers: usize,
    published: Mutex<Vec<(String, Vec<u8>)>>,
    adapters: Mutex<Vec<Weak<NsShared>>>,
}

impl Fake {
    fn published(&self) -> Vec<(String, Vec<u8>)> {
        crate::core::sync::lock(&self.published).clone()
    }
}

impl Transport for Fake {
    fn config(&self) -> &RedisAdapterConfig {
        &self.config
    }

    fn publish(&self, message: Outgoing) -> Result<(), AdapterError> {
        if let Command::Publish {
            channel, payload, ..
        } = message.command
        {
            crate::core::sync::lock(&self.published).push((channel, payload));
        }
        Ok(())
    }

    fn numsub<'a>(&'a self, _: &'a str, _: bool) -> TransportFuture<'a, usize> {
        Box::pin(std::future::ready(Ok(self.servers)))
    }

    fn register(&self, _: u64, ns: Weak<NsShared>) {
        crate::core::sync::lock(&self.adapters).push(ns);
    }

    fn unregister(&self, _: u64) {}

    fn subscribe(&self, _: u64, _: Vec<Subscription>) {}

    fn unsubscribe(&self, _: u64, _: Vec<Subscription>) {}

    fn set_px(&self, _: String, _: String, _: u64) -> TransportFuture<'_, ()> {
        Box::pin(std::future::ready(Err(AdapterError::Closed)))
    }

    fn take_and_find<'a>(
        &'a self,
        _: String,
        _: &'a str,
        _: &'a str,
    ) -> TransportFuture<'a, (Option<Vec<u8>>, redis::Value)> {
        Box::pin(std::future::ready(Err(AdapterError::Closed)))
    }

    fn xrange<'a>(&'a self, _: &'a str, _: String, _: usize) -> TransportFuture<'a, redis::Value> {
        Box::pin(std::future::ready(Err(AdapterError::Closed)))
    }
}

/// An adapter of namespace `/` on a fake transport, and the namespace's shared state.
fn adapter(mode: RedisMode, servers: usize) -> (Arc<Fake>, RedisAdapter, Arc<NsShared>) {
    let config = RedisAdapterConfig::new("redis://fake")
        .mode(mode)
        .publish_on_specific_response_channel(true)
        .requests_timeout(Duration::from_secs(2));
    let fake = Arc::new(Fake {
        config,
        servers,
        published: Mutex::new(Vec::new()),
        adapters: Mutex::new(Vec::new()),
    });
    // No local sockets: what is checked here is what goes to Redis.
    let none: Weak<dyn crate::core::delivery::LocalSockets> = Weak::<NoSockets>::new();
    let ns = NamespaceHandle::new(none, "/", Default::default(), None);
    let adapter = RedisAdapter::new(fake.clone(), ns);
    let shared = crate::core::sync::lock(&fake.adapters)[0]
        .upgrade()
        .expect("registered");
    assert!(shared.names().is_some());
    (fake, adapter, shared)
}

fn cluster(value: Value) -> Vec<u8> {
    serde_json::to_vec(&value).unwrap()
}

#[tokio::test]
async fn a_classic_fetch_request_is_answered_with_a_typed_response() {
    let (fake, _adapter, shared) = adapter(RedisMode::Classic, 2);
    let request =
        json!({"uid": "other", "requestId": "r1", "type": 5, "opts": {"rooms": [], "except": []}});
    shared.on_channel_message("socket.io-request#/#", &cluster(request));
    let published = fake.published();
    assert_eq!(published.len(), 1, "{published:?}");
    let (channel, payload) = &published[0];
    assert_eq!(channel, "socket.io-response#/#other#");
    assert_eq!(payload, br#"{"requestId":"r1","sockets":[]}"#);
    let value = codec::decode_message(payload).unwrap().value;
    let response = ClassicResponse::from_value(value).unwrap();
    assert_eq!(response.request_id, "r1");
    assert!(response.fetched_sockets().unwrap().is_empty());
}

#[tokio::test]
async fn a_classic_rooms_request_reports_local_rooms_and_own_requests_are_ignored() {
    let (fake, adapter, shared) = adapter(RedisMode::Classic, 2);
    adapter.add_all(Sid::new(), vec![Room::from("room1")]);
    let own = json!({"uid": shared.uid, "requestId": "r0", "type": 1});
    shared.on_channel_message("socket.io-request#/#", &cluster(own));
    assert!(fake.published().is_empty());
    let request = json!({"uid": "other", "requestId": "r1", "type": 1});
    shared.on_channel_message("socket.io-request#/#", &cluster(request));
    let published = fake.published();
    let value = codec::decode_message(&published[0].1).unwrap().value;
    let rooms = ClassicResponse::from_value(value).unwrap().rooms.unwrap();
    assert!(rooms.contains(&"room1".to_owned()), "{rooms:?}");
}

#[tokio::test]
async fn junk_is_logged_and_ignored() {
    let mut msgpack_string = Vec::new();
    codec::write_json(&mut msgpack_string, &json!("junk"), &[]);
    let junk: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"{".to_vec(),
        vec![0xc1],
        vec![0xdd, 0xff, 0xff, 0xff, 0xff],
        msgpack_string,
        cluster(json!({"type": "x"})),
        cluster(json!({"type": 5, "uid": "other"})),
        cluster(json!({"type": 7, "uid": "other", "nsp": "/", "data": {"opts": 1}})),
        cluster(json!({"type": 3, "uid": "other", "nsp": "/", "data": {"packet": {"type": 2}}})),
        cluster(json!({"type": 11, "uid": "other", "nsp": "/", "data": {"requestId": 7}})),
        cluster(json!({"requestId": ["r"], "sockets": 1})),
        cluster(json!(["other", {"type": 2, "data": "x"}, {}])),
    ];
    for mode in [
        RedisMode::Classic,
        RedisMode::Sharded(SubscriptionMode::Static),
        RedisMode::Streams,
    ] {
        let (fake, adapter, shared) = adapter(mode, 2);
        let sid = Sid::new();
        adapter.add_all(sid, vec![Room::from("room1")]);
        let channels = [
            "socket.io#/#".to_owned(),
            "socket.io#/#room1#".to_owned(),
            "socket.io-request#/#".to_owned(),
            "socket.io-response#/#".to_owned(),
            format!("socket.io#/#{}#", shared.uid),
        ];
        for channel in &channels {
            for payload in &junk {
                shared.on_channel_message(channel, payload);
            }
        }
        assert!(fake.published().is_empty(), "{mode:?}");
        assert_eq!(adapter.socket_rooms(sid).len(), 1, "{mode:?}");
    }
}

#[tokio::test]
async fn a_join_from_another_node_reaches_the_local_rooms() {
    let (_fake, adapter, shared) = adapter(RedisMode::Sharded(SubscriptionMode::Static), 2);
    let sid = Sid::new();
    adapter.add_all(sid, vec![Room::from(sid.to_string())]);
    let join = |uid: &str, nsp: &str, room: &str| {
        let message = ClusterMessage {
            uid: uid.into(),
            nsp: nsp.into(),
            body: Body::SocketsJoin {
                opts: crate::adapter::cluster::WireOpts {
                    rooms: vec![sid.to_string()],
                    ..Default::default()
                },
                rooms: vec![room.into()],
            },
        };
        cluster(message.to_value())
    };
    shared.on_channel_message("socket.io#/#", &join(&shared.uid, "/", "own"));
    shared.on_channel_message("socket.io#/#", &join("other", "/chat", "elsewhere"));
    shared.on_channel_message("socket.io#/#", &join("other", "/", "joined"));
    let rooms: Vec<String> = adapter
        .socket_rooms(sid)
        .iter()
        .map(|r| r.to_string())
        .collect();
    assert_eq!(rooms.len(), 2, "{rooms:?}");
    assert!(rooms.contains(&"joined".to_owned()), "{rooms:?}");
}

#[tokio::test]
async fn fetch_answers_are_matched_by_request_id() {
    let (fake, adapter, shared) = adapter(RedisMode::Sharded(SubscriptionMode::Static), 2);
    let adapter = Arc::new(adapter);
    let fetching = tokio::spawn({
        let adapter = adapter.clone();
        async move { adapter.fetch_sockets(BroadcastOptions::default()).await }
    });
    let request = loop {
        if let Some((_, payload)) = fake.published().first().cloned() {
            break payload;
        }
        tokio::task::yield_now().await;
    };
    let value = codec::decode_message(&request).unwrap().value;
    let Body::FetchSockets { request_id, .. } = ClusterMessage::from_value(value).unwrap().body
    else {
        panic!("not a fetch request");
    };
    let remote = Sid::new();
    let answer = |request_id: &str| {
        cluster(json!({
            "type": 8,
            "data": {"requestId": request_id, "sockets": [
                {"id": remote.to_string(), "handshake": {}, "rooms": [remote.to_string()], "data": {"user": 1}}
            ]},
            "uid": "other",
            "nsp": "/",
        }))
    };
    let own_channel = format!("socket.io#/#{}#", shared.uid);
    shared.on_channel_message(&own_channel, &answer("another-request"));
    shared.on_channel_message(&own_channel, &answer(&request_id));
    let sockets = fetching.await.unwrap().unwrap();
    assert_eq!(sockets.len(), 1);
    assert_eq!(sockets[0].id, remote);
    assert_eq!(sockets[0].data, json!({"user": 1}));
}

#[tokio::test]
async fn server_side_answers_are_collected_until_every_node_answered() {
    let (fake, adapter, shared) = adapter(RedisMode::Classic, 3);
    let adapter = Arc::new(adapter);
    let emitting = tokio::spawn({
        let adapter = adapter.clone();
        async move {
            adapter
                .server_side_emit_with_ack("ping".into(), vec![json!(1)], Duration::from_secs(2))
                .await
        }
    });
    let request = loop {
        if let Some((channel, payload)) = fake.published().first().cloned() {
            assert_eq!(channel, "socket.io-request#/#");
            break payload;
        }
        tokio::task::yield_now().await;
    };
    let value = codec::decode_message(&request).unwrap().value;
    assert_eq!(value["data"], json!(["ping", 1]));
    let id = value["requestId"].as_str().unwrap().to_owned();
    for answer in ["a", "b"] {
        let response = json!({"type": 6, "requestId": id, "data": answer});
        shared.on_channel_message("socket.io-response#/#", &cluster(response));
    }
    let answers = emitting.await.unwrap().unwrap();
    assert_eq!(answers, vec![json!("a"), json!("b")]);
}

/// A namespace that is never there.
struct NoSockets;

impl crate::core::delivery::LocalSockets for NoSockets {
    fn send(&self, _: &[Sid], _: &[crate::engine::Frame], _: bool) {}
    fn send_unbounded(&self, _: Sid, _: Vec<crate::engine::Frame>) {}
    fn send_with_ack(
        &self,
        _: &[Sid],
        _: &[crate::engine::Frame],
        _: u64,
        _: Duration,
    ) -> Vec<crate::AckFuture> {
        Vec::new()
    }
    fn disconnect(&self, _: &[Sid], _: bool) {}
    fn describe(&self, _: &[Sid]) -> Vec<(Sid, Value, Value)> {
        Vec::new()
    }
    fn contains(&self, _: Sid) -> bool {
        false
    }
    fn server_side(&self, _: &str, _: Vec<Value>) -> Option<Option<Value>> {
        None
    }
    fn next_ack_id(&self) -> u64 {
        0
    }
}
