// Real socket.io-client v4 against the features app (tests/support/features_app.rs):
// the whole handler API, driven scenario by scenario.
//
//   TARGET=http://127.0.0.1:3000 node socketio-features.mjs
//
// The server's request events are listed at the top of features_app.rs. Every
// client connects with auth { name } (unique, so the server's facts can be
// told apart; tests/socket_io/socketio_features.rs checks some of them by name after
// the script). Where broadcasts are involved, several clients connect and the
// script checks exactly who got what: each client logs every event it
// receives (onAny), and a `ping` round trip on every client after the
// triggering request is a barrier (the server writes to one client in order,
// so whatever was emitted to it before the pong has arrived by then).
//
// Expected disconnect reasons are Node's socket.io 4.8 behaviour (checked
// against it): server socket.disconnect() and disconnect(true) -> the client
// sees "io server disconnect" (a DISCONNECT packet per namespace, then the
// close); the server closing the Engine.IO session -> "transport close"
// (server side "forced close"); the client closing its engine -> "forced close"
// (server side "transport close"); a client that stops answering pings ->
// server side "ping timeout".

process.env.HARD_CAP_MS ??= "90000";
const { io, Manager } = await import("socket.io-client");
const {
  scenario,
  done,
  once,
  sleep,
  track,
  assert,
  assertSame,
  isBinary,
  metric,
  TARGET,
} = await import("./lib/harness.mjs");

const PATH = "/socket.io/";
const BASE = { path: PATH, forceNew: true, reconnection: false, timeout: 5_000 };
const WS = ["websocket"];
const POLLING = ["polling"];
const TRANSPORTS = [
  ["websocket", WS],
  ["polling", POLLING],
  ["default", null], // polling, then upgrade to websocket
];

// ---------------------------------------------------------------------------
// helpers

function opts(transports) {
  return transports ? { ...BASE, transports } : { ...BASE };
}

/** Attach the receive log and wait for connect + welcome. */
async function ready(socket) {
  socket.log = [];
  socket.onAny((event, ...args) => socket.log.push([event, ...args]));
  const welcome = once(socket, "welcome", { failOn: ["connect_error", "disconnect"] });
  await once(socket, "connect", { failOn: ["connect_error", "disconnect"] });
  [socket.welcome] = await welcome;
  assert(socket.welcome.id === socket.id, `welcome id ${socket.welcome.id} != socket.id ${socket.id}`);
  return socket;
}

/** A client with its own connection. */
function client(name, { nsp = "/", transports = WS, auth = {} } = {}) {
  const socket = track(io(TARGET + nsp, { ...opts(transports), auth: { name, ...auth } }));
  return ready(socket);
}

/** A Manager (one connection) to put several namespaces on. */
function manager(transports = WS) {
  return track(new Manager(TARGET, opts(transports)));
}

function on(mgr, name, nsp = "/", auth = {}) {
  const socket = track(mgr.socket(nsp, { auth: { name, ...auth } }));
  return ready(socket);
}

/** A connection attempt that must be refused: resolves with the error. */
async function refused(nsp, auth, transports = WS) {
  const socket = track(io(TARGET + nsp, { ...opts(transports), auth }));
  const [err] = await once(socket, "connect_error", { failOn: ["connect"] });
  assert(err instanceof Error, `connect_error payload is not an Error: ${err}`);
  await sleep(50);
  assert(!socket.connected, "socket connected after connect_error");
  return err;
}

function req(socket, event, data, timeout = 3_000) {
  return socket.timeout(timeout).emitWithAck(event, data);
}

async function emitOp(socket, op) {
  const res = await req(socket, "emit", op);
  assertSame(res, { ok: true }, `emit ${JSON.stringify(op).slice(0, 80)}`);
}

/** Round trip on every socket: after it, whatever was sent to them before has arrived. */
function barrier(...sockets) {
  return Promise.all(sockets.map((s) => req(s, "ping")));
}

/** Arguments of every `event` the socket received. */
function got(socket, event) {
  return socket.log.filter(([e]) => e === event).map(([, ...args]) => args);
}

async function waitUntil(cond, what, timeout = 3_000) {
  const deadline = Date.now() + timeout;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/**
 * Trigger an emit, wait until every socket in `expect` got `event` once, run
 * the barrier on everyone, then check the exact receipt of every socket.
 */
async function expectDelivery({ event, trigger, expect, all, data }) {
  const before = new Map(all.map((s) => [s, got(s, event).length]));
  await trigger();
  await waitUntil(() => expect.every((s) => got(s, event).length > before.get(s)), `${event} at ${expect.map((s) => s.welcome.name)}`);
  await barrier(...all);
  for (const s of all) {
    const fresh = got(s, event).slice(before.get(s));
    const want = expect.includes(s) ? 1 : 0;
    assert(
      fresh.length === want,
      `${s.welcome.name} got ${fresh.length} "${event}", expected ${want}`,
    );
    if (want && data !== undefined) assertSame(fresh[0], [data], `${event} at ${s.welcome.name}`);
  }
}

function disconnected(socket, timeout = 4_000) {
  return once(socket, "disconnect", { timeout }).then(([reason]) => reason);
}

async function factsOf(via, name) {
  return req(via, "facts", { name });
}

/** Poll the server's facts about `name` until `pred` holds. */
async function waitFacts(via, name, pred, what, timeout = 4_000) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    last = await factsOf(via, name);
    if (pred(last)) return last;
    if (Date.now() > deadline) throw new Error(`server facts about ${name}: no ${what} within ${timeout} ms; last ${JSON.stringify(last).slice(0, 300)}`);
    await sleep(30);
  }
}

async function serverReasons(via, name, ns = "/") {
  const f = await waitFacts(via, name, (f) => f.disconnects.some((d) => d.ns === ns), `disconnect on ${ns}`);
  return f.disconnects.filter((d) => d.ns === ns).map((d) => d.reason);
}

