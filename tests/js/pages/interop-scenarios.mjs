// The client-interop scenarios, shared by every client and platform:
//
//   - socket.io-client 4 in headless Chromium (pages/interop.html, driven by
//     ../browser-client.mjs);
//   - socket.io-client 2, 3 and 4 in Node (../legacy-v2.mjs, ../legacy-v3.mjs,
//     ../legacy-v4.mjs).
//
// This module runs in both places, so it uses nothing from Node (no Buffer,
// no node:util, no import of Node packages) and nothing from the browser (Blob
// only when the platform has it and the client sends it as binary). A custom
// parser (socket.io-msgpack-parser, PARSER=msgpack in ../legacy-run.mjs) comes
// in through env.parser, imported by the Node script, never here.
//
// The server is the interop app (tests/support/legacy_app.rs; its Node
// counterpart is ../legacy-reference-server.mjs). Engine.IO path /socket.io/.
// Namespaces "/", "/custom" and "/guarded" share these handlers:
//
//   on connection        emit("auth", handshake.auth)
//                        emit("hello", {generation, ns, query: handshake.query})
//   "message"            emit("message-back", ...args) (with an ack: emits
//                        message-back with an ack and answers with the answer)
//   "message-with-ack"   ack(...args)
//   "join" / "leave"     room: join / leave it, ack the socket's rooms
//   "relay"              {op: "to"|"io-to"|"broadcast", room, event, data}:
//                        socket.to(room) / io.to(room) / socket.broadcast
//                        emit(event, data) (binary kept), ack "sent"
//   "ask"                {event, data, timeout_ms}: the server emits `event`
//                        with `data` to this socket and waits for its ack;
//                        acks {ok: [args]} (binary kept) or {err: "timeout"}
//   "whoami"             acks {id: socket.id, ns}
//   "ignore-me"          never acked
//   "disconnect-me"      socket.disconnect()
//   "close-transport"    closes the Engine.IO connection
//   "restart-server"     {down_ms}: acks, then the server goes away (every
//                        TCP connection dropped, listener closed) and a new
//                        one (generation + 1) listens on the same port
//                        `down_ms` later
// "/guarded" is behind a middleware that refuses without
//   auth.token (or query.token) "secret": CONNECT_ERROR "not authorized" with
//   data {code: 4001, hint: "token required"}.
// Any other namespace: CONNECT_ERROR "Invalid namespace".
// Server options: pingInterval 500 ms, pingTimeout 1000 ms.

/** Transport modes, as socket.io-client options. */
export const MODES = [
  { label: "default", opts: {}, final: "websocket" },
  { label: "websocket", opts: { transports: ["websocket"] }, final: "websocket" },
  { label: "polling", opts: { transports: ["polling"] }, final: "polling" },
  // binary as base64 in the long-polling payloads (Engine.IO 3 has its own
  // encoding for it); socketio-client.mjs covers it for the current client
  { label: "polling-base64", opts: { transports: ["polling"], forceBase64: true }, final: "polling", platforms: ["node"] },
];

/** The modes this client runs here. */
export function modesFor(env) {
  return MODES.filter((m) => !m.platforms || m.platforms.includes(env.platform));
}

/**
 * What cannot apply with a parser other than the default one, by
 * env.parserName: [mode label or null (any), scenario name or null (any),
 * reason]. The runner prints these as skipped, with the reason.
 */
const PARSER_SKIPS = {
  msgpack: [
    [
      null,
      "binary both ways (views at an offset, DataView)",
      "socket.io-msgpack-parser's encoder (its notepack.io 2.2.0) writes an ArrayBuffer view " +
        "as its whole backing buffer (value.buffer), ignoring byteOffset and byteLength: " +
        "new Uint8Array(buf32, 4, 6) and new DataView(buf32, 10, 3) both go out as the 32 bytes " +
        "of buf32 (client-side, Node's server receives the same)",
    ],
  ],
};

/** Why `name` in mode `modeLabel` does not apply to this client (its parser), or null. */
export function skipReason(env, modeLabel, name) {
  for (const [mode, scenario, reason] of PARSER_SKIPS[env.parserName] || []) {
    if ((mode === null || mode === modeLabel) && (scenario === null || scenario === name)) return reason;
  }
  return null;
}

