// Unit tests of the pure parts: backoff, resume bookkeeping, token refresh
// timing, frame parsing.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Positions, RunnelError, TokenSource, backoffDelay, parseServerFrame, readToken, refreshDelay } from "@runnel/client";

describe("backoffDelay", () => {
  it("is full jitter under a cap that grows by factor up to maxDelay", () => {
    const opts = { minDelay: 100, maxDelay: 1000, factor: 2 };
    assert.equal(backoffDelay(0, opts, () => 0.999999), 99);
    assert.equal(backoffDelay(1, opts, () => 0.999999), 199);
    assert.equal(backoffDelay(3, opts, () => 0.999999), 799);
    assert.equal(backoffDelay(4, opts, () => 0.999999), 999);
    assert.equal(backoffDelay(50, opts, () => 0.999999), 999);
    assert.equal(backoffDelay(5, opts, () => 0), 0);
    assert.equal(backoffDelay(2, opts, () => 0.5), 200);
  });
  it("spreads delays over the whole range", () => {
    const ds = Array.from({ length: 2000 }, () => backoffDelay(10, { minDelay: 100, maxDelay: 1000 }));
    assert.ok(Math.min(...ds) < 100, "some short");
    assert.ok(Math.max(...ds) > 900, "some long");
    assert.ok(ds.every((d) => d >= 0 && d < 1000));
  });
});

describe("Positions", () => {
  it("delivers each offset once, in order, and resumes after the last delivered", () => {
    const p = new Positions();
    p.started({ "0": 5, "1": 0 });
    assert.equal(p.accept(0, 5), true);
    assert.equal(p.accept(0, 6), true);
    assert.equal(p.accept(1, 0), true);
    // A resume that overlaps: the server sends 5 and 6 again.
    p.started({ "0": 5, "1": 1 });
    assert.equal(p.accept(0, 5), false);
    assert.equal(p.accept(0, 6), false);
    assert.equal(p.accept(0, 7), true);
    assert.deepEqual(p.toOffsets(), { "0": 8, "1": 1 });
    assert.deepEqual(p.toOffsets([1]), { "1": 1 });
  });
  it("takes the server's start when it is past the position (events removed)", () => {
    const p = new Positions();
    p.started({ "0": 3 });
    p.started({ "0": 10 });
    assert.equal(p.get(0), 10);
    assert.equal(p.accept(0, 9), false);
    assert.equal(p.accept(0, 10), true);
  });
  it("skips unreadable ranges forward only and forgets revoked partitions", () => {
    const p = new Positions();
    p.started({ "2": 4 });
    p.skip(2, 9);
    assert.equal(p.get(2), 9);
    p.skip(2, 1);
    assert.equal(p.get(2), 9);
    p.forget([2]);
    assert.equal(p.empty, true);
  });
});

function jwt(claims: object): string {
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
  return `${b64({ alg: "HS256" })}.${b64(claims)}.sig`;
}

describe("token refresh timing", () => {
  it("reads exp and keeps a fifth of the time left as margin, 1 s to 60 s", () => {
    assert.equal(readToken(jwt({ exp: 1000 })).expiresAt, 1_000_000);
    assert.equal(readToken("not a jwt").expiresAt, undefined);
    assert.equal(readToken(jwt({ sub: "x" })).expiresAt, undefined);
    assert.equal(refreshDelay(3_600_000, 0), 3_540_000); // 1 h: a minute early
    assert.equal(refreshDelay(5_000, 0), 4_000); // 5 s: a second early
    assert.equal(refreshDelay(100_000, 0), 80_000); // 100 s: 20 s early
    assert.equal(refreshDelay(500, 0), 0);
    assert.equal(refreshDelay(1000, 5000), 0);
  });
  it("TokenSource asks getToken at first use, again once due, and after a refusal of a token that had worked", async () => {
    let now = 0;
    const calls: string[] = [];
    const src = new TokenSource(undefined, async ({ reason }) => {
      calls.push(reason);
      return jwt({ exp: now / 1000 + 10 });
    }, () => now);
    const t1 = await src.get("connect");
    assert.equal(await src.get("connect"), t1);
    assert.equal(src.refreshIn(), 8000);
    now = 8000;
    await src.get("refresh");
    assert.deepEqual(calls, ["connect", "refresh"]);
    src.accepted();
    assert.equal(src.rejected(), true, "a token that worked before is refused: ask for a new one");
    await src.get("rejected");
    assert.deepEqual(calls, ["connect", "refresh", "rejected"]);
    assert.equal(src.rejected(), false, "a new token refused at once: getToken cannot help, give up");
  });
  it("a static token is never refreshed", async () => {
    const src = new TokenSource("abc", undefined);
    assert.equal(await src.get("connect", true), "abc");
    assert.equal(src.refreshIn(), undefined);
    assert.equal(src.rejected(), false);
  });
  it("getToken failures are typed", async () => {
    const src = new TokenSource(undefined, async () => {
      throw new Error("offline");
    });
    await assert.rejects(src.get("connect"), (e: RunnelError) => e.code === "token_unavailable");
    const empty = new TokenSource(undefined, async () => "");
    await assert.rejects(empty.get("connect"), (e: RunnelError) => e.status === 401);
  });
});