function assertBinaryEq(v, bytes, what) {
  assert(isBinary(v), `${what}: expected binary, got ${JSON.stringify(v)?.slice(0, 80)}`);
  assertSame(v, Buffer.from(bytes), what);
}

// ---------------------------------------------------------------------------
// connection, middlewares, extensions, state

await scenario("connect: middlewares run in order, Extension<User> and State reach the handler", async () => {
  const a = await client("alice");
  const w = a.welcome;
  assertSame(
    { name: w.name, role: w.role, ns: w.ns, rooms: w.rooms },
    { name: "alice", role: "user", ns: "/", rooms: [a.id] },
    "welcome",
  );
  assert(Number.isInteger(w.connections) && w.connections >= 1, `State counter ${w.connections}`);
  assertSame(await req(a, "whoami"), { name: "alice", role: "user", id: a.id, ns: "/", rooms: [a.id] }, "whoami");
  const f = await factsOf(a, "alice");
  assertSame(f.middlewares, [{ mw: "gate", ns: "/" }, { mw: "identify", ns: "/" }], "middleware order");
  const b = await client("alice-2");
  assert(b.welcome.connections > w.connections, "State counter did not grow");
});

await scenario("connect middleware refuses: connect_error with message and data, chain stops", async () => {
  const err = await refused("/", { name: "mw-refused", token: "bad" });
  assert(err.message === "refused by middleware", `message ${JSON.stringify(err.message)}`);
  assertSame(err.data, { code: 4001, name: "mw-refused" }, "err.data");
  const obs = await client("mw-refused-observer");
  const f = await factsOf(obs, "mw-refused");
  assertSame(f.middlewares, [{ mw: "gate", ns: "/" }], "middlewares run");
  assertSame(f.connects, [], "connects");
});

await scenario("connect middleware whose Data<T> does not deserialize refuses the socket", async () => {
  const err = await refused("/", { name: 42 });
  assert(/invalid type/.test(err.message), `message ${JSON.stringify(err.message)}`);
  assert(err.data === undefined, `data ${JSON.stringify(err.data)}`);
});

await scenario("unknown namespace: connect_error \"Invalid namespace\"", async () => {
  for (const nsp of ["/nope", "/dynx"]) {
    const err = await refused(nsp, { name: "nobody" });
    assert(err.message === "Invalid namespace", `${nsp}: message ${JSON.stringify(err.message)}`);
  }
});

await scenario("connect timeout: a connection that joins no namespace is closed", async () => {
  const mgr = manager(WS);
  const started = Date.now();
  const engine = mgr.engine;
  assert(engine, "manager did not open");
  const [reason] = await once(engine, "close", { timeout: 6_000 });
  const elapsed = Date.now() - started;
  assert(reason === "transport close", `engine close reason ${reason}`);
  assert(elapsed >= 1_500 && elapsed < 5_000, `closed after ${elapsed} ms (connect_timeout 2 s)`);
}, 10_000);

// ---------------------------------------------------------------------------
// emit and ack, both ways; binary

for (const [label, transports] of TRANSPORTS) {
  await scenario(`[${label}] emit and ack both ways (JSON, several args)`, async () => {
    const a = await client(`acker-${label}`, { transports });
    // client -> server -> client event
    const echo = once(a, "echo");
    a.emit("echo", 1, "two", { three: [3] }, null);
    assertSame(await echo, [1, "two", { three: [3] }, null], "echo");
    // client -> server ack
    assertSame(await req(a, "echo-ack", { x: 1 }), { x: 1 }, "emitWithAck");
    const multi = await new Promise((resolve, reject) =>
      a.timeout(3_000).emit("echo-ack", 1, "b", null, (err, ...r) => (err ? reject(err) : resolve(r))),
    );
    assertSame(multi, [1, "b", null], "ack callback args");
    // server -> client ack (the client answers)
    a.on("question", (q, cb) => cb({ answer: q.n * 2 }, "second"));
    const res = await req(a, "ask-client", { label: `ask-answered-${label}`, event: "question", data: { n: 21 }, timeout_ms: 2_000 });
    assertSame(res.ok, [{ answer: 42 }, "second"], "server got the client's ack");
    assert(res.attachments === 0, `attachments ${res.attachments}`);
  });

  await scenario(`[${label}] binary: bin() + placeholder(n), Bin extractor, binary acks both ways`, async () => {
    const a = await client(`bin-${label}`, { transports });
    // server -> client: bin() with placeholders nested and as top-level args
    const data = once(a, "bin-data");
    const args = once(a, "bin-args");
    assert((await req(a, "bin-from-server")) === "sent", "bin-from-server");
    const [d] = await data;
    assert(d.name === "blob", `name ${d.name}`);
    assertBinaryEq(d.file, [1, 2, 3], "bin-data.file");
    assert(d.nested.list[0] === "x", "bin-data.nested.list[0]");
    assertBinaryEq(d.nested.list[1], [255, 0], "bin-data.nested.list[1]");
    const [x, mid, y] = await args;
    assertBinaryEq(x, [1, 2, 3], "bin-args[0]");
    assert(mid === "middle", `bin-args[1] ${mid}`);
    assertBinaryEq(y, [255, 0], "bin-args[2]");
    // client -> server: Bin gets the attachments, the JSON keeps placeholders
    const info = await req(a, "bin-info", { a: Buffer.from([9, 9]), b: [Buffer.from("hi")] });
    assertSame(
      info,
      {
        event: "bin-info",
        count: 2,
        hex: ["0909", "6869"],
        args: [{ a: { _placeholder: true, num: 0 }, b: [{ _placeholder: true, num: 1 }] }],
      },
      "bin-info",
    );
    // round trips
    const echo = once(a, "echo");
    a.emit("echo", Buffer.from([0xde, 0xad]), { n: Uint8Array.from([1]) }, "t");
    assertSame(await echo, [Buffer.from([0xde, 0xad]), { n: Buffer.from([1]) }, "t"], "binary echo");
    const back = await req(a, "echo-ack", { file: Buffer.from([4, 5]) });
    assertBinaryEq(back.file, [4, 5], "binary ack from the server");
    // server -> client ack with binary both ways
    a.on("question-bin", (q, cb) => {
      cb(isBinary(q.file) ? Buffer.from([7, 7, 7]) : "not binary", { more: Buffer.from("z") });
    });
    const res = await req(a, "ask-client", { label: `ask-bin-${label}`, event: "question-bin", data: { file: Buffer.from([1]) }, timeout_ms: 2_000 });
    assert(res.attachments === 2, `server saw ${res.attachments} attachments in the ack`);
    assertBinaryEq(res.ok[0], [7, 7, 7], "client's binary answer");
    assertBinaryEq(res.ok[1].more, Buffer.from("z"), "client's nested binary answer");
  });
}

