// Node reference implementation of the tower-socketio conformance server.
// Run the client scripts against it to validate the scripts themselves:
//
//   PORT=3000 node reference-server.mjs        # prints "listening" once bound
//   TARGET=http://127.0.0.1:3000 node engine-client.mjs
//   TARGET=http://127.0.0.1:3000 node socketio-client.mjs
//
// Set WIRE_LOG=1 to print every HTTP request and every Engine.IO packet
// (both directions) to stderr -- handy for comparing wire behaviour.

import http from "node:http";
import { attach as attachEngine } from "engine.io";
import { Server as SocketIOServer } from "socket.io";

const PORT = Number(process.env.PORT || 3000);
const HOST = "127.0.0.1";
const WIRE_LOG = !!process.env.WIRE_LOG;

const log = (...a) => {
  if (WIRE_LOG) console.error(new Date().toISOString().slice(11, 23), ...a);
};

// Fallback for anything that neither engine claims (both attach() calls wrap
// the existing "request" listeners and forward non-matching paths to them).
const httpServer = http.createServer((req, res) => {
  res.writeHead(404, { "content-type": "text/plain" });
  res.end("not found");
});

const common = {
  pingInterval: 300,
  pingTimeout: 200,
  maxHttpBufferSize: 1e6,
  cors: { origin: "*" },
  // Two engines share one http server: each one's upgrade listener sees the
  // other's upgrades too. With the default destroyUpgrade: true an engine
  // ends a foreign upgrade socket after 1 s if nothing was written on it;
  // never let it touch upgrades that belong to the other path.
  destroyUpgrade: false,
};

// ---- plain Engine.IO echo server at /engine.io/ ---------------------------
const eio = attachEngine(httpServer, { ...common, path: "/engine.io/" });

eio.on("connection", (socket) => {
  log("eio connection", socket.id, socket.transport.name);
  socket.on("message", (data) => {
    // text arrives as string, binary as Buffer: echo as-is to the sender
    socket.send(data);
  });
  if (WIRE_LOG) {
    socket.on("packet", (p) => log("eio <-", socket.id, p.type, fmt(p.data)));
    socket.on("packetCreate", (p) => log("eio ->", socket.id, p.type, fmt(p.data)));
    socket.on("upgrade", (t) => log("eio upgrade", socket.id, t.name));
    socket.on("close", (reason, desc) => log("eio close", socket.id, reason, desc ? String(desc) : ""));
  }
});

// ---- Socket.IO server at /socket.io/ --------------------------------------
const io = new SocketIOServer(httpServer, {
  ...common,
  path: "/socket.io/",
  connectTimeout: 1000,
  serveClient: false,
});

io.on("connection", (socket) => {
  log("sio connection /", socket.id, socket.conn.transport.name);
  socket.emit("auth", socket.handshake.auth);
  socket.on("message", (...args) => {
    socket.emit("message-back", ...args);
  });
  socket.on("message-with-ack", (...args) => {
    const ack = args.pop();
    ack(...args);
  });
  socket.on("disconnect", (reason) => log("sio disconnect /", socket.id, reason));
});

io.of("/custom").on("connection", (socket) => {
  log("sio connection /custom", socket.id);
  socket.emit("auth", socket.handshake.auth);
  socket.on("disconnect", (reason) => log("sio disconnect /custom", socket.id, reason));
});

if (WIRE_LOG) {
  // Added after both attach() calls (attach() re-registers the "request"
  // listeners it found); prepended so we see requests before the engines.
  httpServer.prependListener("request", (req, res) => {
    log("HTTP", req.method, req.url);
    res.on("finish", () => log("HTTP", res.statusCode, req.method, req.url));
  });
  httpServer.prependListener("upgrade", (req) => log("UPGRADE", req.url));
  io.engine.on("connection", (conn) => {
    conn.on("packet", (p) => log("sio-eio <-", conn.id, p.type, fmt(p.data)));
    conn.on("packetCreate", (p) => log("sio-eio ->", conn.id, p.type, fmt(p.data)));
    conn.on("upgrade", (t) => log("sio-eio upgrade", conn.id, t.name));
  });
  io.engine.on("connection_error", (e) => log("sio-eio connection_error", e.code, e.message));
}

function fmt(d) {
  if (d === undefined) return "";
  if (Buffer.isBuffer(d)) return `<binary ${d.length}B ${d.subarray(0, 16).toString("hex")}>`;
  const s = String(d);
  return JSON.stringify(s.length > 120 ? s.slice(0, 120) + "..." : s);
}

httpServer.listen(PORT, HOST, () => {
  console.log("listening");
});

const shutdown = () => {
  io.close();
  eio.close();
  httpServer.close();
  setTimeout(() => process.exit(0), 200).unref();
};
process.on("SIGINT", shutdown);
process.on("SIGTERM", shutdown);
