package httpapi

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/gateway/auth"
	"github.com/runnel-dev/runnel/gateway/backend"
)

// brokerHarness is a harness over the real Backend and one in-process
// broker.
func brokerHarness(t *testing.T) *harness {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a broker")
	}
	cluster := brokertest.Start(t, 1, brokertest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	be, err := backend.New(ctx, backend.Config{Brokers: cluster.Addrs(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), MetadataMaxAge: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(be.Close)
	return newHarness(t, harnessOpts{backend: be})
}

// TestWithBrokers runs the API over the real Backend and in-process
// brokers, every exchange checked against openapi.yaml.
func TestWithBrokers(t *testing.T) {
	h := brokerHarness(t)
	admin := h.admin()
	tok := h.token(auth.MintOptions{Subject: "svc", Produce: []string{"orders"}, Consume: []string{"orders"}})

	wantStatus(t, h.do(req{method: "GET", path: "/readyz"}), 200)

	r := h.do(req{method: "POST", path: "/v1/topics", token: admin, body: `{"name":"orders","partitions":2,"config":{"retention.ms":"604800000"}}`})
	wantStatus(t, r, http.StatusCreated)
	var topic topicJSON
	r.decode(t, &topic)
	if len(topic.Partitions) != 2 || topic.Config["retention.ms"] != "604800000" {
		t.Fatalf("created %s", r.body)
	}
	wantError(t, h.do(req{method: "POST", path: "/v1/topics", token: admin, body: `{"name":"orders"}`}), 409, "topic_exists")
	wantError(t, h.do(req{method: "POST", path: "/v1/topics", token: admin, body: `{"name":"__transaction_state"}`}), 400, "invalid_request", "reserved")
	wantError(t, h.do(req{method: "POST", path: "/v1/topics", token: admin, body: `{"name":"__consumer.offsets"}`}), 400, "invalid_request", "internal topic")

	// Produce: a batch, NDJSON, and a retried Idempotency-Key.
	r = h.do(req{method: "POST", path: "/v1/topics/orders/events", token: tok, body: `{"events":[
		{"partition":0,"key":"k1","value":{"n":1},"headers":{"h":"v"},"timestamp":1767225600000},
		{"partition":0,"key":null,"value_b64":"3q2+7w=="},
		{"partition":0,"value":"text"}]}`})
	wantStatus(t, r, 200)
	var res produceResults
	r.decode(t, &res)
	if len(res.Results) != 3 || res.Results[0].Offset != 0 || res.Results[2].Offset != 2 || res.Results[0].Timestamp != 1767225600000 {
		t.Fatalf("produce: %s", r.body)
	}
	wantStatus(t, h.do(req{method: "POST", path: "/v1/topics/orders/events?acks=1", token: tok, contentType: "application/x-ndjson",
		body: "{\"partition\":1,\"value\":1}\n\n{\"partition\":1,\"value\":2}\n"}), 200)
	wantStatus(t, h.do(req{method: "POST", path: "/v1/topics/orders/events", token: tok, body: `{"partition":1,"value":3}`}), 200)
	wantStatus(t, h.do(req{method: "POST", path: "/v1/topics/orders/events?acks=0", token: tok, body: `{"partition":1,"value":4}`}), 202)
	wantError(t, h.do(req{method: "POST", path: "/v1/topics/orders/events", token: tok, body: `{"partition":5,"value":1}`}), 404, "partition_not_found")
	wantError(t, h.do(req{method: "POST", path: "/v1/topics/nope/events", token: admin, body: `{"value":1}`}), 404, "topic_not_found")
	// A timestamp further ahead than the topic's message.timestamp.after.max.ms
	// (an hour) is refused by the broker, with or without an Idempotency-Key,
	// and nothing is written.
	ahead := fmt.Sprintf(`{"partition":1,"value":1,"timestamp":%d}`, time.Now().Add(2*time.Hour).UnixMilli())
	wantError(t, h.do(req{method: "POST", path: "/v1/topics/orders/events", token: tok, body: ahead}), 400, "invalid_request", "timestamp")
	wantError(t, h.do(req{method: "POST", path: "/v1/topics/orders/events", token: tok, body: ahead, header: []string{"Idempotency-Key", "ahead"}}), 400, "invalid_request", "timestamp")

	// Fetch what was written.
	r = h.do(req{method: "GET", path: "/v1/topics/orders/partitions/0/events?offset=0", token: tok})
	wantStatus(t, r, 200)
	var fr fetchResult
	r.decode(t, &fr)
	if len(fr.Events) != 3 || fr.NextOffset != 3 || fr.HighWatermark != 3 {
		t.Fatalf("fetch: %s", r.body)
	}
	if *fr.Events[0].Key != "k1" || string(fr.Events[0].Value) != `{"n":1}` || fr.Events[0].Headers["h"] != "v" ||
		fr.Events[1].Key != nil || *fr.Events[1].ValueB64 != base64.StdEncoding.EncodeToString([]byte{0xde, 0xad, 0xbe, 0xef}) ||
		string(fr.Events[2].Value) != `"text"` {
		t.Fatalf("fetched events: %s", r.body)
	}
	// Partition 1 holds 1, 2, 3 once, and 4 (acks=0) eventually.
	var p1 fetchResult
	deadline := time.Now().Add(10 * time.Second)
	for {
		r = h.do(req{method: "GET", path: "/v1/topics/orders/partitions/1/events?offset=0&wait_ms=500", token: tok})
		p1 = fetchResult{}
		r.decode(t, &p1)
		if len(p1.Events) >= 4 || time.Now().After(deadline) {
			break
		}
	}
	var vals []string
	for _, e := range p1.Events {
		vals = append(vals, string(e.Value))
	}
	if strings.Join(vals, ",") != "1,2,3,4" {
		t.Fatalf("partition 1 values %v, want 1,2,3,4", vals)
	}
	e := wantError(t, h.do(req{method: "GET", path: "/v1/topics/orders/partitions/0/events?offset=99", token: tok}), 416, "offset_out_of_range")
	if e["high_watermark"] != float64(3) || e["log_start_offset"] != float64(0) {
		t.Fatalf("416 bounds %v", e)
	}
	wantError(t, h.do(req{method: "GET", path: "/v1/topics/orders/partitions/7/events?offset=0", token: tok}), 404, "partition_not_found")

	r = h.do(req{method: "GET", path: "/v1/topics/orders/offsets?timestamp=1767225600000", token: tok})
	wantStatus(t, r, 200)
	if !strings.Contains(string(r.body), `{"partition":0,"earliest":0,"latest":3,"offset":0}`) {
		t.Fatalf("offsets: %s", r.body)
	}
	// After every event: -1, no such event, as Kafka's ListOffsets answers.
	r = h.do(req{method: "GET", path: fmt.Sprintf("/v1/topics/orders/offsets?timestamp=%d", time.Now().Add(time.Hour).UnixMilli()), token: tok})
	wantStatus(t, r, 200)
	if !strings.Contains(string(r.body), `{"partition":0,"earliest":0,"latest":3,"offset":-1}`) {
		t.Fatalf("offsets for a future timestamp: %s, want offset -1", r.body)
	}

	// Admin: grow, refuse a decrease, change config, list, delete.
	r = h.do(req{method: "PATCH", path: "/v1/topics/orders", token: admin, body: `{"partitions":3,"config":{"retention.ms":"86400000"}}`})
	wantStatus(t, r, 200)
	topic = topicJSON{}
	r.decode(t, &topic)
	if len(topic.Partitions) != 3 || topic.Config["retention.ms"] != "86400000" {
		t.Fatalf("after PATCH: %s", r.body)
	}
	wantError(t, h.do(req{method: "PATCH", path: "/v1/topics/orders", token: admin, body: `{"partitions":2}`}), 409, "conflict")
	wantStatus(t, h.do(req{method: "PATCH", path: "/v1/topics/orders", token: admin, body: `{"partitions":3}`}), 200)
	r = h.do(req{method: "GET", path: "/v1/topics", token: admin})
	wantStatus(t, r, 200)
	if !strings.Contains(string(r.body), `"name":"orders"`) || strings.Contains(string(r.body), `"__`) {
		t.Fatalf("list: %s", r.body)
	}
	wantStatus(t, h.do(req{method: "DELETE", path: "/v1/topics/orders", token: admin}), 204)
	wantError(t, h.do(req{method: "GET", path: "/v1/topics/orders", token: admin}), 404, "topic_not_found")
}

func TestWithBrokersIdempotencyKey(t *testing.T) {
	h := brokerHarness(t)
	h.createTopic("orders", 1)
	alice := h.token(auth.MintOptions{Subject: "alice", Produce: []string{"orders"}, Consume: []string{"orders"}})
	bob := h.token(auth.MintOptions{Subject: "bob", Produce: []string{"orders"}})
	send := func(tok string) *response {
		return h.do(req{method: "POST", path: "/v1/topics/orders/events", token: tok, body: `{"value":"once"}`, header: []string{"Idempotency-Key", "op-1"}})
	}
	first := send(alice)
	wantStatus(t, first, 200)
	if again := send(alice); string(again.body) != string(first.body) {
		t.Fatalf("retry answered %s, first %s", again.body, first.body)
	}
	wantStatus(t, send(bob), 200)
	r := h.do(req{method: "GET", path: "/v1/topics/orders/partitions/0/events?offset=0", token: alice})
	var fr fetchResult
	r.decode(t, &fr)
	if len(fr.Events) != 2 {
		t.Fatalf("want alice's event once and bob's once: %s", r.body)
	}
}
