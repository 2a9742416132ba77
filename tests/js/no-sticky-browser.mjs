// socket.io-client 4.8 in headless Chromium for the cluster-without-sticky-sessions tests
// (tests/cluster/no_sticky.rs): opens TARGET/pages/no-sticky.html (served by the nodes,
// through the round-robin proxy) and runs the ops of pages/no-sticky-ops.mjs in it, driven
// over stdin/stdout like no-sticky-clients.mjs (see redis-lib.mjs).

import { send, serve } from "./redis-lib.mjs";
import { launchChromium } from "./browser-launch.mjs";

const TARGET = process.env.TARGET;
if (!TARGET) throw new Error("TARGET is not set");

const browser = await launchChromium();
const page = await (await browser.newContext()).newPage();
page.on("console", (msg) => {
  if (msg.type() === "error" || msg.type() === "warning") console.error(`[page ${msg.type()}] ${msg.text()}`);
});
page.on("pageerror", (err) => console.error(`[page error] ${err.message}`));
await page.exposeFunction("report", (event) => send(event));
const res = await page.goto(`${TARGET}/pages/no-sticky.html`, { timeout: 10_000 });
if (!res || !res.ok()) throw new Error(`GET /pages/no-sticky.html: ${res ? res.status() : "no response"}`);
await page.waitForFunction(() => window.nosticky && window.io, null, { timeout: 10_000 });

const ops = ["connect", "acks", "stream", "idle", "emit", "state"];
serve(
  Object.fromEntries(
    ops.map((op) => [op, (req) => page.evaluate(([op, req]) => window.nosticky.run(op, req), [op, req])]),
  ),
);
process.stdin.on("close", () => browser.close().finally(() => process.exit(0)));
send({ event: "ready" });
