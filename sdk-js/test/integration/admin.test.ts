// Admin calls against a real `runnel dev`: every typed topic and group
// call, acks=0 publishing, typed errors.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import WebSocket from "ws";
import { Runnel, RunnelError, type WebSocketCtor } from "@runnel/client";
import { Dev, mintToken, waitFor } from "../helpers/runnel.js";

const dev = new Dev();
let c: Runnel;

before(async () => {
  await dev.start();
  c = new Runnel({ url: dev.url, token: mintToken(), WebSocket: WebSocket as unknown as WebSocketCtor });
});

after(async () => {
  c.disconnect();
  await dev.stop();
});

describe("admin", () => {
  it("creates, lists, describes, grows, reads and deletes topics", async () => {
    const t = await c.topics.create({ name: "adm", partitions: 2, config: { "retention.ms": "3600000" } });
    assert.equal(t.name, "adm");
    assert.equal(t.partitions.length, 2);
    assert.match(t.id, /^[0-9a-f-]{36}$/);
    await assert.rejects(c.topics.create({ name: "adm", partitions: 1 }), (e: RunnelError) => e.code === "topic_exists" && e.status === 409);
    assert.ok((await c.topics.list()).some((x) => x.name === "adm"));
    const grown = await c.topics.update("adm", { partitions: 3 });
    assert.equal(grown.partitions.length, 3);
    await assert.rejects(c.topics.update("adm", { partitions: 1 }), (e: RunnelError) => e.status === 409);

    const zero = await c.publish("adm", { value: "fire and forget", partition: 2 }, { acks: "0" });
    assert.equal(zero.offset, -1);
    await c.publish("adm", [{ value: "a", partition: 0 }, { value: { b: true }, partition: 0 }], { acks: "1" });
    const page = await c.topics.fetch("adm", 0, { offset: 0, limit: 10 });
    assert.deepEqual(page.events.map((e) => e.value), ["a", { b: true }]);
    assert.equal(page.next_offset, 2);
    await waitFor("the acks=0 event", async () => (await c.topics.get("adm")).partitions[2].high_watermark === 1);
    const offs = await c.topics.offsets("adm");
    assert.equal(offs.partitions.find((p) => p.partition === 0)?.latest, 2);

    await c.topics.delete("adm");
    await assert.rejects(c.topics.get("adm"), (e: RunnelError) => e.code === "topic_not_found" && e.status === 404);
  });

  it("lists, describes, resets and deletes consumer groups", async () => {
    await c.topics.create({ name: "adm-g", partitions: 1 });
    await c.publish("adm-g", [{ value: 1 }, { value: 2 }, { value: 3 }]);
    const set = await c.groups.setOffsets("reports", { topic: "adm-g", partition: 0, offset: 2 });
    assert.ok(set);
    assert.ok((await c.groups.list()).some((g) => g.name === "reports"));
    const g = await c.groups.get("reports");
    assert.equal(g.offsets[0].committed_offset, 2);
    assert.equal(g.offsets[0].lag, 1);
    await c.groups.setOffsets("reports", { topic: "adm-g", to: "earliest" });
    assert.equal((await c.groups.get("reports")).offsets[0].committed_offset, 0);
    await c.groups.delete("reports");
    await assert.rejects(c.groups.get("reports"), (e: RunnelError) => e.code === "group_not_found");
  });

  it("refuses bad input with typed errors", async () => {
    await assert.rejects(c.topics.create({ name: "bad name!", partitions: 1 }), (e: RunnelError) => e.code === "invalid_request" && e.status === 400);
    await assert.rejects(c.publish("nope-topic", { value: 1 }), (e: RunnelError) => e.code === "topic_not_found");
    await assert.rejects(c.publish("adm-g", []), (e: RunnelError) => e.code === "invalid_request");
  });
});
