// Real engine.io-client v6 against a plain Engine.IO echo server.
//
//   TARGET=http://127.0.0.1:3000 node engine-client.mjs
//
// The server at `${TARGET}/engine.io/` must echo every message (text and
// binary) back to its sender, with pingInterval 300, pingTimeout 200 and
// maxHttpBufferSize 1e6 (see reference-server.mjs).

import { Socket } from "engine.io-client";
import {
  TARGET,
  scenario,
  done,
  metric,
  once,
  collect,
  sleep,
  track,
  assert,
  assertSame,
  isBinary,
  median,
  pct,
} from "./lib/harness.mjs";

const PATH = "/engine.io/";

// NB: engine.io-client ignores the path part of the URI; the endpoint path
// must be given with the `path` option.
function makeSocket(opts = {}) {
  return track(new Socket(TARGET, { path: PATH, ...opts }));
}

/** New socket, resolved once "open" fires (handshake done). */
async function open(opts = {}) {
  const socket = makeSocket(opts);
  let handshake;
  socket.once("handshake", (h) => (handshake = h));
  await once(socket, "open", { failOn: ["error", "close"] });
  return { socket, handshake };
}

/** Open with default transports and wait until the upgrade to websocket completed. */
async function openUpgraded(opts = {}) {
  const socket = makeSocket(opts);
  const upgraded = once(socket, "upgrade", { failOn: ["error", "close", "upgradeError"] });
  await once(socket, "open", { failOn: ["error", "close"] });
  assert(socket.transport.name === "polling", `expected to open over polling, got ${socket.transport.name}`);
  await upgraded;
  assert(socket.transport.name === "websocket", `expected websocket after upgrade, got ${socket.transport.name}`);
  return socket;
}

/** Send each message and expect the echoes back, in order, intact. */
async function echoAll(socket, messages, timeout = 5_000) {
  const got = collect(socket, "message", messages.length, { timeout });
  for (const m of messages) socket.send(m);
  const echoes = (await got).map((args) => args[0]);
  messages.forEach((sent, i) => {
    const back = echoes[i];
    if (sent === "") {
      // engine.io-parser decodes a bare "4" packet as { type: "message" } with
      // no data, so an empty text message always surfaces as `undefined`.
      assert(back === undefined || back === "", `echo #${i}: sent empty text, got ${JSON.stringify(back)}`);
    } else if (typeof sent === "string") {
      assert(typeof back === "string", `echo #${i}: sent text, got ${isBinary(back) ? "binary" : typeof back}`);
      assert(back === sent, `echo #${i}: text mismatch (sent ${sent.length} chars, got ${back.length}: ${JSON.stringify(back.slice(0, 40))})`);
    } else {
      assert(isBinary(back), `echo #${i}: sent binary, got ${typeof back} ${JSON.stringify(String(back).slice(0, 40))}`);
      assertSame(back, sent, `echo #${i} bytes`);
    }
  });
}

const TEXTS = ["hello", "", "héllo wörld ✓ 😀 日本語", JSON.stringify({ a: [1, 2, { b: null }] }), "4probe", "b base64-looking text"];

function binaries() {
  const u8 = Uint8Array.from([0, 1, 2, 3, 250, 251, 252, 253, 254, 255]);
  const buf = Buffer.from("binary \u0000 payload \xff", "latin1");
  const ab = new Uint8Array([9, 8, 7, 6, 5]).buffer;
  const single = Buffer.from([0x04]); // a lone "4" byte must stay binary
  const empty = new Uint8Array(0);
  return [u8, buf, ab, single, empty];
}

function bigText(n) {
  let s = "";
  while (s.length < n) s += "0123456789abcdefghijklmnopqrstuvwxyz€";
  return s.slice(0, n);
}

function bigBinary(n) {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + 7) & 0xff;
  return b;
}

function echoSuite(label, connect) {
  return [
    [`[${label}] text echo`, async () => echoAll(await connect(), TEXTS)],
    [`[${label}] binary echo (Uint8Array, Buffer, ArrayBuffer, 1-byte, empty)`, async () => echoAll(await connect(), binaries())],
    [`[${label}] interleaved text/binary burst of 40 keeps order`, async () => {
      const msgs = [];
      for (let i = 0; i < 40; i++) msgs.push(i % 3 === 0 ? Buffer.from([i, 255 - i]) : `msg-${i}`);
      await echoAll(await connect(), msgs);
    }],
    [`[${label}] large messages (200 kB text, 200 kB binary)`, async () => echoAll(await connect(), [bigText(200_000), bigBinary(200_000)], 10_000)],
  ];
}

// ---------------------------------------------------------------------------

await scenario("[default] handshake: opens over polling with sid, upgrades, ping settings", async () => {
  const { socket, handshake } = await open();
  assert(socket.transport.name === "polling", `opened over ${socket.transport.name}`);
  assert(handshake && typeof handshake.sid === "string" && handshake.sid.length > 0, `bad sid in handshake ${JSON.stringify(handshake)}`);
  assert(socket.id === handshake.sid, "socket.id != handshake sid");
  assert(Array.isArray(handshake.upgrades) && handshake.upgrades.includes("websocket"), `upgrades should include websocket: ${JSON.stringify(handshake.upgrades)}`);
  assert(handshake.pingInterval === 300, `pingInterval ${handshake.pingInterval} != 300`);
  assert(handshake.pingTimeout === 200, `pingTimeout ${handshake.pingTimeout} != 200`);
  assert(handshake.maxPayload === 1_000_000, `maxPayload ${handshake.maxPayload} != 1000000`);
});

