// Real socket.io-client v4 against the Socket.IO conformance server.
//
//   TARGET=http://127.0.0.1:3000 node socketio-client.mjs
//
// Expected server (see reference-server.mjs), Engine.IO path /socket.io/:
//   namespace "/":       on connection  emit("auth", handshake.auth)
//                        on "message"   emit("message-back", ...args)
//                        on "message-with-ack"  ack(...args)
//   namespace "/custom": on connection  emit("auth", handshake.auth)
//   any other namespace: CONNECT_ERROR {message: "Invalid namespace"}

import { io, Manager } from "socket.io-client";
import msgpackParser from "socket.io-msgpack-parser";
import {
  TARGET,
  scenario,
  done,
  once,
  collect,
  sleep,
  track,
  assert,
  assertSame,
  isBinary,
} from "./lib/harness.mjs";

const PATH = "/socket.io/";

// NB: for socket.io-client the URL path is the *namespace*; the Engine.IO
// endpoint path is the `path` option.
// PARSER=msgpack runs every scenario with socket.io-msgpack-parser (the server must use the
// msgpack parser too).
const PARSER = process.env.PARSER === "msgpack" ? { parser: msgpackParser } : {};
const BASE = { path: PATH, forceNew: true, reconnection: false, timeout: 5_000, ...PARSER };

const MODES = [
  // [label, options, expected final transport]
  ["default", {}, "websocket"],
  ["websocket", { transports: ["websocket"] }, "websocket"],
  ["polling", { transports: ["polling"] }, "polling"],
  ["forceBase64", { forceBase64: true }, "websocket"],
  ["forceBase64+websocket", { forceBase64: true, transports: ["websocket"] }, "websocket"],
];

/**
 * Connect to `nsp`, wait for "connect" and the server's "auth" event, and (if
 * the mode ends on websocket) for the transport upgrade to finish.
 */
async function connect(mode, nsp = "/", opts = {}) {
  const [, modeOpts, finalTransport] = mode;
  const socket = track(io(TARGET + nsp, { ...BASE, ...modeOpts, ...opts }));
  const engine = socket.io.engine; // created synchronously by autoConnect
  assert(engine, "socket.io.engine not created synchronously");
  const upgraded =
    finalTransport === "websocket" && engine.transport.name !== "websocket"
      ? once(engine, "upgrade", { failOn: ["upgradeError", "close"] })
      : null;
  const auth = once(socket, "auth", { failOn: ["connect_error", "disconnect"] });
  await once(socket, "connect", { failOn: ["connect_error", "disconnect"] });
  assert(socket.connected, "socket.connected false after connect");
  assert(typeof socket.id === "string" && socket.id.length > 0, `bad socket.id ${socket.id}`);
  const [authData] = await auth;
  if (upgraded && engine.transport.name !== "websocket") await upgraded;
  assert(
    engine.transport.name === finalTransport,
    `transport is ${engine.transport.name}, expected ${finalTransport}`,
  );
  return { socket, authData };
}

const JSON_ARGS = [
  "a string",
  "ünïcödé ✓ 😀",
  42,
  -3.5,
  0,
  true,
  false,
  { a: 1, b: "two", c: [3, { d: null }], e: { f: { g: "deep" } } },
  [1, "two", null, { three: 3 }, [4]],
  null,
  "",
];

function binaryArgs() {
  return [
    Buffer.from([1, 2, 3, 255]),
    { file: Buffer.from("hello binary"), name: "x.bin", nested: { deeper: [Uint8Array.from([0, 0, 7]), "text", 5] } },
    [Buffer.alloc(0), "between", Buffer.from([0x2d, 0x2f])], // "-", "/" bytes: attachment-placeholder-looking
    Uint8Array.from([9, 8, 7]).buffer, // ArrayBuffer
  ];
}

/** Received binaries must really be binary (not {type:"Buffer",data}/base64). */
function assertBinaryLeaves(sent, got, where = "arg") {
  if (isBinary(sent)) {
    assert(isBinary(got), `${where}: sent binary, got ${JSON.stringify(got)?.slice(0, 60)}`);
    return;
  }
  if (Array.isArray(sent)) return sent.forEach((v, i) => assertBinaryLeaves(v, got?.[i], `${where}[${i}]`));
  if (sent && typeof sent === "object") for (const k of Object.keys(sent)) assertBinaryLeaves(sent[k], got?.[k], `${where}.${k}`);
}

async function roundTrip(socket, args) {
  const back = once(socket, "message-back", { failOn: ["disconnect"] });
  socket.emit("message", ...args);
  const got = await back;
  assertSame(got, args, "message-back args");
  assertBinaryLeaves(args, got);
}

// ---------------------------------------------------------------------------

await scenario("connect without auth: auth event is {}", async () => {
  const { authData } = await connect(MODES[1]);
  assertSame(authData, {}, "auth");
});

