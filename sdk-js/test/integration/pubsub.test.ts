// Publish and subscribe against a real `runnel dev`: every `from`, resume
// across SIGKILL restarts, a re-created topic.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import WebSocket from "ws";
import { Runnel, type RunnelEvent, type RunnelOptions, type WebSocketCtor } from "@runnel/client";
import { Dev, mintToken, waitFor } from "../helpers/runnel.js";

const dev = new Dev();
const clients: Runnel[] = [];

function client(extra: Partial<RunnelOptions> = {}): Runnel {
  const c = new Runnel({ url: dev.url, token: mintToken(), WebSocket: WebSocket as unknown as WebSocketCtor, backoff: { minDelay: 50, maxDelay: 1000 }, ...extra });
  clients.push(c);
  return c;
}

before(async () => {
  await dev.start();
});

after(async () => {
  for (const c of clients) c.disconnect();
  await dev.stop();
});

describe("publish and subscribe", () => {
  it("publishes one event and a batch with typed results", async () => {
    const c = client();
    await c.topics.create({ name: "pub", partitions: 2 });
    const one = await c.publish("pub", { value: { n: 1 } }, { partition: 1 });
    assert.equal(one.partition, 1);
    assert.equal(one.offset, 0);
    const many = await c.publish("pub", [{ value: 2 }, { value: 3, partition: 0 }], { partition: 1, key: "k" });
    assert.deepEqual(many.map((r) => [r.partition, r.offset]), [[1, 1], [0, 0]]);
  });

  it("starts at every from: earliest, latest, an offset, a time, per-partition offsets", async () => {
    const c = client();
    await c.topics.create({ name: "from", partitions: 2 });
    const first = await c.publish("from", [0, 1, 2, 3, 4].map((i) => ({ value: i, partition: 0 })));
    await c.publish("from", [{ value: 100, partition: 1 }]);
    await new Promise((r) => setTimeout(r, 20));
    const midTime = Date.now();
    await new Promise((r) => setTimeout(r, 20));
    await c.publish("from", [{ value: 5, partition: 0 }]);
    assert.equal(first[4].offset, 4);

    const got = (from: any, extra: object = {}) => {
      const seen: RunnelEvent[] = [];
      const sub = c.subscribe("from", { from, ...extra }, (e) => seen.push(e));
      return { sub, seen };
    };
    const earliest = got("earliest");
    const offset = got(3, { partitions: [0] });
    const time = got({ time: midTime });
    const offsets = got({ offsets: { "0": 4, "1": 1 } });
    const latest = got("latest");
    await waitFor("subscriptions", () => [earliest, offset, time, offsets, latest].every((s) => s.sub.state === "subscribed"));
    await c.publish("from", [{ value: 6, partition: 0 }]);
    const vals = (s: { seen: RunnelEvent[] }) => s.seen.filter((e) => e.partition === 0).map((e) => e.value);
    await waitFor("events", () => [earliest, offset, time, offsets, latest].every((s) => vals(s).includes(6)));
    assert.deepEqual(vals(earliest), [0, 1, 2, 3, 4, 5, 6]);
    assert.deepEqual(earliest.seen.filter((e) => e.partition === 1).map((e) => e.value), [100]);
    assert.deepEqual(vals(offset), [3, 4, 5, 6]);
    assert.deepEqual(vals(time), [5, 6]);
    assert.deepEqual(vals(offsets), [4, 5, 6]);
    assert.deepEqual(offsets.seen.filter((e) => e.partition === 1).length, 0);
    assert.deepEqual(vals(latest), [6]);
    assert.deepEqual(offset.sub.partitions, [0]);
    assert.equal(typeof earliest.sub.topicId, "string");
    for (const s of [earliest, offset, time, offsets, latest]) s.sub.unsubscribe();
    assert.equal(earliest.sub.state, "unsubscribed");
  });

  it("tells the app about a topic that does not exist", async () => {
    const c = client();
    const sub = c.subscribe("no-such-topic", { from: "earliest" });
    const err = await new Promise<any>((r) => sub.on("error", (e) => r(e)));
    assert.equal(err.final, true);
    assert.equal(err.error.code, "topic_not_found");
    assert.equal(sub.state, "error");
  });
});

