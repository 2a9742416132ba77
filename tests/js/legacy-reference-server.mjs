// Node reference implementation (socket.io 4.8, allowEIO3) of the interop app
// of tests/support/legacy_app.rs, to validate the interop scripts and to see
// what Node does:
//
//   PORT=3300 node legacy-reference-server.mjs        # prints "listening"
//   TARGET=http://127.0.0.1:3300 node legacy-v2.mjs    # or legacy-v3/v4, browser-client
//
// The handlers are listed at the top of pages/interop-scenarios.mjs. It also
// serves the browser test page (/pages/...) and the socket.io-client bundle
// (/assets/socket.io.min.js). "restart-server" is done in-process: every TCP
// connection is destroyed, the listener closed, and after `down_ms` a new
// server (generation + 1) listens on the same port.
// WIRE_LOG=1 logs Engine.IO packets to stderr.

import http from "node:http";
import { readFile } from "node:fs/promises";
import { Server } from "socket.io";

const PORT = Number(process.env.PORT || 3300);
const HOST = "127.0.0.1";
const WIRE_LOG = !!process.env.WIRE_LOG;
const log = (...a) => WIRE_LOG && console.error(new Date().toISOString().slice(11, 23), ...a);

const PAGES = new URL("./pages/", import.meta.url);
const BUNDLE = new URL("./node_modules/socket.io-client/dist/socket.io.min.js", import.meta.url);

async function files(req, res) {
  const url = new URL(req.url, "http://x");
  try {
    if (url.pathname === "/assets/socket.io.min.js") {
      res.writeHead(200, { "content-type": "text/javascript", "cache-control": "no-store" });
      return res.end(await readFile(BUNDLE));
    }
    const m = /^\/pages\/([A-Za-z0-9_.-]+)$/.exec(url.pathname);
    if (m && !m[1].includes("..")) {
      const type = m[1].endsWith(".html") ? "text/html; charset=utf-8" : "text/javascript";
      const body = await readFile(new URL(m[1], PAGES));
      res.writeHead(200, { "content-type": type, "cache-control": "no-store" });
      return res.end(body);
    }
  } catch {
    /* fall through */
  }
  res.writeHead(404, { "content-type": "text/plain" });
  res.end("not found");
}

function handlers(io, generation, restart) {
  const connection = (socket) => {
    log("connection", socket.nsp.name, socket.id, socket.conn.protocol, socket.conn.transport.name);
    socket.emit("auth", socket.handshake.auth);
    socket.emit("hello", { generation, ns: socket.nsp.name, query: socket.handshake.query });
    // an ack callback, when there is one, is spread too: message-back asks
    // for an ack and its answer answers "message"
    socket.on("message", (...args) => socket.emit("message-back", ...args));
    socket.on("message-with-ack", (...args) => {
      const ack = args.pop();
      ack(...args);
    });
    socket.on("join", (room, ack) => {
      socket.join(room);
      ack([...socket.rooms].sort());
    });
    socket.on("leave", (room, ack) => {
      socket.leave(room);
      ack([...socket.rooms].sort());
    });
    socket.on("relay", (req, ack) => {
      const ops = req.op === "to" ? socket.to(req.room) : req.op === "io-to" ? socket.nsp.to(req.room) : socket.broadcast;
      ops.emit(req.event, req.data);
      ack("sent");
    });
    socket.on("ask", (req, ack) => {
      socket.timeout(req.timeout_ms).emit(req.event, req.data, (err, ...args) =>
        ack(err ? { err: "timeout" } : { ok: args }),
      );
    });
    socket.on("whoami", (ack) => ack({ id: socket.id, ns: socket.nsp.name }));
    socket.on("ignore-me", () => {});
    socket.on("disconnect-me", () => socket.disconnect());
    socket.on("close-transport", () => socket.conn.close());
    socket.on("restart-server", (req, ack) => {
      ack("restarting");
      restart(req.down_ms);
    });
    socket.on("disconnect", (reason) => log("disconnect", socket.nsp.name, socket.id, reason));
  };
  io.on("connection", connection);
  io.of("/custom").on("connection", connection);
  const guarded = io.of("/guarded");
  guarded.use((socket, next) => {
    const token = socket.handshake.auth.token ?? socket.handshake.query.token;
    if (token === "secret") return next();
    const err = new Error("not authorized");
    err.data = { code: 4001, hint: "token required" };
    next(err);
  });
  guarded.on("connection", connection);
}

function start(generation) {
  const httpServer = http.createServer(files);
  const sockets = new Set();
  httpServer.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  const io = new Server(httpServer, {
    path: "/socket.io/",
    allowEIO3: true,
    pingInterval: 500,
    pingTimeout: 1000,
    serveClient: false,
    cors: { origin: "*" },
  });
  if (WIRE_LOG) {
    io.engine.on("connection", (c) => {
      c.on("packet", (p) => log("<-", c.id, p.type, typeof p.data === "string" ? p.data.slice(0, 120) : p.data));
      c.on("packetCreate", (p) => log("->", c.id, p.type, typeof p.data === "string" ? p.data.slice(0, 120) : p.data));
      c.on("close", (r) => log("eio close", c.id, r));
    });
  }
  let restarting = false;
  handlers(io, generation, (downMs) => {
    if (restarting) return;
    restarting = true;
    setTimeout(() => {
      log("going away for", downMs, "ms");
      for (const s of sockets) s.destroy();
      io.close();
      setTimeout(() => start(generation + 1), downMs);
    }, 50);
  });
  httpServer.listen(PORT, HOST, () => console.log(generation === 1 ? "listening" : `listening again (generation ${generation})`));
}

start(1);
