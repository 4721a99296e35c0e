package httpapi

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/gateway/auth"
)

type fetchResult struct {
	Events []struct {
		Partition int32             `json:"partition"`
		Offset    int64             `json:"offset"`
		Timestamp int64             `json:"timestamp"`
		Key       *string           `json:"key"`
		Value     json.RawMessage   `json:"value"`
		ValueB64  *string           `json:"value_b64"`
		Headers   map[string]string `json:"headers"`
	} `json:"events"`
	NextOffset     int64 `json:"next_offset"`
	HighWatermark  int64 `json:"high_watermark"`
	LogStartOffset int64 `json:"log_start_offset"`
}

func TestFetch(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.createTopic("orders", 2)
	tok := h.token(auth.MintOptions{Subject: "reader", Produce: []string{"orders"}, Consume: []string{"orders"}})
	r := h.do(req{method: "POST", path: "/v1/topics/orders/events", token: tok, body: `{"events":[
		{"partition":0,"key":"k","value":{"a":1},"headers":{"h":"v"},"timestamp":1767225600000},
		{"partition":0,"value_b64":"3q2+7w=="},
		{"partition":0,"value":"third"}]}`})
	wantStatus(t, r, http.StatusOK)

	r = h.do(req{method: "GET", path: "/v1/topics/orders/partitions/0/events?offset=0&limit=2", token: tok})
	wantStatus(t, r, http.StatusOK)
	var res fetchResult
	r.decode(t, &res)
	if len(res.Events) != 2 || res.NextOffset != 2 || res.HighWatermark != 3 || res.LogStartOffset != 0 {
		t.Fatalf("fetch %s", r.body)
	}
	e0, e1 := res.Events[0], res.Events[1]
	if e0.Offset != 0 || *e0.Key != "k" || string(e0.Value) != `{"a":1}` || e0.Headers["h"] != "v" || e0.Timestamp != 1767225600000 {
		t.Fatalf("event 0: %s", r.body)
	}
	if e1.Key != nil || e1.ValueB64 == nil || *e1.ValueB64 != "3q2+7w==" {
		t.Fatalf("event 1 (binary, no key): %s", r.body)
	}

	// Default limit, from the middle.
	r = h.do(req{method: "GET", path: "/v1/topics/orders/partitions/0/events?offset=2", token: tok})
	res = fetchResult{}
	r.decode(t, &res)
	if len(res.Events) != 1 || string(res.Events[0].Value) != `"third"` || res.NextOffset != 3 {
		t.Fatalf("fetch from 2: %s", r.body)
	}

	// At the high watermark without waiting: nothing, at once.
	r = h.do(req{method: "GET", path: "/v1/topics/orders/partitions/0/events?offset=3", token: tok})
	res = fetchResult{}
	r.decode(t, &res)
	if len(res.Events) != 0 || res.NextOffset != 3 || r.body[len(`{"events":`)] != '[' {
		t.Fatalf("fetch at the end: %s", r.body)
	}

	// A long poll wakes up for a new event.
	done := make(chan *response, 1)
	go func() {
		done <- h.do(req{method: "GET", path: "/v1/topics/orders/partitions/1/events?offset=0&wait_ms=10000", token: tok})
	}()
	// The poll may start after the produce; then it returns at once,
	// which is just as right.
	wantStatus(t, h.do(req{method: "POST", path: "/v1/topics/orders/events", token: tok, body: `{"partition":1,"value":42}`}), 200)
	select {
	case r = <-done:
	case <-time.After(8 * time.Second):
		t.Fatal("long poll did not wake up for the new event")
	}
	res = fetchResult{}
	r.decode(t, &res)
	if len(res.Events) != 1 || string(res.Events[0].Value) != "42" || res.Events[0].Partition != 1 {
		t.Fatalf("long poll: %s", r.body)
	}

	// A long poll that times out answers empty.
	start := time.Now()
	r = h.do(req{method: "GET", path: "/v1/topics/orders/partitions/1/events?offset=1&wait_ms=200", token: tok})
	res = fetchResult{}
	r.decode(t, &res)
	if len(res.Events) != 0 || time.Since(start) < 200*time.Millisecond {
		t.Fatalf("timed-out poll after %v: %s", time.Since(start), r.body)
	}
}

