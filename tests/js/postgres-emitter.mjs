// Node's @socket.io/postgres-emitter 0.1 on a node-postgres pool, driven by the Rust
// PostgreSQL adapter tests over stdin/stdout (see redis-lib.mjs for the protocol).
//
//   PG_URL=postgresql://user@host:port/db node postgres-emitter.mjs
//
// Ops (each may name `nsp`, `rooms`, `except`): emit {event, args}, socketsJoin {join},
// socketsLeave {leave}, disconnectSockets {close}, serverSideEmit {event, args}. Binary data
// travels as {"$bin": hex}. Prints {"event":"ready"} once the pool answered.

import pg from "pg";
import { Emitter } from "@socket.io/postgres-emitter";
import { send, serve, fromWire } from "./redis-lib.mjs";

const pool = new pg.Pool({ connectionString: process.env.PG_URL });
pool.on("error", (e) => process.stderr.write(`pg pool error: ${e.message}\n`));
await pool.query("SELECT 1");
const emitter = new Emitter(pool);

function target(req) {
  let op = req.nsp && req.nsp !== "/" ? emitter.of(req.nsp) : emitter;
  if (req.rooms && req.rooms.length) op = op.to(req.rooms);
  if (req.except && req.except.length) op = op.except(req.except);
  return op;
}

// The emitter publishes without waiting (it returns nothing to await): give the pool's query
// a moment to be sent, so that the Rust side can rely on the order of its calls.
const settle = () => new Promise((resolve) => setTimeout(resolve, 50));

serve({
  async emit(req) {
    target(req).emit(req.event, ...fromWire(req.args || []));
    await settle();
  },
  async socketsJoin(req) {
    target(req).socketsJoin(req.join);
    await settle();
  },
  async socketsLeave(req) {
    target(req).socketsLeave(req.leave);
    await settle();
  },
  async disconnectSockets(req) {
    target(req).disconnectSockets(!!req.close);
    await settle();
  },
  async serverSideEmit(req) {
    target(req).serverSideEmit(req.event, ...fromWire(req.args || []));
    await settle();
  },
});

send({ event: "ready" });
