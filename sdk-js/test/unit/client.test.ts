// The client against a scripted WebSocket: the frames it sends, resume
// bookkeeping across reconnects, duplicate suppression, close codes.
import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { Runnel, type RunnelEvent, type WebSocketLike } from "@runnel/client";

class FakeWS implements WebSocketLike {
  static all: FakeWS[] = [];
  /** Whether the "gateway" acknowledges auth frames (the authenticated frame), as it does a good token. */
  static autoAck = true;
  readyState = 0;
  sent: any[] = [];
  onopen: ((ev: unknown) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  constructor(readonly url: string) {
    FakeWS.all.push(this);
    setTimeout(() => {
      this.readyState = 1;
      this.onopen?.({});
    }, 0);
  }
  send(data: string) {
    const f = JSON.parse(data);
    this.sent.push(f);
    if (f.type === "auth" && FakeWS.autoAck) setTimeout(() => this.serverSends({ type: "authenticated", exp: 2e9 }), 0);
  }
  close() {
    this.readyState = 3;
  }
  /** serverSends delivers a frame from the "gateway". */
  serverSends(f: object) {
    this.onmessage?.({ data: JSON.stringify(f) });
  }
  /** drop closes the socket from the server's side. */
  drop(code = 1006, reason = "") {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
}

const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));
const last = () => FakeWS.all[FakeWS.all.length - 1];
async function nextSocket(n: number) {
  for (let i = 0; i < 200 && FakeWS.all.length < n; i++) await tick();
  await tick(); // open, send auth
  await tick(); // the authenticated frame
  assert.equal(FakeWS.all.length, n, `socket ${n} opened`);
  return last();
}

let client: Runnel | undefined;
afterEach(() => {
  client?.disconnect();
  FakeWS.all = [];
  FakeWS.autoAck = true;
});

function newClient(opts: object = {}) {
  client = new Runnel({ url: "http://gw.test:8080/", token: "t0", WebSocket: FakeWS, fetch: async () => new Response("{}"), backoff: { minDelay: 1, maxDelay: 5 }, ...opts });
  return client;
}

const ev = (partition: number, offset: number) => ({ type: "event", id: "s1", topic: "t", partition, offset, timestamp: 1, key: null, value: offset, headers: {} });

