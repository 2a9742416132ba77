// Connection state recovery scenarios for socket.io-client 4, shared by
//
//   - Node: ../recovery-client.mjs;
//   - headless Chromium: pages/recovery.html, driven by ../browser-recovery.mjs.
//
// Like interop-scenarios.mjs (whose small helpers it uses), this module runs
// in both places: nothing from Node, nothing from the browser.
//
// The server is the recovery app (tests/support/recovery_app.rs), started
// twice: "long" with a 2-minute recovery window, "short" with a 300 ms one.
// Engine.IO path /socket.io/, namespace "/":
//
//   on connection   emit("welcome", {id, recovered}), unless auth is {quiet: true}
//   "join"          (room, ack): join the room, ack()
//   "set"           (nick, ack): store the nick in the socket's data, ack()
//   "get"           (ack): ack({id, nick, rooms (sorted), recovered})
//   "ticks"         ({count, every_ms}, ack): ack(), then for i in 0..count,
//                   one every every_ms: emit("tick", i) to room "r" and
//                   emit("direct", i) to the socket itself

import { once, sleep, assert, assertSame, runTracked } from "./interop-scenarios.mjs";

const BASE = { path: "/socket.io/", forceNew: true, reconnectionDelay: 50, reconnectionDelayMax: 100, timeout: 5_000 };

/** Transport modes, as socket.io-client options. */
const MODES = [
  ["default", {}],
  ["websocket", { transports: ["websocket"] }],
  ["polling", { transports: ["polling"] }],
];

/**
 * env: {
 *   io:       the client's `io()` function,
 *   targets:  {long?: "http://127.0.0.1:PORT", short?: "http://..."}, the
 *             servers by recovery window (a scenario whose server is absent
 *             fails),
 *   platform: "node" | "browser"
 * }
 */
function kit(env, tracked) {
  function client(server, opts = {}) {
    const target = env.targets[server];
    if (!target) throw new Error(`no target for the ${server}-window server`);
    const socket = env.io(target, { ...BASE, ...opts });
    tracked.push(socket);
    socket.ticks = [];
    socket.directs = [];
    socket.on("tick", (i) => socket.ticks.push(i));
    socket.on("direct", (i) => socket.directs.push(i));
    return socket;
  }
  return { client };
}

const ask = (socket, event, ...args) => socket.timeout(3_000).emitWithAck(event, ...args);

function assertSequence(seen, count, what) {
  const expected = Array.from({ length: count }, (_, i) => i);
  assertSame(seen, expected, `${what} (exactly once, in order)`);
}

