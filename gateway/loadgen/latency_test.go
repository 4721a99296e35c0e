package loadgen

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestLatencyCountsEveryDelivery(t *testing.T) {
	for _, c := range clients {
		t.Run(string(c), func(t *testing.T) {
			g := startFakeGateway(t, "bench")
			r, err := Latency(context.Background(), g.target(), LatencyOptions{
				Subscribers: 2, Rate: 1000, Duration: 500 * time.Millisecond, InFlight: 4, Client: c, Drain: 10 * time.Second,
			})
			if err != nil {
				t.Fatal(err)
			}
			if r.Published != 500 || r.PublishFailures != 0 || g.posts.Load() != 500 {
				t.Fatalf("published %d (%d failed), the gateway saw %d; want 500", r.Published, r.PublishFailures, g.posts.Load())
			}
			if r.Expected != 1000 || r.Received != 1000 || r.Lost != 0 || r.Duplicates != 0 || r.Latency.Count != 1000 {
				t.Fatalf("report %v", r)
			}
			if r.PublishLag.Count != 500 {
				t.Fatalf("%d publish lags for 500 events", r.PublishLag.Count)
			}
			// The last event is due 499 ms after the first: pacing
			// never sends early.
			if r.Publishing < 499*time.Millisecond {
				t.Fatalf("500 events at 1000/s published in %v", r.Publishing)
			}
			if r.Latency.P50 <= 0 || r.Latency.Max < r.Latency.P99 {
				t.Fatalf("latency %v", r.Latency)
			}
		})
	}
}

func TestLatencyFindsLostAndDuplicatedEvents(t *testing.T) {
	g := startFakeGateway(t, "bench")
	g.deliver = func(seq int64) int {
		switch seq {
		case 7, 8:
			return 0
		case 20:
			return 2
		}
		return 1
	}
	r, err := Latency(context.Background(), g.target(), LatencyOptions{
		Subscribers: 3, Rate: 1000, Duration: 100 * time.Millisecond, Drain: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Published != 100 || r.Lost != 2*3 || r.Duplicates != 3 || r.Received != 3*(100-2+1) {
		t.Fatalf("want 100 published, 6 lost, 3 duplicates, 297 received: %v", r)
	}
}

func TestLatencyReportsRefusedPosts(t *testing.T) {
	g := startFakeGateway(t, "bench")
	g.status = http.StatusTooManyRequests
	r, err := Latency(context.Background(), g.target(), LatencyOptions{
		Subscribers: 1, Rate: 500, Duration: 100 * time.Millisecond, Drain: 100 * time.Millisecond, Client: NetHTTP,
	})
	if err != nil {
		t.Fatal(err)
	}
	// A refused POST is neither published nor lost.
	if r.Published != 0 || r.PublishFailures != 50 || r.Lost != 0 || !strings.Contains(r.FirstFailure, "HTTP 429") {
		t.Fatalf("want 50 failures (HTTP 429), nothing lost: %v", r)
	}
}

func TestLatencyRefusesAMissingTopic(t *testing.T) {
	g := startFakeGateway(t, "bench")
	target := g.target()
	target.Topic = "other"
	_, err := Latency(context.Background(), target, LatencyOptions{Subscribers: 1, Rate: 100, Duration: time.Second})
	if err == nil || !strings.Contains(err.Error(), "topic_not_found") {
		t.Fatalf("error %v", err)
	}
	if g.posts.Load() != 0 {
		t.Fatalf("%d events posted without a subscriber", g.posts.Load())
	}
}

func TestPacerReleasesEverySlotInOrderNeverEarly(t *testing.T) {
	p := &pacer{rate: 5000, total: 1000}
	out := make(chan slot)
	go p.run(context.Background(), out)
	next := 0
	for s := range out {
		if now := time.Now(); now.Before(s.due) {
			t.Fatalf("slot %d released %v before it was due", s.seq, s.due.Sub(now))
		}
		if s.seq != next {
			t.Fatalf("slot %d after %d", s.seq, next-1)
		}
		if want := p.start.Add(time.Duration(s.seq) * 200 * time.Microsecond); s.due.Sub(want).Abs() > time.Microsecond {
			t.Fatalf("slot %d due %v after start, want %v", s.seq, s.due.Sub(p.start), want.Sub(p.start))
		}
		next++
	}
	if next != 1000 {
		t.Fatalf("%d slots released of 1000", next)
	}
}

func TestPacerStopsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	p := &pacer{rate: 1000, total: 1 << 30}
	out := make(chan slot)
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.run(ctx, out)
	}()
	<-out
	<-out
	cancel()
	for range out {
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("pacer still running 10 s after its context ended")
	}
}

func TestPacerDueBy(t *testing.T) {
	p := &pacer{rate: 2000, total: 10}
	for _, tc := range []struct {
		elapsed time.Duration
		want    int
	}{{-time.Millisecond, 0}, {0, 1}, {499 * time.Microsecond, 1}, {500 * time.Microsecond, 2}, {2 * time.Millisecond, 5}, {time.Hour, 10}} {
		if got := p.dueBy(tc.elapsed); got != tc.want {
			t.Errorf("dueBy(%v) = %d, want %d", tc.elapsed, got, tc.want)
		}
	}
}
