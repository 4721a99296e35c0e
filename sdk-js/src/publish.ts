import { backoffDelay, type BackoffOptions } from "./backoff.js";
import { Codes, RunnelError, isTransient } from "./errors.js";
import type { components } from "./generated/openapi.js";
import type { Http } from "./http.js";

/**
 * An event to publish (openapi.yaml EventIn): give value (any JSON) or
 * value_b64 (bytes as base64), not both. value is typed unknown: the
 * generated type of a JSON value does not admit arbitrary objects.
 */
export type EventIn = Omit<components["schemas"]["EventIn"], "value"> & { value?: unknown };
/** Where one published event went. offset is -1 with acks "0". */
export type PublishResult = components["schemas"]["ProduceResult"];

/** Options of publish. */
export interface PublishOptions {
  /** How many replicas must have the events before the answer: "0", "1" or "all" (default). */
  acks?: "0" | "1" | "all";
  /** Key for events that have none (it picks the partition). */
  key?: string | null;
  /** Partition for events that name none. */
  partition?: number;
  /** Headers added to every event (an event's own win). */
  headers?: Record<string, string>;
  /**
   * Makes the call write once however often it is sent. Generated per call
   * when absent; retries of the call (after a network error, 429 or 503)
   * reuse it.
   */
  idempotencyKey?: string;
  /** Retries after network errors and passing failures (default 4). 401 and 403 are never retried. */
  retries?: number;
  /** Backoff between retries (default 100 ms growing to 3 s, full jitter). */
  backoff?: BackoffOptions;
  /** Cancels the call, retries included. */
  signal?: AbortSignal;
}

/** newIdempotencyKey returns a random 128-bit key (crypto.getRandomValues works in every context, secure or not). */
export function newIdempotencyKey(): string {
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  let s = "";
  for (const x of b) s += x.toString(16).padStart(2, "0");
  return s;
}

function withDefaults(e: EventIn, o: PublishOptions): EventIn {
  if (o.key === undefined && o.partition === undefined && o.headers === undefined) return e;
  const out: EventIn = { ...e };
  if (o.key !== undefined && out.key === undefined) out.key = o.key;
  if (o.partition !== undefined && out.partition === undefined) out.partition = o.partition;
  if (o.headers !== undefined) out.headers = { ...o.headers, ...e.headers };
  return out;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * publishEvents POSTs events to topic and returns one result per event, in
 * order. Failures that pass (network errors, 429, 503, 500) are retried
 * with the same Idempotency-Key, so a retry never writes twice; the last
 * error is thrown when retries run out.
 */
export async function publishEvents(http: Http, topic: string, events: EventIn[], o: PublishOptions): Promise<PublishResult[]> {
  if (events.length === 0) throw new RunnelError("invalid_request", "publish needs at least one event", 400);
  const key = o.idempotencyKey ?? newIdempotencyKey();
  const body = events.length === 1 ? withDefaults(events[0], o) : { events: events.map((e) => withDefaults(e, o)) };
  const retries = o.retries ?? 4;
  const backoff = o.backoff ?? { minDelay: 100, maxDelay: 3000 };
  for (let attempt = 0; ; attempt++) {
    try {
      const { body: res } = await http.request<components["schemas"]["ProduceResults"]>({
        method: "POST",
        path: `/v1/topics/${encodeURIComponent(topic)}/events`,
        query: { acks: o.acks },
        headers: { "Idempotency-Key": key },
        body,
        signal: o.signal,
      });
      if (!res || !Array.isArray(res.results) || res.results.length !== events.length) {
        throw new RunnelError(Codes.badResponse, `publish to ${topic}: want ${events.length} results`);
      }
      return res.results;
    } catch (err) {
      if (!(err instanceof RunnelError) || !isTransient(err.code) || attempt >= retries) throw err;
      const hint = typeof err.details.retry_after_ms === "number" ? Math.min(err.details.retry_after_ms, 10_000) : 0;
      await sleep(Math.max(hint, backoffDelay(attempt, backoff)), o.signal);
    }
  }
}
