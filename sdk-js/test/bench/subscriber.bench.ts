// Benchmark (not a test; `npm run bench`): events/s one SDK subscriber
// receives from a local `runnel dev`, and the time from a SIGKILLed
// gateway's restart to the first resumed event.
//
//   BENCH_EVENTS=500000 npm run bench
import WebSocket from "ws";
import { Runnel, type WebSocketCtor } from "@runnel/client";
import { Dev, mintToken, waitFor } from "../helpers/runnel.js";

const total = Number(process.env.BENCH_EVENTS ?? 400_000);
const dev = new Dev();

function client(): Runnel {
  return new Runnel({ url: dev.url, token: mintToken(), WebSocket: WebSocket as unknown as WebSocketCtor });
}

async function throughput(): Promise<void> {
  const admin = client();
  await admin.topics.create({ name: "bench", partitions: 4 });
  const batch = 1000;
  const payload = { user: "u-123", action: "click", n: 0 };
  for (let i = 0; i < total; i += batch) {
    await admin.publish("bench", Array.from({ length: batch }, (_, j) => ({ partition: (i + j) % 4, value: { ...payload, n: i + j } })), { acks: "1" });
  }
  // Catch-up: the subscriber reads everything from the log as fast as it can.
  const c = client();
  let n = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const sub = c.subscribe("bench", { from: "earliest" }, () => {
    n++;
  });
  await waitFor("all events", () => n >= total, 300_000);
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  console.log(`catch-up: ${n} events (~${JSON.stringify(payload).length + 90}-byte frames) in ${ms.toFixed(0)} ms = ${Math.round(n / (ms / 1000))} events/s; ` +
    `subscriber process CPU ${((cpu.user + cpu.system) / 1000 / ms * 100).toFixed(0)}% of one core`);
  sub.unsubscribe();

  // Live: a publisher in this process publishes while the subscriber reads.
  let m = 0;
  const live = c.subscribe("bench", { from: "latest" }, () => {
    m++;
  });
  await waitFor("live subscribed", () => live.state === "subscribed");
  const liveTotal = Math.min(total, 200_000);
  const t1 = performance.now();
  const pubs: Promise<unknown>[] = [];
  for (let i = 0; i < liveTotal; i += batch) {
    pubs.push(admin.publish("bench", Array.from({ length: batch }, (_, j) => ({ partition: (i + j) % 4, value: { ...payload, n: i + j } })), { acks: "1" }));
    if (pubs.length >= 4) await pubs.shift();
  }
  await Promise.all(pubs);
  await waitFor("live events", () => m >= liveTotal, 300_000);
  const ms1 = performance.now() - t1;
  console.log(`live: ${m} events published and received in ${ms1.toFixed(0)} ms = ${Math.round(m / (ms1 / 1000))} events/s (publisher in the same process)`);
  c.disconnect();
  admin.disconnect();
}

async function reconnect(rounds: number): Promise<void> {
  const admin = client();
  await admin.topics.create({ name: "bench-reconnect", partitions: 1 });
  const c = client();
  let firstAfter = 0;
  let waiting = false;
  const sub = c.subscribe("bench-reconnect", { from: "latest" }, () => {
    if (waiting) {
      waiting = false;
      firstAfter = performance.now();
    }
  });
  await waitFor("subscribed", () => sub.state === "subscribed");
  const fromKill: number[] = [];
  const fromReady: number[] = [];
  for (let r = 0; r < rounds; r++) {
    await dev.kill();
    const killed = performance.now();
    await new Promise((res) => setTimeout(res, 500)); // the gateway stays down a while
    await dev.start();
    const ready = performance.now();
    waiting = true;
    // Publish until the subscriber has one event from the new process.
    while (waiting) {
      await admin.publish("bench-reconnect", { value: r }).catch(() => undefined);
      await new Promise((res) => setTimeout(res, 10));
    }
    fromKill.push(firstAfter - killed);
    fromReady.push(firstAfter - ready);
  }
  const mean = (a: number[]) => (a.reduce((x, y) => x + y, 0) / a.length).toFixed(0);
  console.log(`reconnect (${rounds} SIGKILL restarts, gateway down 0.5 s + its start, default backoff): ` +
    `first resumed event ${mean(fromReady)} ms mean after the new gateway is ready (${fromReady.map((x) => x.toFixed(0)).join(", ")}), ` +
    `${mean(fromKill)} ms after the kill`);
  c.disconnect();
  admin.disconnect();
}

/**
 * sdkOnly measures the SDK's own cost per event: frames handed to the
 * client by a socket that does nothing else (no network, no ws), through
 * parsing, the exactly-once check and the handler call.
 */
async function sdkOnly(n: number): Promise<void> {
  let deliver: ((data: string) => void) | undefined;
  class Loop {
    readyState = 0;
    onopen: ((ev: unknown) => void) | null = null;
    onclose: ((ev: { code: number; reason: string }) => void) | null = null;
    onmessage: ((ev: { data: unknown }) => void) | null = null;
    onerror: ((ev: unknown) => void) | null = null;
    constructor() {
      setTimeout(() => {
        this.readyState = 1;
        this.onopen?.({});
        deliver = (data) => this.onmessage?.({ data });
      }, 0);
    }
    send() {}
    close() {}
  }
  const c = new Runnel({ url: "http://sdk.bench", token: "t", WebSocket: Loop, fetch: async () => new Response("{}") });
  let got = 0;
  c.subscribe("bench", { from: "earliest" }, () => {
    got++;
  });
  await waitFor("socket", () => deliver !== undefined);
  deliver!('{"type":"subscribed","id":"s1","topic":"bench","topic_id":"A","partitions":[0,1,2,3],"offsets":{"0":0,"1":0,"2":0,"3":0}}');
  const frames = Array.from({ length: 1000 }, (_, i) =>
    `{"type":"event","id":"s1","topic":"bench","partition":${i % 4},"offset":OFF,"timestamp":1796296994706,"key":null,"value":{"user":"u-123","action":"click","n":${i}},"headers":{}}`);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) deliver!(frames[i % 1000].replace("OFF", String(Math.floor(i / 4))));
  const ms = performance.now() - t0;
  console.log(`sdk only: ${got} events in ${ms.toFixed(0)} ms = ${Math.round(got / (ms / 1000))} events/s on one core (${((ms * 1000) / got).toFixed(2)} µs per event, frame building included)`);
  c.disconnect();
}

try {
  await sdkOnly(1_000_000);
  await dev.start();
  await throughput();
  await reconnect(Number(process.env.BENCH_RESTARTS ?? 5));
} finally {
  await dev.stop();
}
