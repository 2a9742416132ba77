// The Admin UI across a mixed cluster: TARGET is a Rust node (instrumented with `no_auth()`,
// server id "rust-node") with the Redis adapter on REDIS_URL and key KEY; this script starts a
// Node.js node on the same Redis (socket.io 4.8, @socket.io/redis-adapter 8.3, instrumented by
// @socket.io/admin-ui 0.5.1 with server id "node-js"), puts a client on each, and checks what
// admins connected to either node see and can do.
//
//   TARGET=http://127.0.0.1:PORT REDIS_URL=redis://127.0.0.1:PORT2 KEY=prefix node admin-ui-cluster.mjs

import { createServer } from "node:http";
import { Server } from "socket.io";
import { createAdapter } from "@socket.io/redis-adapter";
import { instrument } from "@socket.io/admin-ui";
import { createClient } from "redis";
import { io } from "socket.io-client";

process.env.HARD_CAP_MS ??= "80000";
const { TARGET, scenario, done, assert, once, track, sleep } = await import("./lib/harness.mjs");

let nodeUrl = null;
let nodeServer = null;
const redisClients = [];
const clients = {};

await scenario("a Node.js node joins the cluster, instrumented", async () => {
  const pub = createClient({ url: process.env.REDIS_URL });
  const sub = pub.duplicate();
  for (const c of [pub, sub]) c.on("error", (e) => console.error(`redis: ${e.message}`));
  await Promise.all([pub.connect(), sub.connect()]);
  redisClients.push(pub, sub);
  const http = createServer();
  nodeServer = new Server(http, { adapter: createAdapter(pub, sub, { key: process.env.KEY }) });
  instrument(nodeServer, { auth: false, mode: "development", serverId: "node-js" });
  nodeServer.on("connection", (socket) => {
    socket.on("join", (room, ack) => {
      socket.join(room);
      if (typeof ack === "function") ack();
    });
  });
  await new Promise((resolve) => http.listen(0, "127.0.0.1", resolve));
  nodeUrl = `http://127.0.0.1:${http.address().port}`;
  // both nodes' adapters subscribed: a server-side round trip answers
  await sleep(300);
}, 15_000);

await scenario("a client on each node, each in a room", async () => {
  // not tracked: they live through the following scenarios
  clients.onRust = io(TARGET, { forceNew: true, reconnection: false });
  clients.onNode = io(nodeUrl, { forceNew: true, reconnection: false });
  await Promise.all([once(clients.onRust, "connect"), once(clients.onNode, "connect")]);
  await clients.onRust.emitWithAck("join", "rust-room");
  await clients.onNode.emitWithAck("join", "node-room");
});

/** An admin on `url`, recording every event. */
function admin(url) {
  const socket = track(io(`${url}/admin`, { forceNew: true, reconnection: false }));
  const heard = [];
  socket.onAny((event, ...args) => heard.push([event, ...args]));
  return { socket, heard };
}

/** The listed socket of this id, checked to carry its connection's details. */
function listed(sockets, id, room, where) {
  const socket = sockets.find((s) => s.id === id);
  assert(socket, `${where}: socket ${id} not listed`);
  assert(socket.rooms.includes(room), `${where}: rooms ${socket.rooms}`);
  assert(typeof socket.clientId === "string" && socket.clientId.length === 12, `${where}: clientId ${socket.clientId}`);
  assert(socket.transport === "websocket" || socket.transport === "polling", `${where}: transport ${socket.transport}`);
  assert(socket.handshake && typeof socket.handshake.url === "string", `${where}: handshake ${JSON.stringify(socket.handshake)}`);
}

for (const [where, url] of [["an admin on the Rust node", () => TARGET], ["an admin on the Node node", () => nodeUrl]]) {
  await scenario(`${where} lists every socket of the cluster`, async () => {
    const { socket } = admin(url());
    const [sockets] = await once(socket, "all_sockets", { failOn: ["connect_error"] });
    listed(sockets, clients.onRust.id, "rust-room", where);
    listed(sockets, clients.onNode.id, "node-room", where);
  });

  await scenario(`${where} gets both servers' stats`, async () => {
    const { socket, heard } = admin(url());
    await once(socket, "config", { failOn: ["connect_error"] });
    const deadline = Date.now() + 6_000;
    const ids = () => new Set(heard.filter(([e]) => e === "server_stats").map(([, s]) => s.serverId));
    while (Date.now() < deadline && !(ids().has("rust-node") && ids().has("node-js"))) await sleep(100);
    assert(ids().has("rust-node") && ids().has("node-js"), `stats from ${[...ids()]}`);
  }, 10_000);
}

await scenario("an admin on the Rust node hears connections on the Node node, and the other way round", async () => {
  const onRust = admin(TARGET);
  const onNode = admin(nodeUrl);
  await Promise.all([once(onRust.socket, "config"), once(onNode.socket, "config")]);
  const toNode = track(io(nodeUrl, { forceNew: true, reconnection: false }));
  const toRust = track(io(TARGET, { forceNew: true, reconnection: false }));
  await Promise.all([once(toNode, "connect"), once(toRust, "connect")]);
  const connected = (heard, id) => heard.some(([e, s]) => e === "socket_connected" && s.id === id);
  const deadline = Date.now() + 5_000;
  while (Date.now() < deadline && !(connected(onRust.heard, toNode.id) && connected(onNode.heard, toRust.id))) await sleep(50);
  assert(connected(onRust.heard, toNode.id), "the Rust node's admin did not hear the Node client");
  assert(connected(onNode.heard, toRust.id), "the Node node's admin did not hear the Rust client");
});

await scenario("an admin on the Rust node disconnects a client of the Node node", async () => {
  const { socket } = admin(TARGET);
  await once(socket, "config");
  const bye = once(clients.onNode, "disconnect");
  socket.emit("_disconnect", "/", false, clients.onNode.id);
  const [reason] = await bye;
  assert(reason === "io server disconnect", `reason ${reason}`);
});

await scenario("an admin on the Node node disconnects a client of the Rust node", async () => {
  const { socket } = admin(nodeUrl);
  await once(socket, "config");
  const bye = once(clients.onRust, "disconnect");
  socket.emit("_disconnect", "/", false, clients.onRust.id);
  const [reason] = await bye;
  assert(reason === "io server disconnect", `reason ${reason}`);
});

clients.onRust?.disconnect();
clients.onNode?.disconnect();
nodeServer?.close();
await Promise.all(redisClients.map((c) => c.quit().catch(() => {})));
done();
