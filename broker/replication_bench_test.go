package broker_test

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/internal/producebench"
	"github.com/twmb/franz-go/pkg/kgo"
)

// replBenchRecords is how many 1 KiB records each phase of an iteration of
// BenchmarkReplicatedProduce produces.
const replBenchRecords = 20000

// BenchmarkReplicatedProduce produces 1 KiB records with franz-go to three
// in-process brokers, alternating in each iteration between a topic with
// replication factor 1 (acks=1) and one with replication factor 3
// (acks=all, idempotent), and reports both throughputs and their ratio:
// the cost of waiting for two followers to fetch every batch.
func BenchmarkReplicatedProduce(b *testing.B) {
	c := brokertest.Start(b, 3, brokertest.Options{})
	c.CreateReplicatedTopic("bench-rf1", 1, 1, nil)
	c.CreateReplicatedTopic("bench-rf3", 1, 3, nil)
	one := c.Client(kgo.DefaultProduceTopic("bench-rf1"), kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite(),
		kgo.MaxBufferedRecords(2*replBenchRecords), kgo.ProducerLinger(0), kgo.ProducerBatchCompression(kgo.NoCompression()))
	all := c.Client(kgo.DefaultProduceTopic("bench-rf3"), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.MaxBufferedRecords(2*replBenchRecords), kgo.ProducerLinger(0), kgo.ProducerBatchCompression(kgo.NoCompression()))
	value := make([]byte, 1024)
	rand.Read(value) // incompressible, whatever a client would do
	ctx := context.Background()
	phase := func(cl *kgo.Client) time.Duration {
		took, err := producebench.Flood(ctx, cl, replBenchRecords, value)
		if err != nil {
			b.Fatal(err)
		}
		return took
	}
	phase(one) // warm up connections and metadata
	phase(all)
	var t1, t3 time.Duration
	b.ResetTimer()
	for range b.N {
		t1 += phase(one)
		t3 += phase(all)
	}
	b.StopTimer()
	n := float64(b.N * replBenchRecords)
	lat, err := producebench.Paced(ctx, all, replBenchRecords, value, n/t3.Seconds()/2)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(n/t1.Seconds(), "rf1-acks1-records/s")
	b.ReportMetric(n*1024/t1.Seconds()/1e6, "rf1-acks1-MB/s")
	b.ReportMetric(n/t3.Seconds(), "rf3-acksall-records/s")
	b.ReportMetric(n*1024/t3.Seconds()/1e6, "rf3-acksall-MB/s")
	b.ReportMetric(t1.Seconds()/t3.Seconds(), "rf3/rf1")
	b.ReportMetric(float64(lat.P50.Microseconds())/1000, "rf3-acksall-p50-ms@half-rate")
	b.ReportMetric(float64(lat.P99.Microseconds())/1000, "rf3-acksall-p99-ms@half-rate")
	b.ReportMetric(float64(lat.Max.Microseconds())/1000, "rf3-acksall-max-ms@half-rate")
}
