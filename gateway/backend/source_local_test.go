package backend

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/runnel-dev/runnel/broker"
	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/gateway/event"
	"github.com/runnel-dev/runnel/internal/testwait"
)

// runnel dev attaches its *broker.Broker as Config.Local.
var _ LocalFetcher = (*broker.Broker)(nil)

// countingBroker is a LocalFetcher that counts the in-process fetches of
// each partition.
type countingBroker struct {
	*broker.Broker
	fetches [4]atomic.Int64 // by partition
}

func (c *countingBroker) HandleLocal(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	if fr, ok := req.(*kmsg.FetchRequest); ok {
		c.fetches[fr.Topics[0].Partitions[0].Partition].Add(1)
	}
	return c.Broker.HandleLocal(ctx, req)
}

// deadKafkaSource is a KafkaSource whose client reaches no broker: a
// LocalSource over it can read only in-process.
func deadKafkaSource(t *testing.T) *KafkaSource {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:1"), kgo.RetryTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return NewKafkaSource(cl)
}

// produceValues writes the events "v<from>" to "v<to-1>" to partition of
// topic.
func produceValues(t *testing.T, cl *kgo.Client, topic string, partition int32, from, to int) {
	t.Helper()
	var recs []*kgo.Record
	for i := from; i < to; i++ {
		recs = append(recs, &kgo.Record{Topic: topic, Partition: partition, Key: []byte("k"), Value: fmt.Appendf(nil, "v%d", i),
			Headers: []kgo.RecordHeader{{Key: "h", Value: []byte("x")}}})
	}
	if err := cl.ProduceSync(testCtx(t), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// manualClient produces to the partitions it is told.
func manualClient(c *brokertest.Cluster) *kgo.Client {
	return c.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.AllowAutoTopicCreation())
}

// TestLocalSourceFanOut: a hub over a LocalSource whose KafkaSource reaches
// no broker gives subscribers starting at the log start, in the middle and
// at the end every event from there on exactly once, in order, read with
// in-process fetches; a long poll at the high watermark wakes for a new
// event and ends empty after its wait.
func TestLocalSourceFanOut(t *testing.T) {
	c := brokertest.Start(t, 1, brokertest.Options{AutoCreateTopics: true})
	producer := manualClient(c)
	produceValues(t, producer, "t", 0, 0, 100)
	ctx := testCtx(t)

	local := &countingBroker{Broker: c.Nodes[0].Broker}
	kafka := deadKafkaSource(t)
	kafka.MaxWait = 5 * time.Second
	src := NewLocalSource(local, kafka)
	checkFanOut(t, src, func(from, to int) { produceValues(t, producer, "t", 0, from, to) })
	if local.fetches[0].Load() == 0 {
		t.Fatal("no in-process fetch")
	}

	// A long poll at the high watermark ends with the next event.
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(50 * time.Millisecond)
		produceValues(t, producer, "t", 0, 300, 301)
	}()
	b, err := src.Fetch(ctx, "t", 0, 300, 1<<20)
	<-done
	if err != nil || len(b.Records) != 1 || string(b.Records[0].Value) != "v300" {
		t.Fatalf("long poll at 300: %+v, %v; want the event v300", b.Records, err)
	}
	// One that sees nothing ends empty after its own wait.
	b, err = src.FetchWait(ctx, "t", 0, 301, 1<<20, 20*time.Millisecond)
	if err != nil || len(b.Records) != 0 || b.NextOffset != 301 || b.HighWatermark != 301 {
		t.Fatalf("long poll at 301: %d events, next %d, high watermark %d, %v; want none at 301", len(b.Records), b.NextOffset, b.HighWatermark, err)
	}
	// A stored read never waits.
	start := time.Now()
	if b, err = src.FetchStored(ctx, "t", 0, 301, 1<<20); err != nil || len(b.Records) != 0 {
		t.Fatalf("stored read at the high watermark: %d events, %v", len(b.Records), err)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Fatalf("a stored read at the high watermark took %v: it waited", d)
	}
}