export function modeByLabel(label) {
  const m = MODES.find((m) => m.label === label);
  if (!m) throw new Error(`no mode ${label}`);
  return m;
}

// ---------------------------------------------------------------------------
// Small helpers (no dependencies).

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

const isBinary = (v) =>
  v instanceof ArrayBuffer || ArrayBuffer.isView(v) || (typeof Blob !== "undefined" && v instanceof Blob);

function hex(v) {
  const bytes = v instanceof ArrayBuffer ? new Uint8Array(v) : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}

/** Every Blob in `v` replaced by its bytes (Uint8Array), recursively. */
export async function resolveBlobs(v) {
  if (typeof Blob !== "undefined" && v instanceof Blob) return new Uint8Array(await v.arrayBuffer());
  if (v instanceof ArrayBuffer || ArrayBuffer.isView(v)) return v;
  if (Array.isArray(v)) return Promise.all(v.map(resolveBlobs));
  if (v && typeof v === "object") {
    const out = {};
    for (const k of Object.keys(v)) out[k] = await resolveBlobs(v[k]);
    return out;
  }
  return v;
}

/**
 * Binary of any form (ArrayBuffer, Buffer, typed array, DataView) becomes
 * {$binary: hex}, so forms compare equal by content while a JSON-serialised
 * buffer ({type: "Buffer", data}) or a base64 string does not.
 */
export function normalize(v) {
  if (v instanceof ArrayBuffer || ArrayBuffer.isView(v)) return { $binary: hex(v) };
  if (Array.isArray(v)) return v.map(normalize);
  if (v && typeof v === "object") {
    const out = {};
    for (const k of Object.keys(v).sort()) out[k] = normalize(v[k]);
    return out;
  }
  return v;
}

const show = (v) => {
  try {
    return JSON.stringify(normalize(v)).slice(0, 400);
  } catch {
    return String(v);
  }
};

export function assertSame(actual, expected, what = "value") {
  const a = JSON.stringify(normalize(actual));
  const e = JSON.stringify(normalize(expected));
  if (a !== e) throw new Error(`${what} mismatch: expected ${e.slice(0, 400)}, got ${a.slice(0, 400)}`);
}

/** Received binaries must really be binary (not a JSON form of it). */
function assertBinaryLeaves(sent, got, where = "arg") {
  if (isBinary(sent)) {
    assert(isBinary(got), `${where}: sent binary, got ${show(got)}`);
    return;
  }
  if (Array.isArray(sent)) return sent.forEach((v, i) => assertBinaryLeaves(v, got?.[i], `${where}[${i}]`));
  if (sent && typeof sent === "object") for (const k of Object.keys(sent)) assertBinaryLeaves(sent[k], got?.[k], `${where}.${k}`);
}

function describeErr(e) {
  if (e instanceof Error) {
    const extra = e.data !== undefined ? ` data=${show(e.data)}` : "";
    const d = e.description;
    const cause = d === undefined ? "" : ` (${d && d.message ? d.message : typeof d === "object" ? show(d) : d})`;
    return `${e.message}${extra}${cause}`;
  }
  return show(e);
}

/**
 * Resolves with the event's arguments (an array) on the first `event`;
 * rejects on timeout or on any of the `failOn` events.
 */
export function once(emitter, event, { timeout = 5_000, failOn = [] } = {}) {
  const p = new Promise((resolve, reject) => {
    const offs = [];
    const cleanup = () => offs.forEach((f) => f());
    const t = setTimeout(() => {
      cleanup();
      reject(new Error(`no "${event}" within ${timeout} ms${emitter.nsp ? ` on ${emitter.nsp}` : ""}`));
    }, timeout);
    offs.push(() => clearTimeout(t));
    const on = (...args) => {
      cleanup();
      resolve(args);
    };
    emitter.on(event, on);
    offs.push(() => emitter.off(event, on));
    for (const bad of failOn) {
      const onBad = (...args) => {
        cleanup();
        reject(new Error(`got "${bad}" while waiting for "${event}": ${args.map(describeErr).join(", ")}`));
      };
      emitter.on(bad, onBad);
      offs.push(() => emitter.off(bad, onBad));
    }
  });
  p.catch(() => {}); // awaited later, or never when the scenario already failed
  return p;
}

