package openapitest_test

import (
	"io"
	"strings"

	"github.com/runnel-dev/runnel/gateway/openapitest"
	"net/http"
	"testing"

	"github.com/runnel-dev/runnel/gateway/openapispec"
)

const topicJSON = `{"name":"orders","id":"5b0c7f6e-3f0e-4a8c-9d61-2f7c1f0e8a11",
	"partitions":[{"id":0,"leader":1,"replicas":[1],"isr":[1],"log_start_offset":0,"high_watermark":3}],
	"config":{"retention.ms":"1000"}}`

// TestConformingExchanges sends exchanges that follow the document, one per
// kind of route and media type, and expects no report.
func TestConformingExchanges(t *testing.T) {
	cases := []struct {
		name              string
		rep               reply
		method, path      string
		contentType, body string
		header            map[string]string
	}{
		{"create topic", jsonReply(201, topicJSON), "POST", "/v1/topics", "application/json",
			`{"name":"orders","partitions":1,"config":{"retention.ms":"1000"}}`, bearer},
		{"list topics", jsonReply(200, `{"topics":[`+topicJSON+`]}`), "GET", "/v1/topics", "", "", bearer},
		{"patch topic, reset a key", jsonReply(200, topicJSON), "PATCH", "/v1/topics/orders", "application/json",
			`{"config":{"retention.ms":null}}`, bearer},
		{"delete topic", reply{status: 204}, "DELETE", "/v1/topics/orders", "", "", bearer},
		{"produce one event", jsonReply(200, `{"results":[{"partition":0,"offset":7,"timestamp":1767225600000}]}`),
			"POST", "/v1/topics/orders/events?acks=1", "application/json",
			`{"key":"k","value":{"a":1},"headers":{"h":"v"}}`, bearer},
		{"produce a batch, acks=0", jsonReply(202, `{"results":[{"partition":0,"offset":-1,"timestamp":1},{"partition":1,"offset":-1,"timestamp":1}]}`),
			"POST", "/v1/topics/orders/events?acks=0", "application/json",
			`{"events":[{"value_b64":"3q2+7w=="},{"partition":1,"value":null}]}`, bearer},
		{"produce NDJSON", jsonReply(200, `{"results":[{"partition":0,"offset":1,"timestamp":1},{"partition":0,"offset":2,"timestamp":1}]}`),
			"POST", "/v1/topics/orders/events", "application/x-ndjson", "{\"value\":1}\n\n{\"value\":2}\n", bearer},
		{"fetch", jsonReply(200, `{"events":[{"partition":0,"offset":5,"timestamp":1,"key":null,"value_b64":"AA==","headers":{}},
			{"partition":0,"offset":6,"timestamp":1,"key_b64":"/w==","value":null,"headers":{"n":null},"headers_b64":{"b":"/w=="}}],
			"next_offset":7,"high_watermark":7,"log_start_offset":0}`),
			"GET", "/v1/topics/orders/partitions/0/events?offset=5&limit=10&wait_ms=100", "", "", bearer},
		{"fetch out of range", jsonReply(416, `{"error":{"code":"offset_out_of_range","message":"below the log start",
			"log_start_offset":10,"high_watermark":20}}`),
			"GET", "/v1/topics/orders/partitions/0/events?offset=5", "", "", bearer},
		{"offsets by time", jsonReply(200, `{"partitions":[{"partition":0,"earliest":0,"latest":9,"offset":-1}]}`),
			"GET", "/v1/topics/orders/offsets?timestamp=1767225600000", "", "", bearer},
		{"no leader", reply{status: 503, header: map[string]string{"Content-Type": "application/json", "Retry-After": "1"},
			body: `{"error":{"code":"unavailable","message":"no leader"}}`},
			"GET", "/v1/topics/orders/offsets", "", "", bearer},
		{"unauthenticated", jsonReply(401, `{"error":{"code":"unauthenticated","message":"no token"}}`),
			"GET", "/v1/topics", "", "", nil},
		{"bad body refused", jsonReply(400, `{"error":{"code":"invalid_request","message":"both value and value_b64"}}`),
			"POST", "/v1/topics/orders/events", "application/json", `{"value":1,"value_b64":"AA=="}`, bearer},
		{"healthz", reply{status: 200, header: map[string]string{"Content-Type": "text/plain; charset=utf-8"}, body: "ok\n"},
			"GET", "/healthz", "", "", nil},
		{"metrics", reply{status: 200, header: map[string]string{"Content-Type": "text/plain; version=0.0.4; charset=utf-8"}, body: "up 1\n"},
			"GET", "/metrics", "", "", nil},
		{"the document itself", reply{status: 200, header: map[string]string{"Content-Type": "application/yaml"}, body: string(openapispec.YAML())},
			"GET", "/openapi.yaml", "", "", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantNone(t, exchange(t, c.rep, c.method, c.path, c.contentType, c.body, c.header))
		})
	}
}

