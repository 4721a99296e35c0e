package faultharness

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkFailover measures, on 3 broker processes, the time from a
// SIGKILL of a partition's leader to the first acks=all produce on that
// partition that succeeds, with the default session timeout. Each
// iteration kills the current leader, produces until a write is
// acknowledged, then restarts the killed broker and waits for the full
// ISR. It reports the mean and the worst in seconds.
//
//	go test -run '^$' -bench BenchmarkFailover -benchtime 5x ./internal/faultharness
func BenchmarkFailover(b *testing.B) {
	c := StartCluster(b, ClusterOptions{Brokers: 3})
	const topic = "failover"
	c.CreateTopic(topic, 1, 3, map[string]string{"min.insync.replicas": "2"})
	cl := c.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RetryBackoffFn(func(int) time.Duration { return 20 * time.Millisecond }))
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(b.N)*2*time.Minute+time.Minute)
	defer cancel()
	produce := func() error {
		return cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: 0, Value: []byte("x")}).FirstErr()
	}
	if err := produce(); err != nil {
		b.Fatal(err)
	}
	var took []time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		leader, err := c.Leader(ctx, topic, 0)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		c.Broker(leader).Kill()
		if err := produce(); err != nil {
			b.Fatalf("produce after killing leader %d: %v", leader, err)
		}
		took = append(took, time.Since(start))
		b.StopTimer()
		c.Restart(leader)
		if err := c.WaitInSync(topic, 1, 2*time.Minute); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.StopTimer()
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	var sum time.Duration
	for _, d := range took {
		sum += d
	}
	b.ReportMetric((sum / time.Duration(len(took))).Seconds(), "s/failover")
	b.ReportMetric(took[len(took)-1].Seconds(), "max-s/failover")
	b.ReportMetric(0, "ns/op")
}