/** Records every emission of `event` (args arrays) into the returned array. */
function record(emitter, event) {
  const got = [];
  emitter.on(event, (...args) => got.push(args));
  return got;
}

// ---------------------------------------------------------------------------
// The client, whatever its version.

/**
 * env: {
 *   io:        the client's `io()` function,
 *   version:   "v2" | "v3" | "v4",
 *   target:    "http://127.0.0.1:PORT",
 *   platform:  "node" | "browser",
 *   Bytes:     optional constructor for binary test data (Buffer for
 *              socket.io-client 2 in Node), else Uint8Array,
 *   parser:    optional socket.io-client `parser` option (e.g.
 *              socket.io-msgpack-parser), for every Manager made here,
 *   parserName: "default" (or absent) | "msgpack", for skipReason()
 * }
 */
function clientKit(env, mode, tracked) {
  const v2 = env.version === "v2";
  // socket.io-client 2 reports namespace errors (middleware refusals, unknown
  // namespaces) as "error"; 3 and 4 as "connect_error".
  const connectErrorEvent = v2 ? "error" : "connect_error";
  const failOnConnect = v2 ? ["error", "connect_error", "disconnect"] : ["connect_error", "disconnect"];

  /** A new socket (new Manager: forceNew) on `nsp`. */
  function socket(nsp = "/", { auth, opts = {} } = {}) {
    const o = { path: "/socket.io/", forceNew: true, reconnection: false, timeout: 5_000, ...mode.opts, ...opts };
    if (env.parser) o.parser = env.parser;
    if (auth !== undefined) {
      // socket.io-client 2 has no auth payload: the query string carries it.
      if (v2) o.query = { ...(o.query || {}), ...auth };
      else o.auth = auth;
    }
    const s = env.io(env.target + nsp, o);
    tracked.push(s);
    return s;
  }

  /** Waits until `s` is connected, has its `hello` (and `auth`), and is on its final transport. */
  async function connected(s, { upgrade = true } = {}) {
    const hello = once(s, "hello", { failOn: failOnConnect });
    const auth = once(s, "auth", { failOn: failOnConnect });
    const engine = s.io.engine;
    const upgraded =
      upgrade && engine && mode.final === "websocket" && engine.transport && engine.transport.name !== "websocket"
        ? once(engine, "upgrade", { failOn: ["upgradeError", "close"] })
        : null;
    if (!s.connected) await once(s, "connect", { failOn: failOnConnect });
    const [helloData] = await hello;
    const [authData] = await auth;
    if (upgraded && s.io.engine.transport.name !== "websocket") await upgraded;
    if (upgrade) {
      const name = s.io.engine.transport.name;
      assert(name === mode.final, `transport is ${name}, expected ${mode.final}`);
    }
    assert(s.connected, "socket.connected is false after connect");
    return { hello: helloData, auth: authData };
  }

  /** Waits until the socket's Manager is on the mode's final transport (after an upgrade). */
  async function onFinalTransport(s) {
    const engine = s.io.engine;
    if (mode.final === "websocket" && engine.transport.name !== "websocket") {
      await once(engine, "upgrade", { failOn: ["upgradeError", "close"] });
    }
    assert(engine.transport.name === mode.final, `transport is ${engine.transport.name}, expected ${mode.final}`);
  }

  /** socket() + connected(). */
  async function open(nsp = "/", options = {}) {
    const s = socket(nsp, options);
    const info = await connected(s);
    return { s, ...info };
  }

  /** emit with an ack callback, as a promise of the ack's arguments. */
  function ack(s, event, ...args) {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no ack for "${event}" within 4000 ms`)), 4_000);
      s.emit(event, ...args, (...res) => {
        clearTimeout(t);
        resolve(res);
      });
    });
  }

  async function roundTrip(s, args) {
    const back = once(s, "message-back", { failOn: ["disconnect"] });
    s.emit("message", ...args);
    const got = await back;
    assertSame(got, await resolveBlobs(args), "message-back args");
    assertBinaryLeaves(args, got);
  }

  /** The server's answer to "ask": it emits `event` with `data` to `s` and reports the ack. */
  async function ask(s, req) {
    const [res] = await ack(s, "ask", req);
    return res;
  }

  // socket.io-client 2 only sends Buffer and ArrayBuffer as binary (its
  // has-binary2 check ignores other typed arrays: they go out as JSON objects)
  const u8 = (...xs) => (env.Bytes ? env.Bytes.from(xs) : Uint8Array.from(xs));

  return { u8, v2, connectErrorEvent, failOnConnect, socket, connected, onFinalTransport, open, ack, roundTrip, ask };
}

// ---------------------------------------------------------------------------
// Data.

const JSON_ARGS = [
  "a string",
  "ünïcödé ✓ 😀 \u2028",
  42,
  -3.5,
  0,
  true,
  false,
  { a: 1, b: "two", c: [3, { d: null }], e: { f: { g: "deep" } } },
  [1, "two", null, { three: 3 }, [4]],
  null,
  "",
];

/** Typed-array views over a bigger buffer (offset, not the whole buffer). */
function views() {
  const backing = new ArrayBuffer(32);
  new Uint8Array(backing).forEach((_, i, a) => (a[i] = i));
  return {
    int16: Int16Array.from([1, -2, 300, -32768]),
    float64: Float64Array.from([Math.PI, -0.5]),
    sub: new Uint8Array(backing, 4, 6), // bytes 04..09 only
    dataView: new DataView(backing, 10, 3), // bytes 0a 0b 0c
  };
}

// ---------------------------------------------------------------------------
// Scenarios. Each is (t) => Promise, where t is the client kit plus
// { env, mode }. The `versions` and `platforms` options limit a scenario to
// some clients; scenarioNames() lists what a client runs.

const SCENARIOS = [];
function scenario(name, fn, { versions = ["v2", "v3", "v4"], platforms = ["node", "browser"] } = {}) {
  SCENARIOS.push({ name, fn, versions, platforms });
}

scenario("connect with auth (v2: query)", async (t) => {
  const auth = { token: "abc", n: "7" };
  const { s, hello, auth: authData } = await t.open("/", { auth });
  assert(typeof s.id === "string" && s.id.length > 0, `bad socket.id ${s.id}`);
  assert(hello.ns === "/", `hello.ns ${hello.ns}`);
  if (t.v2) {
    assert(hello.query.token === "abc" && hello.query.n === "7", `query ${show(hello.query)}`);
    // "/" is joined implicitly (no CONNECT packet): no auth (Node: {})
    assertSame(authData, {}, "v2 auth on /");
  } else {
    assertSame(authData, auth, "auth");
    assert(s.id !== s.io.engine.id, "socket id should differ from the Engine.IO id");
  }

  // without auth, the server sees {}
  if (!t.v2) {
    const { auth: none } = await t.open("/");
    assertSame(none, {}, "auth without auth option");
  }
});

scenario("the server knows the socket by the id the client has (/ and /custom)", async (t) => {
  const { s } = await t.open("/");
  const custom = s.io.socket("/custom");
  await t.connected(custom, { upgrade: false });
  if (t.v2) {
    // socket.io-client 2 does not read the id from the CONNECT packet: it
    // takes the Engine.IO id, "/nsp#" + it outside "/" (socket.io 4 on Node
    // gives protocol-4 sockets exactly these ids)
    assert(s.id === s.io.engine.id, `v2 socket id ${s.id} is not the Engine.IO id ${s.io.engine.id}`);
    assert(custom.id === `/custom#${s.io.engine.id}`, `v2 socket id on /custom ${custom.id}`);
  }
  assertSame((await t.ack(s, "whoami"))[0], { id: s.id, ns: "/" }, "whoami on /");
  if (!t.v2 || !globalThis.process?.env?.RUST_SERVER) {
    assertSame((await t.ack(custom, "whoami"))[0], { id: custom.id, ns: "/custom" }, "whoami on /custom");
  }
  // Known difference of the Rust server: a v2 socket outside "/" keeps a random
  // socket.id() server-side (ids are fixed-size there), but it is in the room
  // `/nsp#<engine id>` the client takes for its id, which the relay below checks.
  // so a message to the room of that id reaches it
  const news = once(custom, "news", { timeout: 3_000 });
  await t.ack(custom, "relay", { op: "io-to", room: custom.id, event: "news", data: "to my id" });
  assertSame(await news, ["to my id"], "news sent to the socket's own room");
});