describe("parseServerFrame", () => {
  it("parses the four frame types", () => {
    const ev = parseServerFrame('{"type":"event","id":"s1","topic":"t","partition":0,"offset":42,"timestamp":1,"key":null,"value":{"a":1},"headers":{}}');
    assert.equal(ev.type, "event");
    const sb = parseServerFrame('{"type":"subscribed","id":"s1","topic":"t","topic_id":"u","partitions":[0,1],"offsets":{"0":3,"1":0}}');
    assert.equal(sb.type === "subscribed" && sb.offsets?.["0"], 3);
    const er = parseServerFrame('{"type":"error","id":"s1","code":"offset_out_of_range","message":"m","partition":0}');
    assert.equal(er.type === "error" && er.partition, 0);
    const cm = parseServerFrame('{"type":"committed","id":"s1","offsets":{"0":121}}');
    assert.equal(cm.type, "committed");
    const au = parseServerFrame('{"type":"authenticated","exp":1767229200}');
    assert.equal(au.type === "authenticated" && au.exp, 1767229200);
    const op = parseServerFrame('{"type":"error","id":"s1","op":"commit","code":"conflict","message":"m"}');
    assert.equal(op.type === "error" && op.op, "commit");
  });
  it("gives each item of an events frame the type, id and topic of an event frame", () => {
    const f = parseServerFrame('{"type":"events","id":"s1","topic":"t","events":[{"partition":0,"offset":4,"timestamp":1,"key":null,"value":1,"headers":{}},{"partition":1,"offset":0,"timestamp":2,"key":"k","value_b64":"AA==","headers":{}}]}');
    assert.ok(f.type === "events");
    assert.deepEqual(f.events.map((e) => [e.type, e.id, e.topic, e.partition, e.offset]), [["event", "s1", "t", 0, 4], ["event", "s1", "t", 1, 0]]);
  });
  it("refuses frames without the fields the SDK uses", () => {
    for (const bad of [
      "not json",
      "[1]",
      '{"type":"event","id":"s1","partition":-1,"offset":0,"timestamp":1}',
      '{"type":"event","id":"s1","partition":0,"offset":"7","timestamp":1}',
      '{"type":"subscribed","id":"s1","partitions":[0]}',
      '{"type":"subscribed","id":"s1","topic_id":"u","partitions":[0],"offsets":{"x":1}}',
      '{"type":"error","message":"m"}',
      '{"type":"committed","id":"s1","offsets":{"0":-1}}',
      '{"type":"hello"}',
      '{"type":"events","id":"s1","topic":"t"}',
      '{"type":"events","id":"s1","topic":"t","events":[]}',
      '{"type":"events","id":"s1","topic":"t","events":{"0":{}}}',
      '{"type":"events","topic":"t","events":[{"partition":0,"offset":1,"timestamp":1}]}',
      '{"type":"events","id":"s1","topic":"t","events":[{"partition":0,"offset":1,"timestamp":1},{"partition":0,"offset":-2,"timestamp":1}]}',
      '{"type":"events","id":"s1","topic":"t","events":[{"partition":0,"offset":1,"timestamp":1},null]}',
      '{"type":"events","id":"s1","topic":"t","events":[{"partition":0,"offset":1}]}',
      '{"type":"authenticated"}',
      '{"type":"authenticated","exp":"soon"}',
      '{"type":"error","op":7,"code":"conflict","message":"m"}',
    ]) {
      assert.throws(() => parseServerFrame(bad), (e: RunnelError) => e.code === "bad_response", bad);
    }
  });
});