func TestWrongStatus(t *testing.T) {
	// createTopic documents 201, not 200.
	errs := exchange(t, jsonReply(http.StatusOK, topicJSON), "POST", "/v1/topics", "application/json", `{"name":"orders"}`, bearer)
	wantOne(t, errs, "POST /v1/topics → 200", "status is not supported")
}

func TestWrongBodyShape(t *testing.T) {
	t.Run("missing fields", func(t *testing.T) {
		errs := exchange(t, jsonReply(200, `{"name":"orders"}`), "GET", "/v1/topics/orders", "", "", bearer)
		wantOne(t, errs, "GET /v1/topics/orders → 200", "response body doesn't match schema")
	})
	t.Run("error body without code", func(t *testing.T) {
		errs := exchange(t, jsonReply(404, `{"error":"no such topic"}`), "GET", "/v1/topics/orders", "", "", bearer)
		wantOne(t, errs, "→ 404", "response body doesn't match schema")
	})
	t.Run("416 without offsets", func(t *testing.T) {
		errs := exchange(t, jsonReply(416, `{"error":{"code":"offset_out_of_range","message":"m"}}`),
			"GET", "/v1/topics/orders/partitions/0/events?offset=5", "", "", bearer)
		wantOne(t, errs, "→ 416", "log_start_offset")
	})
	t.Run("read event with value and value_b64", func(t *testing.T) {
		errs := exchange(t, jsonReply(200, `{"events":[{"partition":0,"offset":5,"timestamp":1,"key":null,"value":1,"value_b64":"AA==","headers":{}}],
			"next_offset":6,"high_watermark":6,"log_start_offset":0}`),
			"GET", "/v1/topics/orders/partitions/0/events?offset=5", "", "", bearer)
		wantOne(t, errs, "→ 200", "response body doesn't match schema")
	})
	t.Run("topic id not a uuid", func(t *testing.T) {
		errs := exchange(t, jsonReply(200, `{"name":"orders","id":"17","partitions":[],"config":{}}`),
			"GET", "/v1/topics/orders", "", "", bearer)
		wantOne(t, errs, "→ 200", `"uuid"`)
	})
	t.Run("read event without a value", func(t *testing.T) {
		errs := exchange(t, jsonReply(200, `{"events":[{"partition":0,"offset":5,"timestamp":1,"key":null,"headers":{}}],
			"next_offset":6,"high_watermark":6,"log_start_offset":0}`),
			"GET", "/v1/topics/orders/partitions/0/events?offset=5", "", "", bearer)
		wantOne(t, errs, "→ 200", "value")
	})
	t.Run("read event with key and key_b64", func(t *testing.T) {
		errs := exchange(t, jsonReply(200, `{"events":[{"partition":0,"offset":5,"timestamp":1,"key":"k","key_b64":"/w==","value":1,"headers":{}}],
			"next_offset":6,"high_watermark":6,"log_start_offset":0}`),
			"GET", "/v1/topics/orders/partitions/0/events?offset=5", "", "", bearer)
		wantOne(t, errs, "→ 200", "response body doesn't match schema")
	})
	t.Run("wrong media type", func(t *testing.T) {
		errs := exchange(t, reply{status: 200, header: map[string]string{"Content-Type": "text/plain"}, body: "ok"},
			"GET", "/v1/topics", "", "", bearer)
		wantOne(t, errs, "→ 200", "text/plain")
	})
}

func TestMissingHeader(t *testing.T) {
	errs := exchange(t, jsonReply(503, `{"error":{"code":"unavailable","message":"no leader"}}`),
		"GET", "/v1/topics", "", "", bearer)
	wantOne(t, errs, "→ 503", "Retry-After")
}

func TestUnknownRoute(t *testing.T) {
	t.Run("path", func(t *testing.T) {
		errs := exchange(t, jsonReply(404, `{"error":{"code":"not_found","message":"no route"}}`), "GET", "/v1/nope", "", "", bearer)
		wantOne(t, errs, "GET /v1/nope", "not a route of openapi.yaml")
	})
	t.Run("method", func(t *testing.T) {
		errs := exchange(t, reply{status: 405}, "PUT", "/v1/topics/orders", "", "", bearer)
		wantOne(t, errs, "PUT /v1/topics/orders", "not a route of openapi.yaml")
	})
}