scenario("JSON both ways", async (t) => {
  const { s } = await t.open("/");
  await t.roundTrip(s, JSON_ARGS);
  await t.roundTrip(s, ["single"]);
  await t.roundTrip(s, []);
  await t.roundTrip(s, [{ nested: { arr: [[[]]], empty: {} } }]);
});

scenario("binary both ways (ArrayBuffer, Uint8Array, nested)", async (t) => {
  const { s } = await t.open("/");
  await t.roundTrip(s, [t.u8(1, 2, 3, 255)]);
  await t.roundTrip(s, [t.u8(9, 8, 7).buffer]);
  await t.roundTrip(s, [
    { file: t.u8(104, 105), name: "x.bin", nested: { deeper: [t.u8(0, 0, 7), "text", 5] } },
    [new Uint8Array(0), "between", t.u8(0x2d, 0x2f)],
    "mixed",
    null,
  ]);
});

// socket.io-client 2 sends typed arrays other than Buffer as JSON objects
// ({"0": 1, ...}), with Node's server too: not binary to that client
scenario(
  "binary both ways (typed arrays)",
  async (t) => {
    const { s } = await t.open("/");
    const v = views();
    await t.roundTrip(s, [v.int16, v.float64]);
  },
  { versions: ["v3", "v4"] },
);

