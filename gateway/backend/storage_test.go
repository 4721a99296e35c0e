package backend

import (
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/runnel-dev/runnel/gateway/apierr"
	"github.com/runnel-dev/runnel/gateway/event"
)

// failingCluster is a kfake cluster whose produce answers, while fail holds
// a Kafka error, carry that error for every partition.
type failingCluster struct {
	*kfake.Cluster
	fail atomic.Pointer[kerr.Error]
}

func newFailingCluster(t *testing.T, topic string, partitions int32) *failingCluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, topic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	fc := &failingCluster{Cluster: c}
	c.ControlKey(kmsg.Produce.Int16(), func(r kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		ke := fc.fail.Load()
		if ke == nil {
			return nil, nil, false
		}
		req := r.(*kmsg.ProduceRequest)
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic, st.TopicID = rt.Topic, rt.TopicID
			for _, rp := range rt.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = ke.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	return fc
}

func (fc *failingCluster) backend(t *testing.T) *Backend {
	t.Helper()
	b, err := New(testCtx(t), Config{Brokers: fc.ListenAddrs(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), ProduceTimeout: 10 * time.Second,
		// Produce v13 names topics by ID only, which the Idempotency-Key
		// path does not send; Runnel's brokers speak up to v11.
		ClientOpts: []kgo.Opt{kgo.MaxVersions(kversion.V4_0_0())}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// TestProduceStorageError: a broker that answers KAFKA_STORAGE_ERROR (its
// disk is full) gets the produce answered with 507 insufficient_storage,
// naming the partition, within a second or two, not after the produce
// timeout; on every path (batched, with acks all and 1, and with an
// Idempotency-Key), for concurrent requests too. Once the broker stores
// again, produces succeed.
func TestProduceStorageError(t *testing.T) {
	fc := newFailingCluster(t, "t", 2)
	b := fc.backend(t)
	ctx := testCtx(t)
	if _, err := b.Produce(ctx, "t", AcksAll, values(1, 1, "ok"), ""); err != nil {
		t.Fatal(err)
	}
	fc.fail.Store(kerr.KafkaStorageError)
	cases := []struct {
		name string
		acks Acks
		idem string
		ev   []event.Event
		part string
	}{
		{"acks=all", AcksAll, "", values(2, 1, "v"), "partition 1 of"},
		{"acks=1 keyed", AcksLeader, "", []event.Event{{Partition: -1, Key: []byte("k"), Value: []byte("1")}}, "partition " + strconv.Itoa(int(keyPartition([]byte("k"), 2))) + " of"},
		{"idempotency key", AcksAll, "key-1", values(2, 0, "v"), "partition 0 of"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			_, err := b.Produce(ctx, "t", c.acks, c.ev, c.idem)
			took := time.Since(start)
			ae := wantAPIError(t, err, http.StatusInsufficientStorage, apierr.CodeInsufficientStorage)
			if took > 2*time.Second {
				t.Errorf("507 after %v", took)
			}
			if !contains(ae.Message, c.part) || !contains(ae.Message, `topic "t"`) {
				t.Errorf("message %q does not name %q", ae.Message, c.part)
			}
			if ae.RetryAfterSeconds() != 5 {
				t.Errorf("Retry-After %v", ae.RetryAfter)
			}
			t.Logf("507 after %v: %s", took.Round(time.Millisecond), ae.Message)
		})
	}

	// Concurrent requests to the full partition all get their 507 soon.
	var wg sync.WaitGroup
	start := time.Now()
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() { _, errs[i] = b.Produce(ctx, "t", AcksAll, values(1, -1, "c"), "") })
	}
	wg.Wait()
	for _, err := range errs {
		wantAPIError(t, err, http.StatusInsufficientStorage, apierr.CodeInsufficientStorage)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("8 concurrent produces answered after %v", took)
	}

	fc.fail.Store(nil)
	for _, idem := range []string{"", "key-2"} {
		if _, err := b.Produce(ctx, "t", AcksAll, values(2, 0, "after"), idem); err != nil {
			t.Fatalf("produce (key %q) after the disk was freed: %v", idem, err)
		}
	}
}

// TestProduceRidesOutLeaderMove: a retriable error other than storage (a
// leader moving) lasting longer than the producers' own retries is still
// ridden out within the produce timeout, as before: the produce succeeds.
func TestProduceRidesOutLeaderMove(t *testing.T) {
	fc := newFailingCluster(t, "t", 1)
	b := fc.backend(t)
	ctx := testCtx(t)
	if _, err := b.Produce(ctx, "t", AcksAll, values(1, 0, "ok"), ""); err != nil {
		t.Fatal(err)
	}
	for _, acks := range []Acks{AcksAll, AcksLeader} {
		fc.fail.Store(kerr.NotLeaderForPartition)
		timer := time.AfterFunc(2*time.Second, func() { fc.fail.Store(nil) })
		start := time.Now()
		res, err := b.Produce(ctx, "t", acks, values(3, 0, "moved"), "")
		timer.Stop()
		if err != nil {
			t.Fatalf("acks=%d: produce across a 2 s leader move: %v", acks, err)
		}
		if took := time.Since(start); took < 2*time.Second {
			t.Fatalf("acks=%d: answered after %v, before the leader was back", acks, took)
		}
		if res[2].Offset != res[0].Offset+2 {
			t.Fatalf("acks=%d: offsets %v", acks, res)
		}
	}
	recs := readAll(t, b, "t", 0, 0)
	if len(recs) != 7 {
		t.Fatalf("the partition holds %d records, want 7 (each written once)", len(recs))
	}
}
