package backend

import (
	"bytes"
	"testing"

	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/gateway/event"
)

// BenchmarkProduceOne produces single 100-byte events with acks=all from
// 16 goroutines, as a REST client's single-event POSTs do, in process and
// through franz-go; it reports events/s.
func BenchmarkProduceOne(b *testing.B) {
	c := brokertest.Start(b, 1, brokertest.Options{})
	c.CreateTopic("bench", 4, nil)
	for _, path := range producePaths(c) {
		b.Run(path.name, func(b *testing.B) {
			be := newBackend(b, c, path.mod)
			ev := []event.Event{{Partition: -1, Value: bytes.Repeat([]byte("x"), 100)}}
			if _, err := be.Produce(b.Context(), "bench", AcksAll, ev, ""); err != nil {
				b.Fatal(err)
			}
			b.SetParallelism(8) // 16 goroutines on 2 cores
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				evs := []event.Event{{Partition: -1, Value: ev[0].Value}}
				for pb.Next() {
					if _, err := be.Produce(b.Context(), "bench", AcksAll, evs, ""); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
