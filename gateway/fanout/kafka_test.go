package fanout

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/internal/testwait"
)

func TestKafkaSourceFanOut(t *testing.T) {
	c := brokertest.Start(t, 1, brokertest.Options{AutoCreateTopics: true})
	producer := c.Client(kgo.DefaultProduceTopic("t"), kgo.AllowAutoTopicCreation())
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	produce := func(from, to int) {
		t.Helper()
		var recs []*kgo.Record
		for i := from; i < to; i++ {
			recs = append(recs, &kgo.Record{
				Partition: 0,
				Key:       []byte("k"),
				Value:     fmt.Appendf(nil, "v%d", i),
				Headers:   []kgo.RecordHeader{{Key: "h", Value: []byte("x")}},
			})
		}
		if err := producer.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	produce(0, 100)

	src := NewKafkaSource(c.Client())
	src.MaxWait = 100 * time.Millisecond
	h := newTestHub(t, src, Options{MaxQueueEvents: 16, FetchMaxBytes: 2048})
	sinks := []*recSink{{}, {}, {}}
	starts := []int64{Earliest, 40, Latest}
	for i, s := range sinks {
		if _, err := h.Subscribe(ctx, "t", 0, starts[i], s); err != nil {
			t.Fatal(err)
		}
	}
	_, err := h.Subscribe(ctx, "t", 0, 10_000, &recSink{})
	var oor *OffsetOutOfRangeError
	if !errors.As(err, &oor) || oor.LogStartOffset != 0 || oor.HighWatermark != 100 {
		t.Fatalf("subscribe past the end: %v, want out of range [0, 100]", err)
	}

	for i := 100; i < 300; i += 50 {
		produce(i, i+50)
	}
	wantFrom := []int64{0, 40, 100}
	for i, s := range sinks {
		testwait.For(t, 30*time.Second, 10*time.Millisecond, func() error { return s.check(wantFrom[i], 300) })
	}

	b, err := src.Fetch(ctx, "t", 0, 299, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Events) != 1 || b.NextOffset != 300 || b.HighWatermark != 300 || b.LogStartOffset != 0 {
		t.Fatalf("fetch at 299: %d events, next %d, bounds [%d, %d]", len(b.Events), b.NextOffset, b.LogStartOffset, b.HighWatermark)
	}
	e := b.Events[0]
	if e.Offset != 299 || string(e.Key) != "k" || string(e.Value) != "v299" || e.Timestamp == 0 ||
		len(e.Headers) != 1 || e.Headers[0].Key != "h" || string(e.Headers[0].Value) != "x" {
		t.Fatalf("event %+v", e)
	}
}
