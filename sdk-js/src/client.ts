import { GroupsAdmin, TopicsAdmin } from "./admin.js";
import { TokenSource, type GetToken } from "./auth.js";
import { backoffDelay, type BackoffOptions } from "./backoff.js";
import { Emitter } from "./emitter.js";
import { AuthError, Codes, RunnelError, errorFrom } from "./errors.js";
import { errorDetails, parseServerFrame, type ClientFrame } from "./frames.js";
import { Http, type FetchLike } from "./http.js";
import { publishEvents, type EventIn, type PublishOptions, type PublishResult } from "./publish.js";
import { Subscription, type EventHandler, type SubscribeOptions, type SubscriptionHost } from "./subscription.js";

/** The part of the WebSocket API the client uses: the browser's, or Node's `ws` package. */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((ev: unknown) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

/** A WebSocket constructor: globalThis.WebSocket in browsers and Node >= 22, or `ws`'s default export. */
export type WebSocketCtor = new (url: string) => WebSocketLike;

/** Options of a Runnel client. */
export interface RunnelOptions {
  /** The gateway's base URL, e.g. "http://127.0.0.1:8080" (the WebSocket URL is derived: ws(s)://.../v1/ws). */
  url: string;
  /** A fixed token (JWT). */
  token?: string;
  /** Returns a token: called at connect, before the current one expires, and when the gateway refuses it. */
  getToken?: GetToken;
  /** The WebSocket implementation; default globalThis.WebSocket. Pass `ws`'s export on Node 20. */
  WebSocket?: WebSocketCtor;
  /** The fetch implementation; default globalThis.fetch. */
  fetch?: FetchLike;
  /** Reconnect backoff (default 200 ms growing to 10 s, full jitter); also used to retry subscriptions. */
  backoff?: BackoffOptions;
  /** How long a socket may take to open, ms (default 10,000). */
  connectTimeout?: number;
}

/** The client's connection state. */
export type ClientState = "disconnected" | "connecting" | "connected";

/** The events a Runnel client emits. */
export interface ClientEvents {
  /** Any state change. */
  state: { oldState: ClientState; newState: ClientState };
  /** Opening a socket: at connect(), and for each reconnect (attempt counts from 0, delay is the backoff waited). */
  connecting: { reason: string; attempt: number; delay: number };
  /** The socket is open and, when the client has a token, the gateway has acknowledged it (the `authenticated` frame). */
  connected: Record<string, never>;
  /** The socket closed. reconnect: whether the client will open another; error: why it will not, for auth failures. */
  disconnected: { code: number; reason: string; reconnect: boolean; error?: RunnelError };
  /** An error not tied to one subscription: a refused token refresh, a frame the SDK could not read, a listener that threw. */
  error: { error: unknown };
}

const OPEN = 1;
// Close codes of the gateway (openapi.yaml openWebSocket).
const closeTokenExpired = 4001;
const closeNotAuthenticated = 4401;

/**
 * Runnel is a client of one gateway: publish over REST, subscriptions over
 * one WebSocket that reconnects and resumes on its own, and admin calls.
 *
 * ```ts
 * const client = new Runnel({ url: "http://127.0.0.1:8080", token });
 * client.subscribe("chat", { from: "latest" }, (e) => console.log(e.value));
 * await client.publish("chat", { value: { text: "hi" } });
 * ```
 */
export class Runnel extends Emitter<ClientEvents> {
  /** Topic administration. */
  readonly topics: TopicsAdmin;
  /** Consumer groups. */
  readonly groups: GroupsAdmin;

  private readonly opts: RunnelOptions;
  private readonly tokens: TokenSource;
  private readonly http: Http;
  private readonly wsUrl: string;
  private readonly WS: WebSocketCtor | undefined;
  private _state: ClientState = "disconnected";
  private ws?: WebSocketLike;
  private wanted = false;
  private attempt = 0;
  private reconnectTimer?: ReturnType<typeof setTimeout>;
  private openTimer?: ReturnType<typeof setTimeout>;
  private refreshTimer?: ReturnType<typeof setTimeout>;
  private subs = new Map<string, Subscription>();
  private authed = false; // the current socket's token was taken
  private nextSubId = 1;
  private readonly host: SubscriptionHost;

  constructor(opts: RunnelOptions) {
    super();
    if (!opts || typeof opts.url !== "string" || !/^https?:\/\//.test(opts.url)) {
      throw new RunnelError("invalid_request", 'Runnel needs { url: "http(s)://host:port" }', 400);
    }
    this.opts = { ...opts };
    const base = opts.url.replace(/\/+$/, "");
    this.wsUrl = base.replace(/^http/, "ws") + "/v1/ws";
    this.tokens = new TokenSource(opts.token, opts.getToken);
    const f = opts.fetch ?? (globalThis.fetch ? globalThis.fetch.bind(globalThis) : undefined);
    if (!f) throw new RunnelError("invalid_request", "no fetch: pass { fetch } on this platform", 400);
    this.http = new Http(base, this.tokens, f);
    this.WS = opts.WebSocket ?? (globalThis as { WebSocket?: WebSocketCtor }).WebSocket;
    this.topics = new TopicsAdmin(this.http);
    this.groups = new GroupsAdmin(this.http);
    this.host = {
      send: (frame: ClientFrame) => this.send(frame),
      connected: () => this._state === "connected",
      removed: (sub: { readonly id: string }) => {
        if (this.subs.get(sub.id) === sub) this.subs.delete(sub.id);
      },
      reportError: (error: unknown) => this.emit("error", { error }),
      backoff: opts.backoff ?? {},
    };
  }

  /** The connection state. */
  get state(): ClientState {
    return this._state;
  }

  /** The live subscriptions. */
  get subscriptions(): Subscription[] {
    return [...this.subs.values()];
  }

  /**
   * publish writes one event (resolving to its result) or several (to one
   * result each, in order) over REST. See PublishOptions for acks, key,
   * partition, headers and the Idempotency-Key that makes retries safe.
   */
  publish(topic: string, event: EventIn, options?: PublishOptions): Promise<PublishResult>;
  publish(topic: string, events: EventIn[], options?: PublishOptions): Promise<PublishResult[]>;
  async publish(topic: string, events: EventIn | EventIn[], options: PublishOptions = {}): Promise<PublishResult | PublishResult[]> {
    if (Array.isArray(events)) return publishEvents(this.http, topic, events, options);
    return (await publishEvents(this.http, topic, [events], options))[0];
  }

  /**
   * subscribe starts a subscription of topic (and connects when the client
   * is disconnected). handler gets each event exactly once, in order per
   * partition, across reconnects; the subscription's events say how it is
   * doing.
   */
  subscribe<T = unknown>(topic: string, handler?: EventHandler<T>): Subscription<T>;
  subscribe<T = unknown>(topic: string, options: SubscribeOptions, handler?: EventHandler<T>): Subscription<T>;
  subscribe<T = unknown>(topic: string, a?: SubscribeOptions | EventHandler<T>, b?: EventHandler<T>): Subscription<T> {
    const options = typeof a === "function" || a === undefined ? {} : a;
    const handler = typeof a === "function" ? a : b;
    if (typeof topic !== "string" || topic === "") throw new RunnelError("invalid_request", "subscribe needs a topic name", 400);
    const sub = new Subscription<T>(this.host, "s" + this.nextSubId++, topic, options, handler);
    this.subs.set(sub.id, sub as Subscription);
    if (this._state === "connected") sub._open();
    else if (this._state === "disconnected") this.connect();
    return sub;
  }

  /** connect opens the socket (subscribe does it too); reconnects until disconnect(). */
  connect(): void {
    this.wanted = true;
    if (this._state !== "disconnected") return;
    this.attempt = 0;
    this.open("connect", 0);
  }

  /** disconnect closes the socket and stops reconnecting; subscriptions stay and resume at the next connect(). */
  disconnect(): void {
    this.wanted = false;
    this.clearTimers();
    if (this._state === "disconnected" && !this.ws) return;
    const ws = this.ws;
    this.ws = undefined;
    if (ws) {
      detach(ws);
      try {
        ws.close(1000, "client disconnect");
      } catch {
        // Already closing.
      }
    }
    this.closed(1000, "client disconnect", false);
  }

  private open(reason: string, delay: number): void {
    this.setState("connecting");
    this.emit("connecting", { reason, attempt: this.attempt, delay });
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      void this.dial();
    }, delay);
  }

  private async dial(): Promise<void> {
    if (!this.wanted) return;
    if (!this.WS) {
      this.stop(new RunnelError("invalid_request", "no WebSocket: pass { WebSocket } (e.g. the `ws` package) on this platform", 400));
      return;
    }
    let token: string | undefined;
    try {
      token = await this.tokens.get("connect");
    } catch (err) {
      if (!this.wanted) return;
      if (err instanceof AuthError) {
        this.stop(err);
      } else {
        this.emit("error", { error: err });
        this.retryLater("token unavailable");
      }
      return;
    }
    if (!this.wanted || this.ws) return;
    let ws: WebSocketLike;
    try {
      ws = new this.WS(this.wsUrl);
    } catch (err) {
      this.stop(new RunnelError("invalid_request", `cannot open ${this.wsUrl}: ${String(err)}`, 400, {}, { cause: err }));
      return;
    }
    this.ws = ws;
    this.openTimer = setTimeout(() => {
      if (this.ws === ws && ws.readyState !== OPEN) {
        detach(ws);
        ws.close();
        this.ws = undefined;
        this.closed(1006, "connect timeout", true);
      }
    }, this.opts.connectTimeout ?? 10_000);
    ws.onopen = () => {
      if (this.ws !== ws) return;
      clearTimeout(this.openTimer);
      if (!token) {
        this.ready();
        return;
      }
      // Connected once the gateway acknowledges the token, within the
      // connect timeout; a refused one is answered by a 4401 close.
      ws.send(JSON.stringify({ type: "auth", token }));
      this.openTimer = setTimeout(() => {
        if (this.ws !== ws || this.authed) return;
        detach(ws);
        ws.close();
        this.ws = undefined;
        this.closed(1006, "no answer to the auth frame", true);
      }, this.opts.connectTimeout ?? 10_000);
    };
    this.authed = false;
    ws.onmessage = (ev) => {
      if (this.ws === ws) this.onFrame(ev.data);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = undefined;
      this.onClose(ev.code, ev.reason);
    };
    ws.onerror = () => {
      // The close event follows with the code.
    };
  }

  /** ready makes the open (and authenticated) socket the client's: connected, and every subscription (re)subscribes. */
  private ready(): void {
    clearTimeout(this.openTimer);
    this.attempt = 0;
    this.setState("connected");
    this.emit("connected", {});
    this.scheduleRefresh();
    for (const sub of [...this.subs.values()]) sub._open();
  }

  private onFrame(data: unknown): void {
    if (typeof data !== "string") {
      this.emit("error", { error: new RunnelError(Codes.badResponse, "the gateway sent a binary frame") });
      return;
    }
    let f;
    try {
      f = parseServerFrame(data);
    } catch (err) {
      this.emit("error", { error: err });
      return;
    }
    switch (f.type) {
      case "event": {
        const sub = this.subs.get(f.id);
        if (sub) sub._onEvent(f);
        return;
      }
      case "events": {
        const sub = this.subs.get(f.id);
        if (sub) sub._onEvents(f.events);
        return;
      }
      case "authenticated":
        // The answer to an auth frame: the first one makes the socket
        // connected; a refresh's only confirms the new token.
        this.tokens.accepted();
        if (!this.authed) {
          this.authed = true;
          if (this._state !== "connected") this.ready();
        }
        return;
      case "subscribed":
        this.subs.get(baseId(f.id))?._onSubscribed(f);
        return;
      case "committed":
        this.subs.get(f.id)?._onCommitted(f);
        return;
      case "error": {
        if (f.id !== undefined) {
          this.subs.get(baseId(f.id))?._onError(f);
          return;
        }
        const err = errorFrom(f.code, f.message, undefined, errorDetails(f));
        if (err instanceof AuthError) {
          // Before the socket took a token, the 4401 close that follows
          // decides; after, this is a refused refresh (op "auth"): the
          // socket lives until its current token expires, and the next
          // refresh asks getToken again.
          if (!this.authed) return;
          if (f.op === "auth") this.tokens.rejected();
        }
        this.emit("error", { error: err });
      }
    }
  }

  private onClose(code: number, reason: string): void {
    this.clearTimers();
    if (code === closeNotAuthenticated) {
      if (this.tokens.rejected()) {
        this.closed(code, reason, true, 0);
      } else {
        this.stop(new AuthError(`the gateway refused the token: ${reason || "unauthenticated"}`), code, reason);
      }
      return;
    }
    if (code === closeTokenExpired) {
      this.tokens.rejected();
      if (!this.tokens.renewable) {
        this.stop(new AuthError("the token expired; give the client a new one (getToken refreshes it on its own)"), code, reason);
        return;
      }
      this.closed(code, reason, true, 0);
      return;
    }
    this.closed(code, reason, true);
  }

  /** closed handles a socket that is gone; it reconnects when wanted (after delay, default the backoff). */
  private closed(code: number, reason: string, reconnect: boolean, delay?: number, error?: RunnelError): void {
    this.clearTimers();
    for (const sub of this.subs.values()) sub._closed(reason || "disconnected");
    const again = reconnect && this.wanted;
    if (this._state !== "disconnected" || !again) {
      this.setState(again ? "connecting" : "disconnected");
    }
    this.emit("disconnected", { code, reason, reconnect: again, error });
    if (again) this.retryLater(reason || `closed with code ${code}`, delay);
  }

  private retryLater(reason: string, delay?: number): void {
    const d = delay ?? backoffDelay(this.attempt, this.host.backoff);
    this.attempt++;
    this.open(reason, d);
  }

  /** stop gives up connecting for a reason retrying cannot fix. */
  private stop(error: RunnelError, code = 4401, reason = error.message): void {
    this.wanted = false;
    this.closed(code, reason, false, undefined, error);
    this.emit("error", { error });
  }

  private scheduleRefresh(): void {
    clearTimeout(this.refreshTimer);
    const d = this.tokens.refreshIn();
    if (d === undefined) return;
    this.refreshTimer = setTimeout(() => void this.refresh(), d);
  }

  private async refresh(): Promise<void> {
    const ws = this.ws;
    let token: string | undefined;
    try {
      token = await this.tokens.get("refresh");
    } catch (err) {
      this.emit("error", { error: err });
      if (this.ws === ws) this.refreshTimer = setTimeout(() => void this.refresh(), 1000);
      return;
    }
    if (this.ws !== ws || !ws || !token) return;
    ws.send(JSON.stringify({ type: "auth", token }));
    this.scheduleRefresh();
  }

  private send(frame: ClientFrame): boolean {
    const ws = this.ws;
    if (!ws || ws.readyState !== OPEN || this._state !== "connected") return false;
    ws.send(JSON.stringify(frame));
    return true;
  }

  private clearTimers(): void {
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.openTimer);
    clearTimeout(this.refreshTimer);
    this.reconnectTimer = this.openTimer = this.refreshTimer = undefined;
  }

  private setState(s: ClientState): void {
    if (s === this._state) return;
    const oldState = this._state;
    this._state = s;
    this.emit("state", { oldState, newState: s });
  }

  protected override onListenerError(err: unknown): void {
    if (this.hasListeners("error")) this.emit("error", { error: err });
    else super.onListenerError(err);
  }
}

/** baseId maps a probe's id ("s1~probe") to its subscription's. */
function baseId(id: string): string {
  const i = id.indexOf("~");
  return i < 0 ? id : id.slice(0, i);
}

function detach(ws: WebSocketLike): void {
  ws.onopen = ws.onclose = ws.onmessage = null;
  ws.onerror = () => {};
}