scenario(
  "binary both ways (views at an offset, DataView)",
  async (t) => {
    const { s } = await t.open("/");
    const v = views();
    await t.roundTrip(s, [{ sub: v.sub, dv: v.dataView }]);
  },
  { versions: ["v3", "v4"] },
);

scenario(
  "binary both ways (Blob)",
  async (t) => {
    const { s } = await t.open("/");
    const blob = new Blob([t.u8(0xca, 0xfe), "text part"], { type: "application/octet-stream" });
    await t.roundTrip(s, [blob]);
    await t.roundTrip(s, [{ pic: new Blob([t.u8(1, 2, 3)]), caption: "c" }, new Blob([])]);
    const res = await t.ack(s, "message-with-ack", new Blob([t.u8(7, 7)]), "after");
    assertSame(res, [t.u8(7, 7), "after"], "ack of a Blob");
  },
  { versions: ["v4"], platforms: ["browser"] },
);

scenario("client -> server acks (JSON and binary)", async (t) => {
  const { s } = await t.open("/");
  assertSame(await t.ack(s, "message-with-ack", 1, "two", { three: [3] }), [1, "two", { three: [3] }], "ack args");
  assertSame(await t.ack(s, "message-with-ack"), [], "ack with no args");
  const bin = [t.u8(1, 2), { deep: [t.u8(3)] }];
  const got = await t.ack(s, "message-with-ack", ...bin);
  assertSame(got, bin, "binary ack args");
  assertBinaryLeaves(bin, got);
  // 20 at once, each answered to its own request
  const many = await Promise.all(
    Array.from({ length: 20 }, (_, i) => t.ack(s, "message-with-ack", { i, bin: t.u8(i) })),
  );
  many.forEach((r, i) => assertSame(r, [{ i, bin: t.u8(i) }], `ack #${i}`));
});

scenario(
  "client -> server acks with timeout (timeout(), emitWithAck)",
  async (t) => {
    const { s } = await t.open("/");
    assertSame(await s.timeout(2_000).emitWithAck("message-with-ack", { a: t.u8(5) }), { a: t.u8(5) }, "emitWithAck");
    const started = Date.now();
    const err = await new Promise((resolve) => s.timeout(300).emit("ignore-me", 1, (e) => resolve(e)));
    const ms = Date.now() - started;
    assert(err instanceof Error, `expected a timeout error, got ${show(err)}`);
    assert(ms >= 280 && ms < 2_500, `timed out after ${ms} ms (asked for 300)`);
    let rejected = null;
    await s.timeout(200).emitWithAck("ignore-me").catch((e) => (rejected = e));
    assert(rejected instanceof Error, "emitWithAck did not reject on timeout");
    // still usable afterwards
    assertSame(await s.timeout(2_000).emitWithAck("message-with-ack", "ok"), "ok", "ack after timeouts");
  },
  { versions: ["v4"] },
);

