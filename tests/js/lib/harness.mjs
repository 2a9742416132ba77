// Tiny test harness shared by the client scripts.
//
// Output contract (read by the Rust side and by CI):
//   ok - <name>
//   not ok - <name>: <reason>
//   metric <key>=<value>          (informational, never asserted)
//   N passed, N failed            (last line, alone)
// Exit code 0 iff every scenario passed. Every wait is bounded; the whole
// script is hard-capped so it always terminates.

import { isDeepStrictEqual, inspect } from "node:util";

export const TARGET = (process.env.TARGET || "").replace(/\/+$/, "");
if (!TARGET) {
  console.log("not ok - setup: TARGET env var is required (e.g. TARGET=http://127.0.0.1:3000)");
  console.log("0 passed, 1 failed");
  process.exit(1);
}

const HARD_CAP_MS = Number(process.env.HARD_CAP_MS || 60_000);
export const SCENARIO_TIMEOUT_MS = Number(process.env.SCENARIO_TIMEOUT_MS || 8_000);
const ONLY = process.env.ONLY ? new RegExp(process.env.ONLY) : null;

let passed = 0;
let failed = 0;
let finished = false;

// Every socket created through track() is closed when its scenario ends
// (and again at exit), so no scenario can keep the process alive.
let current = new Set();
const everything = new Set();

export function track(closable) {
  current.add(closable);
  everything.add(closable);
  return closable;
}

function closeAll(set) {
  for (const s of set) {
    try {
      if (typeof s.disconnect === "function") s.disconnect();
      else if (typeof s.close === "function") s.close();
    } catch {
      /* ignore */
    }
  }
  set.clear();
}

function finish(code) {
  if (finished) return;
  finished = true;
  closeAll(everything);
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(code ?? (failed === 0 ? 0 : 1));
}

const hardCap = setTimeout(() => {
  console.log(`not ok - hard cap: script exceeded ${HARD_CAP_MS} ms, aborting`);
  failed++;
  finish(1);
}, HARD_CAP_MS);
hardCap.unref();

process.on("uncaughtException", (err) => {
  console.log(`not ok - uncaught exception: ${oneLine(err && err.stack ? err.stack : err)}`);
  failed++;
  finish(1);
});
process.on("unhandledRejection", (err) => {
  console.log(`not ok - unhandled rejection: ${oneLine(err && err.stack ? err.stack : err)}`);
  failed++;
  finish(1);
});

function oneLine(x) {
  return String(x).replace(/\s*\n\s*/g, " | ").slice(0, 600);
}

/** Run one scenario with a timeout; prints exactly one ok / not ok line. */
export async function scenario(name, fn, timeoutMs = SCENARIO_TIMEOUT_MS) {
  if (finished) return;
  if (ONLY && !ONLY.test(name)) return;
  current = new Set();
  const mine = current;
  let timer;
  try {
    await Promise.race([
      Promise.resolve().then(() => fn()),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    passed++;
    console.log(`ok - ${name}`);
  } catch (err) {
    failed++;
    console.log(`not ok - ${name}: ${oneLine(err && err.message ? err.message : err)}`);
    if (process.env.VERBOSE && err && err.stack) console.error(err.stack);
  } finally {
    clearTimeout(timer);
    closeAll(mine);
    // let close frames / final polls go out before the next scenario
    await sleep(20);
  }
}

export function done() {
  finish();
}

export function metric(key, value) {
  console.log(`metric ${key}=${value}`);
}

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Resolve with the event's arguments (array) on the first `event`; reject on
 * timeout or on any of `failOn` events (e.g. "error", "connect_error", "close").
 */
export function once(emitter, event, { timeout = 5_000, failOn = [] } = {}) {
  return quiet(new Promise((resolve, reject) => {
    const cleanups = [];
    const cleanup = () => cleanups.forEach((f) => f());
    const t = setTimeout(() => {
      cleanup();
      reject(new Error(`no "${event}" within ${timeout} ms`));
    }, timeout);
    cleanups.push(() => clearTimeout(t));
    const on = (...args) => {
      cleanup();
      resolve(args);
    };
    emitter.on(event, on);
    cleanups.push(() => emitter.off(event, on));
    for (const bad of failOn) {
      const onBad = (...args) => {
        cleanup();
        reject(new Error(`got "${bad}" while waiting for "${event}": ${describe(args)}`));
      };
      emitter.on(bad, onBad);
      cleanups.push(() => emitter.off(bad, onBad));
    }
  }));
}

// Waiters are often created before the action that triggers them and awaited
// later (or never, when the scenario already failed). Mark them handled so a
// late rejection does not become an unhandledRejection; awaiting the returned
// promise still throws.
function quiet(p) {
  p.catch(() => {});
  return p;
}

/** Collect `count` emissions of `event` (each as its args array). */
export function collect(emitter, event, count, { timeout = 5_000 } = {}) {
  return quiet(new Promise((resolve, reject) => {
    const got = [];
    const t = setTimeout(() => {
      emitter.off(event, on);
      reject(new Error(`got ${got.length}/${count} "${event}" within ${timeout} ms`));
    }, timeout);
    function on(...args) {
      got.push(args);
      if (got.length === count) {
        clearTimeout(t);
        emitter.off(event, on);
        resolve(got);
      }
    }
    emitter.on(event, on);
  }));
}

function describe(args) {
  return args.map(describeOne).join(", ");
}

function describeOne(a) {
  if (a instanceof Error) {
    // engine.io-client errors carry the transport-level cause in .description
    // (an Error, an ErrorEvent, or an HTTP status code)
    const d = a.description;
    const cause = d === undefined ? "" : ` (${d && d.message ? d.message : typeof d === "object" ? inspect(d, { depth: 0 }) : d})`;
    return `${a.message}${cause}`;
  }
  return inspect(a, { depth: 4, breakLength: Infinity }).slice(0, 300);
}

/**
 * Normalise a value for comparison: every binary form (Buffer, typed array,
 * DataView, ArrayBuffer) becomes { $binary: "<hex>" }, so Buffer vs Uint8Array
 * vs ArrayBuffer compare equal by content, while a JSON-serialised Buffer
 * ({type:"Buffer",data:[...]}) or a base64 string does NOT.
 */
export function normalize(v) {
  if (v instanceof ArrayBuffer) return { $binary: Buffer.from(v).toString("hex") };
  if (ArrayBuffer.isView(v)) return { $binary: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("hex") };
  if (Array.isArray(v)) return v.map(normalize);
  if (v && typeof v === "object") {
    const out = {};
    for (const k of Object.keys(v)) out[k] = normalize(v[k]);
    return out;
  }
  return v;
}

export function assertSame(actual, expected, what = "value") {
  const a = normalize(actual);
  const e = normalize(expected);
  if (!isDeepStrictEqual(a, e)) {
    throw new Error(`${what} mismatch: expected ${inspect(e, { depth: 6, breakLength: Infinity })}, got ${inspect(a, { depth: 6, breakLength: Infinity })}`);
  }
}

export function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

export function isBinary(v) {
  return v instanceof ArrayBuffer || ArrayBuffer.isView(v);
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function pct(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

export { describe };
