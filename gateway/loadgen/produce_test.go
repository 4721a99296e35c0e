package loadgen

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestProduceCountsEveryAnsweredRequest(t *testing.T) {
	for _, c := range clients {
		for _, perRequest := range []int{1, 10} {
			t.Run(string(c)+"/"+map[int]string{1: "single", 10: "batch"}[perRequest], func(t *testing.T) {
				g := startFakeGateway(t, "bench")
				r, err := Produce(context.Background(), g.target(), ProduceOptions{
					EventsPerRequest: perRequest, Concurrency: 4, Duration: 300 * time.Millisecond, Acks: "all", Client: c,
				})
				if err != nil {
					t.Fatal(err)
				}
				// A closed loop finishes the requests in flight when
				// the time is up: the gateway saw exactly the requests
				// the report counts.
				if r.Failures != 0 || r.FirstFailure != "" {
					t.Fatalf("%d failures: %s", r.Failures, r.FirstFailure)
				}
				if r.Requests == 0 || r.Requests != g.posts.Load() {
					t.Fatalf("report counts %d requests, the gateway answered %d", r.Requests, g.posts.Load())
				}
				if r.Events != r.Requests*int64(perRequest) {
					t.Fatalf("%d events in %d requests of %d", r.Events, r.Requests, perRequest)
				}
				// Keep-alive: each worker's connection carries its
				// requests. net/http may dial one more when a worker
				// asks before its last answer's connection is back in
				// the pool; a transport that keeps fewer idle
				// connections than workers dials dozens.
				if n := g.connections(); n > 2*4 {
					t.Fatalf("%d requests came over %d connections from 4 workers", r.Requests, n)
				}
				if r.Latency.Count != int(r.Requests) || r.Latency.P50 <= 0 || r.Latency.P99 < r.Latency.P50 {
					t.Fatalf("latency %v for %d requests", r.Latency, r.Requests)
				}
			})
		}
	}
}

func TestProduceReportsRefusals(t *testing.T) {
	for _, c := range clients {
		t.Run(string(c), func(t *testing.T) {
			g := startFakeGateway(t, "bench")
			g.status = http.StatusServiceUnavailable
			r, err := Produce(context.Background(), g.target(), ProduceOptions{
				EventsPerRequest: 1, Concurrency: 2, Duration: 200 * time.Millisecond, Client: c,
			})
			if err != nil {
				t.Fatal(err)
			}
			if r.Requests != 0 || r.Events != 0 || r.Failures == 0 || r.Failures != g.posts.Load() {
				t.Fatalf("report %d requests, %d failures; the gateway refused %d", r.Requests, r.Failures, g.posts.Load())
			}
			if !strings.Contains(r.FirstFailure, "HTTP 503") || !strings.Contains(r.FirstFailure, "refused by the test") {
				t.Fatalf("first failure %q does not give the status and the answer", r.FirstFailure)
			}
		})
	}
}

func TestProduceReportsAnUnreachableGateway(t *testing.T) {
	for _, c := range clients {
		t.Run(string(c), func(t *testing.T) {
			g := startFakeGateway(t, "bench")
			target := g.target()
			g.close()
			r, err := Produce(context.Background(), target, ProduceOptions{
				EventsPerRequest: 1, Concurrency: 2, Duration: 200 * time.Millisecond, Client: c,
			})
			if err != nil {
				t.Fatal(err)
			}
			if r.Requests != 0 || r.Failures == 0 || r.FirstFailure == "" {
				t.Fatalf("against a closed server: %v", r)
			}
			// Workers back off after a transport error instead of
			// spinning: 2 workers, 10 ms apart, over 200 ms.
			if r.Failures > 100 {
				t.Fatalf("%d failures in 200 ms from 2 workers: no back-off", r.Failures)
			}
		})
	}
}

func TestProduceRefusesBadOptions(t *testing.T) {
	g := startFakeGateway(t, "bench")
	for name, o := range map[string]ProduceOptions{
		"acks":   {Acks: "2"},
		"client": {Client: "curl"},
	} {
		if _, err := Produce(context.Background(), g.target(), o); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: error %v", name, err)
		}
	}
	if _, err := Produce(context.Background(), Target{URL: "ftp://x", Topic: "t"}, ProduceOptions{}); err == nil {
		t.Error("ftp URL accepted")
	}
	if g.posts.Load() != 0 {
		t.Errorf("%d requests sent with bad options", g.posts.Load())
	}
}

func TestParseClient(t *testing.T) {
	for _, s := range []string{"fasthttp", "nethttp"} {
		if c, err := ParseClient(s); err != nil || string(c) != s {
			t.Errorf("ParseClient(%q) = %q, %v", s, c, err)
		}
	}
	for _, s := range []string{"", "NetHTTP", "net/http"} {
		if _, err := ParseClient(s); err == nil {
			t.Errorf("ParseClient(%q) accepted", s)
		}
	}
}

// clients are the HTTP clients every produce test runs with.
var clients = []Client{FastHTTP, NetHTTP}
