// Cross-node connection state recovery with the real socket.io-client 4.8: a client connected to
// node A loses its transport under a stream of room broadcasts and reconnects, by itself and with
// the same Socket object (so it sends {pid, offset} and computes `socket.recovered` itself), to
// node B. Both nodes share a Redis Streams adapter with recovery on.
//
//   URL_A=http://127.0.0.1:PA URL_B=http://127.0.0.1:PB node tests/js/recovery-cross.mjs
//
// Env (all optional but URL_A and URL_B):
//   URL_DRIVER       node the ticks are asked from (default URL_B: another node than the one the
//                    client is on before the cut)
//   EXPECT_RECOVERED 1 (default): the session must be recovered on B with every tick once, in
//                    order. 0: the session must NOT be recovered (expired window, or recovery off):
//                    new id, default data, only its own room, no missed ticks replayed.
//   GAP_MS           how long the client stays disconnected (its reconnection delay);
//                    default 200, or 1500 when EXPECT_RECOVERED=0 (must then exceed the server's
//                    maxDisconnectionDuration).
//   COUNT (150), EVERY_MS (10): the ticks; CUT_AFTER (30): ticks received before the cut;
//   TRANSPORTS (websocket; comma-separated); ROOM (random); HARD_CAP_MS (30000).
//   CUT_BY           "close" (default): the client closes its transport. "crash": the client
//                    emits `crash` to A, whose handler SIGKILLs A's process (a node that never
//                    gets to store its sessions); the client sees its transport drop.
//
// What a node must do (tests/js/redis-node.mjs with STREAMS=1 RECOVERY_MS=n does; a Rust node must
// do the same): on connection emit `hello` {recovered, id, rooms (sorted), data} through
// `socket.emit` (so it carries an offset); handle `set-data` (value, ack) => data = value, ack();
// `join` (room, ack) => join, ack(rooms); `ticks` ({count, every_ms, room}, ack) => broadcast
// `tick` i for i in 0..count to `room`, one every `every_ms` ms, ack once scheduled.
//
// Output: JSON lines on stdout, in this order:
//   {"event":"connected","id","pid","url"}       first connection (to URL_A)
//   {"event":"cut","after":n,"offset"}           transport closed after n ticks (last offset seen)
//   {"event":"recovered","recovered","serverRecovered","id","sameId","rooms","data","url"}
//   {"event":"received","seq":[...]}              every tick index, in arrival order
//   {"event":"done","ok":true|false,"errors":[...]}
// Exit code 0 iff ok. Every wait is bounded; the process always exits by HARD_CAP_MS.
//
// Node<->Node check (what it was validated with):
//   redis-server --port 6390 --bind 127.0.0.1 --save '' --appendonly no &
//   REDIS_URL=redis://127.0.0.1:6390 NAME=A STREAMS=1 KEY=rc RECOVERY_MS=1000 PORT=4001 DETACHED=1 node tests/js/redis-node.mjs &
//   REDIS_URL=redis://127.0.0.1:6390 NAME=B STREAMS=1 KEY=rc RECOVERY_MS=1000 PORT=4002 DETACHED=1 node tests/js/redis-node.mjs &
//   URL_A=http://127.0.0.1:4001 URL_B=http://127.0.0.1:4002 node tests/js/recovery-cross.mjs
//   URL_A=http://127.0.0.1:4001 URL_B=http://127.0.0.1:4002 EXPECT_RECOVERED=0 GAP_MS=1500 node tests/js/recovery-cross.mjs
//   (then kill the two nodes and the redis-server by pid)

import { io } from "socket.io-client";

const trim = (u) => (u || "").replace(/\/+$/, "");
const URL_A = trim(process.env.URL_A);
const URL_B = trim(process.env.URL_B);
const URL_DRIVER = trim(process.env.URL_DRIVER) || URL_B;
const EXPECT_RECOVERED = (process.env.EXPECT_RECOVERED ?? "1") !== "0";
const GAP_MS = Number(process.env.GAP_MS || (EXPECT_RECOVERED ? 200 : 1500));
const COUNT = Number(process.env.COUNT || 150);
const EVERY_MS = Number(process.env.EVERY_MS || 10);
const CUT_AFTER = Math.min(Number(process.env.CUT_AFTER || 30), COUNT - 1);
const TRANSPORTS = (process.env.TRANSPORTS || "websocket").split(",").map((t) => t.trim());
const ROOM = process.env.ROOM || `rc-${Math.random().toString(36).slice(2, 10)}`;
const HARD_CAP_MS = Number(process.env.HARD_CAP_MS || 30_000);
const CUT_BY = process.env.CUT_BY || "close";
const STEP_MS = 5_000; // bound on each single wait

