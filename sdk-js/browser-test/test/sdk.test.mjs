// The SDK inside real Chromium, against a real `runnel dev`: publish and
// subscribe with every `from`, resume across two SIGKILL restarts with
// each partition's events delivered exactly once and in order, and a topic
// deleted and created again reported to the app.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Dev, launch, mintToken, pageErrors, screenshot, waitFor } from "../lib/browser.mjs";
import { nodeClient, pageWait, sdkPage } from "../lib/page.mjs";

const dev = new Dev();
let browser;
let sdk;
let errors;

before(async () => {
  await dev.start();
  browser = await launch();
  sdk = await sdkPage(browser.context);
  errors = pageErrors(sdk.page);
});

after(async () => {
  await sdk?.close();
  await browser?.close();
  await dev.stop();
});

describe("the SDK in Chromium", () => {
  it("publishes from the page and subscribes with every from", async () => {
    const page = sdk.page;
    const got = await page.evaluate(async ({ url, token }) => {
      const c = new window.Runnel({ url, token });
      await c.topics.create({ name: "from", partitions: 2 });
      const first = await c.publish("from", [0, 1, 2, 3, 4].map((v) => ({ value: v, partition: 0 })));
      await new Promise((r) => setTimeout(r, 20)); // a later timestamp than the batch's
      const later = await c.publish("from", { value: 100, partition: 1 });
      const collect = (from, n) =>
        new Promise((resolve, reject) => {
          const seen = [];
          const sub = c.subscribe("from", { from }, (e) => {
            seen.push(`${e.partition}/${e.offset}=${JSON.stringify(e.value)}`);
            if (seen.length === n) {
              sub.unsubscribe();
              resolve(seen.sort());
            }
          });
          sub.on("error", ({ error, final }) => final && reject(error));
        });
      const earliest = await collect("earliest", 6);
      const offsets = await collect({ offsets: { 0: 3, 1: 1 } }, 2);
      const time = await collect({ time: later.timestamp }, 1); // partition 0 has nothing that late
      // latest: nothing old, only what is published after subscribed.
      const latest = await new Promise((resolve) => {
        const seen = [];
        const sub = c.subscribe("from", { from: "latest" }, (e) => {
          seen.push(e.value);
          sub.unsubscribe();
          resolve(seen);
        });
        sub.once("subscribed", () => c.publish("from", { value: 7, partition: 1 }));
      });
      c.disconnect();
      return { results: first.map((r) => [r.partition, r.offset]), earliest, offsets, time, latest };
    }, { url: dev.url, token: mintToken() });
    assert.deepEqual(got.results, [[0, 0], [0, 1], [0, 2], [0, 3], [0, 4]]);
    assert.deepEqual(got.earliest, ["0/0=0", "0/1=1", "0/2=2", "0/3=3", "0/4=4", "1/0=100"]);
    assert.deepEqual(got.offsets, ["0/3=3", "0/4=4"]);
    assert.deepEqual(got.time, ["1/0=100"]);
    assert.deepEqual(got.latest, [7]);
    assert.deepEqual(errors, []);
  });

  it("resumes after two SIGKILL restarts: 1,000 events on 4 partitions, each once and in order", async () => {
    const page = sdk.page;
    const admin = nodeClient(dev);
    await admin.topics.create({ name: "resume", partitions: 4 });
    await page.evaluate(({ url, token }) => {
      const c = new window.Runnel({ url, token, backoff: { minDelay: 50, maxDelay: 1000 } });
      const r = (window.resume = { got: { 0: [], 1: [], 2: [], 3: [] }, count: 0, resumed: 0, states: [] });
      const sub = c.subscribe("resume", { from: "earliest" }, (e) => {
        r.got[e.partition].push(e.value);
        r.count++;
      });
      sub.on("subscribed", (s) => s.resumed && r.resumed++);
      c.on("state", (s) => r.states.push(s.newState));
      window.resumeSub = sub;
      window.resumeClient = c;
    }, { url: dev.url, token: mintToken() });
    await pageWait(page, "subscribed", () => window.resumeSub.state === "subscribed");

    // Values per partition count up from 0: each partition's list must be
    // exactly 0..249 in the end.
    const next = [0, 0, 0, 0];
    const publishSome = async (n) => {
      for (let i = 0; i < n; i += 10) {
        const batch = [];
        for (let j = 0; j < 10; j++) {
          const p = (i + j) % 4;
          batch.push({ partition: p, value: next[p]++ });
        }
        await admin.publish("resume", batch);
      }
    };
    const count = () => page.evaluate(() => window.resume.count);
    await publishSome(300);
    await waitFor("some events before the first kill", async () => (await count()) >= 100);
    await dev.kill();
    await dev.start();
    await publishSome(300);
    await waitFor("events after the first restart", async () => (await count()) >= 450);
    await dev.kill();
    await dev.start();
    await publishSome(400);
    await waitFor("all 1,000 events", async () => (await count()) >= 1000, 60_000);
    await new Promise((r) => setTimeout(r, 500)); // a duplicate would arrive now
    const r = await page.evaluate(() => {
      window.resumeClient.disconnect();
      return window.resume;
    });
    assert.equal(r.count, 1000, `states: ${r.states.join(" ")}`);
    for (let p = 0; p < 4; p++) {
      assert.deepEqual(r.got[p], Array.from({ length: 250 }, (_, i) => i), `partition ${p}`);
    }
    assert.ok(r.resumed >= 2, `resumed ${r.resumed} times`);
    assert.ok(r.states.filter((s) => s === "connected").length >= 3, `reconnected twice; states: ${r.states.join(" ")}`);
    await screenshot(page, "sdk-resume");
  });

  it("tells the app when the topic was deleted and created again", async () => {
    const page = sdk.page;
    const admin = nodeClient(dev);
    await admin.topics.create({ name: "recreated", partitions: 2 });
    await admin.publish("recreated", [{ value: 1, partition: 0 }, { value: 2, partition: 1 }]);
    await page.evaluate(({ url, token }) => {
      const c = new window.Runnel({ url, token, backoff: { minDelay: 50, maxDelay: 500 } });
      const r = (window.recreated = { seen: [], changed: null, oldId: null, state: null, code: null });
      const sub = c.subscribe("recreated", { from: "earliest" }, (e) => r.seen.push(e.value));
      sub.on("subscribed", (s) => (r.oldId ??= s.topicId));
      sub.on("topic_changed", (ch) => {
        r.changed = ch;
        r.state = sub.state;
        r.code = sub.error?.code;
      });
      window.recreatedClient = c;
    }, { url: dev.url, token: mintToken() });
    await pageWait(page, "2 events", () => window.recreated.seen.length === 2);
    await page.evaluate(() => window.recreatedClient.disconnect());
    await admin.topics.delete("recreated");
    const created = await admin.topics.create({ name: "recreated", partitions: 2 });
    await page.evaluate(() => window.recreatedClient.connect());
    const r = await pageWait(page, "topic_changed", () => window.recreated.changed && window.recreated);
    assert.equal(r.changed.previousTopicId, r.oldId);
    assert.equal(r.changed.topicId, created.id);
    assert.equal(r.code, "topic_changed");
    assert.deepEqual(r.seen.sort(), [1, 2]);
    await page.evaluate(() => window.recreatedClient.disconnect());
  });
});