func TestFetchBadInput(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.createTopic("orders", 2)
	tok := h.token(auth.MintOptions{Subject: "reader", Produce: []string{"orders"}, Consume: []string{"orders"}})
	for range 5 {
		wantStatus(t, h.do(req{method: "POST", path: "/v1/topics/orders/events", token: tok, body: `{"partition":0,"value":1}`}), 200)
	}
	h.be.trim("orders", 0, 2)
	for _, tc := range []struct {
		name, path string
		status     int
		code       string
		mention    []string
	}{
		{"no offset", "/v1/topics/orders/partitions/0/events", 400, "invalid_request", []string{"offset: required"}},
		{"bad offset", "/v1/topics/orders/partitions/0/events?offset=-1", 400, "invalid_request", []string{"offset"}},
		{"offset not a number", "/v1/topics/orders/partitions/0/events?offset=abc", 400, "invalid_request", []string{`"abc"`}},
		{"limit zero", "/v1/topics/orders/partitions/0/events?offset=2&limit=0", 400, "invalid_request", []string{"limit", "1 to 1000"}},
		{"limit too big", "/v1/topics/orders/partitions/0/events?offset=2&limit=5000", 400, "invalid_request", []string{"limit"}},
		{"wait too long", "/v1/topics/orders/partitions/0/events?offset=2&wait_ms=30001", 400, "invalid_request", []string{"wait_ms", "30000"}},
		{"bad partition", "/v1/topics/orders/partitions/x/events?offset=0", 400, "invalid_request", []string{"partition"}},
		{"negative partition", "/v1/topics/orders/partitions/-1/events?offset=0", 400, "invalid_request", []string{"partition"}},
		{"bad topic name", "/v1/topics/a%24b/partitions/0/events?offset=0", 400, "invalid_request", []string{"topic name"}},
		{"unknown topic", "/v1/topics/nope/partitions/0/events?offset=0", 404, "topic_not_found", nil},
		{"partition out of range", "/v1/topics/orders/partitions/2/events?offset=0", 404, "partition_not_found", []string{"partition 2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := tok
			if tc.name == "unknown topic" || tc.name == "bad topic name" {
				// Permission comes first: only a token allowed on the
				// topic gets as far as its name and existence.
				tok = h.admin()
			}
			wantError(t, h.do(req{method: "GET", path: tc.path, token: tok}), tc.status, tc.code, tc.mention...)
		})
	}
	for _, off := range []string{"1", "6"} {
		e := wantError(t, h.do(req{method: "GET", path: "/v1/topics/orders/partitions/0/events?offset=" + off, token: tok}),
			http.StatusRequestedRangeNotSatisfiable, "offset_out_of_range")
		if e["log_start_offset"] != float64(2) || e["high_watermark"] != float64(5) {
			t.Fatalf("416 bounds: %v", e)
		}
	}
	// Without consume permission: 403, whatever the topic.
	wr := h.token(auth.MintOptions{Subject: "writer", Produce: []string{"orders"}})
	wantError(t, h.do(req{method: "GET", path: "/v1/topics/orders/partitions/0/events?offset=2", token: wr}), 403, "forbidden", "may not consume")
}

func TestOffsets(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.createTopic("orders", 2)
	tok := h.token(auth.MintOptions{Subject: "reader", Produce: []string{"orders"}, Consume: []string{"orders"}})
	wantStatus(t, h.do(req{method: "POST", path: "/v1/topics/orders/events", token: tok,
		body: `{"events":[{"partition":0,"timestamp":1000},{"partition":0,"timestamp":2000},{"partition":1,"timestamp":500}]}`}), 200)
	type offs struct {
		Partitions []struct {
			Partition int32  `json:"partition"`
			Earliest  int64  `json:"earliest"`
			Latest    int64  `json:"latest"`
			Offset    *int64 `json:"offset"`
		} `json:"partitions"`
	}
	r := h.do(req{method: "GET", path: "/v1/topics/orders/offsets", token: tok})
	wantStatus(t, r, 200)
	var o offs
	r.decode(t, &o)
	if len(o.Partitions) != 2 || o.Partitions[0].Partition != 0 || o.Partitions[0].Latest != 2 || o.Partitions[1].Latest != 1 || o.Partitions[0].Offset != nil {
		t.Fatalf("offsets: %s", r.body)
	}
	r = h.do(req{method: "GET", path: "/v1/topics/orders/offsets?timestamp=1500", token: tok})
	o = offs{}
	r.decode(t, &o)
	if *o.Partitions[0].Offset != 1 || *o.Partitions[1].Offset != -1 {
		t.Fatalf("offsets by time: %s", r.body)
	}
	wantError(t, h.do(req{method: "GET", path: "/v1/topics/orders/offsets?timestamp=yesterday", token: tok}), 400, "invalid_request", "timestamp")
	wantError(t, h.do(req{method: "GET", path: "/v1/topics/nope/offsets", token: h.admin()}), 404, "topic_not_found")
	wantError(t, h.do(req{method: "GET", path: "/v1/topics/a%21/offsets", token: h.admin()}), 400, "invalid_request", "topic name")
	wr := h.token(auth.MintOptions{Subject: "writer", Produce: []string{"orders"}})
	wantError(t, h.do(req{method: "GET", path: "/v1/topics/orders/offsets", token: wr}), 403, "forbidden")
}
