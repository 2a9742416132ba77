// A Node.js cluster node: socket.io 4.8 with @socket.io/redis-adapter 8.3 on a
// real Redis, driven by the Rust Redis adapter tests over stdin/stdout (see
// redis-lib.mjs for the protocol).
//
//   REDIS_URL=redis://127.0.0.1:PORT NAME=n1 [SHARDED=dynamic|static|dynamic-private]
//   [KEY=socket.io] [SPECIFIC=1] [PORT=0] node redis-node.mjs
//
// Redis Cluster: CLUSTER_URLS=redis://127.0.0.1:P1,redis://127.0.0.1:P2,... (seed nodes) uses
// node-redis's `createCluster` instead of `createClient`, in every mode.
//
// Streams mode: STREAMS=1 uses @socket.io/redis-streams-adapter 0.3 instead, with one
// node-redis client (the adapter duplicates it for XREAD and for its Pub/Sub channels):
//   REDIS_URL=... NAME=n1 STREAMS=1 [KEY=socket.io] [RECOVERY_MS=n] [MAX_LEN=10000]
//   [SESSION_KEY_PREFIX=sio:session:] node redis-node.mjs
// KEY is both the stream name (`streamName`) and the Pub/Sub prefix (`channelPrefix`:
// channels `KEY#<nsp>#` and `KEY#<nsp>#<uid>#`). RECOVERY_MS turns on
// `connectionStateRecovery: { maxDisconnectionDuration: RECOVERY_MS, skipMiddlewares: true }`.
// In this mode each socket gets `hello` {recovered, id, rooms (sorted), data} on connection and
// handles `ticks` ({count, every_ms, room}, ack) (tests/js/recovery-cross.mjs).
// allRooms has no adapter support there (ClusterAdapter has no allRooms): it falls back to
// fetchSockets like the sharded mode.
//
// Redis Sentinel: SENTINELS=host:port,host:port,... SENTINEL_NAME=mymaster makes the Redis
// clients ioredis clients that find the master through those sentinels and follow it after a
// failover (node-redis 4 has no Sentinel support), in every mode above; REDIS_URL is unused.
//
// PostgreSQL mode: PG_URL=postgresql://user@host:port/db uses @socket.io/postgres-adapter 0.5
// (node-postgres pool) instead, channel prefix KEY, heartbeat HEARTBEAT_MS / HEARTBEAT_TIMEOUT_MS
// (defaults 5000 / 10000), attachments table `socket_io_attachments` (which it does not create).
//
// Prints {"event":"listening","port":N} once ready. DETACHED=1 keeps it running
// without a controlling stdin (to run it by hand, e.g. for redis-bench.mjs). Its sockets handle `join`
// and `leave` (room or rooms, acked with the socket's rooms) and `set-data` (value, ack: sets
// socket.data); its server-side
// listener `ping-cluster` records what it got and acks {from: NAME, args}.
// Every operator of the cluster is an op: emit, emitWithAck, fetchSockets,
// socketsJoin, socketsLeave, disconnectSockets, serverSideEmit,
// serverSideEmitWithAck, allRooms, serverCount, serverSideLog.

import { createServer } from "node:http";
import { Server } from "socket.io";
import { createAdapter, createShardedAdapter } from "@socket.io/redis-adapter";
import { createAdapter as createStreamsAdapter } from "@socket.io/redis-streams-adapter";
import { createClient, createCluster } from "redis";
import { Redis as IORedis } from "ioredis";
import { send, serve, toWire, fromWire } from "./redis-lib.mjs";

const NAME = process.env.NAME || "node";
const SHARDED = process.env.SHARDED || "";
const KEY = process.env.KEY || "socket.io";

const STREAMS = !!process.env.STREAMS && process.env.STREAMS !== "0";
const RECOVERY_MS = Number(process.env.RECOVERY_MS || 0);