await scenario("[websocket] handshake: opens over websocket, no further upgrades", async () => {
  const { socket, handshake } = await open({ transports: ["websocket"] });
  assert(socket.transport.name === "websocket", `opened over ${socket.transport.name}`);
  assert(typeof handshake.sid === "string" && handshake.sid.length > 0, "bad sid");
  assert(Array.isArray(handshake.upgrades) && handshake.upgrades.length === 0, `upgrades should be [] on websocket: ${JSON.stringify(handshake.upgrades)}`);
  assert(handshake.pingInterval === 300 && handshake.pingTimeout === 200, "ping settings");
});

await scenario("[default] upgrades from polling to websocket, sid kept", async () => {
  const socket = makeSocket();
  const upgraded = once(socket, "upgrade", { failOn: ["error", "close", "upgradeError"] });
  await once(socket, "open", { failOn: ["error", "close"] });
  const sid = socket.id;
  assert(socket.transport.name === "polling", `opened over ${socket.transport.name}`);
  await upgraded;
  assert(socket.transport.name === "websocket", `transport after upgrade: ${socket.transport.name}`);
  assert(socket.id === sid, "sid changed across upgrade");
});

await scenario("[default] messages sent while upgrading arrive in order", async () => {
  const socket = makeSocket();
  const upgraded = once(socket, "upgrade", { failOn: ["error", "close", "upgradeError"] });
  await once(socket, "open", { failOn: ["error", "close"] });
  const msgs = [];
  for (let i = 0; i < 30; i++) msgs.push(i % 2 ? `during-${i}` : Buffer.from([i, i, i]));
  const first = collect(socket, "message", msgs.length, { timeout: 5_000 });
  // pump messages across the upgrade window
  for (let i = 0; i < msgs.length; i++) {
    socket.send(msgs[i]);
    if (i % 5 === 4) await sleep(5);
  }
  const echoes = (await first).map((a) => a[0]);
  assertSame(echoes, msgs, "echo sequence");
  await upgraded;
  await echoAll(socket, ["after-upgrade", Buffer.from([1, 2, 3])]);
});

const suites = [
  ...echoSuite("default/upgraded", () => openUpgraded()),
  ...echoSuite("websocket", async () => (await open({ transports: ["websocket"] })).socket),
  ...echoSuite("polling", async () => (await open({ transports: ["polling"] })).socket),
];
for (const [name, fn] of suites) await scenario(name, fn, 12_000);

for (const [label, opts] of [
  ["polling", { transports: ["polling"] }],
  ["websocket", { transports: ["websocket"] }],
  ["default/upgraded", null],
]) {
  await scenario(`[${label}] client close(): "close" with reason "forced close"`, async () => {
    const socket = opts ? (await open(opts)).socket : await openUpgraded();
    const closed = once(socket, "close", { timeout: 3_000 });
    socket.close();
    const [reason] = await closed;
    assert(reason === "forced close", `close reason ${JSON.stringify(reason)}`);
    assert(socket.readyState === "closed", `readyState ${socket.readyState}`);
  });

  await scenario(`[${label}] heartbeat keeps session alive for 1.5 s (>= 3 pings)`, async () => {
    const socket = opts ? (await open(opts)).socket : await openUpgraded();
    const sid = socket.id;
    let pings = 0;
    let closed = null;
    socket.on("ping", () => pings++);
    socket.on("close", (r) => (closed = r));
    await sleep(1_500);
    assert(closed === null, `session closed during idle: ${closed}`);
    assert(pings >= 3, `only ${pings} pings in 1.5 s with pingInterval 300`);
    assert(socket.id === sid && socket.readyState === "open", `state ${socket.readyState}`);
    await echoAll(socket, ["still-alive", Buffer.from([42])]);
  }, 10_000);

  await scenario(`[${label}] server closes a session that stops answering pings`, async () => {
    const socket = opts ? (await open(opts)).socket : await openUpgraded();
    const sid = socket.id;
    // drop our pongs; the server must close within pingInterval + pingTimeout
    const sendPacket = socket._sendPacket;
    assert(typeof sendPacket === "function", "engine.io-client internals changed (_sendPacket)");
    socket._sendPacket = function (type, ...rest) {
      if (type === "pong") return;
      return sendPacket.call(this, type, ...rest);
    };
    const t0 = Date.now();
    const [reason] = await once(socket, "close", { timeout: 3_000 });
    const ms = Date.now() - t0;
    // "ping timeout" would mean the *client* gave up because the server went
    // silent without closing -- not what we want.
    assert(reason === "transport close" || reason === "transport error", `close reason ${JSON.stringify(reason)} after ${ms} ms`);
    // the session must be gone on the server
    const res = await fetch(`${TARGET}${PATH}?EIO=4&transport=polling&sid=${encodeURIComponent(sid)}`, { signal: AbortSignal.timeout(3_000) });
    const body = await res.text();
    assert(res.status === 400, `polling GET on closed sid: status ${res.status} body ${body.slice(0, 80)}`);
  });
}

// -- metrics: round-trip time, sequential, 200 echoes per transport -----------
async function rtt(socket, n) {
  const times = [];
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    const got = once(socket, "message", { timeout: 2_000 });
    socket.send(`rtt-${i}`);
    const [m] = await got;
    if (m !== `rtt-${i}`) throw new Error(`rtt echo mismatch at ${i}: ${m}`);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return times;
}

for (const [label, opts] of [
  ["polling", { transports: ["polling"] }],
  ["websocket", { transports: ["websocket"] }],
]) {
  await scenario(`[${label}] 200 sequential echoes (rtt metric)`, async () => {
    const { socket } = await open(opts);
    const times = await rtt(socket, 200);
    metric(`${label}_rtt_ms`, median(times).toFixed(3));
    metric(`${label}_rtt_p95_ms`, pct(times, 95).toFixed(3));
  }, 20_000);
}

done();
