// Connection state recovery with socket.io-client 4 in headless Chromium: the
// scenarios of pages/recovery-scenarios.mjs (run under Node by
// recovery-client.mjs), each in a page served by the server it targets, so
// every connection is same-origin.
//
//   TARGET=http://127.0.0.1:PORT TARGET_SHORT=http://127.0.0.1:PORT2 node browser-recovery.mjs
//
// TARGET is the recovery app (tests/support/recovery_app.rs) with a 2-minute
// window, TARGET_SHORT the same app with a 300 ms window (required here).
// Each serves pages/recovery.html, the scenarios module and socket.io-client's
// browser bundle (/assets/socket.io.min.js); the page opened from TARGET runs
// the "long" scenarios, the one from TARGET_SHORT (?server=short) the "short"
// ones, each page in a fresh browser context.
//
// Chromium is Debian's `chromium` (apt-get install -y chromium), driven by
// playwright-core (browser-launch.mjs); CHROMIUM=<path> points elsewhere.
// ONLY=<regex> limits the scenarios; page console output goes to stderr.

// 5 scenarios of at most 12 s each, plus the browser's start.
process.env.HARD_CAP_MS ??= "100000";
const { TARGET, scenario, done } = await import("./lib/harness.mjs");
const { launchChromium } = await import("./browser-launch.mjs");

const TARGET_SHORT = (process.env.TARGET_SHORT || "").replace(/\/+$/, "");
const ONLY = process.env.ONLY ? new RegExp(process.env.ONLY) : null;
const SERVERS = [
  ["long", TARGET],
  ["short", TARGET_SHORT],
];

let browser = null;
await scenario("launch headless Chromium", async () => {
  if (!TARGET_SHORT) throw new Error("TARGET_SHORT (the recovery app with a 300 ms window) is required");
  browser = await launchChromium();
}, 40_000);
if (!browser) done();

let current = "";
async function openPage(page, server, url) {
  page.on("console", (msg) => {
    if (msg.type() === "error" || msg.type() === "warning") console.error(`[page ${server} ${msg.type()}] ${msg.text()}`);
  });
  page.on("pageerror", (err) => console.error(`[page ${server} error] ${err.message}`));
  page.on("response", async (res) => {
    if (res.status() < 400) return;
    const body = await res.text().catch(() => "");
    console.error(`[page ${server} http] during "${current}": ${res.request().method()} ${res.url()} -> ${res.status()} ${body.slice(0, 200)}`);
  });
  const address = `${url}/pages/recovery.html?server=${server}`;
  const res = await page.goto(address, { timeout: 10_000 });
  if (!res || !res.ok()) throw new Error(`GET ${address}: ${res ? res.status() : "no response"}`);
  await page.waitForFunction(() => window.tsio && window.io, null, { timeout: 10_000 });
  const kind = await page.evaluate(() => typeof window.io === "function" && typeof window.io.Manager === "function");
  if (!kind) throw new Error("window.io is not socket.io-client's io() (no io.Manager)");
  const served = await page.evaluate(() => window.tsio.server);
  if (served !== server) throw new Error(`the page runs the ${served} scenarios, expected ${server}`);
}

const ran = new Set();
for (const [server, url] of SERVERS) {
  let context;
  let page;
  let list = [];
  await scenario(`[chromium] open the page of the ${server}-window server`, async () => {
    context = await browser.newContext();
    page = await context.newPage();
    await openPage(page, server, url);
    list = await page.evaluate(() => window.tsio.scenarios());
  }, 20_000);
  for (const { name, server: wanted, timeoutMs } of list) {
    if (wanted !== server || (ONLY && !ONLY.test(name))) continue;
    ran.add(name);
    await scenario(`[chromium] ${name}`, async () => {
      current = name;
      const err = await page.evaluate((n) => window.tsio.run(n), name);
      if (err) throw new Error(err);
    }, timeoutMs + 3_000);
  }
  if (context) await context.close().catch(() => {});
}

// Every scenario of the module ran on one of the pages (none was left out by
// a server this script does not know).
await scenario("[chromium] every scenario ran", async () => {
  const { scenarios } = await import("./pages/recovery-scenarios.mjs");
  const missed = scenarios()
    .map((s) => s.name)
    .filter((n) => !ran.has(n) && !(ONLY && !ONLY.test(n)));
  if (missed.length) throw new Error(`not run: ${missed.join("; ")}`);
});

await browser.close().catch(() => {});
done();