await scenario("server -> client ack timeout: client never answers, answers late, default timeout", async () => {
  const a = await client("ask-timeouts");
  a.on("ignored", () => {}); // a handler that never calls back
  a.on("late", (...args) => setTimeout(() => args.at(-1)("too late"), 600));
  const silent = await req(a, "ask-client", { label: "ask-silent", event: "unanswered", timeout_ms: 300 });
  assert(silent.err === "timeout", `no handler: ${JSON.stringify(silent)}`);
  assert(silent.elapsed_ms >= 280 && silent.elapsed_ms < 1_400, `no handler: timed out after ${silent.elapsed_ms} ms`);
  const ignored = await req(a, "ask-client", { label: "ask-ignored", event: "ignored", timeout_ms: 300 });
  assert(ignored.err === "timeout", `handler without callback: ${JSON.stringify(ignored)}`);
  const late = await req(a, "ask-client", { label: "ask-late", event: "late", data: "q", timeout_ms: 200 });
  assert(late.err === "timeout", `late answer: ${JSON.stringify(late)}`);
  await sleep(600); // the late answer arrives now and must be ignored
  assert((await req(a, "ping")) === "pong", "socket unusable after a late ack");
  // no timeout given: the server's ack_timeout (1.5 s)
  const dflt = await req(a, "ask-client", { label: "ask-default", event: "unanswered" }, 5_000);
  assert(dflt.err === "timeout", `default timeout: ${JSON.stringify(dflt)}`);
  assert(dflt.elapsed_ms >= 1_400 && dflt.elapsed_ms < 3_500, `default timeout after ${dflt.elapsed_ms} ms`);
  assert(a.connected, "disconnected by an unanswered ack");
}, 12_000);

await scenario("server -> client ack: AckError::Disconnected when the client leaves first", async () => {
  const a = await client("ask-gone");
  const obs = await client("ask-gone-observer");
  a.on("question", () => {}); // never answers
  a.emit("ask-client", { label: "ask-gone", event: "question", timeout_ms: 5_000 }, () => {});
  await sleep(150);
  a.disconnect();
  const f = await waitFacts(obs, "ask-gone", (f) => f.acks.length > 0, "ack outcome");
  assertSame(f.acks[0].outcome, { err: "disconnected" }, "outcome");
  assert(f.acks[0].elapsed_ms < 4_000, `resolved after ${f.acks[0].elapsed_ms} ms`);
});

await scenario("async handlers run concurrently: a fast ack overtakes a slow one", async () => {
  const a = await client("delays");
  const order = [];
  const slow = req(a, "delayed-ack", { ms: 400, value: "slow" }).then((v) => order.push(v));
  const fast = req(a, "delayed-ack", { ms: 0, value: "fast" }).then((v) => order.push(v));
  await Promise.all([slow, fast]);
  assertSame(order, ["fast", "slow"], "ack order");
});

await scenario("TryData gets the error; Data<T> that does not deserialize skips the handler", async () => {
  const a = await client("typed");
  assertSame(await req(a, "typed", { x: 1, y: 2 }), { ok: { x: 1, y: 2 } }, "typed ok");
  const bad = await req(a, "typed", { x: "no" });
  assert(typeof bad.err === "string" && /invalid type/.test(bad.err), `typed err ${JSON.stringify(bad)}`);
  assertSame(await req(a, "typed-strict", { x: 1, y: 2 }), { sum: 3 }, "typed-strict ok");
  let err = null;
  try {
    await req(a, "typed-strict", { x: "no" }, 500);
  } catch (e) {
    err = e;
  }
  assert(err && /timed out/.test(err.message), `typed-strict with bad data was answered: ${err}`);
  assertSame(await req(a, "typed-strict", { x: 2, y: 2 }), { sum: 4 }, "typed-strict after a skipped call");
});

await scenario("emitting JSON null sends one null argument (Node: emit(ev, null))", async () => {
  const a = await client("nulls");
  const nullArg = once(a, "null-arg");
  const noneArg = once(a, "none-arg");
  const ack = await new Promise((resolve, reject) =>
    a.timeout(3_000).emit("emit-null", (err, ...r) => (err ? reject(err) : resolve(r))),
  );
  const wrong = [];
  for (const [what, value] of [
    ["emit(&None::<u8>)", await noneArg],
    ["emit(&Value::Null)", await nullArg],
    ["ack.send(&Value::Null)", ack],
  ]) {
    if (value.length !== 1 || value[0] !== null) wrong.push(`${what} gave args ${JSON.stringify(value)}`);
  }
  assert(wrong.length === 0, `expected one null argument each: ${wrong.join("; ")}`);
});

