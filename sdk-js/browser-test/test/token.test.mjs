// Token refresh inside Chromium: getToken hands out 4-second tokens; the
// SDK fetches a new one before each expires and sends it over the open
// socket (the auth frame), so the socket never closes and no event is lost.
import assert from "node:assert/strict";
import { after, before, it } from "node:test";
import { Dev, launch, mintToken, pageErrors } from "../lib/browser.mjs";
import { nodeClient, pageWait, sdkPage } from "../lib/page.mjs";

const dev = new Dev();
let browser;
let sdk;

before(async () => {
  await dev.start();
  browser = await launch();
  sdk = await sdkPage(browser.context);
});

after(async () => {
  await sdk?.close();
  await browser?.close();
  await dev.stop();
});

it("refreshes short-lived tokens through getToken over the open socket", async () => {
  const page = sdk.page;
  const errors = pageErrors(page);
  const ttlSeconds = 4;
  let minted = 0;
  // The page's getToken asks the test (standing in for the app's auth
  // server) for a token that lives ttlSeconds.
  await page.exposeFunction("fetchToken", () => {
    minted++;
    return mintToken({ ttlSeconds });
  });
  const admin = nodeClient(dev);
  await admin.topics.create({ name: "refresh", partitions: 1 });
  await page.evaluate(({ url }) => {
    const r = (window.refresh = { values: [], connecting: 0, errors: [], disconnects: [] });
    const c = new window.Runnel({ url, getToken: () => window.fetchToken() });
    c.on("connecting", () => r.connecting++);
    c.on("disconnected", (d) => r.disconnects.push(`${d.code} ${d.reason}`));
    c.on("error", (e) => r.errors.push(String(e.error)));
    const sub = c.subscribe("refresh", { from: "earliest" }, (e) => r.values.push(e.value));
    sub.on("error", (e) => r.errors.push(`${e.error.code}: ${e.error.message}`));
    window.refreshClient = c;
    window.refreshSub = sub;
  }, { url: dev.url });
  await pageWait(page, "subscribed", () => window.refreshSub.state === "subscribed");

  // 13 s: past three expiries of a 4 s token.
  const n = 26;
  for (let i = 0; i < n; i++) {
    await admin.publish("refresh", { value: i });
    await new Promise((r) => setTimeout(r, 500));
  }
  await pageWait(page, `${n} events`, (n) => window.refresh.values.length >= n, n);
  const r = await page.evaluate(() => {
    window.refreshClient.disconnect();
    return window.refresh;
  });
  assert.deepEqual(r.values, Array.from({ length: n }, (_, i) => i));
  assert.ok(minted >= 4, `getToken called ${minted} times in 13 s with ${ttlSeconds} s tokens`);
  assert.equal(r.connecting, 1, `the socket was reopened: ${r.disconnects.join(", ")}`);
  assert.deepEqual(r.disconnects, ["1000 client disconnect"]);
  assert.deepEqual(r.errors, []);
  assert.deepEqual(errors, []);
});