// TestInvalidRequestAccepted: the server must refuse what the document
// rejects. Each request is answered with a success, which the Validator must
// report; the same request answered 400 must pass.
func TestInvalidRequestAccepted(t *testing.T) {
	produced := jsonReply(200, `{"results":[{"partition":0,"offset":1,"timestamp":1}]}`)
	fetched := jsonReply(200, `{"events":[],"next_offset":6,"high_watermark":6,"log_start_offset":0}`)
	created := jsonReply(201, topicJSON)
	patched := jsonReply(200, topicJSON)
	const events = "/v1/topics/orders/events"
	const fetch = "/v1/topics/orders/partitions/0/events"
	cases := []struct {
		name                            string
		ok                              reply
		method, path, contentType, body string
		header                          map[string]string
		mention                         string
	}{
		{"no credentials", produced, "POST", events, "application/json", `{"value":1}`, nil, "Authorization"},
		{"value and value_b64", produced, "POST", events, "application/json", `{"value":1,"value_b64":"AA=="}`, bearer, "request body"},
		{"bad base64", produced, "POST", events, "application/json", `{"value_b64":"not base64!"}`, bearer, "value_b64"},
		{"unknown event field", produced, "POST", events, "application/json", `{"value":1,"extra":2}`, bearer, "extra"},
		{"empty batch", produced, "POST", events, "application/json", `{"events":[]}`, bearer, "request body"},
		{"bad acks", produced, "POST", events + "?acks=2", "application/json", `{"value":1}`, bearer, "acks"},
		{"empty Idempotency-Key", produced, "POST", events, "application/json", `{"value":1}`,
			map[string]string{"Authorization": bearer["Authorization"], "Idempotency-Key": ""}, "Idempotency-Key"},
		{"bad topic name", produced, "POST", "/v1/topics/bad%20name/events", "application/json", `{"value":1}`, bearer, "topic"},
		{"bad NDJSON line", produced, "POST", events, "application/x-ndjson", "{\"value\":1}\n{oops\n", bearer, "line 2"},
		{"unknown media type", produced, "POST", events, "text/plain", "hello", bearer, "text/plain"},
		{"fetch from other than committed", fetched, "GET", fetch + "?group=g&from=latest", "", "", bearer, "from"},
		{"limit above 1000", fetched, "GET", fetch + "?offset=0&limit=5000", "", "", bearer, "limit"},
		{"wait_ms above 30000", fetched, "GET", fetch + "?offset=0&wait_ms=30001", "", "", bearer, "wait_ms"},
		{"unknown config key", created, "POST", "/v1/topics", "application/json", `{"name":"x","config":{"bogus":"1"}}`, bearer, "bogus"},
		{"config value not a string", created, "POST", "/v1/topics", "application/json", `{"name":"x","config":{"retention.ms":1000}}`, bearer, "retention.ms"},
		{"empty PATCH", patched, "PATCH", "/v1/topics/orders", "application/json", `{}`, bearer, "minProperties"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			errs := exchange(t, c.ok, c.method, c.path, c.contentType, c.body, c.header)
			wantOne(t, errs, "accepted a request openapi.yaml rejects", c.mention)

			refused := jsonReply(400, `{"error":{"code":"invalid_request","message":"no"}}`)
			if c.header == nil {
				refused = jsonReply(401, `{"error":{"code":"unauthenticated","message":"no token"}}`)
			}
			wantNone(t, exchange(t, refused, c.method, c.path, c.contentType, c.body, c.header))
		})
	}
}

// TestBodyWhereNoneDocumented uses a base transport rather than a server:
// Go's server drops the body of a 204 itself.
func TestBodyWhereNoneDocumented(t *testing.T) {
	rec := &recordingTB{TB: t}
	base := roundTripFunc(func(req *http.Request) (*http.Response, error) {
		return &http.Response{
			StatusCode: 204, Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(strings.NewReader(`{"deleted":true}`)), Request: req,
		}, nil
	})
	client := &http.Client{Transport: openapitest.Transport(rec, base)}
	req, _ := http.NewRequest("DELETE", "http://127.0.0.1:1/v1/topics/orders", nil)
	req.Header.Set("Authorization", bearer["Authorization"])
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("DELETE: %v", err)
	}
	resp.Body.Close()
	wantOne(t, rec.errors(), "→ 204", "documents no body")
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }
