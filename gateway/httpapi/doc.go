// Package httpapi is the gateway's REST API (API.md; openapi.yaml is its
// machine-readable form): topic administration, produce, long-poll fetch,
// offsets, consumer groups, and the unauthenticated operations endpoints, served by fiber
// (fasthttp). It reaches the cluster only through the Backend interface.
//
// # Requests
//
// Every request passes one outer middleware that answers CORS, recovers
// panics, turns every error into the JSON error body of package apierr
// (fiber's own 404, 405, 413 and parse errors included: nothing is ever
// sent as fiber's default text), and records metrics and a log line per
// request labelled by route pattern. /v1 routes then authenticate the
// bearer token (401 with WWW-Authenticate), rate-limit by the token's
// subject (429 with Retry-After), check the permission (403), and validate
// their input (400) before the Backend is called. Permission is checked
// before the topic name is validated or looked up, so a caller without
// permission learns nothing about which topics exist.
//
// # Decisions
//
//   - Topic listing and describing need admin, like the rest of topic
//     management (openapi.yaml).
//   - Produce: unknown event fields are 400; "value" and "value_b64" together
//     are 400 even when one is null; an event with neither has a null value.
//     A body with more than Limits.MaxEventsPerRequest events is 413
//     payload_too_large, like a body over Limits.MaxBodyBytes. A missing
//     Content-Type is taken as application/json; any type other than
//     application/json and application/x-ndjson is 415.
//     The Idempotency-Key is scoped by the token's subject: the Backend sees
//     subject + "\x00" + key, so two clients cannot read each other's
//     answers by guessing keys.
//   - Fetch: "offset" is required (400 without it) unless "group" and
//     "from=committed" are given: reading then starts at the group's
//     committed offset, asked of its coordinator at each call, or at the log
//     start when it has none; reading never commits. "limit" (default 100)
//     and "wait_ms" (default 0) outside their ranges are 400, not clamped.
//   - Consumer groups (groups.go): listing, resets and deletion need admin;
//     describing needs admin or consume on every topic the group reads,
//     checked after the group is described (the topics are not known
//     before); committing an explicit offset needs consume on its topic, so
//     that a stateless HTTP consumer commits what it read. Commits and
//     resets of a group with live members, and its deletion, are 409
//     group_not_empty, as kafka-consumer-groups refuses them.
//   - Rate limits are per token subject; tokens without "sub" share one
//     bucket.
//   - A request to an unknown path is 404 not_found; a known path with a
//     method it does not serve (any method, even one HTTP does not define)
//     is 405 method_not_allowed with Allow. OPTIONS is answered on every
//     known path (204 with Allow, and the CORS headers for a preflight from
//     an allowed origin; 403 for a preflight from another origin).
//   - A body over the limit is refused (413) before authentication, as soon
//     as its Content-Length is read, and so is any body sent to a /v1 route
//     with a token that does not verify (401): neither is read (body.go).
//     The connection is then closed the way net/http closes it (linger.go),
//     so that the client reads the answer instead of a connection reset.
//   - Bodies are read by the handlers, after the checks the head allows,
//     into memory taken from a budget shared by all requests
//     (Limits.MaxBodyBytesInFlight; 503 when it stays spent for a second),
//     and must keep up a minimum rate (Limits.MinBodyRate after
//     Limits.BodyRateGrace; 408 otherwise). A request whose body is left
//     unread closes its connection after the answer.
//   - A body with a Content-Encoding other than identity is 415: fiber
//     would inflate it without bound.
//   - /readyz answers 503 unavailable with the failed check's reason; the
//     gateway's operators, not its users, read it.
//   - Metrics: runnel_gateway_http_requests_total{route,method,status},
//     runnel_gateway_http_request_duration_seconds{route,method} and
//     runnel_gateway_events_in_total. route is openapi.yaml's path
//     ("/v1/topics/{topic}"), "unmatched" for requests no route took and
//     "options" for OPTIONS; methods HTTP does not define count as "other".
//     runnel_gateway_http_body_bytes_in_flight,
//     runnel_gateway_http_body_budget_refusals_total and
//     runnel_gateway_http_slow_bodies_total watch request bodies.
//   - Verified tokens are cached by their text for at most a minute and
//     never past their expiry, so a busy client does not pay for a
//     signature check per request.
//
// # Memory
//
// The produce path reads the request body into a buffer of its own, which
// the Backend may keep for an asynchronous acks=0 write, and decodes events
// in place with package eventjson; the event slices are pooled, so a
// request of 100 events costs a handful of allocations. A body's buffer
// grows as the body arrives, so a slow sender holds no more than it sent.
// A connection holds a read buffer (ReadBufferSize, 24 KiB: a head with the
// largest token must fit) and, once it answered, a 4 KiB write buffer;
// fasthttp's ReduceMemoryUsage, which frees them while the connection is
// idle, is unsafe with streamed bodies in fasthttp 1.51 (server.go).
// 1,800 slow POSTs announcing 1 MiB each grow a gateway by about 30 MB
// (cmd/runnel TestGatewaySlowBodiesStayBounded).
package httpapi