// ---------------------------------------------------------------------------
// rooms and broadcast operators

await scenario("rooms: join/leave; socket.to(room) reaches the other members only", async () => {
  const a = await client("room-a");
  const b = await client("room-b");
  const c = await client("room-c", { transports: POLLING });
  assertSame(await req(a, "join", "club"), [a.id, "club"].sort(), "a rooms");
  assertSame(await req(b, "join", ["club", "extra"]), [b.id, "club", "extra"].sort(), "b rooms");
  const all = [a, b, c];
  await expectDelivery({ event: "news", all, expect: [b], data: "hi", trigger: () => emitOp(a, { op: "to", rooms: ["club"], event: "news", data: "hi" }) });
  // c (polling) in the room too
  await req(c, "join", "club");
  await expectDelivery({ event: "news", all, expect: [a, b], data: "from c", trigger: () => emitOp(c, { op: "to", rooms: ["club"], event: "news", data: "from c" }) });
  // b leaves: no longer reached
  assertSame(await req(b, "leave", "club"), [b.id, "extra"].sort(), "b rooms after leave");
  assertSame((await req(b, "whoami")).rooms, [b.id, "extra"].sort(), "whoami rooms");
  await expectDelivery({ event: "news", all, expect: [c], data: "again", trigger: () => emitOp(a, { op: "to", rooms: ["club"], event: "news", data: "again" }) });
});

await scenario("socket.to([r1, r2]) delivers once to a member of both; socket.within, like Node's socket.in, leaves the sender out", async () => {
  const a = await client("multi-a");
  const b = await client("multi-b");
  const c = await client("multi-c");
  const d = await client("multi-d");
  await req(a, "join", "r1");
  await req(b, "join", ["r1", "r2"]);
  await req(c, "join", "r2");
  const all = [a, b, c, d];
  await expectDelivery({ event: "multi", all, expect: [b, c], data: 1, trigger: () => emitOp(a, { op: "to", rooms: ["r1", "r2"], event: "multi", data: 1 }) });
  await expectDelivery({ event: "within", all, expect: [b], data: 2, trigger: () => emitOp(a, { op: "within", rooms: ["r1"], event: "within", data: 2 }) });
});

await scenario("socket.broadcast(), socket.except(), socket.to().except(), socket.local()", async () => {
  const a = await client("bc-a");
  const b = await client("bc-b", { transports: POLLING });
  const c = await client("bc-c");
  const d = await client("bc-d", { transports: null });
  const admin = await client("bc-admin", { nsp: "/admin", auth: { role: "admin" } });
  const all = [a, b, c, d, admin];
  await expectDelivery({ event: "bc", all, expect: [b, c, d], data: "all but me", trigger: () => emitOp(a, { op: "broadcast", event: "bc", data: "all but me" }) });
  await req(c, "join", ["muted", "club"]);
  await req(b, "join", "club");
  await expectDelivery({ event: "exc", all, expect: [b, d], data: "not muted", trigger: () => emitOp(a, { op: "except", except: ["muted"], event: "exc", data: "not muted" }) });
  await expectDelivery({ event: "toexc", all, expect: [b], data: "club not muted", trigger: () => emitOp(a, { op: "to-except", rooms: ["club"], except: ["muted"], event: "toexc", data: "club not muted" }) });
  await expectDelivery({ event: "loc", all, expect: [a, b, d], data: "local", trigger: () => emitOp(c, { op: "local", event: "loc", data: "local" }) });
});

await scenario("io.to(room), io.emit, io.except, io.to(socket id), io.local; /admin not reached", async () => {
  const a = await client("io-a");
  const b = await client("io-b", { transports: POLLING });
  const c = await client("io-c");
  const admin = await client("io-admin", { nsp: "/admin", auth: { role: "admin" } });
  const all = [a, b, c, admin];
  await req(b, "join", "club");
  await expectDelivery({ event: "ioto", all, expect: [b], data: 1, trigger: () => emitOp(a, { op: "io-to", rooms: ["club"], event: "ioto", data: 1 }) });
  await req(a, "join", "club");
  // unlike socket.to, io.to includes the requester when it is a member
  await expectDelivery({ event: "ioto", all, expect: [a, b], data: 2, trigger: () => emitOp(a, { op: "io-to", rooms: ["club"], event: "ioto", data: 2 }) });
  await expectDelivery({ event: "iowithin", all, expect: [a, b], data: 3, trigger: () => emitOp(c, { op: "io-within", rooms: ["club"], event: "iowithin", data: 3 }) });
  await expectDelivery({ event: "ioall", all, expect: [a, b, c], data: 4, trigger: () => emitOp(a, { op: "io", event: "ioall", data: 4 }) });
  await expectDelivery({ event: "ioexc", all, expect: [c], data: 5, trigger: () => emitOp(a, { op: "io-except", except: ["club"], event: "ioexc", data: 5 }) });
  await expectDelivery({ event: "direct", all, expect: [c], data: 6, trigger: () => emitOp(a, { op: "io-to", rooms: [c.id], event: "direct", data: 6 }) });
  await expectDelivery({ event: "iolocal", all, expect: [a, b, c], data: 7, trigger: () => emitOp(a, { op: "io-local", event: "iolocal", data: 7 }) });
  // and from /admin, io.* still means namespace /
  await expectDelivery({ event: "fromadmin", all, expect: [a, b, c], data: 8, trigger: () => emitOp(admin, { op: "io", event: "fromadmin", data: 8 }) });
});