describe("client over a scripted socket", () => {
  it("authenticates first, then subscribes; resumes after the last delivered event and drops replays", async () => {
    const c = newClient();
    const got: string[] = [];
    const sub = c.subscribe("t", { from: "earliest" }, (e: RunnelEvent) => got.push(`${e.partition}:${e.offset}`));
    const ws1 = await nextSocket(1);
    assert.equal(ws1.url, "ws://gw.test:8080/v1/ws");
    assert.deepEqual(ws1.sent, [{ type: "auth", token: "t0" }, { type: "subscribe", id: "s1", topic: "t", from: "earliest", batch: true }]);
    ws1.serverSends({ type: "subscribed", id: "s1", topic: "t", topic_id: "A", partitions: [0, 1], offsets: { "0": 0, "1": 5 } });
    ws1.serverSends(ev(0, 0));
    ws1.serverSends(ev(0, 1));
    ws1.serverSends(ev(1, 5));
    assert.equal(c.state, "connected");
    ws1.drop();
    assert.equal(sub.state, "subscribing");
    const ws2 = await nextSocket(2);
    assert.deepEqual(ws2.sent[1], { type: "subscribe", id: "s1", topic: "t", batch: true, from: { offsets: { "0": 2, "1": 6 } } });
    // A server that replays from earlier: the app sees nothing twice.
    ws2.serverSends({ type: "subscribed", id: "s1", topic: "t", topic_id: "A", partitions: [0, 1], offsets: { "0": 1, "1": 6 } });
    ws2.serverSends(ev(0, 1));
    ws2.serverSends(ev(0, 2));
    ws2.serverSends(ev(1, 6));
    assert.deepEqual(got, ["0:0", "0:1", "1:5", "0:2", "1:6"]);
    assert.deepEqual(sub.offsets, { "0": 3, "1": 7 });
  });

  it("reports a changed topic id instead of reading on", async () => {
    const c = newClient();
    const got: number[] = [];
    const sub = c.subscribe("t", (e) => got.push(e.offset));
    const ws1 = await nextSocket(1);
    ws1.serverSends({ type: "subscribed", id: "s1", topic_id: "A", partitions: [0], offsets: { "0": 0 } });
    ws1.serverSends(ev(0, 0));
    ws1.drop();
    const ws2 = await nextSocket(2);
    const changed = new Promise<any>((r) => sub.on("topic_changed", r));
    ws2.serverSends({ type: "subscribed", id: "s1", topic_id: "B", partitions: [0], offsets: { "0": 1 } });
    ws2.serverSends(ev(0, 1));
    assert.deepEqual(await changed, { previousTopicId: "A", topicId: "B" });
    assert.equal(sub.state, "error");
    assert.equal(sub.error?.code, "topic_changed");
    assert.deepEqual(ws2.sent.at(-1), { type: "unsubscribe", id: "s1" });
    assert.deepEqual(got, [0]);
  });

  it("probes the topic id when a resume is out of range", async () => {
    const c = newClient();
    const sub = c.subscribe("t");
    const ws1 = await nextSocket(1);
    ws1.serverSends({ type: "subscribed", id: "s1", topic_id: "A", partitions: [0], offsets: { "0": 7 } });
    ws1.drop();
    const ws2 = await nextSocket(2);
    ws2.serverSends({ type: "error", id: "s1", code: "offset_out_of_range", message: "m", partition: 0, log_start_offset: 0, high_watermark: 0 });
    assert.deepEqual(ws2.sent.at(-1), { type: "subscribe", id: "s1~probe", topic: "t", from: "latest", partitions: [0] });
    ws2.serverSends({ type: "subscribed", id: "s1~probe", topic_id: "B", partitions: [0], offsets: { "0": 0 } });
    assert.deepEqual(ws2.sent.at(-1), { type: "unsubscribe", id: "s1~probe" });
    assert.equal(sub.error?.code, "topic_changed");
  });

  it("retries a subscription after a passing error, skips unreadable ranges", async () => {
    const c = newClient();
    const sub = c.subscribe("t");
    const unreadable: any[] = [];
    sub.on("unreadable", (u) => unreadable.push(u));
    const ws = await nextSocket(1);
    ws.serverSends({ type: "error", id: "s1", code: "unavailable", message: "try again" });
    assert.equal(sub.state, "subscribing");
    for (let i = 0; i < 100 && ws.sent.length < 3; i++) await tick();
    assert.deepEqual(ws.sent[2], { type: "subscribe", id: "s1", topic: "t", batch: true });
    ws.serverSends({ type: "subscribed", id: "s1", topic_id: "A", partitions: [0], offsets: { "0": 0 } });
    ws.serverSends({ type: "error", id: "s1", code: "data_unreadable", message: "m", topic: "t", partition: 0, unreadable_from: 0, next_offset: 10 });
    assert.equal(sub.state, "subscribed");
    assert.equal(unreadable[0].nextOffset, 10);
    assert.deepEqual(sub.offsets, { "0": 10 });
  });

  it("stops on 4401 with a static token, reconnects at once on 4001 with getToken", async () => {
    FakeWS.autoAck = false;
    const c = newClient();
    const stopped = new Promise<any>((r) => c.on("disconnected", r));
    c.connect();
    const ws = await nextSocket(1);
    ws.serverSends({ type: "error", code: "unauthenticated", message: "token expired" });
    ws.drop(4401, "unauthenticated");
    const d = await stopped;
    assert.equal(d.reconnect, false);
    assert.equal(d.error?.status, 401);
    await tick(30);
    assert.equal(FakeWS.all.length, 1);
    c.disconnect();
    FakeWS.all = [];
    FakeWS.autoAck = true;

    let n = 0;
    const c2 = newClient({ token: undefined, getToken: async () => `tok${++n}` });
    c2.connect();
    const w1 = await nextSocket(1);
    assert.deepEqual(w1.sent[0], { type: "auth", token: "tok1" });
    w1.serverSends({ type: "subscribed", id: "zz", topic_id: "A", partitions: [] }); // any frame: the token worked
    w1.drop(4001, "token expired");
    const w2 = await nextSocket(2);
    assert.deepEqual(w2.sent[0], { type: "auth", token: "tok2" });
  });

  it("asks getToken once more when a token that worked is refused, then gives up", async () => {
    let n = 0;
    const c = newClient({ token: undefined, getToken: async () => `tok${++n}` });
    const stopped = new Promise<any>((r) => c.on("disconnected", (d) => !d.reconnect && r(d)));
    c.connect();
    const w1 = await nextSocket(1);
    await tick(); // tok1 worked: acknowledged
    assert.equal(c.state, "connected");
    FakeWS.autoAck = false;
    w1.serverSends({ type: "error", code: "unauthenticated", message: "revoked" });
    w1.drop(4401, "unauthenticated");
    const w2 = await nextSocket(2);
    assert.deepEqual(w2.sent[0], { type: "auth", token: "tok2" });
    w2.serverSends({ type: "error", code: "unauthenticated", message: "bad signature" });
    w2.drop(4401, "unauthenticated");
    const d = await stopped;
    assert.equal(d.error?.status, 401);
    await tick(30);
    assert.equal(FakeWS.all.length, 2, "no third socket");
    assert.equal(n, 2);
  });

  it("reports a refused refresh and keeps the socket", async () => {
    const c = newClient();
    const errors: any[] = [];
    c.on("error", (e) => errors.push(e.error));
    c.connect();
    const ws = await nextSocket(1);
    ws.serverSends({ type: "error", op: "auth", code: "unauthenticated", message: "token refresh refused" });
    assert.equal(errors[0]?.status, 401);
    assert.equal(c.state, "connected");
  });

  it("carries many subscriptions on one socket and routes events by id", async () => {
    const c = newClient();
    const got: string[] = [];
    const a = c.subscribe("t1", (e) => got.push(`a${e.offset}`));
    const b = c.subscribe("t2", { partitions: [1] }, (e) => got.push(`b${e.offset}`));
    const ws = await nextSocket(1);
    const third = c.subscribe("t3");
    assert.deepEqual(ws.sent.slice(1).map((f) => [f.id, f.topic]), [["s1", "t1"], ["s2", "t2"], ["s3", "t3"]]);
    assert.deepEqual(ws.sent[2].partitions, [1]);
    ws.serverSends({ type: "subscribed", id: "s1", topic_id: "A", partitions: [0], offsets: { "0": 0 } });
    ws.serverSends({ type: "subscribed", id: "s2", topic_id: "B", partitions: [1], offsets: { "1": 4 } });
    ws.serverSends({ ...ev(0, 0), id: "s1" });
    ws.serverSends({ ...ev(1, 4), id: "s2" });
    ws.serverSends({ ...ev(0, 9), id: "s9" }); // no such subscription: dropped
    b.unsubscribe();
    ws.serverSends({ ...ev(1, 5), id: "s2" }); // after unsubscribe: dropped
    assert.deepEqual(got, ["a0", "b4"]);
    assert.deepEqual(ws.sent.at(-1), { type: "unsubscribe", id: "s2" });
    assert.deepEqual(c.subscriptions, [a, third]);
    assert.equal(FakeWS.all.length, 1);
  });

  it("reports frames it cannot read without dropping the socket", async () => {
    const c = newClient();
    const errors: any[] = [];
    c.on("error", (e) => errors.push(e.error));
    c.connect();
    const ws = await nextSocket(1);
    ws.onmessage?.({ data: "{nope" });
    ws.serverSends({ type: "mystery" });
    assert.equal(errors.length, 2);
    assert.ok(errors.every((e) => e.code === "bad_response"));
    assert.equal(c.state, "connected");
  });
});

