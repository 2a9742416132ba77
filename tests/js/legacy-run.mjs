// Runs the interop scenarios (pages/interop-scenarios.mjs) with one version of
// socket.io-client in Node, over each transport mode. Used by legacy-v2.mjs,
// legacy-v3.mjs and legacy-v4.mjs; TARGET is the interop app
// (tests/support/legacy_app.rs, or legacy-reference-server.mjs).
//
// Output: the harness contract of lib/harness.mjs. MODES=<regex> limits the
// transport modes (default, websocket, polling, polling-base64); ONLY=<regex> the scenarios.
// PARSER=msgpack gives every client socket.io-msgpack-parser (the server must
// use the msgpack parser too; socket.io-client 3 and 4 only); what cannot apply
// with it is printed as "skip - <name>: <reason>" (see skipReason in
// pages/interop-scenarios.mjs), and counted on a line before the summary.

// Every scenario is bounded (SCENARIO_TIMEOUT_MS, 12 s by default); the whole
// run is 4 modes x ~13 scenarios, so the script's cap is raised to 150 s.
process.env.HARD_CAP_MS ??= "150000";
const { TARGET, scenario, done } = await import("./lib/harness.mjs");
const { modesFor, scenarioNames, runScenario, skipReason } = await import("./pages/interop-scenarios.mjs");

const TIMEOUT = Number(process.env.SCENARIO_TIMEOUT_MS || 12_000);
const MODE_FILTER = process.env.MODES ? new RegExp(process.env.MODES) : null;
const ONLY = process.env.ONLY ? new RegExp(process.env.ONLY) : null;

/** { parser, parserName } for env, from PARSER ("" / "default" / "msgpack"). */
async function parserFromEnv(version) {
  const name = process.env.PARSER || "default";
  if (name === "default") return {};
  const fail = (why) => {
    console.log(`not ok - setup: PARSER=${name}: ${why}`);
    console.log("0 passed, 1 failed");
    process.exit(1);
  };
  if (name !== "msgpack") fail("unknown parser (default, msgpack)");
  // socket.io-msgpack-parser 3 speaks Socket.IO protocol 5; socket.io-client 2 speaks 4
  if (version === "v2") fail("socket.io-msgpack-parser 3 needs socket.io-client 3 or 4");
  const { default: parser } = await import("socket.io-msgpack-parser");
  return { parser, parserName: name };
}

/** io: the client's io(); version: "v2" | "v3" | "v4"; extra: more env (see pages/interop-scenarios.mjs). */
export async function run(io, version, extra = {}) {
  const env = { io, version, target: TARGET, platform: "node", ...(await parserFromEnv(version)), ...extra };
  let skipped = 0;
  for (const mode of modesFor(env)) {
    if (MODE_FILTER && !MODE_FILTER.test(mode.label)) continue;
    for (const name of scenarioNames(env)) {
      const label = `[${version} node ${mode.label}] ${name}`;
      const why = skipReason(env, mode.label, name);
      if (why) {
        if (!ONLY || ONLY.test(label)) {
          console.log(`skip - ${label}: ${why}`);
          skipped++;
        }
        continue;
      }
      await scenario(label, () => runScenario(env, mode.label, name, TIMEOUT), TIMEOUT + 2_000);
    }
  }
  if (skipped) console.log(`skipped ${skipped} (parser ${env.parserName})`);
  done();
}
