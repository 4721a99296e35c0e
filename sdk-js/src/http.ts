import type { TokenSource } from "./auth.js";
import { Codes, RunnelError, errorFrom } from "./errors.js";

/** The fetch the SDK uses; the global one by default. */
export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

/** One REST request. */
export interface HttpRequest {
  method: "GET" | "POST" | "PATCH" | "DELETE";
  path: string;
  query?: Record<string, string | number | undefined>;
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

/**
 * Http sends REST calls with the token and turns error bodies into typed
 * errors. A 401 with a renewable token gets one retry with a new token; a
 * network failure becomes a RunnelError with code "network_error".
 */
export class Http {
  constructor(
    private readonly base: string,
    private readonly tokens: TokenSource,
    private readonly fetchFn: FetchLike,
  ) {}

  /** request sends req and returns the parsed JSON body (undefined for an empty one) and status. */
  async request<T>(req: HttpRequest): Promise<{ status: number; body: T }> {
    let token = await this.tokens.get("connect");
    for (let attempt = 0; ; attempt++) {
      const res = await this.send(req, token);
      if (res.status === 401 && attempt === 0 && this.tokens.rejected()) {
        token = await this.tokens.get("rejected", true);
        continue;
      }
      const text = await res.text();
      let body: unknown;
      if (text !== "") {
        try {
          body = JSON.parse(text);
        } catch {
          if (res.ok) throw new RunnelError(Codes.badResponse, `${req.method} ${req.path}: the answer is not JSON`, res.status);
        }
      }
      if (!res.ok) throw httpError(res, body, text);
      this.tokens.accepted();
      return { status: res.status, body: body as T };
    }
  }

  private async send(req: HttpRequest, token: string | undefined): Promise<Response> {
    let url = this.base + req.path;
    if (req.query) {
      const q = new URLSearchParams();
      for (const [k, v] of Object.entries(req.query)) if (v !== undefined) q.set(k, String(v));
      const s = q.toString();
      if (s) url += "?" + s;
    }
    const headers: Record<string, string> = { Accept: "application/json", ...req.headers };
    if (token) headers.Authorization = "Bearer " + token;
    let body: string | undefined;
    if (req.body !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(req.body);
    }
    try {
      return await this.fetchFn(url, { method: req.method, headers, body, signal: req.signal });
    } catch (err) {
      if (req.signal?.aborted) throw req.signal.reason ?? err;
      throw new RunnelError(Codes.network, `${req.method} ${req.path}: ${err instanceof Error ? err.message : String(err)}`, 0, {}, { cause: err });
    }
  }
}

function httpError(res: Response, body: unknown, text: string): RunnelError {
  const e = (body as { error?: Record<string, unknown> } | undefined)?.error;
  const details: Record<string, unknown> = {};
  const ra = res.headers.get("Retry-After");
  if (ra !== null && /^\d+$/.test(ra)) details.retry_after_ms = Number(ra) * 1000;
  if (e && typeof e.code === "string") {
    for (const k in e) if (k !== "code" && k !== "message") details[k] = e[k];
    return errorFrom(e.code, typeof e.message === "string" ? e.message : e.code, res.status, details);
  }
  return errorFrom(res.status >= 500 ? "internal_error" : "invalid_request", `HTTP ${res.status}: ${text.slice(0, 200)}`, res.status, details);
}
