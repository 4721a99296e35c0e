package httpapi

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/runnel-dev/runnel/gateway/auth"
	"github.com/runnel-dev/runnel/gateway/backend"
	"github.com/runnel-dev/runnel/gateway/event"
)

type produceResults struct {
	Results []struct {
		Partition int32 `json:"partition"`
		Offset    int64 `json:"offset"`
		Timestamp int64 `json:"timestamp"`
	} `json:"results"`
}

func TestProduceForms(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.createTopic("orders", 3)
	tok := h.token(auth.MintOptions{Subject: "svc", Produce: []string{"ord*"}})

	// One event, every field.
	r := h.do(req{method: "POST", path: "/v1/topics/orders/events", token: tok,
		body: `{"key":"customer-17","value":{"order":1042,"total":99.5},"headers":{"source":"checkout"},"timestamp":1767225600000,"partition":2}`})
	wantStatus(t, r, http.StatusOK)
	var res produceResults
	r.decode(t, &res)
	if len(res.Results) != 1 || res.Results[0].Partition != 2 || res.Results[0].Offset != 0 || res.Results[0].Timestamp != 1767225600000 {
		t.Fatalf("results %+v", res)
	}
	got := h.be.topics["orders"].parts[2].records[0]
	if string(got.Key) != "customer-17" || string(got.Value) != `{"order":1042,"total":99.5}` ||
		len(got.Headers) != 1 || got.Headers[0].Key != "source" || string(got.Headers[0].Value) != "checkout" {
		t.Fatalf("stored %+v", got)
	}

	// A batch, in request order.
	r = h.do(req{method: "POST", path: "/v1/topics/orders/events?acks=1", token: tok,
		body: `{"events":[{"partition":1,"value":"a"},{"partition":1,"value_b64":"3q2+7w=="},{"partition":0}]}`})
	wantStatus(t, r, http.StatusOK)
	res = produceResults{}
	r.decode(t, &res)
	if len(res.Results) != 3 || res.Results[0].Offset != 0 || res.Results[1].Offset != 1 || res.Results[2].Partition != 0 {
		t.Fatalf("batch results %+v", res)
	}
	p1 := h.be.topics["orders"].parts[1].records
	if string(p1[0].Value) != `"a"` || !bytes.Equal(p1[1].Value, []byte{0xde, 0xad, 0xbe, 0xef}) || h.be.topics["orders"].parts[0].records[0].Value != nil {
		t.Fatalf("batch stored %+v", p1)
	}

	// NDJSON, blank lines skipped.
	r = h.do(req{method: "POST", path: "/v1/topics/orders/events?acks=all", token: tok, contentType: "application/x-ndjson",
		body: "{\"key\":\"a\",\"value\":1}\n\n{\"key\":\"b\",\"value\":2}\n"})
	wantStatus(t, r, http.StatusOK)
	res = produceResults{}
	r.decode(t, &res)
	if len(res.Results) != 2 {
		t.Fatalf("ndjson results %+v", res)
	}

	// acks=0 is 202, offsets -1.
	r = h.do(req{method: "POST", path: "/v1/topics/orders/events?acks=0", token: tok, body: `{"value":true}`})
	wantStatus(t, r, http.StatusAccepted)
	res = produceResults{}
	r.decode(t, &res)
	if len(res.Results) != 1 || res.Results[0].Offset != -1 {
		t.Fatalf("acks=0 results %+v", res)
	}
	if v := h.metricValue("runnel_gateway_events_in_total", nil); v != 7 {
		t.Fatalf("events in %v, want 7", v)
	}
	if v := h.metricValue("runnel_gateway_http_requests_total",
		map[string]string{"route": "/v1/topics/{topic}/events", "method": "POST", "status": "202"}); v != 1 {
		t.Fatalf("requests metric %v, want 1", v)
	}
}

