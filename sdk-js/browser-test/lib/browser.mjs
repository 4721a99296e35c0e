// Browser harness: Debian's Chromium (/usr/bin/chromium) driven by
// playwright-core, which never downloads a browser of its own; a tiny static
// server on 127.0.0.1 for the SDK's bundle; and the artifacts folder for
// screenshots.
import { readFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
/** sdkRoot is sdk-js/. */
export const sdkRoot = resolve(here, "../..");
/** repoRoot is the repository. */
export const repoRoot = resolve(sdkRoot, "..");
/** artifacts holds screenshots and profiles (gitignored). */
export const artifacts = join(sdkRoot, "browser-test", "artifacts");

/** The test harness of sdk-js (built by `npm run build:test` there): runnel dev, tokens, waitFor. */
export { Dev, mintToken, waitFor } from "../../build/test/helpers/runnel.js";

const executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium";

// Flags for a machine with a closed network: no background fetches, no
// component updates, no QUIC, no sync (Chromium would try Google's hosts).
const flags = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/**
 * launch starts Chromium with a fresh, empty profile (--user-data-dir) and
 * returns its context; close() also removes the profile.
 */
export async function launch() {
  const profile = mkdtempSync(join(tmpdir(), "runnel-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: flags,
    viewport: { width: 1280, height: 900 },
  });
  const close = async () => {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  };
  return { context, close };
}

/** pageErrors collects a page's uncaught errors and console errors, for assertions. */
export function pageErrors(page) {
  const errors = [];
  page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(`console: ${m.text()}`);
  });
  return errors;
}

/**
 * serveSDK serves, on 127.0.0.1, a blank page at / and the SDK's freshly
 * built bundle (sdk-js/dist/runnel-client.min.js) at /runnel-client.js: a
 * web app on another origin than the gateway, as most are.
 */
export async function serveSDK() {
  const bundle = readFileSync(join(sdkRoot, "dist", "runnel-client.min.js"));
  const server = createServer((req, res) => {
    if (req.url === "/runnel-client.js") {
      res.writeHead(200, { "Content-Type": "text/javascript" });
      res.end(bundle);
    } else if (req.url === "/") {
      res.writeHead(200, { "Content-Type": "text/html" });
      res.end('<!doctype html><meta charset="utf-8"><title>sdk page</title><pre id="log"></pre>');
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${server.address().port}`;
  return {
    url,
    close: () =>
      new Promise((r) => {
        server.close(r);
        server.closeAllConnections(); // the page's keep-alive connection
      }),
  };
}

/** screenshot saves the page as artifacts/<name>.png and returns the path. */
export async function screenshot(page, name) {
  mkdirSync(artifacts, { recursive: true });
  const path = join(artifacts, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}
