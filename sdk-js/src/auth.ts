import { AuthError, Codes, RunnelError } from "./errors.js";
import { readToken, refreshDelay } from "./token.js";

/** Asks the app for a token; `reason` says why one is wanted now. */
export type GetToken = (ctx: { reason: "connect" | "refresh" | "expired" | "rejected" }) => Promise<string>;

/**
 * TokenSource hands out the current token: the static one, or one from
 * getToken, kept until its refresh time (see refreshDelay). Calls of
 * getToken do not overlap.
 */
export class TokenSource {
  private current?: string;
  private refreshAt?: number; // when current is due for refresh, ms since the epoch
  private fresh = false; // current came from getToken since the last use was refused
  private pending?: Promise<string>;

  constructor(
    private readonly staticToken: string | undefined,
    private readonly getToken: GetToken | undefined,
    private readonly now: () => number = Date.now,
  ) {
    this.current = staticToken;
  }

  /** Whether tokens can be renewed (a getToken was given). */
  get renewable(): boolean {
    return this.getToken !== undefined;
  }

  /** Whether there is any way to get a token. */
  get configured(): boolean {
    return this.staticToken !== undefined || this.getToken !== undefined;
  }

  /**
   * get returns a token to use now: the current one unless it is due for
   * refresh, else a new one from getToken. force asks getToken regardless.
   * Without any token it returns undefined.
   */
  async get(reason: "connect" | "refresh" | "expired" | "rejected", force = false): Promise<string | undefined> {
    if (!this.getToken) return this.staticToken;
    if (!force && this.current !== undefined && !this.due()) return this.current;
    return this.renew(reason);
  }

  /** refreshIn is how long until the current token should be refreshed, ms; undefined when it never needs to be. */
  refreshIn(): number | undefined {
    if (!this.getToken || this.current === undefined || this.refreshAt === undefined) return undefined;
    return Math.max(0, this.refreshAt - this.now());
  }

  private due(): boolean {
    const d = this.refreshIn();
    return d !== undefined && d <= 0;
  }

  private renew(reason: "connect" | "refresh" | "expired" | "rejected"): Promise<string> {
    if (this.pending) return this.pending;
    const get = this.getToken!;
    this.pending = (async () => {
      let t: unknown;
      try {
        t = await get({ reason });
      } catch (err) {
        if (err instanceof RunnelError) throw err;
        throw new RunnelError(Codes.tokenUnavailable, `getToken failed: ${err instanceof Error ? err.message : String(err)}`, 0, {}, { cause: err });
      } finally {
        this.pending = undefined;
      }
      if (typeof t !== "string" || t === "") {
        throw new AuthError("getToken returned no token (want a JWT string)");
      }
      this.current = t;
      this.fresh = true;
      // The refresh time is fixed when the token arrives: the margin is a
      // share of its life then, not of what is left later.
      const exp = readToken(t).expiresAt;
      const now = this.now();
      this.refreshAt = exp === undefined ? undefined : now + refreshDelay(exp, now);
      return t;
    })();
    return this.pending;
  }

  /**
   * rejected records that the gateway refused the current token; it returns
   * whether asking getToken again may help (a token it gave was not yet
   * refused). After that the next get asks getToken.
   */
  rejected(): boolean {
    const retry = this.getToken !== undefined && !this.fresh;
    this.fresh = false;
    if (this.getToken) this.current = undefined;
    return retry;
  }

  /** accepted records that the current token worked. */
  accepted(): void {
    this.fresh = false;
  }
}
