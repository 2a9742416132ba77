// The real Admin UI (the static build of @socket.io/admin-ui 0.5.1, served at UI_URL from
// another origin) in headless Chromium against the server at TARGET, instrumented with basic
// auth (admin / changeit): log in through the UI's form, see the connected sockets, their
// rooms and the server's stats, disconnect a socket with the UI's button, and keep a
// screenshot of the dashboard (SCREENSHOT=<path>, default target/admin-ui-screenshot.png;
// SCREENSHOT=docs/admin-ui.png refreshes the README's picture).
//
//   TARGET=http://127.0.0.1:PORT UI_URL=http://127.0.0.1:PORT2 node admin-ui-browser.mjs
//
// Chromium: see browser-launch.mjs.

import { hostname } from "node:os";
import { fileURLToPath } from "node:url";
import { io } from "socket.io-client";

process.env.HARD_CAP_MS ??= "140000";
const { TARGET, scenario, done, assert, once, sleep } = await import("./lib/harness.mjs");
const { launchChromium } = await import("./browser-launch.mjs");

const UI_URL = (process.env.UI_URL || "").replace(/\/+$/, "");
const SCREENSHOT = process.env.SCREENSHOT || fileURLToPath(new URL("../../target/admin-ui-screenshot.png", import.meta.url));

let browser = null;
let page = null;
const clients = {};

await scenario("clients connect: alice in lobby, bob in vip and games", async () => {
  clients.alice = io(TARGET, { forceNew: true, reconnection: false, query: { room: "lobby" } });
  clients.bob = io(TARGET, { forceNew: true, reconnection: false, query: { room: "vip" } });
  await Promise.all([once(clients.alice, "connect"), once(clients.bob, "connect")]);
  clients.bob.emit("join", "games");
  clients.alice.emit("echo", "hello admin");
});

await scenario("launch headless Chromium", async () => {
  browser = await launchChromium();
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  page = await context.newPage();
  page.on("pageerror", (err) => console.error(`[page error] ${err.message}`));
}, 40_000);
if (!page) done();

/** Waits until the page's text contains every one of `texts` (in any case: the UI's styles
 *  capitalise some). */
async function waitForTexts(texts, what, timeout = 10_000) {
  try {
    await page.waitForFunction(
      (ts) => ts.every((t) => document.body.innerText.toLowerCase().includes(t.toLowerCase())),
      texts,
      { timeout },
    );
  } catch {
    const body = (await page.evaluate(() => document.body.innerText)).replace(/\s+/g, " ").slice(0, 1500);
    throw new Error(`${what}: ${JSON.stringify(texts)} not all on the page, which says: ${body}`);
  }
}

await scenario("the UI logs in through its form (another origin, with credentials)", async () => {
  const res = await page.goto(`${UI_URL}/`, { timeout: 15_000 });
  assert(res && res.ok(), `GET ${UI_URL}/: ${res && res.status()}`);
  await page.getByLabel("Server URL").fill(TARGET, { timeout: 15_000 });
  await page.getByLabel("Username").fill("admin");
  await page.getByLabel("Password").fill("changeit");
  await page.getByRole("button", { name: "Connect" }).click();
  await page.waitForFunction(() => localStorage.getItem("session_id"), null, { timeout: 15_000 });
}, 40_000);

await scenario("the sockets page lists both clients", async () => {
  await page.goto(`${UI_URL}/#/sockets/`);
  await waitForTexts([clients.alice.id, clients.bob.id], "sockets");
}, 15_000);

await scenario("the rooms page lists their rooms", async () => {
  await page.goto(`${UI_URL}/#/rooms/`);
  await waitForTexts(["lobby", "vip", "games"], "rooms");
}, 15_000);

await scenario("bob's page shows his rooms and transport", async () => {
  await page.goto(`${UI_URL}/#/n/%2F/sockets/${clients.bob.id}`);
  await waitForTexts([clients.bob.id, "vip", "games", "websocket"], "bob's socket");
}, 15_000);

await scenario("the servers page shows this server's stats", async () => {
  await page.goto(`${UI_URL}/#/servers/`);
  await waitForTexts([hostname(), "Healthy"], "servers");
}, 15_000);

await scenario("the dashboard shows the clients and the traffic; screenshot", async () => {
  await page.goto(`${UI_URL}/#/`);
  await waitForTexts(["Connection and disconnection events", "Bytes received and sent"], "dashboard");
  // two stats periods, so that the charts have points
  await sleep(4_500);
  await page.screenshot({ path: SCREENSHOT, fullPage: false });
}, 20_000);

await scenario("a disconnect clicked in the UI disconnects the client", async () => {
  await page.goto(`${UI_URL}/#/sockets/`);
  await waitForTexts([clients.alice.id], "sockets");
  const bye = once(clients.alice, "disconnect", { timeout: 10_000 });
  const row = page.locator("tr", { hasText: clients.alice.id });
  await row.locator("button").last().click();
  const [reason] = await bye;
  assert(reason === "io server disconnect", `alice was disconnected with ${reason}`);
  await page.waitForFunction((id) => !document.body.innerText.includes(id), clients.alice.id, { timeout: 10_000 });
  assert(clients.bob.connected, "bob was disconnected too");
}, 25_000);

clients.alice?.disconnect();
clients.bob?.disconnect();
await browser?.close();
done();
