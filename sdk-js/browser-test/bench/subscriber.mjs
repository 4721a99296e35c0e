// Benchmark: one SDK subscriber in headless Chromium (one socket) reading a
// topic of N stored events from a local `runnel dev`, from earliest, as
// fast as the gateway sends. Reports events/s (first event to last) and the
// SDK's share of the page's CPU, from the V8 sampling profiler over the
// Chrome DevTools Protocol: samples whose stack holds a frame of the SDK's
// bundle (inclusive: the JSON parsing and bookkeeping it calls; the app's
// handler, one counter increment, too) over the samples that are not idle.
// Runs RUNS times on the same data (a new page each) and prints each run
// and the medians, with the load average before and after. Each run reads
// the topic four times: with the SDK batched (its default: the gateway
// sends several events per WebSocket message when more than one is ready)
// and unbatched (`batch: false`, one event per message), and with a bare
// WebSocket in the same page (no SDK: count the events without parsing),
// batched and unbatched, the browser's and the machine's own ceiling.
//
//   make build && cd sdk-js/browser-test && RUNNEL_BIN=$PWD/../../bin/runnel npm run bench
//   (EVENTS=300000 RUNS=3 PARTITIONS=4 by default)
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Dev, artifacts, launch, mintToken } from "../lib/browser.mjs";
import { nodeClient, sdkPage } from "../lib/page.mjs";

const events = Number(process.env.EVENTS ?? 300_000);
const runs = Number(process.env.RUNS ?? 3);
const partitions = Number(process.env.PARTITIONS ?? 4);
const loadavg = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// prefill writes the events in batches of 1,000 (the gateway's limit per
// request), values of about 60 bytes.
async function prefill(dev) {
  const admin = nodeClient(dev);
  await admin.topics.create({ name: "bench", partitions });
  const started = Date.now();
  for (let i = 0; i < events; i += 1000) {
    const batch = [];
    for (let j = i; j < Math.min(events, i + 1000); j++) {
      batch.push({ partition: j % partitions, value: { n: j, text: "a benchmark event's payload" } });
    }
    await admin.publish("bench", batch, { acks: "1" });
  }
  return (Date.now() - started) / 1000;
}

// sdkShare is the share of non-idle samples with a frame of the SDK bundle
// on their stack.
function sdkShare(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const inSDK = new Map();
  const isSDK = (id) => {
    if (inSDK.has(id)) return inSDK.get(id);
    const n = byId.get(id);
    const v = n.callFrame.url.endsWith("/runnel-client.js") || (parent.has(id) && isSDK(parent.get(id)));
    inSDK.set(id, v);
    return v;
  };
  let busy = 0;
  let sdk = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    if (byId.get(id).callFrame.functionName === "(idle)") return;
    busy += dt;
    if (isSDK(id)) sdk += dt;
  });
  return { share: busy ? sdk / busy : 0, busyMs: busy / 1000 };
}

