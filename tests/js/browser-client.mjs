// socket.io-client 4 in headless Chromium: opens pages/interop.html, served by
// the server under test (TARGET), in a fresh browser context per transport
// mode and runs every scenario of pages/interop-scenarios.mjs in it.
//
//   TARGET=http://127.0.0.1:PORT node browser-client.mjs
//
// The server is the interop app (tests/support/legacy_app.rs, or
// legacy-reference-server.mjs): it serves the page, the scenarios module and
// socket.io-client's browser bundle (/assets/socket.io.min.js).
//
// Chromium is Debian's `chromium` (apt-get install -y chromium), driven by
// playwright-core; CHROMIUM=<path> points elsewhere. Playwright gives every
// launch a fresh --user-data-dir. MODES=<regex> limits the transport modes,
// ONLY=<regex> the scenarios; page console output goes to stderr.


// ~40 scenarios (a few seconds each at most) plus the browser's start.
process.env.HARD_CAP_MS ??= "170000";
const { TARGET, scenario, done } = await import("./lib/harness.mjs");
const { launchChromium } = await import("./browser-launch.mjs");

const TIMEOUT = Number(process.env.SCENARIO_TIMEOUT_MS || 12_000);
const MODE_FILTER = process.env.MODES ? new RegExp(process.env.MODES) : null;
const ONLY = process.env.ONLY ? new RegExp(process.env.ONLY) : null;

let browser = null;
await scenario("launch headless Chromium", async () => {
  browser = await launchChromium();
}, 40_000);
if (!browser) done();

let modes = [];
let current = "";
await scenario("page loads socket.io-client from the server", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  try {
    await openPage(page, "probe");
    modes = await page.evaluate(() => window.tsio.modes());
    const kind = await page.evaluate(() => typeof window.io === "function" && typeof window.io.Manager === "function");
    if (!kind) throw new Error("window.io is not socket.io-client's io() (no io.Manager)");
  } finally {
    await context.close();
  }
}, 20_000);

async function openPage(page, label) {
  page.on("console", (msg) => {
    if (msg.type() === "error" || msg.type() === "warning") console.error(`[page ${label} ${msg.type()}] ${msg.text()}`);
  });
  page.on("pageerror", (err) => console.error(`[page ${label} error] ${err.message}`));
  page.on("response", async (res) => {
    if (res.status() < 400) return;
    const body = await res.text().catch(() => "");
    console.error(`[page ${label} http] during "${current}": ${res.request().method()} ${res.url()} -> ${res.status()} ${body.slice(0, 200)}`);
  });
  const res = await page.goto(`${TARGET}/pages/interop.html`, { timeout: 10_000 });
  if (!res || !res.ok()) throw new Error(`GET /pages/interop.html: ${res ? res.status() : "no response"}`);
  await page.waitForFunction(() => window.tsio && window.io, null, { timeout: 10_000 });
}

for (const mode of modes) {
  if (MODE_FILTER && !MODE_FILTER.test(mode)) continue;
  let context;
  let page;
  let names = [];
  await scenario(`[v4 chromium ${mode}] open the page`, async () => {
    context = await browser.newContext();
    page = await context.newPage();
    await openPage(page, mode);
    names = await page.evaluate(() => window.tsio.names());
  }, 20_000);
  for (const name of names) {
    if (ONLY && !ONLY.test(name)) continue;
    await scenario(`[v4 chromium ${mode}] ${name}`, async () => {
      current = name;
      const err = await page.evaluate(([m, n, t]) => window.tsio.run(m, n, t), [mode, name, TIMEOUT]);
      if (err) throw new Error(err);
    }, TIMEOUT + 3_000);
  }
  if (context) await context.close().catch(() => {});
}

await browser.close().catch(() => {});
done();
