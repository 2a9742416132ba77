//! The handler API against the real `socket.io-client` v4: starts the features
//! app (`tests/support/features_app.rs`), runs
//! `tests/js/socketio-features.mjs` against it, then checks what the server
//! recorded (disconnect reasons, ack outcomes, middleware runs, ...).
//!
//! Needs Node.js 20+ and npm; `tests/js/node_modules` is installed with
//! `npm ci` on first use. `ONLY=<regex>` (run some scenarios; the server-side
//! checks are then skipped), `VERBOSE=1` and `SCENARIO_TIMEOUT_MS` are passed
//! through to the script.

use std::time::Duration;

use serde_json::json;
use tower_socketio::DisconnectReason;

use crate::support::features_app;
use crate::support::features_app::{AckOutcome, Log};
use crate::support::node;

/// Disconnect reasons the script provokes: (client name, namespace, reason
/// the server's `on_disconnect` must get). Node's `socket.io` 4.8 gives the
/// same reasons for the same actions.
const REASONS: &[(&str, &str, DisconnectReason)] = &[
    // socket.disconnect(false), on both transports
    (
        "dc-false-websocket",
        "/",
        DisconnectReason::ServerNamespaceDisconnect,
    ),
    (
        "dc-false-polling",
        "/",
        DisconnectReason::ServerNamespaceDisconnect,
    ),
    // socket.disconnect(true): every namespace of the connection
    (
        "dc-true-websocket",
        "/",
        DisconnectReason::ServerNamespaceDisconnect,
    ),
    (
        "dc-true-websocket-admin",
        "/admin",
        DisconnectReason::ServerNamespaceDisconnect,
    ),
    (
        "dc-true-polling",
        "/",
        DisconnectReason::ServerNamespaceDisconnect,
    ),
    (
        "dc-true-polling-admin",
        "/admin",
        DisconnectReason::ServerNamespaceDisconnect,
    ),
    // the server closes the Engine.IO session
    ("close-transport", "/", DisconnectReason::ForcedClose),
    (
        "close-transport-admin",
        "/admin",
        DisconnectReason::ForcedClose,
    ),
    // the client leaves / closes / goes silent
    (
        "client-leaves",
        "/",
        DisconnectReason::ClientNamespaceDisconnect,
    ),
    ("engine-closer", "/", DisconnectReason::TransportClose),
    ("no-pong", "/", DisconnectReason::PingTimeout),
    // disconnect_sockets(false / true) on a room
    ("doomed-a", "/", DisconnectReason::ServerNamespaceDisconnect),
    ("doomed-b", "/", DisconnectReason::ServerNamespaceDisconnect),
    ("closed-a", "/", DisconnectReason::ServerNamespaceDisconnect),
    (
        "closed-a-admin",
        "/admin",
        DisconnectReason::ServerNamespaceDisconnect,
    ),
    ("closed-b", "/", DisconnectReason::ServerNamespaceDisconnect),
    // kicked from /admin through fetch_sockets
    (
        "kick-target",
        "/",
        DisconnectReason::ServerNamespaceDisconnect,
    ),
    // the disconnecting-hook scenario
    ("leaver", "/", DisconnectReason::ClientNamespaceDisconnect),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socketio_features_js() {
    node::prepare().await;
    let app = features_app::start().await;
    let run = node::run_script("socketio-features.mjs", &app.base_url, node::SCRIPT_TIMEOUT).await;

    let problems = if std::env::var_os("ONLY").is_some() {
        println!("ONLY is set: server-side checks skipped");
        Vec::new()
    } else {
        server_side_checks(&app).await
    };
    if !problems.is_empty() {
        println!("==== server-side problems ====");
        for p in &problems {
            println!("  {p}");
        }
    }
    run.assert_passed();
    assert!(
        problems.is_empty(),
        "server-side checks failed:\n  {}",
        problems.join("\n  ")
    );
}

/// Everything the server must have recorded once the script is done.
async fn server_side_checks(app: &features_app::FeaturesApp) -> Vec<String> {
    let mut problems = Vec::new();
    let mut check = |ok: bool, what: String| {
        if !ok {
            problems.push(what);
        }
    };

    // The script's sockets go away as it exits: wait until every connection
    // has closed and every socket that connected has been disconnected once.
    let settled = app
        .facts
        .wait_for(Duration::from_secs(10), |log| {
            log.disconnects.len() >= log.connects.len()
        })
        .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while app.io.client_count() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let log = app.facts.snapshot();
    check(
        settled,
        format!(
            "{} sockets connected but only {} disconnect handlers ran",
            log.connects.len(),
            log.disconnects.len()
        ),
    );
    check(
        app.io.client_count() == 0,
        format!(
            "{} clients still connected after the script exited",
            app.io.client_count()
        ),
    );
    check(
        log.connects.len() >= 40,
        format!("only {} connections recorded", log.connects.len()),
    );

    // One disconnect per connection, never two.
    for c in &log.connects {
        let n = log
            .disconnects
            .iter()
            .filter(|d| d.name == c.name && d.ns == c.ns)
            .count();
        let connects = log
            .connects
            .iter()
            .filter(|d| d.name == c.name && d.ns == c.ns)
            .count();
        check(
            n == connects,
            format!(
                "{} on {}: {connects} connects but {n} disconnect handler calls",
                c.name, c.ns
            ),
        );
        let hooks = log
            .disconnecting
            .iter()
            .filter(|d| d.name == c.name && d.ns == c.ns)
            .count();
        check(
            hooks == connects,
            format!(
                "{} on {}: {connects} connects but {hooks} disconnecting hook calls",
                c.name, c.ns
            ),
        );
    }
    // After `disconnect`, a socket is in no room (Node: `socket.rooms` is empty).
    for d in &log.disconnects {
        check(
            d.rooms.is_empty(),
            format!(
                "{} on {}: rooms {:?} in on_disconnect",
                d.name, d.ns, d.rooms
            ),
        );
    }

    // Disconnect reasons.
    for &(name, ns, expected) in REASONS {
        let got: Vec<DisconnectReason> = log
            .disconnects
            .iter()
            .filter(|d| d.name == name && d.ns == ns)
            .map(|d| d.reason)
            .collect();
        check(
            got == [expected],
            format!("{name} on {ns}: expected disconnect reason [{expected}], got {got:?}"),
        );
        let hook: Vec<DisconnectReason> = log
            .disconnecting
            .iter()
            .filter(|d| d.name == name && d.ns == ns)
            .map(|d| d.reason)
            .collect();
        check(
            hook == [expected],
            format!("{name} on {ns}: expected disconnecting reason [{expected}], got {hook:?}"),
        );
    }

    // The disconnecting hook still saw the rooms (own id and "wake").
    match log.disconnecting.iter().find(|d| d.name == "leaver") {
        Some(d) => {
            let own = log
                .connects
                .iter()
                .find(|c| c.name == "leaver")
                .map(|c| c.id.clone())
                .unwrap_or_default();
            check(
                d.rooms.contains(&"wake".to_string()) && d.rooms.contains(&own),
                format!(
                    "leaver: disconnecting hook saw rooms {:?}, expected {own} and wake",
                    d.rooms
                ),
            );
            // Node: `socket.connected` is still true in "disconnecting".
            check(
                d.connected,
                "leaver: socket.connected() was false in the disconnecting hook (Node: true)"
                    .to_string(),
            );
        }
        None => check(false, "leaver: no disconnecting hook call".to_string()),
    }

    ack_checks(&log, &mut check);
    middleware_checks(&log, &mut check);

    // Dynamic namespaces are dropped once empty; every room is gone.
    for ns in ["/dyn-a", "/dyn-b"] {
        check(
            app.io.of(ns).is_none(),
            format!("dynamic namespace {ns} still exists with no socket"),
        );
    }
    check(
        app.io.of("/dyn-forbidden").is_none(),
        "/dyn-forbidden exists although its middleware refused every socket".to_string(),
    );
    let rooms = app.io.all_rooms().await.unwrap_or_default();
    check(
        rooms.is_empty(),
        format!("rooms left after every socket went: {rooms:?}"),
    );
    problems
}

fn ack_checks(log: &Log, check: &mut impl FnMut(bool, String)) {
    let ack = |label: &str| log.acks.iter().find(|a| a.label == label);
    for transport in ["websocket", "polling", "default"] {
        let label = format!("ask-answered-{transport}");
        match ack(&label) {
            Some(a) => check(
                a.outcome
                    == AckOutcome::Answered {
                        args: vec![json!({ "answer": 42 }), json!("second")],
                        attachments: 0,
                    },
                format!("{label}: {:?}", a.outcome),
            ),
            None => check(false, format!("{label}: no ack recorded")),
        }
        let label = format!("ask-bin-{transport}");
        match ack(&label) {
            Some(a) => check(
                matches!(&a.outcome, AckOutcome::Answered { args, attachments: 2 } if args.len() == 2),
                format!(
                    "{label}: expected 2 args and 2 attachments, got {:?}",
                    a.outcome
                ),
            ),
            None => check(false, format!("{label}: no ack recorded")),
        }
    }
    for (label, min, max) in [
        ("ask-silent", 280, 1400),
        ("ask-ignored", 280, 1400),
        ("ask-late", 180, 1400),
        ("ask-default", 1400, 3500),
    ] {
        match ack(label) {
            Some(a) => {
                check(
                    a.outcome == AckOutcome::Timeout,
                    format!("{label}: expected Timeout, got {:?}", a.outcome),
                );
                let ms = a.elapsed.as_millis();
                check(
                    (min..max).contains(&ms),
                    format!("{label}: timed out after {ms} ms, expected {min}..{max}"),
                );
            }
            None => check(false, format!("{label}: no ack recorded")),
        }
    }
    match ack("ask-gone") {
        Some(a) => {
            check(
                a.outcome == AckOutcome::Disconnected,
                format!("ask-gone: expected Disconnected, got {:?}", a.outcome),
            );
            check(
                a.elapsed < Duration::from_secs(4),
                format!("ask-gone: took {:?} (timeout was 5 s)", a.elapsed),
            );
        }
        None => check(false, "ask-gone: no ack recorded".to_string()),
    }

    let bcast = |label: &str| log.broadcast_acks.iter().find(|b| b.label == label);
    match bcast("poll-room") {
        Some(b) => {
            let names: Vec<&str> = b.answers.keys().map(String::as_str).collect();
            check(
                names == ["poll-m1", "poll-m2", "poll-m3"],
                format!("poll-room: answers from {names:?}"),
            );
            check(
                b.answers.get("poll-m1")
                    == Some(&AckOutcome::Answered {
                        args: vec![json!("yes-poll-m1")],
                        attachments: 0,
                    }),
                format!("poll-room: poll-m1 {:?}", b.answers.get("poll-m1")),
            );
            check(
                matches!(
                    b.answers.get("poll-m2"),
                    Some(AckOutcome::Answered { attachments: 1, .. })
                ),
                format!("poll-room: poll-m2 {:?}", b.answers.get("poll-m2")),
            );
            check(
                b.answers.get("poll-m3") == Some(&AckOutcome::Timeout),
                format!("poll-room: poll-m3 {:?}", b.answers.get("poll-m3")),
            );
        }
        None => check(false, "poll-room: no broadcast ack recorded".to_string()),
    }
    match bcast("poll-fast") {
        Some(b) => check(
            b.answers.len() == 2
                && b.answers
                    .values()
                    .all(|o| matches!(o, AckOutcome::Answered { .. }))
                && b.elapsed < Duration::from_millis(1500),
            format!("poll-fast: {:?} after {:?}", b.answers, b.elapsed),
        ),
        None => check(false, "poll-fast: no broadcast ack recorded".to_string()),
    }
    match bcast("poll-socket") {
        Some(b) => {
            let names: Vec<&str> = b.answers.keys().map(String::as_str).collect();
            check(
                names == ["poll-m2"],
                format!("poll-socket: answers from {names:?}, expected only poll-m2"),
            );
        }
        None => check(false, "poll-socket: no broadcast ack recorded".to_string()),
    }
    match bcast("poll-empty") {
        Some(b) => check(b.answers.is_empty(), format!("poll-empty: {:?}", b.answers)),
        None => check(false, "poll-empty: no broadcast ack recorded".to_string()),
    }
}

fn middleware_checks(log: &Log, check: &mut impl FnMut(bool, String)) {
    let runs = |name: &str| -> Vec<String> {
        log.middleware_runs
            .iter()
            .filter(|(_, n, _)| n == name)
            .map(|(mw, _, ns)| format!("{mw}@{ns}"))
            .collect()
    };
    let connected = |name: &str| log.connects.iter().any(|c| c.name == name);

    check(
        runs("alice") == ["gate@/", "identify@/"],
        format!("alice: middlewares {:?}", runs("alice")),
    );
    check(
        runs("mw-refused") == ["gate@/"],
        format!(
            "mw-refused: middlewares {:?}, expected only gate (the first refusal stops the chain)",
            runs("mw-refused")
        ),
    );
    check(
        !connected("mw-refused"),
        "mw-refused: the connection handler ran".to_string(),
    );
    check(
        !connected("not-admin"),
        "not-admin: the /admin connection handler ran".to_string(),
    );
    check(
        runs("dyn-forbidden") == ["dyn_gate@/dyn-forbidden"] && !connected("dyn-forbidden"),
        format!("dyn-forbidden: middlewares {:?}", runs("dyn-forbidden")),
    );
    check(
        log.refused_events
            .iter()
            .any(|(n, m)| n == "mw-user" && m == "event forbidden-thing is forbidden"),
        format!(
            "mw-user: refused events {:?}",
            log.refused_events
                .iter()
                .filter(|(n, _)| n == "mw-user")
                .collect::<Vec<_>>()
        ),
    );
    // The dynamic children share one handler: both ran it.
    for ns in ["/dyn-a", "/dyn-b"] {
        check(
            log.connects.iter().any(|c| c.ns == ns),
            format!("no connection recorded on {ns}"),
        );
    }
}
