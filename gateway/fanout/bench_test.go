package fanout

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/gateway/event"
)

type countSink struct{ n atomic.Int64 }

func (s *countSink) Deliver(_ context.Context, events []event.Record) error {
	s.n.Add(int64(len(events)))
	return nil
}

// BenchmarkFanOut100 measures events delivered per second to 100
// subscribers of one partition, fed by a publisher appending as fast as it
// can. b.N is the number of events published.
func BenchmarkFanOut100(b *testing.B) {
	const subs = 100
	log := newMemLog()
	h, err := NewHub(log, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	sinks := make([]*countSink, subs)
	for i := range sinks {
		sinks[i] = &countSink{}
		if _, err := h.Subscribe(context.Background(), "t", 0, Latest, sinks[i]); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	start := time.Now()
	for sent := 0; sent < b.N; sent += 100 {
		log.append(min(100, b.N-sent))
	}
	for _, s := range sinks {
		for s.n.Load() < int64(b.N) {
			time.Sleep(100 * time.Microsecond)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)*subs/time.Since(start).Seconds(), "events/s")
}
