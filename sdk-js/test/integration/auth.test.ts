// Tokens against a real `runnel dev`: refresh over the open socket,
// reconnect after a 4001 close, typed 401 and 403 without endless retries,
// and publish retries that reuse the Idempotency-Key.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import WebSocket from "ws";
import { AuthError, ForbiddenError, Runnel, type RunnelOptions, type WebSocketCtor } from "@runnel/client";
import { Dev, mintToken, waitFor } from "../helpers/runnel.js";

const dev = new Dev();
const clients: Runnel[] = [];

function client(extra: Partial<RunnelOptions>): Runnel {
  const c = new Runnel({ url: dev.url, WebSocket: WebSocket as unknown as WebSocketCtor, backoff: { minDelay: 50, maxDelay: 500 }, ...extra });
  clients.push(c);
  return c;
}

before(async () => {
  await dev.start();
  assert.equal((await dev.api("POST", "/v1/topics", { name: "auth", partitions: 1 })).status, 201);
});

after(async () => {
  for (const c of clients) c.disconnect();
  await dev.stop();
});

describe("auth", () => {
  it("refreshes a short-lived token over the open socket, before it expires", async () => {
    const reasons: string[] = [];
    const c = client({
      getToken: async ({ reason }) => {
        reasons.push(reason);
        return mintToken({ ttlSeconds: 3 });
      },
    });
    let disconnects = 0;
    c.on("disconnected", () => disconnects++);
    const seen: unknown[] = [];
    const sub = c.subscribe("auth", { from: "latest" }, (e) => seen.push(e.value));
    await waitFor("subscribed", () => sub.state === "subscribed");
    // Three token lifetimes: without refresh the gateway would close the
    // socket with 4001 after the first.
    for (let i = 0; i < 9; i++) {
      await c.publish("auth", { value: i });
      await new Promise((r) => setTimeout(r, 1000));
    }
    await waitFor("9 events", () => seen.length === 9);
    assert.equal(disconnects, 0, "the socket stayed open");
    assert.ok(reasons.filter((r) => r === "refresh").length >= 3, `getToken calls: ${reasons}`);
    assert.deepEqual(seen, [0, 1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it("reconnects with a fresh token after the gateway closes an expired socket with 4001", async () => {
    let n = 0;
    const c = client({
      // Refreshes fail, so the socket's token expires and the gateway
      // closes it; the reconnect then gets a fresh token.
      getToken: async ({ reason }) => {
        if (reason === "refresh") throw new Error("auth server down");
        n++;
        return mintToken({ ttlSeconds: n === 1 ? 2 : 3600 });
      },
    });
    const codes: number[] = [];
    c.on("disconnected", (d) => codes.push(d.code));
    const seen: unknown[] = [];
    const sub = c.subscribe("auth", { from: "latest" }, (e) => seen.push(e.value));
    await waitFor("subscribed", () => sub.state === "subscribed");
    await waitFor("the 4001 close", () => codes.includes(4001), 10_000);
    await waitFor("resubscribed", () => sub.state === "subscribed" && c.state === "connected");
    await c.publish("auth", { value: "after" }, {});
    await waitFor("the event after reconnecting", () => seen.includes("after"));
    assert.equal(n, 2);
  });

  it("a refused token is an AuthError, not an endless retry", async () => {
    const c = client({ token: "not-a-jwt" });
    await assert.rejects(c.publish("auth", { value: 1 }), (e) => e instanceof AuthError && e.status === 401);
    const stopped = new Promise<any>((r) => c.on("disconnected", (d) => !d.reconnect && r(d)));
    const connects: number[] = [];
    c.on("connecting", (x) => connects.push(x.attempt));
    c.subscribe("auth");
    const d = await stopped;
    assert.ok(d.error instanceof AuthError);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(c.state, "disconnected");
    assert.ok(connects.length <= 1, `connect attempts after the refusal: ${connects}`);
  });

  it("a getToken whose tokens are refused stops after one new token", async () => {
    let calls = 0;
    const c = client({
      getToken: async () => {
        calls++;
        return mintToken({ ttlSeconds: -10 });
      },
    });
    await assert.rejects(c.publish("auth", { value: 1 }), AuthError);
    assert.equal(calls, 1, "a token fresh from getToken that is refused is not asked for again");
  });

  it("403 is a ForbiddenError, and a subscription without consume ends with forbidden", async () => {
    const c = client({ token: mintToken({ admin: false, consume: ["other"], produce: ["other"] }) });
    await assert.rejects(c.publish("auth", { value: 1 }), (e) => e instanceof ForbiddenError && e.code === "forbidden");
    const sub = c.subscribe("auth");
    const err = await new Promise<any>((r) => sub.on("error", r));
    assert.equal(err.final, true);
    assert.ok(err.error instanceof ForbiddenError);
    assert.equal(sub.state, "error");
  });
});

describe("publish retries", () => {
  it("reuses the Idempotency-Key after a network error, so the retry writes nothing new", async () => {
    const keys: string[] = [];
    let failNext = false;
    const c = client({
      token: mintToken(),
      // The first attempt reaches the gateway and is written, but its
      // answer is lost: the SDK sees a network error and retries.
      fetch: async (url, init) => {
        keys.push(new Headers(init?.headers).get("Idempotency-Key") ?? "");
        const res = await fetch(url, init);
        if (failNext) {
          failNext = false;
          await res.text();
          throw new TypeError("fetch failed: connection reset");
        }
        return res;
      },
    });
    const before = await c.topics.offsets("auth");
    keys.length = 0;
    failNext = true;
    const r = await c.publish("auth", [{ value: "once-a" }, { value: "once-b" }]);
    assert.equal(keys.length, 2);
    assert.equal(keys[0], keys[1]);
    assert.match(keys[0], /^[0-9a-f]{32}$/);
    const afterOffs = await c.topics.offsets("auth");
    const latest = (o: typeof before) => o.partitions.find((p) => p.partition === 0)!.latest;
    assert.equal(latest(afterOffs) - latest(before), 2, "two events written, not four");
    assert.deepEqual(r.map((x) => x.offset), [latest(before), latest(before) + 1]);
  });

  it("gives each call its own key", async () => {
    const keys: string[] = [];
    const c = client({
      token: mintToken(),
      fetch: async (url, init) => {
        keys.push(new Headers(init?.headers).get("Idempotency-Key") ?? "");
        return fetch(url, init);
      },
    });
    await c.publish("auth", { value: 1 });
    await c.publish("auth", { value: 1 }, { idempotencyKey: "mine-1" });
    await c.publish("auth", { value: 1 });
    assert.equal(keys[1], "mine-1");
    assert.notEqual(keys[0], keys[2]);
  });
});
