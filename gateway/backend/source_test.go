package backend

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/gateway/event"
	"github.com/runnel-dev/runnel/gateway/fanout"
	"github.com/runnel-dev/runnel/internal/testwait"
)

// recordSink is a fanout.Sink that keeps what it is delivered.
type recordSink struct {
	mu   sync.Mutex
	recs []event.Record
}

func (s *recordSink) Deliver(_ context.Context, recs []event.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recs = append(s.recs, recs...)
	return nil
}

// check says whether the sink got exactly the offsets [from, to), in order,
// each holding the value "v<offset>".
func (s *recordSink) check(from, to int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	want := make([]string, 0, to-from)
	for off := from; off < to; off++ {
		want = append(want, fmt.Sprintf("%d=v%d", off, off))
	}
	got := make([]string, len(s.recs))
	for i, r := range s.recs {
		got[i] = fmt.Sprintf("%d=%s", r.Offset, r.Value)
	}
	if !slices.Equal(got, want) {
		return fmt.Errorf("got %d events (offset=value) %.200v, want offsets %d to %d: %.200v", len(got), got, from, to, want)
	}
	return nil
}

// checkFanOut checks a hub over src, on a partition t/0 that holds the
// events v0 to v99: subscribers starting at the log start, in the middle
// and at the end get every event from there on, in order, once produce has
// written v100 to v299; a start past the end is out of range with the
// partition's bounds; and a fetch returns a stored record whole.
func checkFanOut(t *testing.T, src fanout.Source, produce func(from, to int)) {
	t.Helper()
	ctx := testCtx(t)
	h, err := fanout.NewHub(src, fanout.Options{MaxQueueEvents: 16, FetchMaxBytes: 2048})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	sinks := []*recordSink{{}, {}, {}}
	starts := []int64{fanout.Earliest, 40, fanout.Latest}
	for i, s := range sinks {
		if _, err := h.Subscribe(ctx, "t", 0, starts[i], s); err != nil {
			t.Fatal(err)
		}
	}
	_, err = h.Subscribe(ctx, "t", 0, 10_000, &recordSink{})
	var oor *event.OffsetOutOfRangeError
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
	if len(b.Records) != 1 || b.NextOffset != 300 || b.HighWatermark != 300 || b.LogStartOffset != 0 {
		t.Fatalf("fetch at 299: %d events, next %d, bounds [%d, %d]", len(b.Records), b.NextOffset, b.LogStartOffset, b.HighWatermark)
	}
	e := b.Records[0]
	if e.Offset != 299 || string(e.Key) != "k" || string(e.Value) != "v299" || e.Timestamp == 0 ||
		len(e.Headers) != 1 || e.Headers[0].Key != "h" || string(e.Headers[0].Value) != "x" {
		t.Fatalf("event %+v", e)
	}
}

// TestKafkaSourceFanOut: a fan-out hub over a KafkaSource gives subscribers
// starting at the log start, in the middle and at the end every event from
// there on, in order; a start past the end is out of range with the
// partition's bounds; and a fetch returns a stored record whole.
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
	checkFanOut(t, src, produce)
}