describe("resume across gateway restarts", () => {
  it("delivers 1,000 events over 4 partitions exactly once in order while runnel dev is SIGKILLed twice", async () => {
    const admin = client();
    await admin.topics.create({ name: "resume", partitions: 4 });
    const c = client();
    const got = new Map<number, number[]>();
    let count = 0;
    const sub = c.subscribe("resume", { from: "earliest" }, (e) => {
      const list = got.get(e.partition) ?? [];
      list.push(e.value as number);
      got.set(e.partition, list);
      count++;
    });
    let resumed = 0;
    sub.on("subscribed", (s) => {
      if (s.resumed) resumed++;
    });
    const trace: string[] = [];
    c.on("state", (s) => trace.push(`client ${s.newState}`));
    c.on("disconnected", (d) => trace.push(`disconnected ${d.code} ${d.reason}`));
    c.on("error", (e) => trace.push(`client error ${String(e.error)}`));
    sub.on("state", (s) => trace.push(`sub ${s.newState}`));
    sub.on("error", (e) => trace.push(`sub error ${e.error.code} ${e.error.message}`));
    process.on("exit", () => {
      if (count !== 1000) console.error(trace.join("\n"));
    });
    await waitFor("subscribed", () => sub.state === "subscribed");

    // Values per partition count up from 0: the check is that each
    // partition's list is exactly 0..n-1.
    const next = [0, 0, 0, 0];
    const publishSome = async (n: number) => {
      for (let i = 0; i < n; i += 10) {
        const batch = [];
        for (let j = 0; j < 10; j++) {
          const p = (i + j) % 4;
          batch.push({ partition: p, value: next[p]++ });
        }
        await admin.publish("resume", batch);
      }
    };
    await publishSome(300);
    await waitFor("some events before the first kill", () => count >= 100);
    await dev.kill();
    await dev.start();
    await publishSome(300);
    await waitFor("events after the first restart", () => count >= 450);
    await dev.kill();
    await dev.start();
    await publishSome(400);
    await waitFor("all 1,000 events", () => count >= 1000, 60_000);
    await new Promise((r) => setTimeout(r, 300)); // any duplicate would arrive now
    assert.equal(count, 1000);
    for (let p = 0; p < 4; p++) {
      assert.deepEqual(got.get(p), Array.from({ length: 250 }, (_, i) => i), `partition ${p}`);
    }
    assert.ok(resumed >= 2, `resumed ${resumed} times`);
    assert.equal(sub.offsets["0"], 250);
  });

  it("reports a topic deleted and created again instead of resuming", async () => {
    const admin = client();
    await admin.topics.create({ name: "recreated", partitions: 2 });
    await admin.publish("recreated", [{ value: 1, partition: 0 }, { value: 2, partition: 0 }, { value: 3, partition: 1 }]);
    const c = client();
    const seen: unknown[] = [];
    const sub = c.subscribe("recreated", { from: "earliest" }, (e) => seen.push(e.value));
    await waitFor("3 events", () => seen.length === 3);
    const oldId = sub.topicId;
    const changed = new Promise<{ previousTopicId: string; topicId: string }>((r) => sub.on("topic_changed", r));
    c.disconnect();
    await admin.topics.delete("recreated");
    const created = await admin.topics.create({ name: "recreated", partitions: 2 });
    c.connect();
    const ch = await changed;
    assert.equal(ch.previousTopicId, oldId);
    assert.equal(ch.topicId, created.id);
    assert.equal(sub.state, "error");
    assert.equal(sub.error?.code, "topic_changed");
    assert.deepEqual([...seen].sort(), [1, 2, 3]);
  });

  it("checks a saved topicId on the first subscribe", async () => {
    const admin = client();
    const t = await admin.topics.create({ name: "saved-id", partitions: 1 });
    const c = client();
    const sub = c.subscribe("saved-id", { from: { offsets: { "0": 0 } }, topicId: "00000000-0000-0000-0000-000000000000" });
    const ch = await new Promise<{ previousTopicId: string; topicId: string }>((r) => sub.on("topic_changed", r));
    assert.equal(ch.topicId, t.id);
    assert.equal(sub.state, "error");
  });
});