// One client of the Redis named by the environment: node-redis's cluster client on
// CLUSTER_URLS, ioredis through the sentinels (SENTINELS; node-redis 4 has no Sentinel
// support), or node-redis on REDIS_URL.
function redisClient() {
  if (process.env.CLUSTER_URLS) {
    const rootNodes = process.env.CLUSTER_URLS.split(",").map((url) => ({ url }));
    return createCluster({ rootNodes });
  }
  if (process.env.SENTINELS) {
    const sentinels = process.env.SENTINELS.split(",").map((hostPort) => {
      const [host, port] = hostPort.split(":");
      return { host, port: Number(port) };
    });
    return new IORedis({ sentinels, name: process.env.SENTINEL_NAME || "mymaster", lazyConnect: true });
  }
  return createClient({ url: process.env.REDIS_URL });
}

function onRedisError(e) {
  process.stderr.write(`redis client error: ${e.message}\n`);
}

let adapter;
if (process.env.PG_URL) {
  const { default: pg } = await import("pg");
  const { createAdapter: createPostgresAdapter } = await import("@socket.io/postgres-adapter");
  const pool = new pg.Pool({ connectionString: process.env.PG_URL });
  pool.on("error", (e) => process.stderr.write(`pg pool error: ${e.message}\n`));
  adapter = createPostgresAdapter(pool, {
    channelPrefix: KEY,
    heartbeatInterval: Number(process.env.HEARTBEAT_MS || 5000),
    heartbeatTimeout: Number(process.env.HEARTBEAT_TIMEOUT_MS || 10000),
    errorHandler: (e) => process.stderr.write(`postgres adapter error: ${e.message}\n`),
  });
} else if (STREAMS) {
  // One client; the adapter duplicates it (one for the blocking XREAD loop, one subscriber).
  const client = redisClient();
  client.on("error", onRedisError);
  await client.connect();
  const opts = { streamName: KEY, channelPrefix: KEY };
  if (process.env.MAX_LEN) opts.maxLen = Number(process.env.MAX_LEN);
  if (process.env.SESSION_KEY_PREFIX) opts.sessionKeyPrefix = process.env.SESSION_KEY_PREFIX;
  adapter = createStreamsAdapter(client, opts);
} else {
  const pubClient = redisClient();
  const subClient = pubClient.duplicate();
  for (const c of [pubClient, subClient]) c.on("error", onRedisError);
  await Promise.all([pubClient.connect(), subClient.connect()]);
  adapter = SHARDED
    ? createShardedAdapter(pubClient, subClient, { channelPrefix: KEY, subscriptionMode: SHARDED })
    : createAdapter(pubClient, subClient, { key: KEY, publishOnSpecificResponseChannel: !!process.env.SPECIFIC });
}

const httpServer = createServer();
const serverOpts = { adapter, cors: { origin: "*" } };
if (STREAMS && RECOVERY_MS > 0) {
  serverOpts.connectionStateRecovery = { maxDisconnectionDuration: RECOVERY_MS, skipMiddlewares: true };
}
const io = new Server(httpServer, serverOpts);

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
  // Sets socket.data (what fetchSockets on another node reports), acked once set.
  socket.on("set-data", (value, ack) => {
    socket.data = value;
    if (typeof ack === "function") ack();
  });
  if (STREAMS) {
    // Emitted through the adapter when recovery is on (socket.emit broadcasts to the socket's
    // own room), so it carries an offset and the client has one to send back.
    socket.emit("hello", {
      recovered: socket.recovered,
      id: socket.id,
      rooms: [...socket.rooms].sort(),
      data: socket.data ?? null,
    });
    // Broadcasts `tick` i (i = 0..count-1) to `room`, one every `every_ms` ms, from this node;
    // acks once scheduled. Bounded: count <= 10000, every_ms >= 1.
    socket.on("ticks", ({ count, every_ms, room } = {}, ack) => {
      const n = Math.min(Number(count) || 0, 10_000);
      const every = Math.max(Number(every_ms) || 10, 1);
      let i = 0;
      const timer = setInterval(() => {
        if (i >= n) return clearInterval(timer);
        io.to(room).emit("tick", i++);
      }, every);
      if (typeof ack === "function") ack({ count: n, every_ms: every });
    });
  }
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