for (const mode of MODES) {
  const [label] = mode;

  await scenario(`[${label}] connect with auth, receive auth event`, async () => {
    const auth = { token: "abc" };
    const { authData, socket } = await connect(mode, "/", { auth });
    assertSame(authData, auth, "auth");
    assert(socket.io.engine.id && socket.id !== socket.io.engine.id, "socket id should differ from engine sid");
  });

  await scenario(`[${label}] message -> message-back with JSON args`, async () => {
    const { socket } = await connect(mode);
    await roundTrip(socket, JSON_ARGS);
    await roundTrip(socket, ["single"]);
    await roundTrip(socket, []); // no args at all
    await roundTrip(socket, [{ nested: { arr: [[[]]], empty: {} } }]);
  });

  await scenario(`[${label}] binary both ways (top-level and nested)`, async () => {
    const { socket } = await connect(mode);
    await roundTrip(socket, binaryArgs());
    await roundTrip(socket, [Buffer.from([0xde, 0xad, 0xbe, 0xef])]);
    await roundTrip(socket, ["mixed", 1, { a: [Buffer.from("x"), { b: Buffer.from("y") }] }, null]);
  });

  await scenario(`[${label}] burst of 50 messages arrives in order`, async () => {
    const { socket } = await connect(mode);
    const got = collect(socket, "message-back", 50, { timeout: 6_000 });
    const sent = [];
    for (let i = 0; i < 50; i++) {
      const args = i % 5 === 0 ? [i, Buffer.from([i])] : [i, `m${i}`];
      sent.push(args);
      socket.emit("message", ...args);
    }
    assertSame(await got, sent, "burst");
  });

  await scenario(`[${label}] emitWithAck returns the same arg (JSON and binary)`, async () => {
    const { socket } = await connect(mode);
    for (const arg of [...JSON_ARGS, ...binaryArgs()]) {
      const res = await socket.timeout(3_000).emitWithAck("message-with-ack", arg);
      assertSame(res, arg, "ack value");
      assertBinaryLeaves(arg, res);
    }
  });

  await scenario(`[${label}] ack callback gets all args back (multi-arg, binary)`, async () => {
    const { socket } = await connect(mode);
    for (const args of [JSON_ARGS, binaryArgs(), [], ["only"]]) {
      const res = await new Promise((resolve, reject) => {
        socket.timeout(3_000).emit("message-with-ack", ...args, (err, ...resArgs) => (err ? reject(err) : resolve(resArgs)));
      });
      assertSame(res, args, "ack args");
      assertBinaryLeaves(args, res);
    }
  });

  await scenario(`[${label}] 50 concurrent acks resolve to their own request`, async () => {
    const { socket } = await connect(mode);
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => socket.timeout(5_000).emitWithAck("message-with-ack", { i, bin: Buffer.from([i]) })),
    );
    results.forEach((r, i) => assertSame(r, { i, bin: Buffer.from([i]) }, `ack #${i}`));
  });

  await scenario(`[${label}] namespace /custom with auth`, async () => {
    const auth = { token: "custom-token", n: 7, list: ["a", "b"] };
    const { socket, authData } = await connect(mode, "/custom", { auth });
    assertSame(authData, auth, "auth on /custom");
    assert(socket.nsp === "/custom", `nsp ${socket.nsp}`);
  });

  await scenario(`[${label}] unknown namespace /nope -> connect_error "Invalid namespace"`, async () => {
    const socket = track(io(TARGET + "/nope", { ...BASE, ...mode[1] }));
    const [err] = await once(socket, "connect_error", { failOn: ["connect"] });
    assert(err instanceof Error, `connect_error payload not an Error: ${err}`);
    assert(err.message === "Invalid namespace", `connect_error message ${JSON.stringify(err.message)}`);
    assert(!socket.connected, "socket connected to invalid namespace");
  });

  await scenario(`[${label}] client disconnect(): reason "io client disconnect"`, async () => {
    const { socket } = await connect(mode);
    const disc = once(socket, "disconnect", { timeout: 3_000 });
    socket.disconnect();
    const [reason] = await disc;
    assert(reason === "io client disconnect", `disconnect reason ${JSON.stringify(reason)}`);
    assert(!socket.connected, "still connected");
  });

  await scenario(`[${label}] stays connected across heartbeats (1.2 s)`, async () => {
    const { socket } = await connect(mode);
    let disc = null;
    socket.on("disconnect", (r) => (disc = r));
    let pings = 0;
    socket.io.engine.on("ping", () => pings++);
    await sleep(1_200);
    assert(disc === null, `disconnected while idle: ${disc}`);
    assert(pings >= 2, `only ${pings} pings in 1.2 s`);
    await roundTrip(socket, ["after idle", Buffer.from([1])]);
  });
}

for (const mode of [MODES[0], MODES[2]]) {
  await scenario(`[${mode[0]}] multiplexing: / and /custom share one Engine.IO session`, async () => {
    const manager = track(new Manager(TARGET, { ...BASE, ...mode[1] }));
    const root = track(manager.socket("/", { auth: { token: "root" } }));
    const custom = track(manager.socket("/custom", { auth: { token: "custom" } }));
    const rootAuth = once(root, "auth", { failOn: ["connect_error"] });
    const customAuth = once(custom, "auth", { failOn: ["connect_error"] });
    await Promise.all([
      once(root, "connect", { failOn: ["connect_error"] }),
      once(custom, "connect", { failOn: ["connect_error"] }),
    ]);
    assertSame((await rootAuth)[0], { token: "root" }, "auth on /");
    assertSame((await customAuth)[0], { token: "custom" }, "auth on /custom");
    assert(root.io === custom.io && root.io.engine === custom.io.engine, "namespaces not multiplexed");
    await roundTrip(root, ["via multiplexed /", Buffer.from([5])]);
    // leaving one namespace keeps the other (and the session) up
    const customDisc = once(custom, "disconnect", { timeout: 3_000 });
    custom.disconnect();
    const [reason] = await customDisc;
    assert(reason === "io client disconnect", `reason ${reason}`);
    await sleep(100);
    assert(root.connected, "/ dropped when /custom left");
    await roundTrip(root, ["still here"]);
    // an invalid namespace on the same session errors without hurting the others
    const nope = track(manager.socket("/nope"));
    const [err] = await once(nope, "connect_error", { failOn: ["connect"] });
    assert(err.message === "Invalid namespace", `connect_error ${err.message}`);
    await roundTrip(root, ["still here after /nope"]);
  });
}

done();
