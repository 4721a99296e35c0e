package broker_test

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/runnel-dev/runnel/broker"
	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/runnel-dev/runnel/tiering"
	"github.com/runnel-dev/runnel/tiering/tiertest"
)

// BenchmarkTieredConsume consumes one partition of 64 MiB of 1 KiB records
// from the start with franz-go three times in one run: all segments local,
// then with all but the last two in a directory store and gone from the
// broker's disk, through a cold chunk cache, then again through the warm
// cache. It reports each in MB/s of record values, and warm/local. Run it
// with -benchtime 1x -count 3 and take the medians.
func BenchmarkTieredConsume(b *testing.B) {
	const total = 64 << 20
	if la, err := os.ReadFile("/proc/loadavg"); err == nil {
		b.Logf("load average: %s", strings.TrimSpace(string(la)))
	}
	for b.Loop() {
		store, err := tiering.OpenDir(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		c := brokertest.Start(b, 1, brokertest.Options{Tier: broker.TierConfig{Store: store, Prefix: "bench"}})
		segmentBytes := "4194304"
		c.CreateTopic("bench", 1, map[string]*string{"segment.bytes": &segmentBytes})
		value := bytes.Repeat([]byte("0123456789abcdef"), 64)
		pcl := c.Client(kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerBatchMaxBytes(1<<20))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		for i := 0; i < total/len(value); i += 1000 {
			rs := make([]*kgo.Record, 1000)
			for j := range rs {
				rs[j] = &kgo.Record{Topic: "bench", Value: value}
			}
			if err := pcl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
				b.Fatal(err)
			}
		}
		pcl.Close()
		l, ok := c.Nodes[0].Broker.Log(commitlog.TopicPartition{Topic: "bench", Partition: 0})
		if !ok {
			b.Fatal("no local log")
		}
		end := l.HighWatermark()
		local := consumeMBps(ctx, b, c, end)
		member := c.Nodes[0].Member
		mt, _ := member.Image().Topic("bench")
		tiertest.TierLog(b, store, "bench", member, l, mt.ID, 0, mt.Partitions[0].LeaderEpoch, 2)
		cold := consumeMBps(ctx, b, c, end)
		warm := consumeMBps(ctx, b, c, end)
		cancel()
		b.ReportMetric(local, "local-MB/s")
		b.ReportMetric(cold, "cold-MB/s")
		b.ReportMetric(warm, "warm-MB/s")
		b.ReportMetric(warm/local, "warm/local")
		c.Close()
	}
}

// consumeMBps reads partition 0 of "bench" from the start to end with a new
// client and returns the rate of record value bytes.
func consumeMBps(ctx context.Context, b *testing.B, c *brokertest.Cluster, end int64) float64 {
	cl := c.Client(kgo.ConsumeTopics("bench"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	defer cl.Close()
	var n int64
	next := int64(0)
	t0 := time.Now()
	for next < end {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			b.Fatal(err)
		}
		fs.EachError(func(_ string, _ int32, err error) { b.Fatal(err) })
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset != next {
				b.Fatalf("offset %d, want %d", r.Offset, next)
			}
			n += int64(len(r.Value))
			next++
		})
	}
	return float64(n) / 1e6 / time.Since(t0).Seconds()
}
