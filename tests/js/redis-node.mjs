// A Node.js cluster node: socket.io 4.8 with @socket.io/redis-adapter 8.3 on a
// real Redis, driven by the Rust Redis adapter tests over stdin/stdout (see
// redis-lib.mjs for the protocol).
//
//   REDIS_URL=redis://127.0.0.1:PORT NAME=n1 [SHARDED=dynamic|static|dynamic-private]
//   [KEY=socket.io] [SPECIFIC=1] [PORT=0] node redis-node.mjs
//
// Prints {"event":"listening","port":N} once ready. DETACHED=1 keeps it running
// without a controlling stdin (to run it by hand, e.g. for redis-bench.mjs). Its sockets handle `join`
// and `leave` (room or rooms, acked with the socket's rooms); its server-side
// listener `ping-cluster` records what it got and acks {from: NAME, args}.
// Every operator of the cluster is an op: emit, emitWithAck, fetchSockets,
// socketsJoin, socketsLeave, disconnectSockets, serverSideEmit,
// serverSideEmitWithAck, allRooms, serverCount, serverSideLog.

import { createServer } from "node:http";
import { Server } from "socket.io";
import { createAdapter, createShardedAdapter } from "@socket.io/redis-adapter";
import { createClient } from "redis";
import { send, serve, toWire, fromWire } from "./redis-lib.mjs";

const NAME = process.env.NAME || "node";
const SHARDED = process.env.SHARDED || "";
const KEY = process.env.KEY || "socket.io";

const pubClient = createClient({ url: process.env.REDIS_URL });
const subClient = pubClient.duplicate();
for (const c of [pubClient, subClient]) {
  c.on("error", (e) => process.stderr.write(`redis client error: ${e.message}\n`));
}
await Promise.all([pubClient.connect(), subClient.connect()]);

const adapter = SHARDED
  ? createShardedAdapter(pubClient, subClient, { channelPrefix: KEY, subscriptionMode: SHARDED })
  : createAdapter(pubClient, subClient, { key: KEY, publishOnSpecificResponseChannel: !!process.env.SPECIFIC });

const httpServer = createServer();
const io = new Server(httpServer, { adapter, cors: { origin: "*" } });

const serverSideLog = [];

function onConnection(socket) {
  socket.on("join", (rooms, ack) => {
    socket.join(rooms);
    if (typeof ack === "function") ack([...socket.rooms].sort());
  });
  // Broadcasts `tick` (i, payload) `count` times to `room` (tests/js/redis-bench.mjs).
  socket.on("blast", ({ count, size, room }) => {
    const payload = "x".repeat(size || 0);
    for (let i = 0; i < count; i++) io.to(room || "bench").emit("tick", i, payload);
  });
  socket.on("leave", (room, ack) => {
    socket.leave(room);
    if (typeof ack === "function") ack([...socket.rooms].sort());
  });
}
io.on("connection", onConnection);
io.of("/chat").on("connection", onConnection);

io.on("ping-cluster", (...args) => {
  const ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
  serverSideLog.push(toWire(args));
  send({ event: "server-side", node: NAME, args: toWire(args) });
  if (ack) ack({ from: NAME, args });
});

function target(req) {
  let op = req.nsp ? io.of(req.nsp) : io;
  if (req.rooms && req.rooms.length) op = op.to(req.rooms);
  if (req.except && req.except.length) op = op.except(req.except);
  if (req.local) op = op.local;
  if (req.volatile) op = op.volatile;
  return op;
}

serve({
  emit(req) {
    target(req).emit(req.event, ...fromWire(req.args || []));
  },
  emitWithAck(req) {
    return new Promise((resolve) => {
      target(req)
        .timeout(req.timeout || 2000)
        .emit(req.event, ...fromWire(req.args || []), (err, responses) => {
          resolve({ err: err ? err.message : null, responses: toWire(responses) });
        });
    });
  },
  async fetchSockets(req) {
    const sockets = await target(req).fetchSockets();
    return sockets.map((s) => ({ id: s.id, rooms: [...s.rooms].sort(), auth: s.handshake.auth }));
  },
  socketsJoin(req) {
    target(req).socketsJoin(req.join);
  },
  socketsLeave(req) {
    target(req).socketsLeave(req.leave);
  },
  disconnectSockets(req) {
    target(req).disconnectSockets(!!req.close);
  },
  serverSideEmit(req) {
    io.serverSideEmit(req.event, ...fromWire(req.args || []));
  },
  async serverSideEmitWithAck(req) {
    return new Promise((resolve) => {
      io.serverSideEmit(req.event, ...fromWire(req.args || []), (err, responses) => {
        resolve({ err: err ? err.message : null, responses: toWire(responses || []) });
      });
    });
  },
  async allRooms() {
    const adapter = io.of("/").adapter;
    if (typeof adapter.allRooms === "function") {
      return [...(await adapter.allRooms())].sort();
    }
    // The sharded adapter has no allRooms: every room with a member is some socket's room.
    const rooms = new Set();
    for (const s of await io.fetchSockets()) for (const r of s.rooms) rooms.add(r);
    return [...rooms].sort();
  },
  async serverCount() {
    return await io.of("/").adapter.serverCount();
  },
  serverSideLog() {
    return serverSideLog;
  },
});

httpServer.listen(Number(process.env.PORT || 0), "127.0.0.1", () => {
  send({ event: "listening", port: httpServer.address().port, node: NAME });
});
