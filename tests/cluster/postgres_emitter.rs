//! The PostgreSQL emitter (`Emitter::postgres`, Node's `@socket.io/postgres-emitter` 0.1):
//! a process that is not a server reaches, through PostgreSQL, the clients of Rust nodes and of
//! Node nodes running `@socket.io/postgres-adapter` 0.5, with every operation, binary data and
//! payloads over PostgreSQL's 8 000-byte NOTIFY limit (the attachments table); and it fails
//! fast, typed, and connects again when PostgreSQL goes away.

use std::time::{Duration, Instant};

use serde_json::json;
use tower_socketio::adapter::postgres::{PostgresAdapterConfig, PostgresAdapterError};
use tower_socketio::emitter::{Emitter, EmitterError};

use crate::redis_emitter::{AnyEmitter, Sel, clients, expect, run_scenario};
use crate::support::postgres::{PrivatePostgres, TestDb};
use crate::support::redis::{Cluster, Node};

/// One Rust node and one Node node on a fresh database, with their clients.
async fn mixed_cluster(db: &TestDb) -> Cluster {
    // The Rust node first: it creates the attachments table, which Node's adapter expects.
    let r1 = db.rust_node("r1").await;
    let n1 = db.js_node("n1").await;
    Cluster::start(vec![Node::Rust(r1), Node::Js(n1)]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_postgres_emitter_reaches_rust_and_node_nodes() {
    let db = TestDb::create().await;
    let mut cluster = mixed_cluster(&db).await;
    let emitter = Emitter::postgres(db.config("emitter"))
        .await
        .expect("emitter");
    let emitter = AnyEmitter::Rust(emitter);
    let everyone = clients(&cluster, false, |_| true);
    let g0 = clients(&cluster, false, |i| i % 2 == 0);

    // Over the NOTIFY limit: through the attachments table, to everyone and to a room, in
    // another namespace too.
    let large = vec![json!("L".repeat(20_000)), json!({ "n": 1 })];
    expect(
        &cluster,
        &emitter,
        &Sel::all(),
        "large",
        large.clone(),
        &everyone,
    )
    .await;
    expect(
        &cluster,
        &emitter,
        &Sel::to(&["g0"]),
        "large-g0",
        large,
        &g0,
    )
    .await;
    let chat = clients(&cluster, true, |_| true);
    let sel = Sel::all().nsp("/chat");
    let large = vec![json!("C".repeat(9_000))];
    expect(&cluster, &emitter, &sel, "large-chat", large, &chat).await;

    // Every operation, binary data included.
    run_scenario(&mut cluster, &emitter, None).await;
}

/// Operations awaited in turn reach the clients of Rust nodes in that order, those that go
/// through the attachments table (every fifth, binary or large) included. Node's adapter reads
/// an attachment while it goes on with the next notifications, so its clients get them all, but
/// the table's late.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_emitter_keeps_its_order_through_the_table() {
    const COUNT: u64 = 200;
    let db = TestDb::create().await;
    let cluster = mixed_cluster(&db).await;
    let emitter = Emitter::postgres(db.config("emitter"))
        .await
        .expect("emitter");
    let big = "b".repeat(9_000);
    for i in 0..COUNT {
        let sent = match i % 10 {
            0 => emitter.emit("seq", &(i, &big)),
            5 => emitter
                .bin([bytes::Bytes::from_static(b"\x01")])
                .emit("seq", &(i, tower_socketio::placeholder(0))),
            _ => emitter.emit("seq", &(i,)),
        };
        sent.await.expect("emit");
    }
    emitter.emit("seq-done", &()).await.expect("emit");
    cluster
        .clients
        .wait_all("seq-done", &["c-r1", "c-n1"])
        .await;
    let got = |client: &str| -> Vec<u64> {
        let received = cluster.clients.received("seq").into_iter();
        received
            .filter(|r| r.client == client)
            .filter_map(|r| r.args[0].as_u64())
            .collect()
    };
    let want: Vec<u64> = (0..COUNT).collect();
    assert_eq!(got("c-r1"), want, "the order at the Rust node's client");
    // The Node node's late ones may come after `seq-done`.
    let count = |list: &[serde_json::Value]| {
        let seq = |v: &&serde_json::Value| v["ev"] == "seq" && v["client"] == "c-n1";
        list.iter().filter(seq).count() as u64
    };
    let events = &cluster.clients.proc.events;
    let all_at_node = |list: &[serde_json::Value]| count(list) >= COUNT;
    events
        .wait_for("every seq at c-n1", Duration::from_secs(10), all_at_node)
        .await;
    let mut at_node = got("c-n1");
    at_node.sort();
    assert_eq!(at_node, want, "everything, once, at the Node node's client");
}

/// Polls `emit` until it succeeds; how long that took.
async fn until_it_works(emitter: &Emitter, within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let attempt = Instant::now();
        let result = emitter.emit("probe", &()).await;
        assert!(
            attempt.elapsed() < Duration::from_secs(16),
            "an emit hung for {:?}",
            attempt.elapsed()
        );
        match result {
            Ok(()) => return started.elapsed(),
            Err(err) => assert!(started.elapsed() < within, "still failing: {err}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_emitter_errors_are_typed() {
    let closed = PostgresAdapterConfig::new("host=127.0.0.1 port=1 user=postgres");
    let err = Emitter::postgres(closed).await.err();
    assert!(
        matches!(err, Some(PostgresAdapterError::Connect(_))),
        "{err:?}"
    );
    let db = TestDb::create().await;
    let bad_table = db.config("emitter").table_name("x; DROP TABLE y");
    let err = Emitter::postgres(bad_table).await.err();
    assert!(
        matches!(err, Some(PostgresAdapterError::InvalidTableName(_))),
        "{err:?}"
    );
    // Told not to create the table, on a database without it: said at once.
    let no_table = db.config("emitter").create_table(false);
    let err = Emitter::postgres(no_table).await.err();
    assert!(
        matches!(err, Some(PostgresAdapterError::Prepare(_))),
        "{err:?}"
    );
    let emitter = Emitter::postgres(db.config("emitter"))
        .await
        .expect("emitter");
    let refused = emitter.emit("connect", &()).await;
    assert!(
        matches!(refused, Err(EmitterError::ReservedEvent(ref e)) if e == "connect"),
        "{refused:?}"
    );
}

/// Its connection killed (`pg_terminate_backend`), the emitter connects again at the next
/// operation; PostgreSQL stopped, operations fail within seconds rather than hang, and work
/// again once it is back. What it sends afterwards reaches the clients.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_emitter_survives_killed_connections_and_a_restart() {
    let pg = PrivatePostgres::start();
    let db = TestDb::create_on(&pg.connection()).await;
    let cluster = Cluster::start(vec![Node::Rust(db.rust_node("r1").await)]).await;
    let emitter = Emitter::postgres(db.config("emitter"))
        .await
        .expect("emitter");
    emitter.emit("before", &1).await.expect("emit");
    cluster.clients.wait_all("before", &["c-r1"]).await;

    assert!(db.kill_connections("emitter").await >= 1, "no connection");
    until_it_works(&emitter, Duration::from_secs(10)).await;
    emitter.emit("after-kill", &2).await.expect("emit");
    cluster.clients.wait_all("after-kill", &["c-r1"]).await;
    assert_eq!(
        db.connections("emitter").await,
        1,
        "one connection at a time"
    );

    pg.stop();
    let started = Instant::now();
    let failed = emitter.emit("lost", &3).await;
    assert!(
        matches!(failed, Err(EmitterError::Backend(_))),
        "{failed:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(16), "an emit hung");
    pg.start_again();
    until_it_works(&emitter, Duration::from_secs(30)).await;
    // The node's own connections come back too; then the emitter's events reach its client.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        emitter.emit("after-restart", &4).await.expect("emit");
        let got = cluster.clients.received("after-restart");
        if got.iter().any(|r| r.args == json!([4])) {
            break;
        }
        assert!(Instant::now() < deadline, "nothing after the restart");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
