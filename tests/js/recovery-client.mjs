// Connection state recovery with socket.io-client v4 in Node against a server with recovery on.
// The scenarios are those of pages/recovery-scenarios.mjs, which browser-recovery.mjs runs in
// headless Chromium.
//
//   TARGET=http://127.0.0.1:PORT TARGET_SHORT=http://127.0.0.1:PORT2 node recovery-client.mjs
//
// TARGET: recovery with a 2-minute window; TARGET_SHORT: the same server with a 300 ms window
// (without it, the expired-session scenario is left out). ONLY=<regex> limits the scenarios.
import { io } from "socket.io-client";
import { TARGET, scenario, done } from "./lib/harness.mjs";
import { scenarios, runScenario } from "./pages/recovery-scenarios.mjs";

const TARGET_SHORT = (process.env.TARGET_SHORT || "").replace(/\/+$/, "");
const env = { io, targets: { long: TARGET, short: TARGET_SHORT || undefined }, platform: "node" };

for (const { name, server, timeoutMs } of scenarios()) {
  if (!env.targets[server]) continue;
  await scenario(name, () => runScenario(env, name), timeoutMs + 2_000);
}

done();
