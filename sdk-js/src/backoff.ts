/** Backoff settings: delays grow from minDelay by factor per attempt up to maxDelay. */
export interface BackoffOptions {
  /** The first retry's cap, ms (default 200). */
  minDelay?: number;
  /** The largest cap, ms (default 10,000). */
  maxDelay?: number;
  /** Growth per attempt (default 2). */
  factor?: number;
}

/**
 * backoffDelay is the wait before retry number `attempt` (0 for the first):
 * exponential backoff with full jitter (AWS's "Exponential Backoff And
 * Jitter"): a uniform random time in [0, min(maxDelay, minDelay *
 * factor^attempt)], so that clients cut off together do not come back
 * together. `random` returns [0, 1), as Math.random.
 */
export function backoffDelay(attempt: number, opts: BackoffOptions = {}, random: () => number = Math.random): number {
  const min = opts.minDelay ?? 200;
  const max = opts.maxDelay ?? 10_000;
  const factor = opts.factor ?? 2;
  const cap = Math.min(max, min * Math.pow(factor, Math.max(0, attempt)));
  return Math.floor(random() * cap);
}