await scenario("binary broadcast: the request's attachments forwarded with io.to(room).bin(..)", async () => {
  const a = await client("binbc-a");
  const b = await client("binbc-b", { transports: POLLING });
  const c = await client("binbc-c");
  const d = await client("binbc-d");
  await req(b, "join", "bin-room");
  await req(c, "join", "bin-room");
  const all = [a, b, c, d];
  await expectDelivery({
    event: "file",
    all,
    expect: [b, c],
    trigger: () => emitOp(a, { op: "io-to", rooms: ["bin-room"], event: "file", data: { name: "f", body: Buffer.from([1, 2]), parts: [Buffer.from([3])] } }),
  });
  for (const s of [b, c]) {
    const [[f]] = got(s, "file");
    assert(f.name === "f", `${s.welcome.name}: name ${f.name}`);
    assertBinaryEq(f.body, [1, 2], `${s.welcome.name}: body`);
    assertBinaryEq(f.parts[0], [3], `${s.welcome.name}: parts[0]`);
  }
});

await scenario("volatile: delivered to an idle websocket client, a burst stays in order", async () => {
  const a = await client("vol-a");
  const b = await client("vol-b");
  // one volatile emit to an idle client arrives (a few tries: a heartbeat in
  // flight may legitimately make the transport busy for an instant)
  let delivered = false;
  for (let i = 0; i < 5 && !delivered; i++) {
    const before = got(a, "vol").length;
    const doneEv = once(a, "vol-done");
    await req(a, "volatile", { count: 1 });
    await doneEv;
    delivered = got(a, "vol").length > before;
    if (!delivered) await sleep(100);
  }
  assert(delivered, "no volatile emit to an idle websocket client arrived in 5 tries");
  // a burst: whatever arrives is in order, and the regular emit after it arrives
  a.log.length = 0;
  const doneEv = once(a, "vol-done");
  await req(a, "volatile", { count: 50 });
  await doneEv;
  const vols = got(a, "vol").map(([i]) => i);
  for (let i = 1; i < vols.length; i++) assert(vols[i] > vols[i - 1], `burst out of order: ${vols}`);
  assert(vols.every((i) => i >= 0 && i < 50), `burst values ${vols}`);
  const doneIdx = a.log.findIndex(([e]) => e === "vol-done");
  assert(a.log.slice(doneIdx).every(([e]) => e !== "vol"), "vol after vol-done");
  metric("volatile_burst_delivered", `${vols.length}/50`);
  // volatile broadcast: to the others, not the sender
  let bGot = false;
  for (let i = 0; i < 5 && !bGot; i++) {
    const before = got(b, "vol").length;
    const doneB = once(b, "vol-done");
    await req(a, "volatile", { target: "others", count: 1 });
    await doneB;
    await barrier(a, b);
    bGot = got(b, "vol").length > before;
  }
  assert(bGot, "volatile broadcast never reached the other client");
  assert(got(a, "vol").length === vols.length, "the sender got its own volatile broadcast");
});

// ---------------------------------------------------------------------------
// broadcast with ack

await scenario("broadcast with ack: every answer collected, a silent client times out", async () => {
  const r = await client("poll-req");
  const m1 = await client("poll-m1");
  const m2 = await client("poll-m2", { transports: POLLING });
  const m3 = await client("poll-m3");
  const answerers = { "poll-m1": m1, "poll-m2": m2 };
  m1.on("poll", (data, cb) => cb(`yes-${m1.welcome.name}`));
  m2.on("poll", (data, cb) => cb({ who: "poll-m2", data, blob: Buffer.from([42]) }));
  m3.on("poll", () => {}); // silent
  for (const s of [m1, m2, m3]) await req(s, "join", "polled");
  for (const s of [m1, m2]) await req(s, "join", "polled-fast");

  const res = await req(r, "broadcast-ack", { label: "poll-room", rooms: ["polled"], timeout_ms: 500, data: "q1" }, 4_000);
  assertSame(Object.keys(res.answers).sort(), ["poll-m1", "poll-m2", "poll-m3"], "answered by");
  assertSame(res.answers["poll-m1"], { ok: ["yes-poll-m1"], attachments: 0 }, "poll-m1");
  const a2 = res.answers["poll-m2"];
  assert(a2.attachments === 1, `poll-m2 attachments ${a2.attachments}`);
  assertSame(a2.ok, [{ who: "poll-m2", data: "q1", blob: { _placeholder: true, num: 0 } }], "poll-m2");
  assertSame(res.answers["poll-m3"], { err: "timeout" }, "poll-m3");
  assert(res.elapsed_ms >= 480, `resolved after ${res.elapsed_ms} ms, before the timeout`);
  assert(got(r, "poll").length === 0, "the requester (not in the room) was polled");

  // everyone answers: resolves without waiting for the timeout
  const fast = await req(r, "broadcast-ack", { label: "poll-fast", rooms: ["polled-fast"], timeout_ms: 2_000, data: "q2" }, 4_000);
  assertSame(Object.keys(fast.answers).sort(), Object.keys(answerers), "poll-fast answered by");
  assert(fast.elapsed_ms < 1_500, `poll-fast took ${fast.elapsed_ms} ms`);

  // from a socket: socket.to(room) leaves the sender out
  const fromSocket = await req(m1, "broadcast-ack", { label: "poll-socket", from: "socket", rooms: ["polled-fast"], timeout_ms: 1_000, data: "q3" }, 4_000);
  assertSame(Object.keys(fromSocket.answers), ["poll-m2"], "poll-socket answered by");

  // nobody in the room: an empty answer at once
  const empty = await req(r, "broadcast-ack", { label: "poll-empty", rooms: ["nobody-here"], timeout_ms: 2_000 }, 4_000);
  assertSame(empty.answers, {}, "poll-empty");
  assert(empty.elapsed_ms < 1_000, `poll-empty took ${empty.elapsed_ms} ms`);
});

// ---------------------------------------------------------------------------
// server-wide operations