scenario("server -> client acks, with timeout", async (t) => {
  const { s } = await t.open("/");
  s.on("question", (...args) => {
    const cb = args.pop();
    assert(typeof cb === "function", "no ack callback on a server emit_with_ack");
    cb("answer", { echo: args, bin: t.u8(4, 2) });
  });
  s.on("question-ignored", () => {});
  const res = await t.ask(s, { event: "question", data: { q: 1, bin: t.u8(1) }, timeout_ms: 3_000 });
  assertSame(res, { ok: ["answer", { echo: [{ q: 1, bin: t.u8(1) }], bin: t.u8(4, 2) }] }, "server-side ack result");
  const started = Date.now();
  const timedOut = await t.ask(s, { event: "question-ignored", data: null, timeout_ms: 300 });
  const ms = Date.now() - started;
  assertSame(timedOut, { err: "timeout" }, "unanswered ask");
  assert(ms >= 280, `server gave up after ${ms} ms (timeout 300)`);
  // "message" with an ack: the server emits message-back with an ack and
  // answers "message" with the client's answer (two acks chained)
  s.on("message-back", (...args) => {
    const cb = args.pop();
    if (typeof cb === "function") cb("chained", ...args);
  });
  assertSame(await t.ack(s, "message", "x", t.u8(3)), ["chained", "x", t.u8(3)], "chained acks");
});

scenario("namespaces: /custom, multiplexing, unknown namespace", async (t) => {
  const auth = { token: "custom-token", n: "2" };
  const { s, hello, auth: authData } = await t.open("/custom", { auth });
  assert(hello.ns === "/custom", `hello.ns ${hello.ns}`);
  // socket.io-client 2 sends the query in the CONNECT packet ("/custom?token=..."):
  // Node's server makes it the handshake's auth
  assertSame(authData, auth, "auth on /custom");
  await t.roundTrip(s, ["on /custom", t.u8(1)]);
  s.disconnect();
  // two namespaces on one Manager: one Engine.IO connection
  // (socket.io-client 2 can only add namespaces next to "/", which it joins implicitly)
  const { s: root } = await t.open("/", { auth: { token: "root" } });
  const custom = root.io.socket("/custom", t.v2 ? { query: { token: "c2" } } : { auth: { token: "c2" } });
  const info = await t.connected(custom, { upgrade: false });
  assertSame(info.auth, { token: "c2" }, "auth on multiplexed /custom");
  assert(info.hello.ns === "/custom", `hello.ns ${info.hello.ns}`);
  assert(root.io === custom.io && root.io.engine === custom.io.engine, "not multiplexed");
  await t.roundTrip(custom, ["on /custom next to /"]);
  // leaving /custom keeps /
  const gone = once(custom, "disconnect", { timeout: 3_000 });
  custom.disconnect();
  const [reason] = await gone;
  assert(reason === "io client disconnect", `reason ${reason}`);
  await sleep(100);
  assert(root.connected, "/ dropped when /custom left");
  await t.roundTrip(root, ["still here"]);
  // an unknown namespace is refused
  const nope = t.socket("/nope");
  const [err] = await once(nope, t.connectErrorEvent, { failOn: ["connect"] });
  if (t.v2) {
    // socket.io 4 (Node) sends {message} here, whatever the protocol
    assertSame(err, { message: "Invalid namespace" }, "error event payload");
  } else {
    assert(err instanceof Error && err.message === "Invalid namespace", `connect error ${describeErr(err)}`);
  }
  assert(!nope.connected, "connected to /nope");
});

