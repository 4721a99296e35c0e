package gateway

import (
	"context"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/gateway/loadgen"
)

// startBench starts one broker and one gateway in this process, creates
// topic with 4 partitions, and returns the load target with an admin token.
func startBench(b *testing.B, topic string) loadgen.Target {
	b.Helper()
	c := brokertest.Start(b, 1, brokertest.Options{})
	c.CreateTopic(topic, 4, nil)
	g := startGateway(b, c)
	return loadgen.Target{URL: g.URL(), Token: adminToken(b), Topic: topic}
}

// BenchmarkGatewayProduce measures HTTP produce through a gateway and a
// broker in this process, with the load tool in it too (the CPU figures
// are therefore the whole process's): acks=1, ~100-byte events, in
// 100-event and single-event requests. b.N is ignored; each run lasts
// five seconds.
func BenchmarkGatewayProduce(b *testing.B) {
	for _, tc := range []struct {
		name        string
		perRequest  int
		concurrency int
	}{{"100-event", 100, 32}, {"1-event", 1, 64}} {
		b.Run(tc.name, func(b *testing.B) {
			t := startBench(b, "bench")
			b.ResetTimer()
			r, err := loadgen.Produce(context.Background(), t, loadgen.ProduceOptions{
				EventsPerRequest: tc.perRequest, EventBytes: 100, Concurrency: tc.concurrency,
				Duration: 5 * time.Second, Acks: "1",
			})
			if err != nil {
				b.Fatal(err)
			}
			if r.Failures > 0 {
				b.Fatalf("%d requests failed: %s", r.Failures, r.FirstFailure)
			}
			b.ReportMetric(r.EventsPerSecond(), "events/s")
			b.ReportMetric(r.RequestsPerSecond(), "requests/s")
			b.ReportMetric(float64(r.ServerCPU.Microseconds())/float64(r.Events), "cpu-µs/event")
			b.ReportMetric(float64(r.Latency.P99.Microseconds())/1000, "p99-ms")
		})
	}
}

// BenchmarkGatewayLatency measures POST-to-WebSocket latency at 5,000
// single-event POSTs per second with 100 subscribers, gateway, broker and
// load tool in this process. b.N is ignored; each run publishes for five
// seconds.
func BenchmarkGatewayLatency(b *testing.B) {
	t := startBench(b, "bench")
	b.ResetTimer()
	r, err := loadgen.Latency(context.Background(), t, loadgen.LatencyOptions{
		Subscribers: 100, Rate: 5000, Duration: 5 * time.Second, Acks: "1",
	})
	if err != nil {
		b.Fatal(err)
	}
	if r.Lost > 0 || r.Duplicates > 0 {
		b.Fatalf("%d lost, %d duplicates", r.Lost, r.Duplicates)
	}
	b.Logf("%v (elapsed %v)", r, r.Elapsed)
	b.ReportMetric(float64(r.Latency.P50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(r.Latency.P99.Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(r.Received)/r.Elapsed.Seconds(), "delivered/s")
}