describe("protocol additions", () => {
  it("is connected only once the gateway acknowledges the auth frame, and subscribes then", async () => {
    FakeWS.autoAck = false;
    const c = newClient();
    c.subscribe("t");
    const ws = await nextSocket(1);
    assert.deepEqual(ws.sent, [{ type: "auth", token: "t0" }]);
    assert.equal(c.state, "connecting");
    ws.serverSends({ type: "authenticated", exp: 2e9 });
    assert.equal(c.state, "connected");
    assert.deepEqual(ws.sent[1], { type: "subscribe", id: "s1", topic: "t", batch: true });
    // A refresh's acknowledgement changes nothing.
    ws.serverSends({ type: "authenticated", exp: 2e9 + 60 });
    assert.equal(ws.sent.length, 2);
  });

  it("reconnects when the auth frame is not answered within the connect timeout", async () => {
    FakeWS.autoAck = false;
    const c = newClient({ connectTimeout: 50 });
    c.connect();
    for (let i = 0; i < 400 && FakeWS.all.length < 2; i++) await tick();
    const [ws1, ws2] = FakeWS.all;
    assert.ok(ws2, "a second socket opened");
    assert.equal(ws1.readyState, 3, "the first socket was closed");
    for (let i = 0; i < 100 && ws2.sent.length === 0; i++) await tick();
    assert.deepEqual(ws2.sent[0], { type: "auth", token: "t0" });
  });

  it("asks for batching unless told not to, and delivers events frames in order, exactly once", async () => {
    const c = newClient();
    const got: string[] = [];
    const sub = c.subscribe("t", (e: RunnelEvent) => got.push(`${e.id}/${e.topic}/${e.type}/${e.partition}:${e.offset}`));
    const plain = c.subscribe("t", { batch: false });
    const ws1 = await nextSocket(1);
    assert.deepEqual(ws1.sent.slice(1), [{ type: "subscribe", id: "s1", topic: "t", batch: true }, { type: "subscribe", id: "s2", topic: "t" }]);
    const item = (partition: number, offset: number) => ({ partition, offset, timestamp: 1, key: null, value: offset, headers: {} });
    ws1.serverSends({ type: "subscribed", id: "s1", topic: "t", topic_id: "A", partitions: [0, 1], offsets: { "0": 0, "1": 0 } });
    ws1.serverSends({ type: "events", id: "s1", topic: "t", events: [item(0, 0), item(1, 0), item(0, 1)] });
    ws1.serverSends(ev(1, 1)); // a lone event: an event frame
    ws1.drop();
    const ws2 = await nextSocket(2);
    assert.deepEqual(ws2.sent[1], { type: "subscribe", id: "s1", topic: "t", batch: true, from: { offsets: { "0": 2, "1": 2 } } });
    // Replayed events in a batch are dropped one by one.
    ws2.serverSends({ type: "subscribed", id: "s1", topic: "t", topic_id: "A", partitions: [0, 1], offsets: { "0": 1, "1": 2 } });
    ws2.serverSends({ type: "events", id: "s1", topic: "t", events: [item(0, 1), item(0, 2), item(1, 2)] });
    assert.deepEqual(got, ["s1/t/event/0:0", "s1/t/event/1:0", "s1/t/event/0:1", "s1/t/event/1:1", "s1/t/event/0:2", "s1/t/event/1:2"]);
    assert.deepEqual(sub.offsets, { "0": 3, "1": 3 });
    assert.equal(plain.state, "subscribing");
  });

  it("tells a refused commit from the end of its subscription by op", async () => {
    const c = newClient();
    const sub = c.subscribe("t", { group: "g" });
    const ws = await nextSocket(1);
    ws.serverSends({ type: "subscribed", id: "s1", topic: "t", topic_id: "A", group: "g", partitions: [] });
    ws.serverSends({ type: "subscribed", id: "s1", topic: "t", topic_id: "A", group: "g", partitions: [0] });
    const refused = sub.commit({ "0": 5 });
    ws.serverSends({ type: "error", id: "s1", op: "commit", code: "conflict", message: "partition 0 is not assigned to subscription \"s1\" now" });
    await assert.rejects(refused, (e: any) => e.code === "conflict");
    assert.equal(sub.state, "subscribed");
    // The same code without op ends the subscription, and a pending commit with it.
    const pending = sub.commit({ "0": 5 });
    ws.serverSends({ type: "error", id: "s1", code: "conflict", message: "the group refused the member" });
    await assert.rejects(pending, (e: any) => e.code === "disconnected");
    assert.equal(sub.state, "error");
    assert.equal(sub.error?.code, "conflict");
  });
});

describe("types", () => {
  it("types event values as the app says", async () => {
    const c = newClient();
    const texts: string[] = [];
    const sub = c.subscribe<{ text: string }>("t", (e) => texts.push(e.value!.text));
    const ws = await nextSocket(1);
    ws.serverSends({ type: "subscribed", id: "s1", topic_id: "A", partitions: [0], offsets: { "0": 0 } });
    ws.serverSends({ ...ev(0, 0), value: { text: "hi" } });
    assert.deepEqual(texts, ["hi"]);
    sub.unsubscribe();
  });
});
