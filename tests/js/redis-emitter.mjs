// Node's own emitter, @socket.io/redis-emitter 5.1, on a real Redis, driven by the Rust
// emitter tests over stdin/stdout (see redis-lib.mjs for the protocol).
//
//   REDIS_URL=redis://127.0.0.1:PORT [KEY=socket.io] node redis-emitter.mjs
//
// Prints {"event":"ready"} once connected. Ops (each request may name `nsp`, `rooms`,
// `except`, `volatile` and `compress`, which select as the emitter's operators do):
// emit {event, args}, socketsJoin {join}, socketsLeave {leave}, disconnectSockets {close},
// serverSideEmit {event, args}. Binary arguments travel as {"$bin": hex}. Each op replies
// once Redis has taken what the emitter published: the emitter publishes without waiting, on
// the same connection as the PING that follows it, so Redis answered the PING after it took
// the message.

import { Emitter } from "@socket.io/redis-emitter";
import { createClient } from "redis";
import { send, serve, fromWire } from "./redis-lib.mjs";

const client = createClient({ url: process.env.REDIS_URL });
client.on("error", (e) => process.stderr.write(`redis client error: ${e.message}\n`));
await client.connect();
const emitter = new Emitter(client, { key: process.env.KEY || "socket.io" });

function target(req) {
  let op = req.nsp ? emitter.of(req.nsp) : emitter;
  if (req.rooms && req.rooms.length) op = op.to(req.rooms);
  if (req.except && req.except.length) op = op.except(req.except);
  if (req.volatile) op = op.volatile;
  if (typeof req.compress === "boolean") op = op.compress(req.compress);
  return op;
}

async function flushed() {
  await client.ping();
}

serve({
  async emit(req) {
    target(req).emit(req.event, ...fromWire(req.args || []));
    await flushed();
  },
  async socketsJoin(req) {
    target(req).socketsJoin(req.join);
    await flushed();
  },
  async socketsLeave(req) {
    target(req).socketsLeave(req.leave);
    await flushed();
  },
  async disconnectSockets(req) {
    target(req).disconnectSockets(!!req.close);
    await flushed();
  },
  async serverSideEmit(req) {
    emitter.serverSideEmit(req.event, ...fromWire(req.args || []));
    await flushed();
  },
});

send({ event: "ready" });
