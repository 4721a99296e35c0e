// Consumer-group subscriptions against a real `runnel dev`: partitions
// split between two clients, rebalance events, commit.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import WebSocket from "ws";
import { Runnel, type Subscription, type WebSocketCtor } from "@runnel/client";
import { Dev, mintToken, waitFor } from "../helpers/runnel.js";

const dev = new Dev();
const clients: Runnel[] = [];

function client(): Runnel {
  const c = new Runnel({ url: dev.url, token: mintToken(), WebSocket: WebSocket as unknown as WebSocketCtor, backoff: { minDelay: 50, maxDelay: 500 } });
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

describe("consumer groups", () => {
  it("splits partitions between two members, reports rebalances, and commits", async () => {
    const admin = client();
    await admin.topics.create({ name: "grouped", partitions: 4 });
    await admin.publish("grouped", [0, 1, 2, 3].map((p) => ({ partition: p, value: `p${p}` })));

    const a = client();
    const rebalancesA: { partitions: number[]; assigned: number[]; revoked: number[] }[] = [];
    const seenA: string[] = [];
    const subA = a.subscribe("grouped", { group: "billing", from: "earliest" }, (e) => seenA.push(e.value as string));
    subA.on("rebalance", (r) => rebalancesA.push(r));
    await waitFor("member a holds all 4 partitions", () => subA.partitions.length === 4, 60_000);
    await waitFor("member a read the 4 events", () => seenA.length === 4, 30_000);
    assert.deepEqual([...seenA].sort(), ["p0", "p1", "p2", "p3"]);

    const committed = await subA.commit();
    assert.deepEqual(committed, { "0": 1, "1": 1, "2": 1, "3": 1 });
    const g = await admin.groups.get("billing");
    assert.deepEqual(g.offsets.map((o) => [o.partition, o.committed_offset]).sort(), [[0, 1], [1, 1], [2, 1], [3, 1]]);

    const b = client();
    const subB: Subscription = b.subscribe("grouped", { group: "billing", from: "earliest" });
    await waitFor("the partitions split between a and b", () => subA.partitions.length === 2 && subB.partitions.length === 2, 60_000);
    assert.deepEqual([...subA.partitions, ...subB.partitions].sort(), [0, 1, 2, 3]);
    assert.ok(rebalancesA.some((r) => r.revoked.length === 2), `a saw two partitions revoked: ${JSON.stringify(rebalancesA)}`);

    // A partition a no longer holds cannot be committed by a.
    const gone = [0, 1, 2, 3].find((p) => !subA.partitions.includes(p))!;
    await assert.rejects(subA.commit({ [String(gone)]: 1 }), (e: any) => e.code === "conflict");
    // The subscription lives on after the refused commit.
    assert.equal(subA.state, "subscribed");

    subB.unsubscribe();
    await waitFor("a holds all 4 again", () => subA.partitions.length === 4, 60_000);
  });

  it("refuses commit on a subscription without a group", async () => {
    const c = client();
    await c.topics.create({ name: "nogroup", partitions: 1 });
    const sub = c.subscribe("nogroup");
    await assert.rejects(sub.commit({ "0": 1 }), (e: any) => e.code === "invalid_request");
  });
});
