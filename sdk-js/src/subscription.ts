import { backoffDelay, type BackoffOptions } from "./backoff.js";
import { Emitter } from "./emitter.js";
import { Codes, RunnelError, errorFrom, isTransient } from "./errors.js";
import { errorDetails, type ClientFrame, type CommittedFrame, type ErrorFrame, type From, type RunnelEvent, type SubscribedFrame } from "./frames.js";
import { Positions } from "./positions.js";

/** A subscription's state. "unsubscribed" and "error" are final. */
export type SubscriptionState = "subscribing" | "subscribed" | "unsubscribed" | "error";

/** Options of Runnel.subscribe. */
export interface SubscribeOptions {
  /** Where to start the first time (default "latest"); after a reconnect every partition resumes after its last delivered event. */
  from?: From;
  /** Only these partitions (default: all). Not with group. */
  partitions?: number[];
  /** Join this consumer group: the topic's partitions are split among its members, reading starts at committed offsets. */
  group?: string;
  /**
   * Let the gateway send several events per WebSocket message when more
   * than one is ready (default true). It never waits to fill a message, so
   * latency is the same; a browser reads many times more events a second.
   * false asks for one event per message, as gateways before batching sent.
   */
  batch?: boolean;
  /**
   * The topic id the offsets in `from` were saved under (from an earlier
   * subscribed event): when the topic has another id now, the subscription
   * reports topic_changed instead of reading.
   */
  topicId?: string;
}

/** A handler of a subscription's events. */
export type EventHandler<T = unknown> = (event: RunnelEvent<T>, sub: Subscription<T>) => void;

/** The events a Subscription emits. */
export interface SubscriptionEvents<T = unknown> {
  /** Any state change. */
  state: { oldState: SubscriptionState; newState: SubscriptionState };
  /** (Re)subscribing: at start, and after a disconnect or a passing failure. */
  subscribing: { reason: string };
  /**
   * The server started the subscription. offsets: where each partition
   * starts; resumed: true after a reconnect.
   */
  subscribed: { topicId: string; partitions: number[]; offsets: Record<string, number>; resumed: boolean };
  /** An event, exactly once and in order per partition. */
  event: RunnelEvent<T>;
  /** A group subscription's partitions changed (every subscribed frame after the first). */
  rebalance: { partitions: number[]; assigned: number[]; revoked: number[] };
  /** The topic was deleted and created again: the subscription stopped instead of resuming (state "error", code topic_changed). */
  topic_changed: { previousTopicId: string; topicId: string };
  /** Events lost to damaged storage; the subscription goes on at nextOffset. */
  unreadable: { partition: number; from: number; nextOffset: number; error: RunnelError };
  /** An error; final: the subscription has ended (state "error"), otherwise it retries. */
  error: { error: RunnelError; final: boolean };
  /** The app unsubscribed. */
  unsubscribed: Record<string, never>;
}

/** What a Subscription needs from its client. */
export interface SubscriptionHost {
  send(frame: ClientFrame): boolean;
  connected(): boolean;
  removed(sub: { readonly id: string }): void;
  reportError(err: unknown): void;
  backoff: BackoffOptions;
}

/** How long a resumed subscription retries topic_not_found before it reports the topic gone, ms. */
const resumeGraceMs = 10_000;

/**
 * Subscription is one topic subscription of a Runnel client. It survives
 * reconnects: each time the socket opens again it resubscribes from the
 * offset after the last event it delivered per partition, drops any event
 * delivered before, and checks the topic id. Create it with
 * Runnel.subscribe.
 */
export class Subscription<T = unknown> extends Emitter<SubscriptionEvents<T>> {
  /** The topic. */
  readonly topic: string;
  /** The options it was made with. */
  readonly options: Readonly<SubscribeOptions>;
  /** The id on the socket ("s1", ...). */
  readonly id: string;
  private _state: SubscriptionState = "subscribing";
  private _topicId?: string;
  private _partitions: number[] = [];
  private readonly positions = new Positions();
  private readonly handler?: EventHandler<T>;
  private everSubscribed = false;
  private resumeTimer?: ReturnType<typeof setTimeout>;
  private attempt = 0;
  private probing = false;
  private commits: { resolve: (o: Record<string, number>) => void; reject: (e: RunnelError) => void }[] = [];
  private _error?: RunnelError;
  private notFoundSince?: number;

  /** @internal Made by Runnel.subscribe. */
  constructor(
    private readonly host: SubscriptionHost,
    id: string,
    topic: string,
    options: SubscribeOptions,
    handler?: EventHandler<T>,
  ) {
    super();
    this.id = id;
    this.topic = topic;
    this.options = { ...options };
    this.handler = handler;
    this._topicId = options.topicId;
    if (options.group !== undefined && options.partitions !== undefined) {
      throw new RunnelError("invalid_request", "partitions may not be given with group: the group assigns them", 400);
    }
  }

