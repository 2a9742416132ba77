// Measures cross-node broadcast throughput of a two-node Rust cluster (the `cluster`
// example) and of a two-node Node.js cluster (socket.io 4.8 + @socket.io/redis-adapter,
// redis-node.mjs), in the same run, on a private redis-server (loopback, free port).
// Everything it starts is killed at the end; the whole run is capped at 5 minutes.
//
//   cargo build --release --features redis --example cluster
//   node tests/js/redis-compare.mjs [--clients 20] [--count 20000] [--size 64] [--rounds 3] [--sharded]
//
// CLUSTER_BIN overrides the example binary (default: target/release/examples/cluster,
// or $CARGO_TARGET_DIR/release/examples/cluster).

import { spawn, execFileSync } from "node:child_process";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const argv = process.argv.slice(2);
const opt = (name, def) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : def;
};
const SHARDED = argv.includes("--sharded");
const ROUNDS = Number(opt("rounds", 3));
const benchArgs = ["--clients", opt("clients", "20"), "--count", opt("count", "20000"), "--size", opt("size", "64")];
const targetDir = process.env.CARGO_TARGET_DIR || path.join(root, "target");
const BIN = process.env.CLUSTER_BIN || path.join(targetDir, "release", "examples", "cluster");

const children = [];
function cleanup() {
  for (const c of children) {
    try {
      c.kill("SIGKILL");
    } catch {}
  }
}
process.on("exit", cleanup);
setTimeout(() => {
  console.error("redis-compare: 5 minute cap reached");
  process.exit(2);
}, 300_000).unref();

function freePort() {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function start(cmd, args, env = {}, waitFor) {
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = "";
    const onData = (d) => {
      out += d.toString();
      if (waitFor.test(out)) resolve(child);
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("exit", (code) => reject(new Error(`${cmd} exited (${code}): ${out}`)));
    setTimeout(() => reject(new Error(`${cmd} did not start: ${out}`)), 15_000).unref();
  });
}

function bench(a, b, label) {
  const out = execFileSync("node", [path.join(here, "redis-bench.mjs"), a, b, ...benchArgs, "--label", label], {
    encoding: "utf8",
    timeout: 90_000,
  });
  return JSON.parse(out.trim().split("\n").pop());
}

const redisPort = await freePort();
await start("redis-server", ["--port", String(redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {}, /Ready to accept/);
const redisUrl = `redis://127.0.0.1:${redisPort}`;

const [r1, r2, n1, n2] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
const rustArgs = (port) => [String(port), redisUrl, ...(SHARDED ? ["--sharded"] : [])];
// Separate prefixes: the two clusters share the Redis server but not their channels.
await start(BIN, rustArgs(r1), { RUST_LOG: "info" }, /node on/);
await start(BIN, rustArgs(r2), { RUST_LOG: "info" }, /node on/);
const nodeEnv = (port) => ({ PORT: String(port), REDIS_URL: redisUrl, KEY: "node-only", DETACHED: "1", ...(SHARDED ? { SHARDED: "dynamic" } : {}) });
await start("node", [path.join(here, "redis-node.mjs")], nodeEnv(n1), /listening/);
await start("node", [path.join(here, "redis-node.mjs")], nodeEnv(n2), /listening/);
await new Promise((r) => setTimeout(r, 500));

const results = { rust: [], node: [] };
for (let round = 0; round < ROUNDS; round++) {
  results.rust.push(bench(`http://127.0.0.1:${r1}`, `http://127.0.0.1:${r2}`, "rust"));
  results.node.push(bench(`http://127.0.0.1:${n1}`, `http://127.0.0.1:${n2}`, "node"));
}
const median = (xs) => xs.map((x) => x.deliveries_per_sec).sort((a, b) => a - b)[Math.floor(xs.length / 2)];
for (const [label, runs] of Object.entries(results)) {
  console.log(`${label}: ${runs.map((r) => r.deliveries_per_sec).join(", ")} deliveries/s (median ${median(runs)}); received ${runs.map((r) => `${r.received}/${r.expected}`).join(", ")}`);
}
console.log(`metric rust.median_deliveries_per_sec=${median(results.rust)}`);
console.log(`metric node.median_deliveries_per_sec=${median(results.node)}`);
process.exit(0);
