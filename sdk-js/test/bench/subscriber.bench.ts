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

try {
  await dev.start();
  await throughput();
  await reconnect(Number(process.env.BENCH_RESTARTS ?? 5));
} finally {
  await dev.stop();
}