// TestLocalSourceErrors: an in-process read fails as a KafkaSource's does:
// out of range with both bounds past the end and below a log start moved
// by DeleteRecords (Bounds tells the new start too), a deleted topic is an
// *event.TopicGoneError, and a topic created again under the name reads
// with its new topic ID.
func TestLocalSourceErrors(t *testing.T) {
	c := brokertest.Start(t, 1, brokertest.Options{})
	c.CreateTopic("t", 1, nil)
	producer := manualClient(c)
	produceValues(t, producer, "t", 0, 0, 100)
	ctx := testCtx(t)
	local := &countingBroker{Broker: c.Nodes[0].Broker}
	src := NewLocalSource(local, NewKafkaSource(c.Client()))

	_, err := src.Fetch(ctx, "t", 0, 10_000, 1<<20)
	var oor *event.OffsetOutOfRangeError
	if !errors.As(err, &oor) || oor.Offset != 10_000 || oor.LogStartOffset != 0 || oor.HighWatermark != 100 {
		t.Fatalf("fetch past the end: %v, want out of range [0, 100]", err)
	}
	adm := kadm.NewClient(c.Client())
	os := kadm.Offsets{}
	os.Add(kadm.Offset{Topic: "t", Partition: 0, At: 50})
	if _, err := adm.DeleteRecords(ctx, os); err != nil {
		t.Fatal(err)
	}
	_, err = src.Fetch(ctx, "t", 0, 10, 1<<20)
	if !errors.As(err, &oor) || oor.Offset != 10 || oor.LogStartOffset != 50 || oor.HighWatermark != 100 {
		t.Fatalf("fetch below the log start: %v, want out of range [50, 100]", err)
	}
	if start, hwm, err := src.Bounds(ctx, "t", 0); err != nil || start != 50 || hwm != 100 {
		t.Fatalf("bounds: [%d, %d], %v; want [50, 100]", start, hwm, err)
	}
	old, err := src.Fetch(ctx, "t", 0, 50, 1<<20)
	if err != nil || len(old.Records) != 50 || string(old.Records[0].Value) != "v50" {
		t.Fatalf("fetch at the new log start: %d events, %v", len(old.Records), err)
	}
	if n := local.fetches[0].Load(); n != 3 {
		t.Fatalf("%d in-process fetches, want 3", n)
	}

	if _, err := adm.DeleteTopic(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 30*time.Second, 20*time.Millisecond, func() error {
		_, err := src.Fetch(ctx, "t", 0, 50, 1<<20)
		if !errors.Is(err, event.ErrTopicGone) {
			return fmt.Errorf("fetch of a deleted topic: %v, want topic gone", err)
		}
		return nil
	})

	c.CreateTopic("t", 1, nil)
	produceValues(t, manualClient(c), "t", 0, 0, 3) // a client that never knew the old topic
	b, err := src.Fetch(ctx, "t", 0, 0, 1<<20)
	if err != nil || len(b.Records) != 3 {
		t.Fatalf("fetch of the topic created again: %d events, %v", len(b.Records), err)
	}
	if b.TopicID == old.TopicID || b.TopicID == ([16]byte{}) {
		t.Fatalf("the topic created again reads with topic ID %x, the old one had %x", b.TopicID, old.TopicID)
	}
}

// TestLocalSourceDelegatesOtherLeaders: a partition another broker leads
// is read through the KafkaSource, one the local broker leads in-process.
func TestLocalSourceDelegatesOtherLeaders(t *testing.T) {
	c := brokertest.Start(t, 2, brokertest.Options{})
	c.CreateTopic("t", 4, nil)
	producer := manualClient(c)
	for p := range int32(4) {
		produceValues(t, producer, "t", p, 0, 10)
	}
	ctx := testCtx(t)
	local := &countingBroker{Broker: c.Nodes[0].Broker}
	src := NewLocalSource(local, NewKafkaSource(c.Client()))
	mine := 0
	for p := range int32(4) {
		_, leads, known := local.LocalPartition("t", p)
		if !known {
			t.Fatalf("partition %d unknown to broker 1", p)
		}
		if start, hwm, err := src.Bounds(ctx, "t", p); err != nil || start != 0 || hwm != 10 {
			t.Fatalf("bounds of %d: [%d, %d], %v", p, start, hwm, err)
		}
		b, err := src.Fetch(ctx, "t", p, 0, 1<<20)
		if err != nil || len(b.Records) != 10 || string(b.Records[9].Value) != "v9" {
			t.Fatalf("fetch of %d: %d events, %v", p, len(b.Records), err)
		}
		if b, err := src.FetchStored(ctx, "t", p, 5, 1<<20); err != nil || len(b.Records) != 5 || string(b.Records[0].Value) != "v5" {
			t.Fatalf("stored read of %d from 5: %d events, %v", p, len(b.Records), err)
		}
		if n := local.fetches[p].Load(); (n > 0) != leads {
			t.Fatalf("partition %d (led here: %v): %d in-process fetches", p, leads, n)
		}
		if leads {
			mine++
		}
	}
	if mine == 0 || mine == 4 {
		t.Fatalf("broker 1 leads %d of 4 partitions; the test needs both kinds", mine)
	}
}

// TestBackendReadsThroughLocalBroker: a Backend given a LocalFetcher as
// Config.Local serves Fetch and its Source from it in-process.
func TestBackendReadsThroughLocalBroker(t *testing.T) {
	c := brokertest.Start(t, 1, brokertest.Options{})
	c.CreateTopic("t", 1, nil)
	produceValues(t, manualClient(c), "t", 0, 0, 10)
	local := &countingBroker{Broker: c.Nodes[0].Broker}
	b := newBackend(t, c, func(cfg *Config) { cfg.Local = local })
	if _, ok := b.Source().(*LocalSource); !ok {
		t.Fatalf("Source is a %T, want a *LocalSource", b.Source())
	}
	got := readAll(t, b, "t", 0, 3)
	if len(got) != 7 || string(got[0].Value) != "v3" || string(got[6].Value) != "v9" {
		t.Fatalf("read %d events from 3, want v3 to v9", len(got))
	}
	if local.fetches[0].Load() == 0 {
		t.Fatal("Backend.Fetch made no in-process fetch")
	}
	if _, ok := newBackend(t, c).Source().(*KafkaSource); !ok {
		t.Fatal("a Backend without Config.Local does not read through its KafkaSource")
	}
}