await scenario("fetch_sockets, sockets_join, sockets_leave, all_rooms", async () => {
  const a = await client("fs-a");
  const b = await client("fs-b", { transports: POLLING });
  const c = await client("fs-c");
  const all = [a, b, c];
  await req(a, "join", "fs-room");
  await req(b, "join", "fs-room");
  const inRoom = (await req(c, "fetch", { rooms: ["fs-room"] })).sockets;
  assertSame(
    inRoom,
    [
      { name: "fs-a", id: a.id, rooms: [a.id, "fs-room"].sort(), auth_name: "fs-a", local: true },
      { name: "fs-b", id: b.id, rooms: [b.id, "fs-room"].sort(), auth_name: "fs-b", local: true },
    ],
    "fetch_sockets in fs-room",
  );
  const everyone = (await req(c, "fetch", {})).sockets.map((s) => s.name);
  for (const n of ["fs-a", "fs-b", "fs-c"]) assert(everyone.includes(n), `fetch_sockets() misses ${n}`);

  assertSame(await req(c, "sockets-join", { rooms: ["fs-room"], join: ["fs-joined"] }), { ok: true }, "sockets-join");
  assert((await req(a, "whoami")).rooms.includes("fs-joined"), "a not in fs-joined");
  assert((await req(b, "whoami")).rooms.includes("fs-joined"), "b not in fs-joined");
  assert(!(await req(c, "whoami")).rooms.includes("fs-joined"), "c in fs-joined");
  await expectDelivery({ event: "joined-news", all, expect: [a, b], data: "x", trigger: () => emitOp(c, { op: "io-to", rooms: ["fs-joined"], event: "joined-news", data: "x" }) });

  // io.sockets_join: everyone
  assertSame(await req(c, "sockets-join", { join: ["fs-everyone"] }), { ok: true }, "io.sockets_join");
  for (const s of all) assert((await req(s, "whoami")).rooms.includes("fs-everyone"), `${s.welcome.name} not in fs-everyone`);

  let rooms = (await req(c, "all-rooms")).rooms;
  for (const room of ["fs-room", "fs-joined", "fs-everyone"]) assert(rooms.includes(room), `all_rooms misses ${room}: ${rooms}`);
  assert((await req(c, "all-rooms")).server_count === 1, "server_count");

  assertSame(await req(c, "sockets-leave", { leave: ["fs-room"] }), { ok: true }, "io.sockets_leave");
  assertSame((await req(c, "fetch", { rooms: ["fs-room"] })).sockets, [], "fs-room after sockets_leave");
  assertSame(await req(c, "sockets-leave", { rooms: ["fs-joined"], leave: ["fs-everyone"] }), { ok: true }, "sockets-leave in room");
  assert(!(await req(a, "whoami")).rooms.includes("fs-everyone"), "a still in fs-everyone");
  assert((await req(c, "whoami")).rooms.includes("fs-everyone"), "c left fs-everyone");
  rooms = (await req(c, "all-rooms")).rooms;
  assert(!rooms.includes("fs-room"), `all_rooms still has fs-room: ${rooms}`);
});

await scenario("disconnect_sockets(false) on a room: only its members leave, their other namespaces stay", async () => {
  const mgr = manager(WS);
  const a = await on(mgr, "doomed-a");
  const aAdmin = await on(mgr, "doomed-a-admin", "/admin", { role: "admin" });
  const b = await client("doomed-b", { transports: POLLING });
  const c = await client("doomed-c");
  await req(a, "join", "doomed");
  await req(b, "join", "doomed");
  const da = disconnected(a);
  const db = disconnected(b);
  assertSame(await req(c, "disconnect-sockets", { rooms: ["doomed"], close: false }), { ok: true }, "disconnect-sockets");
  assert((await da) === "io server disconnect", `doomed-a reason`);
  assert((await db) === "io server disconnect", `doomed-b reason`);
  assertSame(await serverReasons(c, "doomed-a"), ["server namespace disconnect"], "doomed-a server reason");
  assertSame(await serverReasons(c, "doomed-b"), ["server namespace disconnect"], "doomed-b server reason");
  await barrier(c, aAdmin);
  assert(c.connected && aAdmin.connected, "a socket outside the room was disconnected");
  assertSame((await req(c, "fetch", { rooms: ["doomed"] })).sockets, [], "room after disconnect");
});

await scenario("disconnect_sockets(true) on a room closes the members' whole connections", async () => {
  const mgr = manager(WS);
  const a = await on(mgr, "closed-a");
  const aAdmin = await on(mgr, "closed-a-admin", "/admin", { role: "admin" });
  const b = await client("closed-b");
  const c = await client("closed-c");
  await req(a, "join", "doomed2");
  await req(b, "join", "doomed2");
  const reasons = Promise.all([disconnected(a), disconnected(aAdmin), disconnected(b)]);
  const engineClosed = once(mgr.engine, "close", { timeout: 4_000 });
  await req(c, "disconnect-sockets", { rooms: ["doomed2"], close: true });
  assertSame(await reasons, ["io server disconnect", "io server disconnect", "io server disconnect"], "client reasons");
  await engineClosed;
  assertSame(await serverReasons(c, "closed-a"), ["server namespace disconnect"], "closed-a");
  assertSame(await serverReasons(c, "closed-a-admin", "/admin"), ["server namespace disconnect"], "closed-a-admin");
  assertSame(await serverReasons(c, "closed-b"), ["server namespace disconnect"], "closed-b");
  await barrier(c);
});

// ---------------------------------------------------------------------------
// disconnect reasons, both sides

