// Connection state recovery with socket.io-client v4 against a server with recovery on.
//
// TARGET: recovery with a 2-minute window; TARGET_SHORT: the same server with a 300 ms window.
import { io } from "socket.io-client";
import { TARGET, scenario, done, once, sleep, track, assert, assertSame } from "./lib/harness.mjs";

const TARGET_SHORT = (process.env.TARGET_SHORT || "").replace(/\/+$/, "");
const BASE = { path: "/socket.io/", forceNew: true, reconnectionDelay: 50, reconnectionDelayMax: 100, timeout: 5_000 };
const MODES = [
  ["default", {}],
  ["websocket", { transports: ["websocket"] }],
  ["polling", { transports: ["polling"] }],
];

function client(target, opts = {}) {
  const socket = track(io(target, { ...BASE, ...opts }));
  socket.ticks = [];
  socket.directs = [];
  socket.on("tick", (i) => socket.ticks.push(i));
  socket.on("direct", (i) => socket.directs.push(i));
  return socket;
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

for (const [label, opts] of MODES) {
  await scenario(`[${label}] a cut transport recovers id, rooms, data and every missed packet`, async () => {
    const socket = client(TARGET, opts);
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
  }, 12_000);
}

await scenario("a voluntary disconnect does not recover", async () => {
  const socket = client(TARGET);
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
});

if (TARGET_SHORT) {
  await scenario("an expired session is a new connection", async () => {
    const socket = client(TARGET_SHORT, { reconnection: false });
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
  });
}

done();
