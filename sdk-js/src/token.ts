/** What the SDK reads from a JWT: its expiry, when it has one. */
export interface TokenInfo {
  /** exp, in ms since the epoch; undefined when the token has none or cannot be read. */
  expiresAt?: number;
}

/**
 * readToken decodes the payload of a JWT without checking it (the gateway
 * does that) to learn when it expires.
 */
export function readToken(token: string): TokenInfo {
  const parts = token.split(".");
  if (parts.length !== 3) return {};
  try {
    const b64 = parts[1].replace(/-/g, "+").replace(/_/g, "/");
    const bin = atob(b64 + "===".slice((b64.length + 3) % 4));
    const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes)) as { exp?: unknown };
    if (typeof claims.exp === "number" && Number.isFinite(claims.exp)) {
      return { expiresAt: claims.exp * 1000 };
    }
  } catch {
    // Not a JWT the SDK can read: no refresh timing, the gateway decides.
  }
  return {};
}

/**
 * refreshDelay is how long from `now` to wait before fetching a new token
 * for one that expires at `expiresAt` (both ms): a fifth of the time left
 * before expiry, at least 1 s and at most 60 s, is kept as the margin, so
 * that a 1-hour token refreshes a minute early and a 5 s token a second
 * early. 0 when that moment has passed.
 */
export function refreshDelay(expiresAt: number, now: number): number {
  const left = expiresAt - now;
  const margin = Math.min(60_000, Math.max(1_000, left / 5));
  return Math.max(0, Math.floor(left - margin));
}
