/**
 * The WebSocket frames of /v1/ws (openapi.yaml's WsClientFrame and
 * WsServerFrame). parseServerFrame checks what the SDK relies on and turns
 * anything else into a RunnelError with code "bad_response", so that a
 * frame the SDK does not understand is reported, never half-used.
 */
import { Codes, RunnelError } from "./errors.js";

/** Where a subscription starts (openapi.yaml WsFrom). */
export type From = "earliest" | "latest" | number | { time: number } | { offsets: Record<string, number> };

/**
 * An event as delivered to a subscription (openapi.yaml WsEventFrame). T
 * is what the app says its JSON values are; the SDK does not check it.
 */
export interface RunnelEvent<T = unknown> {
  type: "event";
  /** The subscription's id on the socket. */
  id: string;
  topic: string;
  partition: number;
  offset: number;
  /** ms since the epoch. */
  timestamp: number;
  /** The key; null for none. Absent when key_b64 is present. */
  key?: string | null;
  /** The key when it is not valid UTF-8, base64. */
  key_b64?: string;
  /** The value when it is JSON; null for a tombstone. */
  value?: T;
  /** The value when it is not JSON, base64. */
  value_b64?: string;
  headers: Record<string, string | null>;
  /** Headers whose values are not valid UTF-8, base64. */
  headers_b64?: Record<string, string>;
}

/** `subscribed`: a subscription started, or a group's assignment changed. */
export interface SubscribedFrame {
  type: "subscribed";
  id: string;
  topic?: string;
  topic_id: string;
  group?: string;
  partitions: number[];
  /** Where each partition starts. */
  offsets?: Record<string, number>;
}

/**
 * `events`: several events of a subscription that asked for batching, in
 * order. parseServerFrame gives each item the type, id and topic of an
 * event frame, so they are RunnelEvents.
 */
export interface EventsFrame {
  type: "events";
  id: string;
  topic: string;
  events: RunnelEvent[];
}

/** `authenticated`: the gateway took the token of an auth frame. */
export interface AuthenticatedFrame {
  type: "authenticated";
  /** The token's exp, seconds since the epoch. */
  exp: number;
}

/** `error`: a frame or a subscription failed. */
export interface ErrorFrame {
  type: "error";
  id?: string;
  /** The type of the client frame this error answers; absent when it answers none (a subscription ended). */
  op?: string;
  code: string;
  message: string;
  [extra: string]: unknown;
}

/** `committed`: a commit frame's offsets are stored. */
export interface CommittedFrame {
  type: "committed";
  id: string;
  offsets: Record<string, number>;
}

/** Any frame the server sends. */
export type ServerFrame = SubscribedFrame | RunnelEvent | EventsFrame | ErrorFrame | CommittedFrame | AuthenticatedFrame;

/** Frames the client sends. */
export type ClientFrame =
  | { type: "auth"; token: string }
  | { type: "subscribe"; id: string; topic: string; from?: From; partitions?: number[]; group?: string; batch?: boolean }
  | { type: "unsubscribe"; id: string }
  | { type: "commit"; id: string; offsets: Record<string, number> };

function bad(why: string, data: string): RunnelError {
  return new RunnelError(Codes.badResponse, `unexpected frame from the gateway: ${why}: ${data.length > 200 ? data.slice(0, 200) + "..." : data}`);
}

const isInt = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v) && v >= 0;
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

function isOffsetMap(v: unknown): v is Record<string, number> {
  if (!isObj(v)) return false;
  for (const k in v) {
    if (!/^(0|[1-9][0-9]*)$/.test(k) || !isInt(v[k])) return false;
  }
  return true;
}

/**
 * parseServerFrame parses one text frame; it throws a RunnelError with code
 * "bad_response" for one that is not JSON or lacks a field the SDK uses.
 */
export function parseServerFrame(data: string): ServerFrame {
  let f: unknown;
  try {
    f = JSON.parse(data);
  } catch {
    throw bad("not JSON", data);
  }
  if (!isObj(f)) throw bad("not an object", data);
  switch (f.type) {
    case "event":
      if (typeof f.id !== "string" || !isInt(f.partition) || !isInt(f.offset) || typeof f.timestamp !== "number") {
        throw bad("an event needs id, partition, offset and timestamp", data);
      }
      return f as unknown as RunnelEvent;
    case "events": {
      const { id, topic, events } = f;
      if (typeof id !== "string" || typeof topic !== "string" || !Array.isArray(events) || events.length === 0) {
        throw bad("events needs id, topic and a non-empty events array", data);
      }
      for (const e of events) {
        if (!isObj(e) || !isInt(e.partition) || !isInt(e.offset) || typeof e.timestamp !== "number") {
          throw bad("each of events needs partition, offset and timestamp", data);
        }
      }
      for (const e of events) {
        e.type = "event";
        e.id = id;
        e.topic = topic;
      }
      return f as unknown as EventsFrame;
    }
    case "authenticated":
      if (typeof f.exp !== "number" || !Number.isInteger(f.exp)) throw bad("authenticated needs exp", data);
      return f as unknown as AuthenticatedFrame;
    case "subscribed":
      if (typeof f.id !== "string" || typeof f.topic_id !== "string" || !Array.isArray(f.partitions) || !f.partitions.every(isInt)) {
        throw bad("subscribed needs id, topic_id and partitions", data);
      }
      if (f.offsets !== undefined && !isOffsetMap(f.offsets)) throw bad("subscribed offsets must map partitions to offsets", data);
      return f as unknown as SubscribedFrame;
    case "error":
      if (typeof f.code !== "string" || typeof f.message !== "string" || (f.id !== undefined && typeof f.id !== "string") || (f.op !== undefined && typeof f.op !== "string")) {
        throw bad("an error needs code and message", data);
      }
      return f as unknown as ErrorFrame;
    case "committed":
      if (typeof f.id !== "string" || !isOffsetMap(f.offsets)) throw bad("committed needs id and offsets", data);
      return f as unknown as CommittedFrame;
  }
  throw bad(`unknown type ${JSON.stringify(f.type)}`, data);
}

/** errorDetails returns an error frame's fields beyond type, id, code and message. */
export function errorDetails(f: ErrorFrame): Record<string, unknown> {
  const d: Record<string, unknown> = {};
  for (const k in f) {
    if (k !== "type" && k !== "id" && k !== "op" && k !== "code" && k !== "message") d[k] = f[k];
  }
  return d;
}
