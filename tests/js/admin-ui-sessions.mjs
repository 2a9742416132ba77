// Admin sessions shared through Redis: TARGET is a Rust node instrumented with basic auth
// (user "admin", password "changeit") and a `RedisStore` on REDIS_URL with prefix PREFIX;
// this script starts a Node.js node instrumented by @socket.io/admin-ui 0.5.1 with the same
// credentials and Node's `RedisStore` (on an ioredis client, as its README shows: node-redis 4
// refuses the boolean it stores) on the same Redis and prefix. A session
// id handed out by either node logs in on the other, as a UI behind a load balancer needs.
//
//   TARGET=http://127.0.0.1:PORT REDIS_URL=redis://127.0.0.1:PORT2 PREFIX=p node admin-ui-sessions.mjs

import { createServer } from "node:http";
import { Server } from "socket.io";
import adminUi from "@socket.io/admin-ui";
import Redis from "ioredis";
import { io } from "socket.io-client";

process.env.HARD_CAP_MS ??= "50000";
const { TARGET, scenario, done, assert, once, track } = await import("./lib/harness.mjs");
const { instrument, RedisStore } = adminUi;
const PREFIX = process.env.PREFIX || "socket.io-admin";
// bcryptjs.hashSync("changeit", 10)
const HASH = "$2a$10$KGtHhoY0LyQuyUeIrVKuX.r6eRPD.mWiSRRjvg4.CMOux4hQUp6LS";

let nodeUrl = null;
let redis = null;

await scenario("a Node.js node with Node's Redis session store", async () => {
  redis = new Redis(process.env.REDIS_URL);
  redis.on("error", (e) => console.error(`redis: ${e.message}`));
  const http = createServer();
  const server = new Server(http);
  instrument(server, {
    auth: { type: "basic", username: "admin", password: HASH },
    store: new RedisStore(redis, { prefix: PREFIX }),
    serverId: "node-js",
  });
  await new Promise((resolve) => http.listen(0, "127.0.0.1", resolve));
  nodeUrl = `http://127.0.0.1:${http.address().port}`;
  http.unref();
}, 15_000);

function admin(target, auth) {
  return track(io(`${target}/admin`, { forceNew: true, reconnection: false, auth }));
}

/** Logs in with the password on `target` and returns the session id it hands out. */
async function login(target) {
  const socket = admin(target, { username: "admin", password: "changeit" });
  const [id] = await once(socket, "session", { failOn: ["connect_error"] });
  assert(typeof id === "string" && /^[0-9a-f]{16}$/.test(id), `session id ${id}`);
  socket.disconnect();
  return id;
}

/** Whether `target` lets in an admin with this session id alone. */
async function letsIn(target, sessionId) {
  const socket = admin(target, { sessionId });
  const outcome = await Promise.race([
    once(socket, "config").then(() => true),
    once(socket, "connect_error").then(([err]) => {
      assert(err.message === "invalid credentials", `refused with ${err.message}`);
      return false;
    }),
  ]);
  socket.disconnect();
  return outcome;
}

await scenario("a session from the Rust node logs in on the Node.js node", async () => {
  const id = await login(TARGET);
  assert(await letsIn(nodeUrl, id), "the Node.js node refused the Rust node's session");
  assert(await letsIn(TARGET, id), "the Rust node refused its own session");
}, 15_000);

await scenario("a session from the Node.js node logs in on the Rust node", async () => {
  const id = await login(nodeUrl);
  // Node saves the session without waiting for Redis: give the SET a moment
  for (let i = 0; i < 20 && (await redis.exists(`${PREFIX}#${id}`)) !== 1; i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
  assert((await redis.exists(`${PREFIX}#${id}`)) === 1, "Node did not save its session");
  assert(await letsIn(TARGET, id), "the Rust node refused the Node.js node's session");
}, 15_000);

await scenario("the Rust node's keys are Node's: value 1, expiring in a day", async () => {
  const id = await login(TARGET);
  const key = `${PREFIX}#${id}`;
  assert((await redis.get(key)) === "1", `value ${await redis.get(key)}`);
  const ttl = await redis.ttl(key);
  assert(ttl > 86_000 && ttl <= 86_400, `ttl ${ttl}`);
}, 15_000);

await scenario("an unknown or expired session id is refused by both", async () => {
  assert(!(await letsIn(TARGET, "0123456789abcdef")), "Rust let in an unknown session");
  assert(!(await letsIn(nodeUrl, "0123456789abcdef")), "Node let in an unknown session");
  const id = await login(TARGET);
  await redis.del(`${PREFIX}#${id}`);
  assert(!(await letsIn(TARGET, id)), "Rust let in a deleted session");
}, 15_000);

redis?.disconnect();
done();
