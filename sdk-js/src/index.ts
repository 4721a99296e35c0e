/**
 * @runnel/client: the TypeScript client of Runnel, for browsers and Node >= 20.
 *
 * - `new Runnel({ url, token | getToken, WebSocket? })`
 * - `client.publish(topic, event | events, options)` over REST, retried safely with an Idempotency-Key
 * - `client.subscribe(topic, { from, partitions, group, topicId }, handler)` over one WebSocket that
 *   reconnects with backoff and resumes every partition after its last delivered event
 * - `client.topics.*`, `client.groups.*`: admin calls typed from openapi.yaml
 */
export { Runnel } from "./client.js";
export type { ClientEvents, ClientState, RunnelOptions, WebSocketCtor, WebSocketLike } from "./client.js";
export { Subscription } from "./subscription.js";
export type { EventHandler, SubscribeOptions, SubscriptionEvents, SubscriptionState } from "./subscription.js";
export type { From, RunnelEvent, SubscribedFrame, EventsFrame, AuthenticatedFrame, ErrorFrame, CommittedFrame, ServerFrame, ClientFrame } from "./frames.js";
export { parseServerFrame } from "./frames.js";
export type { EventIn, PublishOptions, PublishResult } from "./publish.js";
export { newIdempotencyKey } from "./publish.js";
export type { GetToken } from "./auth.js";
export { TokenSource } from "./auth.js";
export { AuthError, Codes, ForbiddenError, RunnelError } from "./errors.js";
export { backoffDelay } from "./backoff.js";
export type { BackoffOptions } from "./backoff.js";
export { readToken, refreshDelay } from "./token.js";
export { Positions } from "./positions.js";
export { GroupsAdmin, TopicsAdmin } from "./admin.js";
export type {
  FetchQuery,
  FetchResult,
  Group,
  GroupOffsetsRequest,
  GroupOffsetsResult,
  GroupSummary,
  Topic,
  TopicCreate,
  TopicOffsets,
  TopicPartition,
  TopicUpdate,
} from "./admin.js";
export type { components, operations, paths } from "./generated/openapi.js";