for (const [label, transports] of TRANSPORTS.slice(0, 2)) {
  await scenario(`[${label}] socket.disconnect(false): "io server disconnect", the other namespace stays`, async () => {
    const mgr = manager(transports);
    const a = await on(mgr, `dc-false-${label}`);
    const admin = await on(mgr, `dc-false-${label}-admin`, "/admin", { role: "admin" });
    const reason = disconnected(a);
    a.emit("disconnect-me", false);
    assert((await reason) === "io server disconnect", `client reason ${await reason}`);
    assert((await req(admin, "ping")) === "pong", "/admin unusable");
    assert(admin.connected && mgr.engine.readyState === "open", "connection closed");
    assertSame(await serverReasons(admin, `dc-false-${label}`), ["server namespace disconnect"], "server reason");
  });

  await scenario(`[${label}] socket.disconnect(true): every namespace gets "io server disconnect", connection closed`, async () => {
    const mgr = manager(transports);
    const a = await on(mgr, `dc-true-${label}`);
    const admin = await on(mgr, `dc-true-${label}-admin`, "/admin", { role: "admin" });
    const obs = await client(`dc-true-${label}-observer`);
    const reasons = Promise.all([disconnected(a), disconnected(admin)]);
    const engineClosed = once(mgr.engine, "close", { timeout: 4_000 });
    a.emit("disconnect-me", true);
    assertSame(await reasons, ["io server disconnect", "io server disconnect"], "client reasons (/, /admin)");
    await engineClosed;
    assertSame(await serverReasons(obs, `dc-true-${label}`), ["server namespace disconnect"], "server reason /");
    assertSame(await serverReasons(obs, `dc-true-${label}-admin`, "/admin"), ["server namespace disconnect"], "server reason /admin");
  });
}

await scenario("server closes the transport: client \"transport close\", server \"forced close\"", async () => {
  const mgr = manager(WS);
  const a = await on(mgr, "close-transport");
  const admin = await on(mgr, "close-transport-admin", "/admin", { role: "admin" });
  const obs = await client("close-transport-observer");
  const reasons = Promise.all([disconnected(a), disconnected(admin)]);
  a.emit("close-transport");
  assertSame(await reasons, ["transport close", "transport close"], "client reasons");
  assertSame(await serverReasons(obs, "close-transport"), ["forced close"], "server reason /");
  assertSame(await serverReasons(obs, "close-transport-admin", "/admin"), ["forced close"], "server reason /admin");
});

await scenario("client disconnect(): server \"client namespace disconnect\"", async () => {
  const a = await client("client-leaves");
  const obs = await client("client-leaves-observer");
  const reason = disconnected(a);
  a.disconnect();
  assert((await reason) === "io client disconnect", `client reason ${await reason}`);
  assertSame(await serverReasons(obs, "client-leaves"), ["client namespace disconnect"], "server reason");
});

await scenario("client closes its engine: client \"forced close\", server \"transport close\"", async () => {
  const a = await client("engine-closer");
  const obs = await client("engine-closer-observer");
  const reason = disconnected(a);
  a.io.engine.close();
  assert((await reason) === "forced close", `client reason ${await reason}`);
  assertSame(await serverReasons(obs, "engine-closer"), ["transport close"], "server reason");
});

await scenario("client stops answering pings: server \"ping timeout\"", async () => {
  const a = await client("no-pong");
  const obs = await client("no-pong-observer");
  const engine = a.io.engine;
  const send = engine._sendPacket.bind(engine);
  engine._sendPacket = (type, ...rest) => (type === "pong" ? undefined : send(type, ...rest));
  const reason = await disconnected(a, 5_000);
  assert(reason === "transport close", `client reason ${reason} (Node: "transport close")`);
  assertSame(await serverReasons(obs, "no-pong"), ["ping timeout"], "server reason");
}, 10_000);

await scenario("disconnecting hook still sees the rooms and tells the other members", async () => {
  const leaver = await client("leaver");
  const stayer = await client("stayer");
  const other = await client("not-in-wake");
  await req(leaver, "join", ["wake", "wake-2"]);
  await req(stayer, "join", "wake");
  const notice = once(stayer, "member-leaving");
  leaver.disconnect();
  const [n] = await notice;
  assertSame(
    { name: n.name, room: n.room, reason: n.reason },
    { name: "leaver", room: "wake", reason: "client namespace disconnect" },
    "member-leaving",
  );
  await barrier(stayer, other);
  assert(got(stayer, "member-leaving").length === 1, "stayer got more than one notice");
  assert(got(other, "member-leaving").length === 0, "a non-member got the notice");
  const f = await waitFacts(stayer, "leaver", (f) => f.disconnects.length > 0, "disconnect");
  assertSame(f.disconnecting[0].rooms, [leaver.welcome.id, "wake", "wake-2"].sort(), "rooms in disconnecting");
  assertSame(f.disconnects[0].rooms, [], "rooms in disconnect");
});

await scenario("disconnecting hook: the socket still counts as connected (Node: socket.connected === true)", async () => {
  const leaver = await client("leaver-connected");
  const stayer = await client("stayer-connected");
  await req(leaver, "join", "wake-c");
  await req(stayer, "join", "wake-c");
  const notice = once(stayer, "member-leaving");
  leaver.disconnect();
  const [n] = await notice;
  assert(n.connected === true, `socket.connected() in the disconnecting hook: ${n.connected}`);
});

// ---------------------------------------------------------------------------
// namespaces

