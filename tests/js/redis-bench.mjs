// Cross-node broadcast throughput of a Redis cluster: a driver on node A asks A to
// broadcast `count` events to room `bench`; `clients` receivers connected to node B
// (so every event crosses Redis) count them. Bounded: gives up after TIMEOUT_MS.
//
//   node tests/js/redis-bench.mjs http://127.0.0.1:3001 http://127.0.0.1:3002 \
//     [--clients 20] [--count 20000] [--size 64] [--label rust]
//
// The receivers are raw Engine.IO WebSocket connections that count frames without
// parsing them (socket.io-client's parsing would be the bottleneck, not the
// servers). Node A must handle `blast` {count, size, room} by broadcasting
// `tick` (i, payload) to the room: the `cluster` example and redis-node.mjs do.
// Prints one `metric` line and a JSON summary.

import WebSocket from "ws";

const argv = process.argv.slice(2);
const opt = (name, def) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : def;
};
const [A, B] = argv.filter((a, i) => !a.startsWith("--") && !(i > 0 && argv[i - 1].startsWith("--")));
const CLIENTS = Number(opt("clients", 20));
const COUNT = Number(opt("count", 20000));
const SIZE = Number(opt("size", 64));
const LABEL = opt("label", "cluster");
const TIMEOUT_MS = Number(process.env.TIMEOUT_MS || 60_000);

if (!A || !B) {
  console.error("usage: node redis-bench.mjs <node A url> <node B url> [--clients N] [--count N] [--size N]");
  process.exit(1);
}

setTimeout(() => {
  console.error(`gave up after ${TIMEOUT_MS} ms`);
  report(true);
  process.exit(2);
}, TIMEOUT_MS).unref();

function wsUrl(base) {
  return base.replace(/^http/, "ws").replace(/\/+$/, "") + "/socket.io/?EIO=4&transport=websocket";
}

/// A raw Socket.IO connection to namespace "/": resolves once connected.
function connect(base, onEvent) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl(base));
    let ackId = 0;
    const acks = new Map();
    ws.on("error", reject);
    ws.on("message", (data, isBinary) => {
      if (isBinary) return;
      const text = data.toString();
      if (text[0] === "0") ws.send("40");
      else if (text === "2") ws.send("3");
      else if (text.startsWith("40")) resolve({ ws, emitWithAck });
      else if (text.startsWith("43")) {
        const m = /^43(\d+)(.*)$/.exec(text);
        if (m && acks.has(Number(m[1]))) {
          acks.get(Number(m[1]))(JSON.parse(m[2]));
          acks.delete(Number(m[1]));
        }
      } else if (text.startsWith("42")) onEvent(text);
    });
    function emitWithAck(event, arg) {
      const id = ackId++;
      return new Promise((res) => {
        acks.set(id, res);
        ws.send(`42${id}${JSON.stringify([event, arg])}`);
      });
    }
  });
}

let received = 0;
let first = 0;
let last = 0;
const expected = CLIENTS * COUNT;
let done;
const finished = new Promise((r) => (done = r));

const receivers = [];
for (let i = 0; i < CLIENTS; i++) {
  const r = await connect(B, (text) => {
    if (!text.startsWith('42["tick"')) return;
    const now = performance.now();
    if (!first) first = now;
    last = now;
    if (++received === expected) done();
  });
  await r.emitWithAck("join", "bench");
  receivers.push(r);
}
const driver = await connect(A, () => {});
// Let the joins settle (sharded dynamic mode subscribes to the room's channel).
await new Promise((r) => setTimeout(r, 300));

const started = performance.now();
driver.ws.send(`42${JSON.stringify(["blast", { count: COUNT, size: SIZE, room: "bench" }])}`);
await finished;
report(false);
process.exit(0);

function report(partial) {
  const elapsed = (last - started) / 1000;
  const rate = elapsed > 0 ? Math.round(received / elapsed) : 0;
  console.log(`metric ${LABEL}.deliveries_per_sec=${rate}`);
  console.log(
    JSON.stringify({
      label: LABEL,
      clients: CLIENTS,
      count: COUNT,
      size: SIZE,
      received,
      expected,
      partial,
      seconds: Number(elapsed.toFixed(3)),
      first_delivery_ms: first ? Number((first - started).toFixed(1)) : null,
      deliveries_per_sec: rate,
      events_per_sec: elapsed > 0 ? Math.round(received / CLIENTS / elapsed) : 0,
    }),
  );
}