  /** The current state. */
  get state(): SubscriptionState {
    return this._state;
  }
  /** The topic's id, once subscribed (changes only when the topic is re-created, which ends the subscription). */
  get topicId(): string | undefined {
    return this._topicId;
  }
  /** The partitions read now. */
  get partitions(): readonly number[] {
    return this._partitions;
  }
  /** The error that ended the subscription, in state "error". */
  get error(): RunnelError | undefined {
    return this._error;
  }
  /** The next offset per partition: where the subscription resumes; save it with topicId to resume in a later session. */
  get offsets(): Record<string, number> {
    return this.positions.toOffsets();
  }

  /** Ends the subscription. */
  unsubscribe(): void {
    if (this._state === "unsubscribed" || this._state === "error") return;
    if (this.host.connected()) this.host.send({ type: "unsubscribe", id: this.id });
    this.finish("unsubscribed");
    this.emit("unsubscribed", {});
  }

  /**
   * commit commits offsets in the group (group subscriptions only): per
   * partition the next offset to read. Without offsets, the position after
   * the last delivered event of every partition held now. Resolves with the
   * committed offsets; rejects with a RunnelError (conflict: the partition
   * moved to another member or a rebalance is under way, commit again after
   * the next rebalance event).
   */
  commit(offsets?: Record<string, number>): Promise<Record<string, number>> {
    if (this.options.group === undefined) {
      return Promise.reject(new RunnelError("invalid_request", "only group subscriptions commit", 400));
    }
    const o = offsets ?? this.positions.toOffsets(this._partitions);
    if (Object.keys(o).length === 0) return Promise.resolve({});
    if (this._state !== "subscribed" || !this.host.send({ type: "commit", id: this.id, offsets: o })) {
      return Promise.reject(new RunnelError(Codes.disconnected, "not subscribed now: commit after the next subscribed event"));
    }
    return new Promise((resolve, reject) => this.commits.push({ resolve, reject }));
  }

  /** @internal The socket is open: (re)subscribe. */
  _open(): void {
    if (this._state !== "subscribing") return;
    clearTimeout(this.resumeTimer);
    this.resumeTimer = undefined;
    this.probing = false;
    const f: ClientFrame = { type: "subscribe", id: this.id, topic: this.topic };
    if (this.options.batch !== false) f.batch = true;
    if (this.options.group !== undefined) {
      f.group = this.options.group;
      if (this.options.from !== undefined) f.from = this.options.from;
    } else {
      if (this.options.partitions) f.partitions = this.options.partitions;
      if (!this.positions.empty) f.from = { offsets: this.positions.toOffsets() };
      else if (this.options.from !== undefined) f.from = this.options.from;
    }
    this.host.send(f);
  }

  /** @internal The socket closed: resubscribe when it opens again. */
  _closed(reason: string): void {
    this.failCommits(new RunnelError(Codes.disconnected, "the connection closed before the commit was answered"));
    if (this._state === "subscribed") {
      this.setState("subscribing");
      this.emit("subscribing", { reason });
    }
  }

  /** @internal */
  _onSubscribed(f: SubscribedFrame): void {
    if (f.id !== this.id) {
      // The answer to a topic id probe (see probe).
      this.host.send({ type: "unsubscribe", id: f.id });
      if (this.probing) this.probed(f.topic_id);
      return;
    }
    if (this._state === "unsubscribed" || this._state === "error") return;
    if (this._topicId !== undefined && f.topic_id !== this._topicId) {
      this.host.send({ type: "unsubscribe", id: this.id });
      this.topicChanged(f.topic_id);
      return;
    }
    this._topicId = f.topic_id;
    const wasSubscribed = this._state === "subscribed";
    const before = this._partitions;
    this._partitions = f.partitions.slice();
    if (f.offsets) this.positions.started(f.offsets);
    if (this.options.group !== undefined && wasSubscribed) {
      // A partition taken away may be read by another member, and its
      // offsets reset, before it comes back: its position no longer says
      // what this app has seen. After a reconnect positions are kept: the
      // events below them were delivered to this app.
      const revoked = before.filter((p) => !f.partitions.includes(p));
      this.positions.forget(revoked);
      this.emit("rebalance", { partitions: this._partitions, assigned: f.partitions.filter((p) => !before.includes(p)), revoked });
      return;
    }
    this.attempt = 0;
    this.notFoundSince = undefined;
    const resumed = this.everSubscribed;
    this.everSubscribed = true;
    this.setState("subscribed");
    this.emit("subscribed", { topicId: f.topic_id, partitions: this._partitions, offsets: f.offsets ?? {}, resumed });
  }

  /** @internal Hot path: one event frame. */
  _onEvent(e: RunnelEvent<T>): void {
    if (this._state !== "subscribed" || !this.positions.accept(e.partition, e.offset)) return;
    if (this.handler) {
      try {
        this.handler(e, this);
      } catch (err) {
        this.host.reportError(err);
      }
    }
    this.emit("event", e);
  }

