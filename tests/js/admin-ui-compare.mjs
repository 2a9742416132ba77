// Field-by-field comparison of the Admin UI events: Node's `instrument()` (socket.io 4.8.4 and
// @socket.io/admin-ui 0.5.1, started here) and the server at TARGET (instrumented with
// `no_auth()`, development mode, the same handlers). The same clients do the same things on
// both while an admin client records every event; then, for each event name, the names and
// types of every field (merged over all its occurrences) must be the same. Values (ids,
// timestamps, addresses) differ and are not compared; header and query names are data, so
// only their values' types are.
//
//   TARGET=http://127.0.0.1:PORT node admin-ui-compare.mjs

import { createServer } from "node:http";
import { Server } from "socket.io";
import { instrument } from "@socket.io/admin-ui";
import { io } from "socket.io-client";

process.env.HARD_CAP_MS ??= "80000";
const { TARGET, scenario, done, assert, once, track, sleep, metric } = await import("./lib/harness.mjs");

/** Node's reference: the handlers of tests/clients/admin_ui.rs, instrumented. */
async function startNode() {
  const http = createServer();
  const server = new Server(http);
  instrument(server, { auth: false, mode: "development" });
  server.on("connection", (socket) => {
    if (socket.handshake.query.room) socket.join(socket.handshake.query.room);
    socket.on("join", (room) => socket.join(room));
    socket.on("leave", (room) => socket.leave(room));
    socket.on("set", (value) => {
      socket.data.value = value;
    });
    socket.on("echo", (value) => socket.emit("echo", value));
    socket.on("shout", (value) => server.emit("shout", value));
  });
  await new Promise((resolve) => http.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${http.address().port}`, close: () => server.close() };
}

/** Every admin event, as [name, ...args]. */
function record(socket, into) {
  socket.onAny((event, ...args) => into.push([event, ...args]));
}

/** The same story on either server; returns what the admin clients heard. */
async function story(target) {
  const heard = [];
  const admin = track(io(`${target}/admin`, { forceNew: true, reconnection: false }));
  record(admin, heard);
  await once(admin, "all_sockets", { failOn: ["connect_error"] });
  // a client on polling that upgrades, in a room from its query
  const client = track(io(target, { forceNew: true, reconnection: false, query: { room: "lobby" } }));
  await once(client, "connect");
  if (client.io.engine.transport.name !== "websocket") await once(client.io.engine, "upgrade");
  client.emit("join", "extra");
  client.emit("set", { x: 1 });
  client.emit("echo", "hi");
  await once(client, "echo");
  client.emit("shout", "everyone");
  await once(client, "shout");
  client.emit("leave", "extra");
  await sleep(200);
  // a second admin lists the sockets, the client among them
  const second = track(io(`${target}/admin`, { forceNew: true, reconnection: false }));
  const listed = [];
  record(second, listed);
  const [sockets] = await once(second, "all_sockets");
  assert(sockets.some((s) => s.id === client.id), `the client is not in all_sockets of ${target}`);
  client.disconnect();
  // two stats periods, so that the traffic above is in an aggregated batch
  await sleep(4_500);
  admin.disconnect();
  second.disconnect();
  return heard.concat(listed);
}

// --- shapes ---------------------------------------------------------------------------------

const MAPS = new Set(["headers", "query"]);

/** The type of a value: "string", "number", ..., {object: {key: shape}}, {array: shape}, {map: shape}. */
function shapeOf(value, key) {
  if (value === null) return "null";
  if (Array.isArray(value)) return { array: value.map((v) => shapeOf(v)).reduce(merge, "nothing") };
  if (typeof value === "object") {
    if (MAPS.has(key)) return { map: Object.values(value).map((v) => shapeOf(v)).reduce(merge, "nothing") };
    return { object: Object.fromEntries(Object.entries(value).map(([k, v]) => [k, shapeOf(v, k)])) };
  }
  return typeof value;
}

/** Two shapes seen at the same place, as one: objects get the fields of both. */
function merge(a, b) {
  if (a === "nothing") return b;
  if (b === "nothing") return a;
  if (a.object && b.object) {
    const fields = { ...a.object };
    for (const [k, v] of Object.entries(b.object)) fields[k] = k in fields ? merge(fields[k], v) : v;
    return { object: fields };
  }
  if (a.array && b.array) return { array: merge(a.array, b.array) };
  if (a.map && b.map) return { map: merge(a.map, b.map) };
  if (JSON.stringify(a) === JSON.stringify(b)) return a;
  const options = new Set([...(a.union || [JSON.stringify(a)]), ...(b.union || [JSON.stringify(b)])]);
  return { union: [...options].sort() };
}

/** Event name -> merged shape of its arguments. */
function shapes(events) {
  const byName = {};
  for (const [name, ...args] of events) byName[name] = merge(byName[name] || "nothing", shapeOf(args));
  return byName;
}

/** Where two shapes differ, as "path: node vs ours" lines. */
function differences(a, b, path, out) {
  if (JSON.stringify(a) === JSON.stringify(b)) return out;
  if (a && b && a.object && b.object) {
    for (const k of new Set([...Object.keys(a.object), ...Object.keys(b.object)])) {
      differences(a.object[k], b.object[k], `${path}.${k}`, out);
    }
  } else if (a && b && a.array && b.array) {
    differences(a.array, b.array, `${path}[]`, out);
  } else if (a && b && a.map && b.map) {
    differences(a.map, b.map, `${path}{}`, out);
  } else {
    out.push(`${path}: node ${JSON.stringify(a)} vs ours ${JSON.stringify(b)}`);
  }
  return out;
}

// --- the comparison -------------------------------------------------------------------------

let node = null;
let nodeEvents = null;
let ourEvents = null;

await scenario("Node's instrumented reference server starts", async () => {
  node = await startNode();
});

await scenario("the story on Node's instrument()", async () => {
  nodeEvents = await story(node.url);
}, 20_000);

await scenario("the same story on ours", async () => {
  ourEvents = await story(TARGET);
}, 20_000);

const EXPECTED = [
  "config",
  "all_sockets",
  "server_stats",
  "socket_connected",
  "socket_updated",
  "socket_disconnected",
  "room_joined",
  "room_left",
  "event_received",
  "event_sent",
];

await scenario("both send the same events, every one the story calls for", async () => {
  assert(nodeEvents && ourEvents, "a story failed");
  const names = (events) => [...new Set(events.map(([name]) => name))].sort();
  metric("node_events", nodeEvents.length);
  metric("our_events", ourEvents.length);
  assert(JSON.stringify(names(nodeEvents)) === JSON.stringify(names(ourEvents)), `node ${names(nodeEvents)} vs ours ${names(ourEvents)}`);
  for (const name of EXPECTED) assert(names(ourEvents).includes(name), `no ${name}`);
});

for (const name of EXPECTED) {
  await scenario(`${name}: the same fields with the same types`, async () => {
    assert(nodeEvents && ourEvents, "a story failed");
    const diffs = differences(shapes(nodeEvents)[name], shapes(ourEvents)[name], name, []);
    assert(diffs.length === 0, diffs.join("; "));
  });
}

await scenario("server_stats aggregates the same kinds of events", async () => {
  assert(nodeEvents && ourEvents, "a story failed");
  const kinds = (events) =>
    [...new Set(events.filter(([n]) => n === "server_stats").flatMap(([, s]) => s.aggregatedEvents.map((e) => `${e.type}/${e.subType ?? ""}`)))].sort();
  assert(JSON.stringify(kinds(nodeEvents)) === JSON.stringify(kinds(ourEvents)), `node ${kinds(nodeEvents)} vs ours ${kinds(ourEvents)}`);
});

node?.close();
done();
