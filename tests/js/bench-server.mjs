// The benchmark server on Node's socket.io 4.8: the same handlers as
// examples/bench_server.rs, driven by examples/loadgen.rs. scripts/compare runs
// both side by side (see benches/README.md).
//
//   PORT=3000 node tests/js/bench-server.mjs   # prints "listening" once bound to 127.0.0.1
//   REDIS_URL=redis://127.0.0.1:6380 PORT=3001 node tests/js/bench-server.mjs   # on the Redis adapter
//
// Every socket.io / engine.io option is at its default (pingInterval 25 s,
// pingTimeout 20 s, both transports, upgrades allowed, perMessageDeflate off,
// httpCompression on above 1 KiB, which no benchmark message reaches).
// Namespace "/":
//   echo (one argument)               -> emits "echo" back with that argument
//   ack (one argument, with an ack)   -> acknowledges with that argument
//   join (a room, ack optional)       -> joins the room, acknowledges with no argument
//   broadcast (a room, one argument)  -> emits "bcast" with that argument to the room
// Disconnections whose reason is not the client's own doing are counted and
// printed to stderr at exit, as the Rust server logs its warnings.

import http from "node:http";
import { Server } from "socket.io";

const PORT = Number(process.env.PORT || 3000);
const HOST = "127.0.0.1";

// Node's default since v18, spelled out: the Rust server does the same.
const httpServer = http.createServer({ noDelay: true }, (req, res) => {
  res.writeHead(404, { "content-type": "text/plain" });
  res.end("not found");
});

const io = new Server(httpServer, { serveClient: false });

// REDIS_URL: on @socket.io/redis-adapter (classic), for the cross-node scenario.
if (process.env.REDIS_URL) {
  const { createAdapter } = await import("@socket.io/redis-adapter");
  const { createClient } = await import("redis");
  const pubClient = createClient({ url: process.env.REDIS_URL });
  const subClient = pubClient.duplicate();
  await Promise.all([pubClient.connect(), subClient.connect()]);
  io.adapter(createAdapter(pubClient, subClient));
  console.error(`on the Redis adapter at ${process.env.REDIS_URL}`);
}

const unexpected = new Map();

io.on("connection", (socket) => {
  socket.on("echo", (data) => {
    socket.emit("echo", data);
  });
  socket.on("ack", (data, ack) => {
    if (typeof ack === "function") ack(data);
  });
  socket.on("join", (room, ack) => {
    socket.join(room);
    if (typeof ack === "function") ack();
  });
  socket.on("broadcast", (room, data) => {
    io.to(room).emit("bcast", data);
  });
  socket.on("disconnect", (reason) => {
    if (reason !== "client namespace disconnect" && reason !== "transport close") {
      unexpected.set(reason, (unexpected.get(reason) || 0) + 1);
    }
  });
});

httpServer.listen(PORT, HOST, () => {
  console.log("listening");
});

const shutdown = () => {
  for (const [reason, n] of unexpected) {
    console.error(`disconnects with reason "${reason}": ${n}`);
  }
  io.close();
  httpServer.close();
  setTimeout(() => process.exit(0), 200).unref();
};
process.on("SIGINT", shutdown);
process.on("SIGTERM", shutdown);