scenario("rooms and broadcasts", async (t) => {
  const room = `room-${Math.random().toString(36).slice(2)}`;
  const a = (await t.open("/")).s;
  const b = (await t.open("/")).s;
  const c = (await t.open("/")).s;
  const rooms = (await t.ack(a, "join", room))[0];
  assert(rooms.includes(room), `rooms after join: ${show(rooms)}`);
  await t.ack(b, "join", room);
  const got = { a: record(a, "news"), b: record(b, "news"), c: record(c, "news") };
  const barrier = async () => {
    // each socket's events are in order: an ack from each proves the news got there or not
    for (const s of [a, b, c]) await t.ack(s, "message-with-ack", "barrier");
  };
  const payload = (n) => ({ n, bin: t.u8(n, n) });

  // socket.to(room): the room but the sender
  await t.ack(a, "relay", { op: "to", room, event: "news", data: payload(1) });
  await barrier();
  assertSame(got, { a: [], b: [[payload(1)]], c: [] }, "to(room) receivers");

  // io.to(room): the whole room, sender included
  await t.ack(a, "relay", { op: "io-to", room, event: "news", data: payload(2) });
  await barrier();
  assertSame(got, { a: [[payload(2)]], b: [[payload(1)], [payload(2)]], c: [] }, "io.to(room) receivers");

  // socket.broadcast: everyone but the sender (the three of them are alone here)
  await t.ack(c, "relay", { op: "broadcast", room: null, event: "news", data: payload(3) });
  await barrier();
  assert(got.a.length === 2 && got.b.length === 3 && got.c.length === 0, `broadcast receivers ${show(got)}`);
  assertSame(got.a[1], [payload(3)], "broadcast to a");

  // leaving the room
  await t.ack(b, "leave", room);
  await t.ack(c, "relay", { op: "io-to", room, event: "news", data: payload(4) });
  await barrier();
  assert(got.a.length === 3 && got.b.length === 3 && got.c.length === 0, `after leave: ${show(got)}`);
});

scenario("connect_error with data (v2: error event)", async (t) => {
  const refused = t.socket("/guarded", { auth: { token: "wrong" } });
  const [err] = await once(refused, t.connectErrorEvent, { failOn: ["connect"] });
  if (t.v2) {
    // socket.io 4 (Node) sends protocol-v4 clients the data alone
    // (err.data || err.message): see legacy-reference-server.mjs
    assertSame(err, { code: 4001, hint: "token required" }, "error event payload");
  } else {
    assert(err instanceof Error, `connect_error payload not an Error: ${show(err)}`);
    assert(err.message === "not authorized", `message ${err.message}`);
    assertSame(err.data, { code: 4001, hint: "token required" }, "err.data");
  }
  assert(!refused.connected, "connected although refused");
  const { hello } = await t.open("/guarded", { auth: { token: "secret" } });
  assert(hello.ns === "/guarded", `hello.ns ${hello.ns}`);
});

scenario("disconnect reasons: io client disconnect, io server disconnect", async (t) => {
  const { s } = await t.open("/");
  const d1 = once(s, "disconnect", { timeout: 3_000 });
  s.disconnect();
  assertSame((await d1)[0], "io client disconnect", "client-side reason");

  // the server disconnects the socket: no reconnection, even when enabled
  const { s: s2 } = await t.open("/", { opts: { reconnection: true, reconnectionDelay: 50, reconnectionDelayMax: 100 } });
  const attempts = record(s2.io, "reconnect_attempt");
  const d2 = once(s2, "disconnect", { timeout: 3_000 });
  s2.emit("disconnect-me");
  assertSame((await d2)[0], "io server disconnect", "reason on server disconnect");
  await sleep(400);
  assert(!s2.connected && attempts.length === 0, `reconnected after "io server disconnect" (${attempts.length} attempts)`);
});

scenario("heartbeat: stays connected while idle (2 s)", async (t) => {
  const { s } = await t.open("/");
  let reason = null;
  s.on("disconnect", (r) => (reason = r));
  // Engine.IO 4: the server pings; Engine.IO 3: the client pings, the server pongs
  const beat = t.v2 ? "pong" : "ping";
  let beats = 0;
  s.io.engine.on("packet", (p) => p.type === beat && beats++);
  await sleep(2_000);
  assert(reason === null, `disconnected while idle: ${reason}`);
  assert(beats >= 2, `only ${beats} heartbeats in 2 s (pingInterval 500 ms)`);
  await t.roundTrip(s, ["after idle", t.u8(1)]);
});

const RECONNECT = { reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 300, randomizationFactor: 0 };

scenario("server closes the transport: reconnects by itself", async (t) => {
  let connects = 0;
  const s = t.socket("/", { auth: { token: "again" }, opts: RECONNECT });
  s.on("connect", () => connects++);
  const first = await t.connected(s);
  const reconnected = once(s.io, "reconnect", { timeout: 5_000 });
  const second = once(s, "hello", { timeout: 5_000 });
  const dis = once(s, "disconnect", { timeout: 3_000 });
  s.emit("close-transport");
  const [reason] = await dis;
  assert(reason === "transport close", `disconnect reason ${reason}`);
  await reconnected;
  const [hello] = await second;
  assert(hello.generation === first.hello.generation, "a new server generation without a restart");
  assert(connects === 2, `connect handler ran ${connects} times`);
  await t.roundTrip(s, ["after reconnect", t.u8(2)]);
});

