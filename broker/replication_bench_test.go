package broker_test

import (
	"context"
	"crypto/rand"
	"slices"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/broker/brokertest"
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
		start := time.Now()
		for range replBenchRecords {
			cl.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
				if err != nil {
					b.Error(err)
				}
			})
		}
		if err := cl.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
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
	p99 := pacedP99(b, all, value, n/t3.Seconds()/2)
	b.ReportMetric(n/t1.Seconds(), "rf1-acks1-records/s")
	b.ReportMetric(n*1024/t1.Seconds()/1e6, "rf1-acks1-MB/s")
	b.ReportMetric(n/t3.Seconds(), "rf3-acksall-records/s")
	b.ReportMetric(n*1024/t3.Seconds()/1e6, "rf3-acksall-MB/s")
	b.ReportMetric(t1.Seconds()/t3.Seconds(), "rf3/rf1")
	b.ReportMetric(float64(p99.Microseconds())/1000, "rf3-acksall-p99-ms@half-rate")
}

// pacedP99 produces replBenchRecords records with cl at rate records/s, in
// steps of a millisecond, and returns the 99th percentile of the time from
// Produce to acknowledgement.
func pacedP99(b *testing.B, cl *kgo.Client, value []byte, rate float64) time.Duration {
	lat := make([]time.Duration, replBenchRecords)
	start := time.Now()
	for i := range replBenchRecords {
		if due := start.Add(time.Duration(float64(i) / rate * float64(time.Second))); time.Until(due) > time.Millisecond {
			time.Sleep(time.Until(due))
		}
		sent := time.Now()
		cl.Produce(context.Background(), &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
			if err != nil {
				b.Error(err)
			}
			lat[i] = time.Since(sent)
		})
	}
	if err := cl.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	slices.Sort(lat)
	return lat[len(lat)*99/100]
}
