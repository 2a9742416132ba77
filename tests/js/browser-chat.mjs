// The chat example (examples/chat) in headless Chromium: two people open the
// page in two browser contexts (separate cookies and storage, like two
// browsers), join with their names and talk; a screenshot of both windows side
// by side is written to target/chat-screenshot.png (SCREENSHOT=<path> to
// change it).
//
//   TARGET=http://127.0.0.1:PORT node browser-chat.mjs   # PORT: cargo run --example chat
//
// Chromium: see browser-launch.mjs.

import { fileURLToPath } from "node:url";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";

process.env.HARD_CAP_MS ??= "90000";
const { TARGET, scenario, done, assert } = await import("./lib/harness.mjs");
const { launchChromium } = await import("./browser-launch.mjs");

const SCREENSHOT = process.env.SCREENSHOT || fileURLToPath(new URL("../../target/chat-screenshot.png", import.meta.url));
const VIEWPORT = { width: 520, height: 420 };

let browser = null;
const people = {}; // name -> page

await scenario("launch headless Chromium", async () => {
  browser = await launchChromium();
}, 40_000);
if (!browser) done();

const text = (page, selector) => page.$eval(selector, (el) => el.textContent);
/** The chat log, one string per line. */
const log = (page) => page.$$eval("#log li", (lis) => lis.map((li) => li.textContent));

async function waitForLine(page, line, what) {
  try {
    await page.waitForFunction((l) => [...document.querySelectorAll("#log li")].some((li) => li.textContent === l), line, {
      timeout: 5_000,
    });
  } catch {
    throw new Error(`${what}: no "${line}" in the log, which has ${JSON.stringify(await log(page))}`);
  }
}

await scenario("alice and bob open the chat in two browser contexts", async () => {
  for (const name of ["alice", "bob"]) {
    const context = await browser.newContext({ viewport: VIEWPORT });
    const page = await context.newPage();
    page.on("pageerror", (err) => console.error(`[${name} page error] ${err.message}`));
    page.on("response", (res) => {
      if (res.status() >= 400 && !res.url().endsWith("/favicon.ico")) console.error(`[${name} http] ${res.url()} -> ${res.status()}`);
    });
    const res = await page.goto(`${TARGET}/`, { timeout: 10_000 });
    assert(res && res.ok(), `GET /: ${res && res.status()}`);
    await page.waitForFunction(() => document.getElementById("status").textContent === "connected", null, { timeout: 5_000 });
    people[name] = page;
  }
  const { alice, bob } = people;
  await alice.waitForFunction(() => document.getElementById("users").textContent === "2 online", null, { timeout: 5_000 });
  assert((await text(bob, "#users")) === "2 online", `bob's header says ${await text(bob, "#users")}`);
});

await scenario("they join with their names", async () => {
  const { alice, bob } = people;
  for (const [name, page] of Object.entries(people)) {
    await page.fill("#name", name);
    await page.press("#name", "Enter");
    await page.waitForSelector("#say:not([hidden])", { timeout: 5_000 });
    await waitForLine(page, `you joined as ${name}`, name);
  }
  // each is told that the other joined (both pages were open before either joined)
  await waitForLine(alice, "bob joined", "alice");
  await waitForLine(bob, "alice joined", "bob");
  assert(!(await log(alice)).includes("alice joined"), "alice was told about her own joining");
});

await scenario("once joined, the name form is gone and the message form is shown", async () => {
  for (const [name, page] of Object.entries(people)) {
    const shown = await page.evaluate(() =>
      Object.fromEntries(["join", "say"].map((id) => [id, getComputedStyle(document.getElementById(id)).display !== "none"])),
    );
    assert(shown.say && !shown.join, `${name}'s page shows ${JSON.stringify(shown)} (join: the name form, say: the message form)`);
  }
});

await scenario("a message from alice reaches bob (and alice)", async () => {
  const { alice, bob } = people;
  await alice.fill("#text", "hello bob, this is alice");
  await alice.press("#text", "Enter");
  await waitForLine(bob, "alicehello bob, this is alice", "bob");
  await waitForLine(alice, "alicehello bob, this is alice", "alice");
  const from = await bob.$eval("#log li.said:last-child b", (b) => b.textContent);
  assert(from === "alice", `sender shown as ${from}`);
  assert((await alice.inputValue("#text")) === "", "alice's input was not cleared");
});

await scenario("bob answers, HTML is shown as text", async () => {
  const { alice, bob } = people;
  await bob.fill("#text", "hi alice <b>not bold</b> & welcome");
  await bob.click("#say button");
  await waitForLine(alice, "bobhi alice <b>not bold</b> & welcome", "alice");
  const bold = await alice.$$eval("#log li.said:last-child b", (bs) => bs.length);
  assert(bold === 1, `the message's <b> was rendered as HTML (${bold} <b> elements)`);
});

await scenario("while bob types, alice sees that he is typing", async () => {
  const { alice, bob } = people;
  await bob.type("#text", "typing…", { delay: 20 });
  const bobSees = await text(bob, "#typing");
  try {
    await alice.waitForFunction(() => document.getElementById("typing").textContent === "bob is typing…", null, {
      timeout: 3_000,
    });
  } catch {
    throw new Error(
      `alice's typing line stayed ${JSON.stringify(await text(alice, "#typing"))}; bob's own page said ${JSON.stringify(bobSees)} while he typed`,
    );
  } finally {
    await bob.fill("#text", "");
  }
});

await scenario(`screenshot of both windows -> ${SCREENSHOT}`, async () => {
  const { alice, bob } = people;
  // let the typing notices fade (1.5 s), then bob starts a reply he has not sent
  await new Promise((r) => setTimeout(r, 1_700));
  await bob.type("#text", "see you at", { delay: 10 });
  await new Promise((r) => setTimeout(r, 150));
  const shots = {};
  for (const [name, page] of Object.entries(people)) shots[name] = (await page.screenshot()).toString("base64");
  const board = await (await browser.newContext({ viewport: { width: VIEWPORT.width * 2 + 60, height: VIEWPORT.height + 70 } })).newPage();
  await board.setContent(`<!doctype html><html><body style="margin:0;padding:16px;background:#e6e8eb;font:15px system-ui,sans-serif;display:flex;gap:20px">
    ${Object.entries(shots)
      .map(
        ([name, png]) => `<figure style="margin:0"><figcaption style="margin-bottom:6px"><b>${name}</b>'s browser</figcaption>
        <img style="display:block;border:1px solid #999" src="data:image/png;base64,${png}"></figure>`,
      )
      .join("")}
  </body></html>`);
  mkdirSync(dirname(SCREENSHOT), { recursive: true });
  await board.screenshot({ path: SCREENSHOT });
  assert(alice && bob, "pages missing");
});

await browser.close().catch(() => {});
done();
