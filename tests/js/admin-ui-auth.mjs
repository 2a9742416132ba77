// The Admin UI's login and read-only mode, as the UI itself connects (socket.io-client to the
// admin namespace with `auth`). TARGET: a server instrumented with basic auth, user "admin",
// password "changeit"; READONLY_TARGET: one instrumented with `no_auth().readonly(true)`.
//
//   TARGET=http://127.0.0.1:PORT READONLY_TARGET=http://127.0.0.1:PORT2 node admin-ui-auth.mjs

import { io } from "socket.io-client";

process.env.HARD_CAP_MS ??= "50000";
const { TARGET, scenario, done, assert, once, track, sleep } = await import("./lib/harness.mjs");
const READONLY_TARGET = (process.env.READONLY_TARGET || "").replace(/\/+$/, "");

function admin(target, auth) {
  return track(io(`${target}/admin`, { forceNew: true, reconnection: false, auth }));
}

/** The connect_error message of an admin connection that must be refused. */
async function refused(auth) {
  const socket = admin(TARGET, auth);
  const [err] = await once(socket, "connect_error", { failOn: ["connect"] });
  return err.message;
}

await scenario("a wrong password is refused", async () => {
  const message = await refused({ username: "admin", password: "wrong" });
  assert(message === "invalid credentials", `message: ${message}`);
});

await scenario("an unknown user with the right password is refused", async () => {
  const message = await refused({ username: "root", password: "changeit" });
  assert(message === "invalid credentials", `message: ${message}`);
});

await scenario("no credentials are refused", async () => {
  assert((await refused(undefined)) === "invalid credentials", "no auth");
  assert((await refused({})) === "invalid credentials", "empty auth");
  assert((await refused({ username: "admin" })) === "invalid credentials", "no password");
  assert((await refused({ username: "admin", password: 42 })) === "invalid credentials", "numeric password");
  assert((await refused({ sessionId: "0123456789abcdef" })) === "invalid credentials", "unknown session id");
});

let sessionId = null;

await scenario("the right credentials (checked with bcrypt) connect and get a session id and the config", async () => {
  const socket = admin(TARGET, { username: "admin", password: "changeit" });
  const session = once(socket, "session", { failOn: ["connect_error"] });
  const config = once(socket, "config", { failOn: ["connect_error"] });
  const [id] = await session;
  assert(typeof id === "string" && /^[0-9a-f]{16}$/.test(id), `session id ${id}`);
  const [{ supportedFeatures }] = await config;
  for (const feature of ["EMIT", "JOIN", "LEAVE", "DISCONNECT", "MJOIN", "MLEAVE", "MDISCONNECT", "AGGREGATED_EVENTS", "ALL_EVENTS"]) {
    assert(supportedFeatures.includes(feature), `${feature} missing from ${supportedFeatures}`);
  }
  sessionId = id;
}, 15_000);

await scenario("the session id alone logs in again (the UI's reconnection)", async () => {
  assert(sessionId, "no session id from the previous scenario");
  const socket = admin(TARGET, { sessionId });
  const config = once(socket, "config", { failOn: ["connect_error"] });
  const [{ supportedFeatures }] = await config;
  assert(supportedFeatures.includes("EMIT"), `features ${supportedFeatures}`);
});

await scenario("a read-only UI is told it has no action", async () => {
  const socket = admin(READONLY_TARGET, {});
  const [{ supportedFeatures }] = await once(socket, "config", { failOn: ["connect_error"] });
  assert(
    JSON.stringify(supportedFeatures) === JSON.stringify(["AGGREGATED_EVENTS", "ALL_EVENTS"]),
    `features ${supportedFeatures}`,
  );
});

await scenario("a read-only UI's actions do nothing", async () => {
  const client = track(io(READONLY_TARGET, { forceNew: true, reconnection: false }));
  await once(client, "connect");
  let disconnected = null;
  client.on("disconnect", (reason) => (disconnected = reason));
  let got = null;
  client.on("hello", (value) => (got = value));
  const socket = admin(READONLY_TARGET, {});
  await once(socket, "config", { failOn: ["connect_error"] });
  socket.emit("_disconnect", "/", false, client.id);
  socket.emit("_disconnect", "/", true);
  socket.emit("emit", "/", null, "hello", "from a read-only UI");
  socket.emit("join", "/", "vip", client.id);
  // the same admin connection stays usable, and the client sees nothing of it
  await sleep(500);
  assert(client.connected && disconnected === null, `client disconnected: ${disconnected}`);
  assert(got === null, `client got ${got}`);
});

await scenario("malformed actions are ignored; the admin and the clients carry on", async () => {
  const client = track(io(TARGET, { forceNew: true, reconnection: false }));
  await once(client, "connect");
  let disconnected = null;
  client.on("disconnect", (reason) => (disconnected = reason));
  const socket = admin(TARGET, { sessionId });
  await once(socket, "config", { failOn: ["connect_error"] });
  socket.emit("_disconnect", 42, "yes", { room: 1 });
  socket.emit("_disconnect");
  socket.emit("join");
  socket.emit("join", "/", ["not", "a", "room"], client.id);
  socket.emit("leave", {}, []);
  socket.emit("emit", "/", null);
  socket.emit("emit", "/no-such-namespace", null, "hello");
  socket.emit("no-such-action", 1, 2, 3);
  await sleep(300);
  assert(socket.connected, "the admin was disconnected");
  assert(client.connected && disconnected === null, `client disconnected: ${disconnected}`);
  // and the admin can still act
  const bye = once(client, "disconnect");
  socket.emit("_disconnect", "/", false, client.id);
  const [reason] = await bye;
  assert(reason === "io server disconnect", `reason ${reason}`);
});

await scenario("an admin that may act disconnects a client", async () => {
  const client = track(io(TARGET, { forceNew: true, reconnection: false }));
  await once(client, "connect");
  const socket = admin(TARGET, { sessionId });
  await once(socket, "config", { failOn: ["connect_error"] });
  const bye = once(client, "disconnect");
  socket.emit("_disconnect", "/", false, client.id);
  const [reason] = await bye;
  assert(reason === "io server disconnect", `reason ${reason}`);
});

done();
