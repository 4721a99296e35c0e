package backend

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/runnel-dev/runnel/broker/kafkaext"
	"github.com/runnel-dev/runnel/gateway/event"
	"github.com/runnel-dev/runnel/internal/testlog"
)

// corruptBroker is a kfake cluster with one topic "t" of 10 events whose
// Fetch answers, for offsets in [3, 6), CORRUPT_MESSAGE with the tagged
// field tag holds (none when nil), as a Runnel broker does for a damaged
// range of its log.
type corruptBroker struct {
	cl *kgo.Client

	mu  sync.Mutex
	tag []byte
}

func newCorruptBroker(t *testing.T) *corruptBroker {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic("t"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	for i := range 10 {
		if err := cl.ProduceSync(t.Context(), &kgo.Record{Value: fmt.Appendf(nil, "v%d", i)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	b := &corruptBroker{cl: cl}
	c.ControlKey(int16(kmsg.Fetch), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		req := kreq.(*kmsg.FetchRequest)
		if len(req.Topics) != 1 || len(req.Topics[0].Partitions) != 1 {
			return nil, nil, false
		}
		rp := req.Topics[0].Partitions[0]
		if rp.FetchOffset < 3 || rp.FetchOffset >= 6 {
			return nil, nil, false
		}
		resp := req.ResponseKind().(*kmsg.FetchResponse)
		rt := kmsg.NewFetchResponseTopic()
		rt.Topic, rt.TopicID = req.Topics[0].Topic, req.Topics[0].TopicID
		p := kmsg.NewFetchResponseTopicPartition()
		p.Partition = rp.Partition
		p.ErrorCode = kerr.CorruptMessage.Code
		p.HighWatermark, p.LastStableOffset, p.LogStartOffset = 10, 10, 0
		b.mu.Lock()
		if b.tag != nil {
			p.UnknownTags.Set(kafkaext.UnreadableRangeTag, b.tag)
		}
		b.mu.Unlock()
		rt.Partitions = append(rt.Partitions, p)
		resp.Topics = append(resp.Topics, rt)
		return resp, nil, true
	})
	return b
}

func (b *corruptBroker) setTag(tag []byte) {
	b.mu.Lock()
	b.tag = tag
	b.mu.Unlock()
}

// TestKafkaSourceReadsTheBrokersUnreadableRange: a broker's CORRUPT_MESSAGE
// becomes an *UnreadableError whose end is the tagged field's when that
// holds a believable range for the fetch offset, and one offset further
// otherwise; each damaged range is logged once.
func TestKafkaSourceReadsTheBrokersUnreadableRange(t *testing.T) {
	b := newCorruptBroker(t)
	src := NewKafkaSource(b.cl)
	var logs *testlog.Buffer
	src.Logger, logs = testlog.New()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	fetch := func(offset int64) (event.Batch, error) {
		t.Helper()
		return src.FetchWait(ctx, "t", 0, offset, 1<<20, 0)
	}
	if got, err := fetch(0); err != nil || len(got.Records) != 10 {
		t.Fatalf("fetch at 0: %d events, %v; want 10", len(got.Records), err)
	}
	for _, tc := range []struct {
		name     string
		tag      []byte
		offset   int64
		from, to int64
		logged   string // what the log names, "" when logged before
	}{
		{"the broker's range", kafkaext.AppendUnreadableRange(nil, kafkaext.UnreadableRange{From: 2, To: 6}), 3, 3, 6, "offsets 2 to 5"},
		{"inside it again", kafkaext.AppendUnreadableRange(nil, kafkaext.UnreadableRange{From: 2, To: 6}), 5, 5, 6, ""},
		{"no tag", nil, 4, 4, 5, "offset 4"},
		{"a malformed tag", []byte("fifteen bytes!!"), 3, 3, 4, "offset 3"},
		{"a backwards range", kafkaext.AppendUnreadableRange(nil, kafkaext.UnreadableRange{From: 9, To: 1}), 5, 5, 6, "offset 5"},
		{"a range without the fetch offset", kafkaext.AppendUnreadableRange(nil, kafkaext.UnreadableRange{From: 6, To: 9}), 4, 4, 5, ""},
	} {
		b.setTag(tc.tag)
		before := logs.Count("cannot be read")
		_, err := fetch(tc.offset)
		var ue *event.UnreadableError
		if !errors.As(err, &ue) || !errors.Is(err, event.ErrUnreadable) {
			t.Fatalf("%s: err %v, want an *event.UnreadableError", tc.name, err)
		}
		if ue.Topic != "t" || ue.Partition != 0 || ue.From != tc.from || ue.To != tc.to || ue.Cause == nil {
			t.Fatalf("%s: %+v, want [%d, %d) of t/0 with a cause", tc.name, ue, tc.from, tc.to)
		}
		after := logs.String()
		if n := logs.Count("cannot be read") - before; (tc.logged == "") != (n == 0) || n > 1 {
			t.Fatalf("%s: %d new log lines, want %v:\n%s", tc.name, n, tc.logged != "", after)
		}
		if tc.logged != "" && !strings.Contains(after, `offsets="`+tc.logged+`"`) {
			t.Fatalf("%s: the log does not name %q:\n%s", tc.name, tc.logged, after)
		}
	}
	// Readable data after the range reads on.
	if got, err := fetch(6); err != nil || len(got.Records) != 4 || got.Records[0].Offset != 6 {
		t.Fatalf("fetch at 6: %+v, %v; want offsets 6 to 9", got.Records, err)
	}
}