// topFunctions lists the functions with the most self time, for the log.
function topFunctions(profile, n = 8) {
  const self = new Map();
  const byId = new Map(profile.nodes.map((x) => [x.id, x]));
  profile.samples.forEach((id, i) => {
    const f = byId.get(id).callFrame;
    const key = `${f.functionName || "(anonymous)"} ${f.url.split("/").pop()}:${f.lineNumber}`;
    self.set(key, (self.get(key) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  return [...self].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, us]) => `${(us / 1000).toFixed(0)} ms ${k}`);
}

// rawRun reads the topic with the browser's WebSocket alone: the subscribe
// frame, then counting events without parsing (an event frame is one; in
// an events frame, each "partition" key is one).
function rawRun(page, dev, batch) {
  return page.evaluate(
    ({ url, token, n, batch }) =>
      new Promise((resolve, reject) => {
        const ws = new WebSocket(url.replace(/^http/, "ws") + "/v1/ws?access_token=" + token);
        let count = 0;
        let first = 0;
        ws.onopen = () => ws.send(JSON.stringify({ type: "subscribe", id: "raw", topic: "bench", from: "earliest", batch }));
        ws.onmessage = (m) => {
          const d = m.data;
          if (d.startsWith('{"type":"event"')) {
            if (count === 0) first = performance.now();
            count++;
          } else if (d.startsWith('{"type":"events"')) {
            if (count === 0) first = performance.now();
            for (let i = d.indexOf('"partition":'); i >= 0; i = d.indexOf('"partition":', i + 12)) count++;
          } else {
            return;
          }
          if (count >= n) {
            ws.close();
            resolve((n - 1) / ((performance.now() - first) / 1000));
          }
        };
        ws.onerror = () => reject(new Error("raw WebSocket failed"));
        setTimeout(() => reject(new Error(`raw: only ${count} of ${n} events in 300 s`)), 300_000);
      }),
    { url: dev.url, token: mintToken(), n: events, batch },
  );
}

// sdkRun reads the topic with the SDK, batched or not, profiling the page.
async function sdkRun(context, dev, i, batch) {
  const sdk = await sdkPage(context);
  const page = sdk.page;
  const cdp = await context.newCDPSession(page);
  await cdp.send("Profiler.enable");
  await cdp.send("Profiler.setSamplingInterval", { interval: 200 });
  await cdp.send("Performance.enable");
  const before = await cdp.send("Performance.getMetrics");
  await cdp.send("Profiler.start");
  const r = await page.evaluate(
    ({ url, token, n, batch }) =>
      new Promise((resolve, reject) => {
        const c = new window.Runnel({ url, token });
        let count = 0;
        let first = 0;
        const start = performance.now();
        const sub = c.subscribe("bench", { from: "earliest", batch }, () => {
          if (count++ === 0) first = performance.now();
          if (count === n) {
            const last = performance.now();
            c.disconnect();
            resolve({ count, firstMs: first - start, spanMs: last - first });
          }
        });
        sub.on("error", ({ error, final }) => final && reject(new Error(error.message)));
        setTimeout(() => reject(new Error(`only ${count} of ${n} events in 300 s`)), 300_000);
      }),
    { url: dev.url, token: mintToken(), n: events, batch },
  );
  const { profile } = await cdp.send("Profiler.stop");
  mkdirSync(artifacts, { recursive: true });
  writeFileSync(join(artifacts, `bench-run${i + 1}-${batch ? "batched" : "unbatched"}.cpuprofile`), JSON.stringify(profile)); // opens in DevTools' Performance panel
  if (process.env.TOP) console.log(topFunctions(profile).join("\n"));
  const after = await cdp.send("Performance.getMetrics");
  const metric = (m, name) => m.metrics.find((x) => x.name === name)?.value ?? 0;
  const script = metric(after, "ScriptDuration") - metric(before, "ScriptDuration");
  const task = metric(after, "TaskDuration") - metric(before, "TaskDuration");
  await cdp.detach();
  const rawPerSec = await rawRun(page, dev, batch);
  await sdk.close();
  return {
    eventsPerSec: (r.count - 1) / (r.spanMs / 1000),
    rawPerSec,
    firstMs: r.firstMs,
    spanMs: r.spanMs,
    sdk: sdkShare(profile),
    scriptShare: task ? script / task : 0,
    taskSec: task,
  };
}

const dev = new Dev();
await dev.start();
const browser = await launch();
try {
  const fill = await prefill(dev);
  console.log(`${events} events on ${partitions} partitions written in ${fill.toFixed(1)} s; load average ${loadavg()}`);
  const results = { batched: [], unbatched: [] };
  const line = (r) =>
    `${Math.round(r.eventsPerSec)} events/s (${r.spanMs.toFixed(0)} ms first to last, first after ${r.firstMs.toFixed(0)} ms); ` +
    `SDK ${(r.sdk.share * 100).toFixed(1)}% of ${r.sdk.busyMs.toFixed(0)} ms sampled page CPU; ` +
    `script ${(r.scriptShare * 100).toFixed(1)}% of ${r.taskSec.toFixed(2)} s renderer task time; ` +
    `bare WebSocket ${Math.round(r.rawPerSec)} events/s`;
  for (let i = 0; i < runs; i++) {
    for (const mode of ["batched", "unbatched"]) {
      const r = await sdkRun(browser.context, dev, i, mode === "batched");
      results[mode].push(r);
      console.log(`run ${i + 1} ${mode}: ${line(r)}; load average ${loadavg()}`);
    }
  }
  for (const mode of ["batched", "unbatched"]) {
    const rs = results[mode];
    console.log(
      `median of ${runs} ${mode}: ${Math.round(median(rs.map((r) => r.eventsPerSec)))} events/s, ` +
        `SDK ${(median(rs.map((r) => r.sdk.share)) * 100).toFixed(1)}% of page CPU, ` +
        `bare WebSocket ${Math.round(median(rs.map((r) => r.rawPerSec)))} events/s; load average ${loadavg()}`,
    );
  }
} finally {
  await browser.close();
  await dev.stop();
}