  /** @internal Hot path: the events of an events frame, each as _onEvent takes it. */
  _onEvents(events: RunnelEvent<T>[]): void {
    for (const e of events) this._onEvent(e);
  }

  /** @internal */
  _onCommitted(f: CommittedFrame): void {
    this.commits.shift()?.resolve(f.offsets);
  }

  /** @internal An error frame with this subscription's id (or its probe's). */
  _onError(f: ErrorFrame): void {
    const err = errorFrom(f.code, f.message, undefined, errorDetails(f));
    if (f.id !== this.id) {
      // The probe failed: the topic is gone, or cannot be looked at now.
      if (this.probing) {
        this.probing = false;
        this.fail(err);
      }
      return;
    }
    if (this._state === "unsubscribed" || this._state === "error") return;
    if (f.code === "data_unreadable") {
      const partition = Number(f.partition), from = Number(f.unreadable_from), next = Number(f.next_offset);
      if (Number.isInteger(partition) && Number.isInteger(next)) this.positions.skip(partition, next);
      this.emit("unreadable", { partition, from, nextOffset: next, error: err });
      return;
    }
    if (f.op === "commit") {
      // A refused commit: the subscription goes on.
      this.commits.shift()?.reject(err);
      return;
    }
    if (f.op === "unsubscribe") return; // an unsubscribe the gateway did not know: nothing to end
    if (f.code === "offset_out_of_range" && this._state === "subscribing" && this._topicId !== undefined) {
      this.probe();
      return;
    }
    if (isTransient(f.code) || this.missingAfterRestart(f.code)) {
      this.retry(err);
      return;
    }
    this.fail(err);
  }

  /**
   * missingAfterRestart says whether a topic_not_found answer to a resume
   * should be retried: a gateway that has just started accepts sockets
   * before it knows every topic, so a topic this subscription has read is
   * given resumeGraceMs to show up before it is reported gone.
   */
  private missingAfterRestart(code: string): boolean {
    if (code !== "topic_not_found" || !this.everSubscribed) return false;
    const now = Date.now();
    this.notFoundSince ??= now;
    return now - this.notFoundSince < resumeGraceMs;
  }

  /**
   * probe learns the topic's id now with a short subscription from
   * "latest" on partition 0: a resume refused as out of range means either
   * a re-created topic (report topic_changed) or events lost to retention
   * (report the error).
   */
  private probe(): void {
    this.probing = true;
    this.host.send({ type: "subscribe", id: this.id + "~probe", topic: this.topic, from: "latest", partitions: [0] });
  }

  private probed(topicId: string): void {
    this.probing = false;
    if (this._state !== "subscribing") return;
    if (topicId !== this._topicId) {
      this.topicChanged(topicId);
      return;
    }
    this.fail(new RunnelError("offset_out_of_range",
      `events of ${this.topic} after the last one delivered were removed (retention) before they could be read; subscribe again`, 416, { offsets: this.offsets }));
  }

  private topicChanged(topicId: string): void {
    const previousTopicId = this._topicId!;
    this._topicId = topicId;
    const err = new RunnelError(Codes.topicChanged,
      `topic ${this.topic} was deleted and created again (id ${previousTopicId} is now ${topicId}); the saved offsets do not apply to it, subscribe again`,
      409, { previous_topic_id: previousTopicId, topic_id: topicId });
    this.finish("error", err);
    this.emit("topic_changed", { previousTopicId, topicId });
    this.emit("error", { error: err, final: true });
  }

  private retry(err: RunnelError): void {
    if (this._state === "subscribed") this.setState("subscribing");
    this.emit("error", { error: err, final: false });
    const delay = backoffDelay(this.attempt++, this.host.backoff);
    clearTimeout(this.resumeTimer);
    this.resumeTimer = setTimeout(() => {
      this.resumeTimer = undefined;
      if (this._state === "subscribing" && this.host.connected()) {
        this.emit("subscribing", { reason: "retry" });
        this._open();
      }
    }, delay);
  }

  private fail(err: RunnelError): void {
    this.finish("error", err);
    this.emit("error", { error: err, final: true });
  }

  private finish(state: "unsubscribed" | "error", err?: RunnelError): void {
    clearTimeout(this.resumeTimer);
    this._error = err;
    this.setState(state);
    this.failCommits(new RunnelError(Codes.disconnected, "the subscription ended before the commit was answered"));
    this.host.removed(this);
  }

  private failCommits(err: RunnelError): void {
    const cs = this.commits;
    this.commits = [];
    for (const c of cs) c.reject(err);
  }

  private setState(s: SubscriptionState): void {
    if (s === this._state) return;
    const oldState = this._state;
    this._state = s;
    this.emit("state", { oldState, newState: s });
  }

  protected override onListenerError(err: unknown): void {
    this.host.reportError(err);
  }
}
