/**
 * Admin calls: topics and consumer groups over REST. Every request and
 * answer type comes from openapi.yaml through openapi-typescript
 * (src/generated/openapi.ts), so that the SDK cannot drift from the
 * gateway's contract without failing to compile or failing the drift test.
 */
import type { components, operations } from "./generated/openapi.js";
import type { Http } from "./http.js";

type Schemas = components["schemas"];
/** The JSON body of operation Op's answer with status S. */
type Answer<Op extends keyof operations, S extends keyof operations[Op]["responses"]> = operations[Op]["responses"][S] extends {
  content: { "application/json": infer B };
}
  ? B
  : never;
/** The query of operation Op. */
type Query<Op extends keyof operations> = NonNullable<operations[Op]["parameters"]["query"]>;

export type Topic = Schemas["Topic"];
export type TopicCreate = Schemas["TopicCreate"];
export type TopicUpdate = Schemas["TopicUpdate"];
export type TopicPartition = Schemas["Partition"];
export type TopicOffsets = Answer<"getOffsets", 200>;
export type FetchResult = Answer<"fetchEvents", 200>;
export type FetchQuery = Query<"fetchEvents">;
export type GroupSummary = Schemas["GroupSummary"];
export type Group = Answer<"describeGroup", 200>;
export type GroupOffsetsRequest = Schemas["GroupOffsetsRequest"];
export type GroupOffsetsResult = Answer<"commitGroupOffsets", 200>;

const t = (name: string) => `/v1/topics/${encodeURIComponent(name)}`;
const g = (name: string) => `/v1/groups/${encodeURIComponent(name)}`;

/** Topic administration (needs the admin permission, except offsets and fetch, which need consume). */
export class TopicsAdmin {
  constructor(private readonly http: Http) {}

  /** Every topic. */
  async list(): Promise<Topic[]> {
    return (await this.http.request<Answer<"listTopics", 200>>({ method: "GET", path: "/v1/topics" })).body.topics;
  }

  /** One topic with its partitions (leader, replicas, ISR, log start, high watermark). */
  async get(name: string): Promise<Topic> {
    return (await this.http.request<Answer<"getTopic", 200>>({ method: "GET", path: t(name) })).body;
  }

  /** Creates a topic; 409 topic_exists when the name is taken. */
  async create(req: TopicCreate): Promise<Topic> {
    return (await this.http.request<Answer<"createTopic", 201>>({ method: "POST", path: "/v1/topics", body: req })).body;
  }

  /** Adds partitions and/or changes configs. */
  async update(name: string, req: TopicUpdate): Promise<Topic> {
    return (await this.http.request<Answer<"updateTopic", 200>>({ method: "PATCH", path: t(name), body: req })).body;
  }

  /** Deletes a topic. */
  async delete(name: string): Promise<void> {
    await this.http.request<void>({ method: "DELETE", path: t(name) });
  }

  /** Each partition's earliest and latest offsets, and with timestamp the first offset at or after it. */
  async offsets(name: string, query: Query<"getOffsets"> = {}): Promise<TopicOffsets> {
    return (await this.http.request<TopicOffsets>({ method: "GET", path: `${t(name)}/offsets`, query })).body;
  }

  /** Long-poll read of one partition. */
  async fetch(name: string, partition: number, query: FetchQuery): Promise<FetchResult> {
    return (await this.http.request<FetchResult>({ method: "GET", path: `${t(name)}/partitions/${partition}/events`, query })).body;
  }
}

/** Consumer groups (the same ones Kafka clients join). */
export class GroupsAdmin {
  constructor(private readonly http: Http) {}

  /** Every group. */
  async list(): Promise<GroupSummary[]> {
    return (await this.http.request<Answer<"listGroups", 200>>({ method: "GET", path: "/v1/groups" })).body.groups;
  }

  /** One group: members, assignments, committed offsets and lag. */
  async get(name: string): Promise<Group> {
    return (await this.http.request<Group>({ method: "GET", path: g(name) })).body;
  }

  /** Commits one offset or resets a topic's offsets (409 group_not_empty while it has members). */
  async setOffsets(name: string, req: GroupOffsetsRequest): Promise<GroupOffsetsResult> {
    return (await this.http.request<GroupOffsetsResult>({ method: "POST", path: `${g(name)}/offsets`, body: req })).body;
  }

  /** Deletes a group. */
  async delete(name: string): Promise<void> {
    await this.http.request<void>({ method: "DELETE", path: g(name) });
  }
}