func TestProduceIdempotencyKey(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.createTopic("orders", 1)
	alice := h.token(auth.MintOptions{Subject: "alice", Produce: []string{"orders"}})
	bob := h.token(auth.MintOptions{Subject: "bob", Produce: []string{"orders"}})
	send := func(tok, key string) *response {
		return h.do(req{method: "POST", path: "/v1/topics/orders/events", token: tok, body: `{"value":1}`, header: []string{"Idempotency-Key", key}})
	}
	first := send(alice, "order-1042")
	wantStatus(t, first, http.StatusOK)
	if h.be.lastIdem != "alice\x00order-1042" {
		t.Fatalf("backend got key %q; want it scoped by subject", h.be.lastIdem)
	}
	again := send(alice, "order-1042")
	if !bytes.Equal(first.body, again.body) || h.be.produced != 1 {
		t.Fatalf("retry: %s vs %s, %d events written", first.body, again.body, h.be.produced)
	}
	// Another subject with the same key is another request.
	other := send(bob, "order-1042")
	wantStatus(t, other, http.StatusOK)
	if h.be.produced != 2 {
		t.Fatalf("bob's request with alice's key was not written")
	}
	wantError(t, send(alice, strings.Repeat("k", 256)), 400, "invalid_request", "Idempotency-Key", "255")
	wantError(t, send(alice, "caf\u00e9"), 400, "invalid_request", "printable ASCII")
	wantError(t, h.do(req{method: "POST", path: "/v1/topics/orders/events", token: alice, body: `{"value":1}`,
		header: []string{"Idempotency-Key", "a", "Idempotency-Key", "b"}, raw: true}), 400, "invalid_request", "once")
}

func TestProduceBadInput(t *testing.T) {
	h := newHarness(t, harnessOpts{limits: Limits{MaxBodyBytes: 4096, MaxEventsPerRequest: 3}})
	h.createTopic("orders", 2)
	tok := h.token(auth.MintOptions{Subject: "svc", Produce: []string{"*"}})
	for _, tc := range []struct {
		name, path, body, contentType string
		status                        int
		code                          string
		mention                       []string
	}{
		{"invalid JSON", "/v1/topics/orders/events", "{\"events\":[\n{\"value\":1},\n{\"value\":}]}", "", 400, "invalid_json", []string{"line 3, column 10", "event 1"}},
		{"bad NDJSON line", "/v1/topics/orders/events", "{\"value\":1}\n{oops\n", "application/x-ndjson", 400, "invalid_json", []string{"line 2, column 2"}},
		{"unknown field", "/v1/topics/orders/events", `{"vaule":1}`, "", 400, "invalid_request", []string{`unknown field "vaule"`}},
		{"value and value_b64", "/v1/topics/orders/events", `{"value":1,"value_b64":"AA=="}`, "", 400, "invalid_request", []string{"not both"}},
		{"bad base64", "/v1/topics/orders/events", `{"value_b64":"%%%"}`, "", 400, "invalid_request", []string{"base64"}},
		{"empty batch", "/v1/topics/orders/events", `{"events":[]}`, "", 400, "invalid_request", []string{"empty"}},
		{"empty body", "/v1/topics/orders/events", ``, "application/json", 400, "invalid_json", []string{"empty"}},
		{"bad acks", "/v1/topics/orders/events?acks=2", `{"value":1}`, "", 400, "invalid_request", []string{"acks"}},
		{"bad media type", "/v1/topics/orders/events", `hello`, "text/plain", 415, "unsupported_media_type", []string{"text/plain"}},
		{"too many events", "/v1/topics/orders/events", `{"events":[{},{},{},{}]}`, "", 413, "payload_too_large", []string{"more than 3 events"}},
		{"bad topic name", "/v1/topics/bad%20name/events", `{"value":1}`, "", 400, "invalid_request", []string{"topic name"}},
		{"unknown topic", "/v1/topics/nope/events", `{"value":1}`, "", 404, "topic_not_found", []string{`"nope"`}},
		{"unknown partition", "/v1/topics/orders/events", `{"partition":7,"value":1}`, "", 404, "partition_not_found", []string{"partition 7"}},
		{"backend unavailable", "/v1/topics/unavailable/events", `{"value":1}`, "", 503, "unavailable", []string{"no leader"}},
		{"disk full", "/v1/topics/full/events", `{"value":1}`, "", 507, "insufficient_storage", []string{"partition 0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := h.do(req{method: "POST", path: tc.path, body: tc.body, contentType: tc.contentType, token: tok})
			e := wantError(t, r, tc.status, tc.code, tc.mention...)
			if tc.code == "invalid_json" && tc.body != "" {
				if e["line"] == nil || e["column"] == nil || e["offset"] == nil {
					t.Fatalf("invalid_json without line, column and offset: %v", e)
				}
			}
			if tc.status == 503 && r.header.Get("Retry-After") != "1" {
				t.Fatalf("503 Retry-After %q", r.header.Get("Retry-After"))
			}
			if tc.status == 507 && r.header.Get("Retry-After") != "5" {
				t.Fatalf("507 Retry-After %q", r.header.Get("Retry-After"))
			}
		})
	}

	// A body over MaxBodyBytes is refused as it arrives.
	big := `{"value":"` + strings.Repeat("x", 5000) + `"}`
	wantError(t, h.do(req{method: "POST", path: "/v1/topics/orders/events", token: tok, body: big}),
		http.StatusRequestEntityTooLarge, "payload_too_large", "4096 bytes")
	// Chunked, without Content-Length, too.
	hr, _ := http.NewRequest("POST", h.base+"/v1/topics/orders/events", struct{ *strings.Reader }{strings.NewReader(big)})
	hr.Header.Set("Authorization", "Bearer "+tok)
	hr.Header.Set("Content-Type", "application/json")
	resp, err := h.client.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("chunked oversize body: status %d", resp.StatusCode)
	}
	// The first is refused from its Content-Length before routing, the
	// chunked one by the route as it reads the body (beside "too many
	// events").
	if v := h.metricValue("runnel_gateway_http_requests_total", map[string]string{"route": routeUnmatched, "method": "POST", "status": "413"}); v != 1 {
		t.Fatalf("413s before routing counted %v, want 1", v)
	}
	if v := h.metricValue("runnel_gateway_http_requests_total", map[string]string{"route": "/v1/topics/{topic}/events", "method": "POST", "status": "413"}); v != 2 {
		t.Fatalf("413s of the produce route counted %v, want 2", v)
	}
}

