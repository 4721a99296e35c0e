package backend

import (
	"testing"

	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkSourceReadOne reads one stored 100-byte event per operation,
// as a tail reader does per wake-up at a low rate: over the Kafka protocol
// (KafkaSource, loopback TCP) and in-process (LocalSource).
func BenchmarkSourceReadOne(b *testing.B) {
	c := brokertest.Start(b, 1, brokertest.Options{})
	c.CreateTopic("t", 1, nil)
	const n = 1000
	cl := c.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	value := make([]byte, 100)
	for range n {
		// One batch per event, as single-event produces write them.
		if err := cl.ProduceSync(b.Context(), &kgo.Record{Topic: "t", Value: value}).FirstErr(); err != nil {
			b.Fatal(err)
		}
	}
	fetchers := []*kgo.Client{c.Client(), c.Client()}
	kafka := NewKafkaSource(c.Client(), fetchers[0])
	kafka.SetStoredClients(fetchers[1])
	for _, bc := range []struct {
		name string
		src  Reader
	}{{"kafka", kafka}, {"local", NewLocalSource(c.Nodes[0].Broker, kafka)}} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := b.Context()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				batch, err := bc.src.FetchStored(ctx, "t", 0, int64(i%n), 150)
				if err != nil || len(batch.Records) != 1 {
					b.Fatalf("read at %d: %d events, %v", i%n, len(batch.Records), err)
				}
				i++
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
