// Launches Debian's Chromium (headless) through playwright-core, for the
// browser scripts (browser-client.mjs, browser-chat.mjs). Never downloads a
// browser: CHROMIUM=<path> or /usr/bin/chromium must exist.

import { existsSync } from "node:fs";
import { chromium } from "playwright-core";

export const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";

export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-quic",
];

/** A Browser; playwright gives it a fresh temporary --user-data-dir, removed on close. */
export async function launchChromium() {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `no Chromium at ${CHROMIUM}: install Debian's package (apt-get install -y chromium; scripts/test does it) or set CHROMIUM=<path>`,
    );
  }
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 30_000 });
}
