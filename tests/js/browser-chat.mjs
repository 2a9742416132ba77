// The chat example (examples/chat) in headless Chromium: two people open the
// page in two browser contexts (separate cookies and storage, like two
// browsers), join with their names and talk: acknowledgement marks, typing
// notices, rooms, and connection state recovery (alice goes offline, bob
// talks, alice comes back and gets what she missed, once each, in order). The
// Admin UI (its static build at UI_URL) shows their rooms. A screenshot of both
// chat windows side by side is written to target/chat-screenshot.png
// (SCREENSHOT=<path> to change it).
//
//   TARGET=http://127.0.0.1:3000 UI_URL=http://127.0.0.1:3001 node browser-chat.mjs   # cargo run --example chat
//
// Chromium: see browser-launch.mjs.

import { fileURLToPath } from "node:url";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";

process.env.HARD_CAP_MS ??= "120000";
const { TARGET, scenario, done, assert } = await import("./lib/harness.mjs");
const { launchChromium } = await import("./browser-launch.mjs");

const UI_URL = (process.env.UI_URL || "").replace(/\/+$/, "");
const SCREENSHOT = process.env.SCREENSHOT || fileURLToPath(new URL("../../target/chat-screenshot.png", import.meta.url));
const VIEWPORT = { width: 620, height: 440 };

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
    await waitForLine(page, `you joined #general as ${name}`, name);
  }
  // alice was in #general when bob joined it; bob joined after alice did
  await waitForLine(alice, "bob joined #general", "alice");
  assert(!(await log(alice)).includes("alice joined #general"), "alice was told about her own joining");
  assert((await text(bob, "#where")) === "#general", `bob's header says ${await text(bob, "#where")}`);
});

await scenario("once joined, the name form is gone and the message form is shown", async () => {
  for (const [name, page] of Object.entries(people)) {
    const shown = await page.evaluate(() =>
      Object.fromEntries(["join", "say"].map((id) => [id, getComputedStyle(document.getElementById(id)).display !== "none"])),
    );
    assert(shown.say && !shown.join, `${name}'s page shows ${JSON.stringify(shown)} (join: the name form, say: the message form)`);
  }
});

await scenario("a message from alice reaches bob, and alice's copy is marked once the server acknowledged it", async () => {
  const { alice, bob } = people;
  await alice.fill("#text", "hello bob, this is alice");
  await alice.press("#text", "Enter");
  await waitForLine(bob, "alicehello bob, this is alice", "bob");
  await waitForLine(alice, "alicehello bob, this is alice✓", "alice");
  const from = await bob.$eval("#log li.said:last-child b", (b) => b.textContent);
  assert(from === "alice", `sender shown as ${from}`);
  assert((await alice.inputValue("#text")) === "", "alice's input was not cleared");
  const acked = await alice.$eval("#log li.said:last-child .mark", (m) => m.classList.contains("acked"));
  assert(acked, "alice's message has no acknowledged mark");
  assert(!(await log(bob)).some((l) => l.endsWith("✓")), "bob's copy of alice's message carries a mark");
});

await scenario("bob answers, HTML is shown as text", async () => {
  const { alice, bob } = people;
  await bob.fill("#text", "hi alice <b>not bold</b> & welcome");
  await bob.click("#say button");
  await waitForLine(alice, "bobhi alice <b>not bold</b> & welcome", "alice");
  const bold = await alice.$$eval("#log li.said:last-child b", (bs) => bs.length);
  assert(bold === 1, `the message's <b> was rendered as HTML (${bold} <b> elements)`);
  await waitForLine(bob, "bobhi alice <b>not bold</b> & welcome✓", "bob");
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

await scenario("rooms: bob moves to #rust, and #general's talk no longer reaches him", async () => {
  const { alice, bob } = people;
  await bob.click('#rooms button[data-room="rust"]');
  await waitForLine(bob, "you are now in #rust", "bob");
  await waitForLine(alice, "bob left #general", "alice");
  assert((await text(bob, "#where")) === "#rust", `bob's header says ${await text(bob, "#where")}`);
  await alice.fill("#text", "only for #general");
  await alice.press("#text", "Enter");
  await waitForLine(alice, "aliceonly for #general✓", "alice");
  await alice.click('#rooms button[data-room="rust"]');
  await waitForLine(bob, "alice joined #rust", "bob");
  assert(!(await log(bob)).includes("aliceonly for #general"), "bob got a message of a room he had left");
  await alice.fill("#text", "hi again in #rust");
  await alice.press("#text", "Enter");
  await waitForLine(bob, "alicehi again in #rust", "bob");
});

await scenario("recovery: alice goes offline, bob talks, alice comes back to what she missed", async () => {
  const { alice, bob } = people;
  await alice.click("#offline");
  await alice.waitForFunction(() => document.getElementById("status").textContent === "offline", null, { timeout: 5_000 });
  await waitForLine(bob, "alice went offline", "bob");
  const missed = ["are you there?", "I'll wait here", "3 of 3"];
  for (const m of missed) {
    await bob.fill("#text", m);
    await bob.press("#text", "Enter");
    await waitForLine(bob, `bob${m}✓`, "bob");
  }
  await alice.click("#offline");
  await alice.waitForFunction(() => document.getElementById("status").textContent === "connected (recovered)", null, {
    timeout: 8_000,
  });
  await waitForLine(alice, `bob${missed[2]}`, "alice");
  await waitForLine(bob, "alice is back", "bob");
  const lines = await log(alice);
  const got = lines.filter((l) => missed.some((m) => l === `bob${m}`));
  assert(JSON.stringify(got) === JSON.stringify(missed.map((m) => `bob${m}`)), `alice got ${JSON.stringify(got)} after recovering`);
  // nothing from before she was in #rust is replayed
  const joins = lines.filter((l) => l === "bob joined #rust");
  assert(joins.length === 0, `alice was replayed "bob joined #rust", said before she was in #rust: ${JSON.stringify(lines)}`);
  // still in #rust, with her name: the session came back whole
  assert((await text(alice, "#where")) === "#rust", `alice's header says ${await text(alice, "#where")}`);
  await alice.fill("#text", "back, thanks");
  await alice.press("#text", "Enter");
  await waitForLine(bob, "aliceback, thanks", "bob");
});

await scenario("the Admin UI, served beside the chat, shows the chat's rooms", async () => {
  assert(UI_URL, "UI_URL is not set");
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.on("pageerror", (err) => console.error(`[admin page error] ${err.message}`));
  const res = await page.goto(`${UI_URL}/`, { timeout: 15_000 });
  assert(res && res.ok(), `GET ${UI_URL}/: ${res && res.status()}`);
  await page.getByLabel("Server URL").fill(TARGET, { timeout: 15_000 });
  await page.getByRole("button", { name: "Connect" }).click();
  await page.goto(`${UI_URL}/#/rooms/`);
  try {
    await page.waitForFunction(() => /\brust\b/.test(document.body.innerText), null, { timeout: 15_000 });
  } catch {
    const body = (await page.evaluate(() => document.body.innerText)).replace(/\s+/g, " ").slice(0, 1500);
    throw new Error(`no room "rust" on the Admin UI's rooms page, which says: ${body}`);
  }
  await context.close();
}, 40_000);

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
