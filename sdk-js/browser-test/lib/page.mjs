// Helpers for tests that run the SDK inside a Chromium page.
import { Runnel } from "../../dist/index.js";
import { mintToken, serveSDK, waitFor } from "./browser.mjs";

/** nodeClient is an SDK client in Node for the test's own REST calls (publish, admin); it never opens a socket. */
export function nodeClient(dev) {
  return new Runnel({ url: dev.url, token: mintToken(), backoff: { minDelay: 50, maxDelay: 1000 } });
}

/**
 * sdkPage opens a page of another origin (a static server on 127.0.0.1,
 * allowed by runnel dev) with the SDK's bundle imported as window.Runnel.
 */
export async function sdkPage(context) {
  const site = await serveSDK();
  const page = await context.newPage();
  await page.goto(site.url + "/");
  await page.evaluate(async () => {
    window.Runnel = (await import("/runnel-client.js")).Runnel;
  });
  return { page, close: async () => { await page.close(); await site.close(); } };
}

/** pageValue polls an expression in the page until it is truthy, then returns it. */
export async function pageWait(page, what, fn, arg, timeoutMs = 30_000) {
  let v;
  await waitFor(what, async () => Boolean((v = await page.evaluate(fn, arg))), timeoutMs);
  return v;
}
