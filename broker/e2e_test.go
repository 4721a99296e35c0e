package broker_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestProduceConsumeFranzGo produces keyed records with headers through a real
// franz-go client (idempotent, the default) to an auto-created topic and
// consumes them back, in order per partition.
func TestProduceConsumeFranzGo(t *testing.T) {
	c := brokertest.Start(t, 1, brokertest.Options{AutoCreateTopics: true})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl := c.Client(kgo.DefaultProduceTopic("events"), kgo.AllowAutoTopicCreation())
	const n = 2000
	for i := 0; i < n; i++ {
		r := &kgo.Record{Key: []byte(fmt.Sprintf("k%d", i%10)), Value: []byte(fmt.Sprintf("v%d", i)),
			Headers: []kgo.RecordHeader{{Key: "i", Value: []byte(fmt.Sprint(i))}}}
		cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce: %v", err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	consumer := c.Client(kgo.ConsumeTopics("events"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := 0
	last := map[int32]int64{}
	for got < n {
		fs := consumer.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("poll: %v", err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if prev, ok := last[r.Partition]; ok && r.Offset != prev+1 {
				t.Fatalf("partition %d: offset %d after %d", r.Partition, r.Offset, prev)
			}
			last[r.Partition] = r.Offset
			got++
		})
	}
	if got != n {
		t.Fatalf("consumed %d, want %d", got, n)
	}
}

// TestFetchUsesSendfile fetches with a raw Fetch request and checks that the
// server's sendfile counter grew by exactly the record bytes returned: the
// batches went from the segment file to the socket without a user-space copy.
func TestFetchUsesSendfile(t *testing.T) {
	c := brokertest.StartBroker(t, brokertest.Options{AutoCreateTopics: true})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := c.Client(kgo.DefaultProduceTopic("zc"), kgo.AllowAutoTopicCreation())
	for i := 0; i < 500; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(fmt.Sprintf("value %d with some bytes", i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	srv := c.Server
	before := srv.SendfileBytes()
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID, req.MaxWaitMillis, req.MaxBytes = -1, 100, 1<<20
	ft := kmsg.NewFetchRequestTopic()
	topic, _ := c.Member.Image().Topic("zc")
	ft.Topic, ft.TopicID = "zc", topic.ID // the client picks the version: name or id
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.Partition, fp.FetchOffset, fp.PartitionMaxBytes, fp.CurrentLeaderEpoch = 0, 0, 1<<20, -1
	ft.Partitions = append(ft.Partitions, fp)
	req.Topics = append(req.Topics, ft)
	resp, err := req.RequestWith(ctx, c.Client())
	if err != nil {
		t.Fatal(err)
	}
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 || len(p.RecordBatches) == 0 {
		t.Fatalf("fetch: error %d, %d bytes", p.ErrorCode, len(p.RecordBatches))
	}
	if got := srv.SendfileBytes() - before; got != int64(len(p.RecordBatches)) {
		t.Fatalf("sendfile sent %d bytes, fetch returned %d", got, len(p.RecordBatches))
	}
	if p.HighWatermark != 500 {
		t.Fatalf("high watermark %d", p.HighWatermark)
	}
}

// TestProducerSnapshotOnRoll checks that a segment roll writes a producer
// state snapshot beside the segments.
func TestProducerSnapshotOnRoll(t *testing.T) {
	c := brokertest.Start(t, 1, brokertest.Options{})
	seg := "2000"
	c.CreateTopic("rolling", 1, map[string]*string{"segment.bytes": &seg})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := c.Client(kgo.DefaultProduceTopic("rolling")) // idempotent by default
	for i := 0; i < 50; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: make([]byte, 200)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	l, ok := c.Nodes[0].Broker.Log(commitlog.TopicPartition{Topic: "rolling", Partition: 0})
	if !ok {
		t.Fatal("no log")
	}
	snaps, _ := filepath.Glob(filepath.Join(l.Dir(), "*.snapshot"))
	if len(l.Segments()) < 3 || len(snaps) == 0 {
		t.Fatalf("%d segments, snapshots %v", len(l.Segments()), snaps)
	}
}
