package broker_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/runnel-dev/runnel/broker/kafkaserver"
	"github.com/runnel-dev/runnel/broker/recordbatch"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// BenchmarkHandleProduce measures the broker's produce handler alone, in
// process, with no socket and no protocol server: HandleBatch with
// produceBenchPipeline acks=1 requests of one uncompressed batch each to one
// partition, as a client pipelines them, and of one-record batches to four
// partitions each, as the gateway sends single events. What it costs is the checks of
// every batch, the producer and key checks, the append to the page cache
// and the answers. Every 256 calls the records go (DeleteRecords, untimed),
// so the log stays small. cpu-ns/op is the process's CPU time per call.
func BenchmarkHandleProduce(b *testing.B) {
	c := brokertest.Start(b, 1, brokertest.Options{})
	broker := c.Nodes[0].Broker
	run := 0
	for _, s := range []struct {
		name          string
		partitions, n int
		valLen        int
	}{{"16x1KB", 1, 16, 1000}, {"160x100B", 1, 160, 100}, {"4partitions/1x100B", 4, 1, 100}} {
		b.Run(s.name, func(b *testing.B) {
			run++ // b.Run calls this more than once: a fresh topic each time
			topic := fmt.Sprintf("handle-%d", run)
			c.CreateTopic(topic, int32(s.partitions), nil)
			var logs []*commitlog.Log
			for p := range s.partitions {
				l, ok := broker.Log(commitlog.TopicPartition{Topic: topic, Partition: int32(p)})
				if !ok {
					b.Fatal("no log")
				}
				logs = append(logs, l)
			}
			batch, err := recordbatch.Build(recordbatch.BuildOptions{}, textRecords(s.n, s.valLen))
			if err != nil {
				b.Fatal(err)
			}
			reqs := make([]*kafkaserver.Request, produceBenchPipeline)
			for i := range reqs {
				req := produceRequest(topic, bytes.Clone(batch))
				for p := 1; p < s.partitions; p++ {
					rp := kmsg.NewProduceRequestTopicPartition()
					rp.Partition, rp.Records = int32(p), bytes.Clone(batch)
					req.Topics[0].Partitions = append(req.Topics[0].Partitions, rp)
				}
				reqs[i] = &kafkaserver.Request{Key: int16(kmsg.Produce), Version: 9, Msg: req}
			}
			ctx := context.Background()
			b.SetBytes(int64(len(reqs) * s.partitions * len(batch)))
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := processCPU(b)
			for i := 0; i < b.N; i++ {
				for k, r := range broker.HandleBatch(ctx, reqs) {
					for _, p := range r.Response.Msg.(*kmsg.ProduceResponse).Topics[0].Partitions {
						if p.ErrorCode != 0 {
							b.Fatalf("request %d partition %d: %v", k, p.Partition, kerr.ErrorForCode(p.ErrorCode))
						}
					}
				}
				if i%256 == 255 {
					b.StopTimer()
					for _, l := range logs {
						if _, err := l.DeleteRecordsBefore(l.LogEndOffset()); err != nil {
							b.Fatalf("delete records: %v", err)
						}
					}
					b.StartTimer()
				}
			}
			// Process CPU (getrusage) is steadier than wall time on a
			// shared machine; the retention pauses count in it.
			b.ReportMetric(float64((processCPU(b)-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(b.N*len(reqs)*s.partitions*s.n)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