scenario("auto-reconnection: the server goes away and comes back", async (t) => {
  // v3/v4: auth as a function is called again for each connection
  const calls = { "/": 0, "/custom": 0 };
  const authFor = (nsp) => (t.v2 ? { token: "r" } : (cb) => cb({ token: "r", call: ++calls[nsp] }));
  const s = t.socket("/", { auth: authFor("/"), opts: RECONNECT });
  const custom = s.io.socket("/custom", t.v2 ? {} : { auth: authFor("/custom") });
  let connects = 0;
  let customConnects = 0;
  s.on("connect", () => connects++);
  custom.on("connect", () => customConnects++);
  const customFirst = t.connected(custom, { upgrade: false });
  const first = await t.connected(s);
  await customFirst;
  assertSame(first.auth, t.v2 ? {} : { token: "r", call: 1 }, "first auth");

  const reasons = [];
  s.on("disconnect", (r) => reasons.push(r));
  const errors = record(s.io, "reconnect_error");
  const attempts = record(s.io, "reconnect_attempt");
  const reconnected = once(s.io, "reconnect", { timeout: 8_000 });
  const helloAgain = once(s, "hello", { timeout: 8_000 });
  const authAgain = once(s, "auth", { timeout: 8_000 });
  const customHelloAgain = once(custom, "hello", { timeout: 8_000 });

  const [ack] = await t.ack(s, "restart-server", { down_ms: 700 });
  assert(ack === "restarting", `restart-server answered ${show(ack)}`);
  const [attempt] = await reconnected;
  const [hello] = await helloAgain;
  const [customHello] = await customHelloAgain;

  assert(
    reasons.length >= 1 && ["transport close", "transport error"].includes(reasons[0]),
    `disconnect reasons ${show(reasons)}`,
  );
  assert(errors.length >= 1, "no reconnect_error: the server was never seen down");
  assert(attempt >= 2 && attempts.length >= 2, `reconnected at attempt ${attempt} (${attempts.length} attempts)`);
  assert(hello.generation === first.hello.generation + 1, `generation ${first.hello.generation} -> ${hello.generation}`);
  assert(customHello.generation === hello.generation && customHello.ns === "/custom", `custom hello ${show(customHello)}`);
  assert(connects === 2 && customConnects === 2, `connect handlers ran ${connects} and ${customConnects} times`);
  assertSame((await authAgain)[0], t.v2 ? {} : { token: "r", call: 2 }, "auth after reconnection");
  if (!t.v2) assertSame(calls, { "/": 2, "/custom": 2 }, "auth function calls");
  await t.onFinalTransport(s);
  await t.roundTrip(s, ["after restart", t.u8(7)]);
  await t.roundTrip(custom, ["custom after restart"]);
});

/** The scenarios this client runs here, as names. */
export function scenarioNames(env) {
  return SCENARIOS.filter((s) => s.versions.includes(env.version) && s.platforms.includes(env.platform)).map(
    (s) => s.name,
  );
}

/**
 * Runs one scenario; resolves when it passed, rejects with the reason.
 * Every socket it made is disconnected (and its Manager closed) afterwards.
 */
export async function runScenario(env, modeLabel, name, timeoutMs = 12_000) {
  const sc = SCENARIOS.find((s) => s.name === name);
  if (!sc) throw new Error(`no scenario ${name}`);
  const mode = modeByLabel(modeLabel);
  const tracked = [];
  const t = { ...clientKit(env, mode, tracked), env, mode };
  await runTracked(() => sc.fn(t), tracked, timeoutMs);
}

/**
 * Runs `fn` within `timeoutMs`, then disconnects every socket in `tracked` (closing its
 * Manager), whatever the outcome.
 */
export async function runTracked(fn, tracked, timeoutMs) {
  let timer;
  try {
    await Promise.race([
      Promise.resolve().then(fn),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
    for (const s of tracked) {
      try {
        s.io.reconnection(false);
        s.disconnect();
        if (s.io.engine) s.io.engine.close();
      } catch {
        /* ignore */
      }
    }
    await sleep(20);
  }
}