await scenario("/admin: middleware refuses with data; multiplexed with /; emits stay in their namespace", async () => {
  const err = await refused("/admin", { name: "not-admin", role: "user" });
  assert(err.message === "admins only", `message ${JSON.stringify(err.message)}`);
  assertSame(err.data, { required: "admin", role: "user" }, "err.data");

  const mgr = manager(null);
  const u = await on(mgr, "ns-user");
  const adm = await on(mgr, "ns-admin", "/admin", { role: "admin" });
  assert(u.io === adm.io, "not multiplexed");
  assertSame({ ns: adm.welcome.ns, role: adm.welcome.role }, { ns: "/admin", role: "admin" }, "admin welcome");
  const all = [u, adm];
  await expectDelivery({ event: "main-news", all, expect: [u], data: 1, trigger: () => emitOp(u, { op: "io", event: "main-news", data: 1 }) });
  await expectDelivery({ event: "admin-news", all, expect: [adm], data: 2, trigger: () => emitOp(u, { op: "ns", ns: "/admin", event: "admin-news", data: 2 }) });
  // socket.broadcast() in /admin: other /admin sockets only
  const adm2 = await client("ns-admin-2", { nsp: "/admin", auth: { role: "admin" } });
  await expectDelivery({ event: "adm-bc", all: [u, adm, adm2], expect: [adm2], data: 3, trigger: () => emitOp(adm, { op: "broadcast", event: "adm-bc", data: 3 }) });
});

await scenario("/admin kicks a / socket found with fetch_sockets (RemoteSocket.local)", async () => {
  const target = await client("kick-target", { transports: POLLING });
  const bystander = await client("kick-bystander");
  const adm = await client("kicker", { nsp: "/admin", auth: { role: "admin" } });
  const reason = disconnected(target);
  assertSame(await req(adm, "kick", { name: "kick-target" }), { kicked: 1 }, "kick");
  assert((await reason) === "io server disconnect", `reason ${await reason}`);
  await barrier(bystander);
  assert(bystander.connected, "bystander kicked");
});

await scenario("dynamic namespaces: shared handler and middleware, isolated, io.of(child), removed when empty", async () => {
  const a1 = await client("dyn-a1", { nsp: "/dyn-a" });
  const a2 = await client("dyn-a2", { nsp: "/dyn-a", transports: POLLING });
  const b = await client("dyn-b1", { nsp: "/dyn-b" });
  const m = await client("dyn-main");
  assertSame([a1.welcome.ns, a2.welcome.ns, b.welcome.ns], ["/dyn-a", "/dyn-a", "/dyn-b"], "welcome ns");
  assertSame((await req(b, "whoami")).ns, "/dyn-b", "whoami ns");
  const all = [a1, a2, b, m];
  // broadcast within one child only
  await expectDelivery({
    event: "dyn-news",
    all,
    expect: [a2],
    data: { from: "dyn-a1", ns: "/dyn-a", text: "hello a" },
    trigger: async () => assert((await req(a1, "dyn-broadcast", "hello a")) === "sent", "dyn-broadcast"),
  });
  // io.of(child) from /
  await expectDelivery({ event: "to-b", all, expect: [b], data: "via io.of", trigger: () => emitOp(m, { op: "ns", ns: "/dyn-b", event: "to-b", data: "via io.of" }) });
  assertSame(await req(m, "ns-exists", { ns: "/dyn-zzz" }), { exists: false }, "/dyn-zzz exists");
  // the shared middleware refuses one child
  const err = await refused("/dyn-forbidden", { name: "dyn-forbidden" });
  assert(err.message === "forbidden namespace", `message ${JSON.stringify(err.message)}`);
  assertSame(err.data, { ns: "/dyn-forbidden" }, "err.data");
  // empty children are removed; a new connection recreates them
  assertSame(await req(m, "ns-exists", { ns: "/dyn-a" }), { exists: true }, "/dyn-a exists");
  const gone = Promise.all([disconnected(a1), disconnected(a2)]);
  a1.disconnect();
  a2.disconnect();
  await gone;
  const deadline = Date.now() + 3_000;
  while ((await req(m, "ns-exists", { ns: "/dyn-a" })).exists) {
    if (Date.now() > deadline) throw new Error("/dyn-a still exists with no socket");
    await sleep(20);
  }
  assertSame(await req(m, "ns-exists", { ns: "/dyn-b" }), { exists: true }, "/dyn-b (not empty) removed");
  const a3 = await client("dyn-a3", { nsp: "/dyn-a" });
  assert(a3.welcome.ns === "/dyn-a", "reconnect to /dyn-a");
  assertSame(await serverReasons(m, "dyn-a1", "/dyn-a"), ["client namespace disconnect"], "dyn-a1 server reason");
});

// ---------------------------------------------------------------------------
// on_any and packet middlewares

await scenario("use_middleware refuses an event: no handler, no ack, the error handler runs", async () => {
  const a = await client("mw-user");
  const errMsg = once(a, "middleware-error");
  a.emit("forbidden-thing", 1);
  assertSame(await errMsg, ["event forbidden-thing is forbidden"], "middleware-error");
  let err = null;
  try {
    await req(a, "forbidden-thing", {}, 500);
  } catch (e) {
    err = e;
  }
  assert(err && /timed out/.test(err.message), `refused event was acked: ${err}`);
  await barrier(a);
  assert(got(a, "should-not-run").length === 0, "the refused event's handler ran");
  assert((await req(a, "ping")) === "pong", "allowed events refused too");
  const f = await factsOf(a, "mw-user");
  assertSame(f.refused, ["event forbidden-thing is forbidden", "event forbidden-thing is forbidden"], "refused (server)");
});

await scenario("on_any sees every incoming event, handled or not", async () => {
  const a = await client("any-a");
  a.emit("alpha", 1);
  a.emit("beta");
  await barrier(a);
  assertSame(await req(a, "any-log"), ["alpha", "beta", "ping", "any-log"], "on_any log");
});

await scenario("on_any sees events refused by use_middleware too (Node: onAny runs before socket.use)", async () => {
  const a = await client("any-b");
  const errMsg = once(a, "middleware-error");
  a.emit("alpha");
  a.emit("forbidden-x");
  await errMsg;
  assertSame(await req(a, "any-log"), ["alpha", "forbidden-x", "any-log"], "on_any log");
});

done();
