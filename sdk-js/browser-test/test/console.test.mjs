// The web console at /console in Chromium, against a real `runnel dev`:
// it logs in with a token (kept in sessionStorage), lists topics with their
// offsets and groups with their lag, creates a topic, publishes a test
// event, and live-tails events published meanwhile. Any page error or
// Content-Security-Policy violation fails the test. Screenshots go to
// artifacts/.
import assert from "node:assert/strict";
import { after, before, it } from "node:test";
import { Dev, launch, mintToken, pageErrors, screenshot, waitFor } from "../lib/browser.mjs";
import { nodeClient } from "../lib/page.mjs";

const dev = new Dev();
let browser;

before(async () => {
  await dev.start();
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await dev.stop();
});

const rowText = (page, id) => page.$$eval(`#${id} tr`, (rows) => rows.map((r) => [...r.cells].map((c) => c.textContent)));

it("logs in, lists topics and groups, creates, publishes and live-tails", async () => {
  const admin = nodeClient(dev);
  await admin.topics.create({ name: "orders", partitions: 3 });
  await admin.publish("orders", [0, 1, 2, 3, 4, 5].map((i) => ({ value: { order: i }, partition: i % 3 })));
  // A group with a committed offset: 1 of partition 0's 2 events read,
  // none of the other partitions' (their lag is their 2 events each).
  await admin.groups.setOffsets("billing", { topic: "orders", partition: 0, offset: 1 });

  const page = await browser.context.newPage();
  const errors = pageErrors(page);
  await page.goto(dev.url + "/console");
  assert.equal(await page.title(), "Runnel console");

  // A bad token is refused with the gateway's message, and not kept.
  await page.fill("#token", "not-a-token");
  await page.click("#login button[type=submit]");
  await page.waitForFunction(() => document.getElementById("login-error").textContent.includes("unauthenticated"));
  assert.equal(await page.evaluate(() => sessionStorage.getItem("runnel.console.token")), null);
  errors.length = 0; // the 401 is logged by Chromium as a failed resource

  await page.fill("#token", mintToken({ sub: "console-test" }));
  await page.click("#login button[type=submit]");
  await page.waitForSelector('#topics tr[data-topic="orders"]');
  const orders = (await rowText(page, "topics")).find((r) => r[0] === "orders");
  assert.deepEqual(orders.slice(0, 5), ["orders", "3", "0: 0, 1: 0, 2: 0", "0: 2, 1: 2, 2: 2", "6"]);
  await page.waitForFunction(() => document.getElementById("groups").textContent.includes("billing"));
  const billing = (await rowText(page, "groups")).find((r) => r[0] === "billing");
  assert.equal(billing[3], "orders/0: 1, orders/1: 2, orders/2: 2");
  assert.equal(billing[4], "5");

  // Create a topic.
  await page.fill("#create-name", "made-in-console");
  await page.fill("#create-partitions", "2");
  await page.click("#create button[type=submit]");
  await page.waitForSelector('#topics tr[data-topic="made-in-console"]');
  assert.equal((await admin.topics.get("made-in-console")).partitions.length, 2);

  // Publish a test event.
  await page.fill("#publish-topic", "made-in-console");
  await page.fill("#publish-key", "k1");
  await page.fill("#publish-value", '{"from": "console"}');
  await page.click("#publish button[type=submit]");
  await page.waitForFunction(() => /partition \d, offset 0/.test(document.getElementById("publish-result").textContent));

  // Live tail from latest: only events published after it started show.
  await page.click('#topics tr[data-topic="orders"] button');
  await page.waitForFunction(() => document.getElementById("tail-state").textContent === "subscribed");
  assert.equal(await page.evaluate(() => document.getElementById("conn").textContent), "connected");
  for (let i = 0; i < 5; i++) {
    await admin.publish("orders", { key: `live-${i}`, value: { live: i } });
  }
  await page.waitForFunction(() => document.querySelectorAll("#tail tr").length === 5);
  const tail = await rowText(page, "tail");
  assert.deepEqual(tail.map((r) => r[4]).sort(), [0, 1, 2, 3, 4].map((i) => `{"live":${i}}`));
  assert.deepEqual(tail.map((r) => r[3]).sort(), [0, 1, 2, 3, 4].map((i) => `live-${i}`));
  assert.equal(await page.evaluate(() => document.getElementById("tail-count").textContent), "5 events");
  await waitFor("the topics table to show the new high watermarks", async () =>
    ((await rowText(page, "topics")).find((r) => r[0] === "orders") ?? [])[4] === "11");
  await screenshot(page, "console");

  // The login survives a reload (sessionStorage), and logging out forgets it.
  await page.reload();
  await page.waitForSelector('#topics tr[data-topic="orders"]');
  await page.click("#logout");
  assert.equal(await page.isVisible("#login-view"), true);
  assert.equal(await page.evaluate(() => sessionStorage.getItem("runnel.console.token")), null);
  assert.deepEqual(errors, []);

  // A token without the admin permission logs in, is told it cannot list
  // topics, and still tails the topic it may read.
  await page.fill("#token", mintToken({ admin: false, consume: ["orders"] }));
  await page.click("#login button[type=submit]");
  await page.waitForFunction(() => document.getElementById("error").textContent.includes("admin"));
  assert.equal(await page.$$eval("#topics tr, #groups tr, #tail tr", (rows) => rows.length), 0, "the admin's tables outlived the logout");
  await page.fill("#tail-topic", "orders");
  await page.selectOption("#tail-from", "earliest");
  await page.click("#tail-start");
  await page.waitForFunction(() => document.getElementById("tail-count").textContent === "11 events");
  await screenshot(page, "console-consume-only");
  await page.close();
});
