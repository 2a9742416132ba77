// Runs the interop scenarios (pages/interop-scenarios.mjs) with one version of
// socket.io-client in Node, over each transport mode. Used by legacy-v2.mjs,
// legacy-v3.mjs and legacy-v4.mjs; TARGET is the interop app
// (tests/support/legacy_app.rs, or legacy-reference-server.mjs).
//
// Output: the harness contract of lib/harness.mjs. MODES=<regex> limits the
// transport modes (default, websocket, polling, polling-base64); ONLY=<regex> the scenarios.

// Every scenario is bounded (SCENARIO_TIMEOUT_MS, 12 s by default); the whole
// run is 4 modes x ~13 scenarios, so the script's cap is raised to 150 s.
process.env.HARD_CAP_MS ??= "150000";
const { TARGET, scenario, done } = await import("./lib/harness.mjs");
const { modesFor, scenarioNames, runScenario } = await import("./pages/interop-scenarios.mjs");

const TIMEOUT = Number(process.env.SCENARIO_TIMEOUT_MS || 12_000);
const MODE_FILTER = process.env.MODES ? new RegExp(process.env.MODES) : null;

/** io: the client's io(); version: "v2" | "v3" | "v4"; extra: more env (see pages/interop-scenarios.mjs). */
export async function run(io, version, extra = {}) {
  const env = { io, version, target: TARGET, platform: "node", ...extra };
  for (const mode of modesFor(env)) {
    if (MODE_FILTER && !MODE_FILTER.test(mode.label)) continue;
    for (const name of scenarioNames(env)) {
      await scenario(`[${version} node ${mode.label}] ${name}`, () => runScenario(env, mode.label, name, TIMEOUT), TIMEOUT + 2_000);
    }
  }
  done();
}