const out = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
const errors = [];
const sockets = [];
let finished = false;

function finish(ok, extra = {}) {
  if (finished) return;
  finished = true;
  out({ event: "done", ok, errors, ...extra });
  for (const s of sockets) {
    try {
      s.io.reconnection(false);
      s.disconnect();
    } catch {
      /* ignore */
    }
  }
  // Let stdout drain, then exit whatever is still open.
  setTimeout(() => process.exit(ok ? 0 : 1), 50);
}

setTimeout(() => {
  errors.push(`hard cap of ${HARD_CAP_MS} ms reached`);
  finish(false);
}, HARD_CAP_MS).unref();

if (!URL_A || !URL_B) {
  errors.push("URL_A and URL_B are required (e.g. http://127.0.0.1:PORT)");
  finish(false);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/// Resolves when cond() holds; rejects after ms.
async function waitFor(cond, ms, what) {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out (${ms} ms) waiting for ${what}`);
    await sleep(10);
  }
}

const portOf = (url) => {
  const u = new URL(url);
  return u.port || (u.protocol === "https:" ? "443" : "80");
};

function check(cond, message) {
  if (!cond) errors.push(message);
  return cond;
}

const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

async function main() {
  // --- the client under test, on A -----------------------------------------------------------
  const socket = io(URL_A, {
    forceNew: true,
    transports: TRANSPORTS,
    reconnectionDelay: 50,
    reconnectionDelayMax: 50,
    randomizationFactor: 0,
    reconnectionAttempts: 20,
    timeout: STEP_MS,
  });
  sockets.push(socket);
  const hellos = [];
  const seq = [];
  let cut = null; // set once the transport was closed
  let cutScheduled = false;
  socket.on("hello", (hello) => hellos.push(hello));
  socket.on("connect_error", (e) => out({ event: "connect_error", message: e.message }));
  // The cut runs in a timer, not inside the `tick` listener: the Manager emits each decoded packet
  // on a nextTick, so packets decoded in the same read as the current one would otherwise reach
  // the Socket after the close, be buffered (`receiveBuffer`) and replayed on reconnection on top
  // of the server's replay (a duplicate caused by the client, not by the server). Also, the client
  // records `_lastOffset` only after the listeners ran. From a timer, every decoded packet has
  // been handled and `_lastOffset` is the offset of the last one.
  function doCut() {
    // Reconnect to B: the Manager builds a new Engine from `uri` on each (re)connection
    // (socket.io-client manager.ts open(): `new Engine(this.uri, this.opts)`), and Engine
    // re-parses it into hostname/port each time.
    socket.io.uri = URL_B;
    socket.io.reconnectionDelay(GAP_MS);
    socket.io.reconnectionDelayMax(GAP_MS);
    cut = { after: seq.length, offset: socket._lastOffset, at: Date.now() };
    out({ event: "cut", after: cut.after, offset: cut.offset, by: CUT_BY });
    if (CUT_BY === "crash") socket.emit("crash");
    else socket.io.engine.close();
  }
  socket.on("tick", (i, offset) => {
    seq.push(i);
    if (typeof offset !== "string") errors.push(`tick ${i} came without an offset (got ${JSON.stringify(offset)})`);
    if (!cutScheduled && seq.length >= CUT_AFTER) {
      cutScheduled = true;
      setTimeout(doCut, 0);
    }
  });

  await waitFor(() => hellos.length >= 1, STEP_MS, "hello from A");
  const first = hellos[0];
  const id = socket.id;
  out({ event: "connected", id, pid: socket._pid ?? null, url: URL_A });
  check(!first.recovered && !socket.recovered, "the first connection must not be recovered");
  check(first.id === id, `hello.id ${first.id} != socket.id ${id}`);
  check(typeof socket._pid === "string", "the CONNECT reply carried no pid (is recovery on?)");
  check(typeof socket._lastOffset === "string", "hello carried no offset (must go through socket.emit / the adapter)");

  await socket.timeout(STEP_MS).emitWithAck("set-data", { tag: "x" });
  const rooms = await socket.timeout(STEP_MS).emitWithAck("join", ROOM);
  check(same(rooms, [id, ROOM].sort()), `join acked rooms ${JSON.stringify(rooms)}`);

  // --- the driver: ticks to the room, from another node ----------------------------------------
  const driver = io(URL_DRIVER, { forceNew: true, transports: TRANSPORTS, reconnection: false, timeout: STEP_MS });
  sockets.push(driver);
  await waitFor(() => driver.connected, STEP_MS, `driver connected to ${URL_DRIVER}`);
  const startedAt = Date.now();
  await driver.timeout(STEP_MS).emitWithAck("ticks", { count: COUNT, every_ms: EVERY_MS, room: ROOM });
  const emitting = COUNT * EVERY_MS;

  // --- cut, reconnection to B ----------------------------------------------------------------
  await waitFor(() => cut, emitting + STEP_MS, `${CUT_AFTER} ticks before the cut`);
  await waitFor(() => hellos.length >= 2 && socket.connected, GAP_MS + 2 * STEP_MS, "reconnection (hello from B)");
  const second = hellos[1];
  const engine = socket.io.engine;
  const url = `${engine.secure ? "https" : "http"}://${engine.hostname}:${engine.port}`;
  out({
    event: "recovered",
    recovered: !!socket.recovered,
    serverRecovered: !!second.recovered,
    id: socket.id,
    sameId: socket.id === id,
    rooms: second.rooms,
    data: second.data,
    url,
  });
  check(String(engine.port) === portOf(URL_B), `reconnected to port ${engine.port}, not to URL_B's ${portOf(URL_B)}`);
  check(socket._pid !== undefined, "no pid after reconnection");

  if (EXPECT_RECOVERED) {
    check(socket.recovered === true, "socket.recovered (client side) must be true");
    check(second.recovered === true, "socket.recovered (server side, in hello) must be true");
    check(socket.id === id && second.id === id, `id changed: ${id} -> ${socket.id} / ${second.id}`);
    check(same(second.rooms, [id, ROOM].sort()), `rooms after recovery: ${JSON.stringify(second.rooms)}`);
    check(same(second.data, { tag: "x" }), `data after recovery: ${JSON.stringify(second.data)}`);
    // Every tick, once, in order.
    await waitFor(() => seq.length >= COUNT, Math.max(0, startedAt + emitting - Date.now()) + STEP_MS, `all ${COUNT} ticks`).catch(
      (e) => errors.push(e.message),
    );
    await sleep(300); // duplicates would show up here
    const expected = Array.from({ length: COUNT }, (_, i) => i);
    if (!same(seq, expected)) {
      const dups = seq.filter((v, i) => seq.indexOf(v) !== i);
      const missing = expected.filter((v) => !seq.includes(v));
      const outOfOrder = seq.some((v, i) => i > 0 && v < seq[i - 1]);
      const firstBad = seq.findIndex((v, i) => v !== i);
      errors.push(
        `ticks not exactly once in order: ${seq.length} received, missing ${JSON.stringify(missing)}, ` +
          `duplicated ${JSON.stringify(dups)}, ${outOfOrder ? "out of order" : "in order"}; ` +
          `from index ${firstBad}: ${JSON.stringify(seq.slice(Math.max(0, firstBad - 3), firstBad + 12))} ` +
          `(cut after ${cut.after})`,
      );
    }
  } else {
    check(!socket.recovered, "socket.recovered (client side) must be false");
    check(second.recovered === false, "socket.recovered (server side, in hello) must be false");
    check(socket.id !== id && second.id === socket.id, `a new id was expected (old ${id}, now ${socket.id})`);
    check(same(second.rooms, [socket.id]), `only its own room was expected, got ${JSON.stringify(second.rooms)}`);
    check(second.data == null || same(second.data, {}), `default data was expected, got ${JSON.stringify(second.data)}`);
    // Not in the room any more: nothing after the cut, and no replay.
    await sleep(Math.max(0, startedAt + emitting - Date.now()) + 300);
    const prefix = Array.from({ length: cut.after }, (_, i) => i);
    check(same(seq, prefix), `only the ${cut.after} ticks before the cut were expected, got ${seq.length}: ${JSON.stringify(seq.slice(cut.after))}...`);
  }
  out({ event: "received", seq });
  finish(errors.length === 0, { count: COUNT, received: seq.length, gapMs: GAP_MS });
}

main().catch((e) => {
  errors.push(String(e && e.message ? e.message : e));
  finish(false);
});