func TestProducePermissions(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.createTopic("orders", 1)
	h.createTopic("chat.room1", 1)
	tok := h.token(auth.MintOptions{Subject: "svc", Produce: []string{"chat.*"}, Consume: []string{"orders"}})
	wantStatus(t, h.do(req{method: "POST", path: "/v1/topics/chat.room1/events", token: tok, body: `{"value":1}`}), http.StatusOK)
	wantError(t, h.do(req{method: "POST", path: "/v1/topics/orders/events", token: tok, body: `{"value":1}`}),
		http.StatusForbidden, "forbidden", `may not produce to topic "orders"`)
	// Without permission the topic's existence is not revealed, nor is the
	// body read.
	wantError(t, h.do(req{method: "POST", path: "/v1/topics/nope/events", token: tok, body: `{oops`}),
		http.StatusForbidden, "forbidden")
}

// TestProduceFailures: a Backend's plain error is a 500 that does not leak
// its cause; a panic is a 500 too, and the server keeps serving.
func TestProduceFailures(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	tok := h.token(auth.MintOptions{Subject: "svc", Produce: []string{"*"}})
	for _, topic := range []string{"boom", "panic"} {
		r := h.do(req{method: "POST", path: "/v1/topics/" + topic + "/events", token: tok, body: `{"value":1}`})
		wantError(t, r, http.StatusInternalServerError, "internal_error")
		if bytes.Contains(r.body, []byte("secret")) || bytes.Contains(r.body, []byte("panic")) {
			t.Fatalf("500 body leaks the cause: %s", r.body)
		}
	}
	logs := h.logs.String()
	if !strings.Contains(logs, "a secret detail") || !strings.Contains(logs, "fake backend asked to panic") {
		t.Fatalf("causes not logged: %s", logs)
	}
	h.createTopic("orders", 1)
	wantStatus(t, h.do(req{method: "POST", path: "/v1/topics/orders/events", token: tok, body: `{}`}), http.StatusOK)
}

// TestProduceBodyIsCopied: the events the Backend gets must not change
// when the connection's buffers are reused for the next request.
func TestProduceBodyIsCopied(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	keep := &keepingBackend{fakeBackend: h.be}
	h.srv.be = keep
	h.createTopic("orders", 1)
	tok := h.token(auth.MintOptions{Subject: "svc", Produce: []string{"*"}})
	for i := range 20 {
		v := strings.Repeat(string(rune('a'+i)), 50)
		wantStatus(t, h.do(req{method: "POST", path: "/v1/topics/orders/events", token: tok, body: `{"key":"` + v + `","value":"` + v + `"}`}), 200)
	}
	for i, ev := range keep.kept {
		v := strings.Repeat(string(rune('a'+i)), 50)
		if string(ev.Key) != v || string(ev.Value) != `"`+v+`"` {
			t.Fatalf("event %d changed after its request: %q %q", i, ev.Key, ev.Value)
		}
	}
}

// keepingBackend keeps the events it is given, as an asynchronous
// producer would.
type keepingBackend struct {
	*fakeBackend
	kept []event.Event
}

func (k *keepingBackend) Produce(ctx context.Context, topic string, acks backend.Acks, events []event.Event, idem string) ([]backend.Result, error) {
	k.kept = append(k.kept, events...)
	return k.fakeBackend.Produce(ctx, topic, acks, events, idem)
}
