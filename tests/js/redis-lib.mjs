// Shared by redis-node.mjs and redis-clients.mjs: a JSON-lines control channel
// on stdin/stdout, and the JSON form of binary data.
//
// Requests arrive on stdin as one JSON object per line, `{id, op, ...}`; each
// gets exactly one reply `{id, ok: true, result}` or `{id, ok: false, error}`.
// Unsolicited events are printed as `{event, ...}`. Binary data travels as
// `{"$bin": "<hex>"}` in both directions. The process exits when stdin closes
// (its parent, the Rust test, went away; not with DETACHED=1) or after HARD_CAP_MS.

import { createInterface } from "node:readline";

const HARD_CAP_MS = Number(process.env.HARD_CAP_MS || 240_000);
setTimeout(() => {
  process.stderr.write(`hard cap of ${HARD_CAP_MS} ms reached, exiting\n`);
  process.exit(2);
}, HARD_CAP_MS).unref();

export function send(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

/// Buffers (anywhere in a value) to {"$bin": hex}.
export function toWire(value) {
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) {
    return { $bin: Buffer.from(value).toString("hex") };
  }
  if (value instanceof ArrayBuffer) {
    return { $bin: Buffer.from(value).toString("hex") };
  }
  if (Array.isArray(value)) return value.map(toWire);
  if (value && typeof value === "object") {
    const out = {};
    for (const [k, v] of Object.entries(value)) out[k] = toWire(v);
    return out;
  }
  return value;
}

/// {"$bin": hex} (anywhere in a value) to Buffers.
export function fromWire(value) {
  if (Array.isArray(value)) return value.map(fromWire);
  if (value && typeof value === "object") {
    if (typeof value.$bin === "string" && Object.keys(value).length === 1) {
      return Buffer.from(value.$bin, "hex");
    }
    const out = {};
    for (const [k, v] of Object.entries(value)) out[k] = fromWire(v);
    return out;
  }
  return value;
}

/// Serves requests with `handlers[op](request)` (sync or async).
export function serve(handlers) {
  const rl = createInterface({ input: process.stdin });
  rl.on("line", async (line) => {
    if (!line.trim()) return;
    let req;
    try {
      req = JSON.parse(line);
    } catch (e) {
      send({ event: "error", error: `bad request line: ${e.message}` });
      return;
    }
    const handler = handlers[req.op];
    if (!handler) {
      send({ id: req.id, ok: false, error: `unknown op ${req.op}` });
      return;
    }
    try {
      const result = await handler(req);
      send({ id: req.id, ok: true, result: result === undefined ? null : toWire(result) });
    } catch (e) {
      send({ id: req.id, ok: false, error: String(e && e.message ? e.message : e) });
    }
  });
  if (!process.env.DETACHED) rl.on("close", () => process.exit(0));
}