async function waitFor(cond, ms, what) {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** {name, server: "long" | "short", timeoutMs, fn(t)} */
const SCENARIOS = [];

for (const [label, opts] of MODES) {
  SCENARIOS.push({
    name: `[${label}] a cut transport recovers id, rooms, data and every missed packet`,
    server: "long",
    timeoutMs: 12_000,
    fn: async (t) => {
      const socket = t.client("long", opts);
      const [welcome] = await once(socket, "welcome");
      assert(!welcome.recovered && !socket.recovered, "a first connection is not recovered");
      const id = socket.id;
      await ask(socket, "join", "r");
      await ask(socket, "set", "alice");
      const count = 60;
      await ask(socket, "ticks", { count, every_ms: 10 });
      await waitFor(() => socket.ticks.length >= 10, 3_000, "the first ticks");
      // Cut the connection under the stream; the client reconnects by itself.
      const reconnected = once(socket, "connect", { timeout: 5_000 });
      socket.io.engine.close();
      await reconnected;
      assert(socket.recovered === true, "socket.recovered after the reconnection");
      assertSame(socket.id, id, "socket id");
      await waitFor(() => socket.ticks.length >= count && socket.directs.length >= count, 5_000, "every tick");
      await sleep(50);
      assertSequence(socket.ticks, count, "room broadcasts");
      assertSequence(socket.directs, count, "direct emits");
      const state = await ask(socket, "get");
      assertSame(state.recovered, true, "server-side socket.recovered()");
      assertSame(state.id, id, "server-side id");
      assertSame(state.nick, "alice", "data kept");
      assert(state.rooms.includes("r") && state.rooms.includes(id), `rooms kept: ${state.rooms}`);
    },
  });
}

SCENARIOS.push({
  // socketio/socket.io#5538: a client that never received an event has a pid and no offset;
  // Node refuses to recover it. Ours recovers it from the start of its session.
  name: "a client that never received an event recovers from the start of its session",
  server: "long",
  timeoutMs: 12_000,
  fn: async (t) => {
    const socket = t.client("long", { auth: { quiet: true }, reconnectionDelay: 400, reconnectionDelayMax: 400 });
    await once(socket, "connect");
    const id = socket.id;
    await ask(socket, "join", "r");
    await ask(socket, "set", "bob");
    assert(socket._lastOffset === undefined, "no offset yet");
    // Cut before anything is sent to it, then a stream of room broadcasts from another client
    // while it is away; it comes back with its pid alone.
    const reconnected = once(socket, "connect", { timeout: 5_000 });
    socket.io.engine.close();
    const driver = t.client("long");
    await once(driver, "welcome");
    const count = 40;
    await ask(driver, "ticks", { count, every_ms: 10 });
    await reconnected;
    assert(socket.recovered === true, "socket.recovered without an offset");
    assertSame(socket.id, id, "socket id");
    await waitFor(() => socket.ticks.length >= count, 5_000, "every tick");
    await sleep(50);
    assertSequence(socket.ticks, count, "room broadcasts");
    const state = await ask(socket, "get");
    assertSame(state.recovered, true, "server-side socket.recovered()");
    assertSame(state.nick, "bob", "data kept");
    assert(state.rooms.includes("r") && state.rooms.includes(id), `rooms kept: ${state.rooms}`);
  },
});

SCENARIOS.push({
  name: "a voluntary disconnect does not recover",
  server: "long",
  timeoutMs: 8_000,
  fn: async (t) => {
    const socket = t.client("long");
    await once(socket, "welcome");
    await ask(socket, "join", "r");
    await ask(socket, "ticks", { count: 3, every_ms: 5 });
    await waitFor(() => socket.ticks.length >= 3, 3_000, "ticks");
    const id = socket.id;
    socket.disconnect();
    socket.connect();
    const [welcome] = await once(socket, "welcome");
    assert(!welcome.recovered && !socket.recovered, "not recovered after disconnect()");
    assert(socket.id !== id, "a new id");
    const state = await ask(socket, "get");
    assert(!state.rooms.includes("r"), "rooms not kept");
  },
});

SCENARIOS.push({
  name: "an expired session is a new connection",
  server: "short",
  timeoutMs: 8_000,
  fn: async (t) => {
    const socket = t.client("short", { reconnection: false });
    await once(socket, "welcome");
    await ask(socket, "join", "r");
    await ask(socket, "ticks", { count: 2, every_ms: 5 });
    await waitFor(() => socket.ticks.length >= 2, 3_000, "ticks");
    const id = socket.id;
    socket.io.engine.close();
    await sleep(600); // past the 300 ms window
    socket.connect();
    const [welcome] = await once(socket, "welcome");
    assert(!welcome.recovered && !socket.recovered, "not recovered once expired");
    assert(socket.id !== id, "a new id");
  },
});

/** Every scenario, as {name, server, timeoutMs}. */
export function scenarios() {
  return SCENARIOS.map(({ name, server, timeoutMs }) => ({ name, server, timeoutMs }));
}

/**
 * Runs one scenario; resolves when it passed, rejects with the reason.
 * Every socket it made is disconnected (and its Manager closed) afterwards.
 */
export async function runScenario(env, name) {
  const sc = SCENARIOS.find((s) => s.name === name);
  if (!sc) throw new Error(`no scenario ${name}`);
  const tracked = [];
  await runTracked(() => sc.fn(kit(env, tracked)), tracked, sc.timeoutMs);
}
