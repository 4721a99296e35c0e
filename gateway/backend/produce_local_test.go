package backend

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/gateway/apierr"
	"github.com/runnel-dev/runnel/gateway/event"
	"github.com/runnel-dev/runnel/internal/testwait"
)

// withLocal attaches node i of c as the Backend's in-process broker.
func withLocal(c *brokertest.Cluster, i int) func(*Config) {
	return func(cfg *Config) { cfg.Local = c.Nodes[i].Broker }
}

// producePath is a way for a Backend to produce: through franz-go, or in
// process to node 0 of a cluster.
type producePath struct {
	name string
	mod  func(*Config)
}

func producePaths(c *brokertest.Cluster) []producePath {
	return []producePath{{"franz-go", func(*Config) {}}, {"local", withLocal(c, 0)}}
}

// produceCounts are the produce requests a node served in process and over
// its Kafka listener.
type produceCounts struct{ local, wire float64 }

func producesOf(t *testing.T, reg *prometheus.Registry) produceCounts {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var pc produceCounts
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() != "api" || l.GetValue() != "Produce" {
					continue
				}
				switch mf.GetName() {
				case "runnel_broker_local_requests_total":
					pc.local += m.GetCounter().GetValue()
				case "runnel_kafka_requests_total":
					pc.wire += m.GetCounter().GetValue()
				}
			}
		}
	}
	return pc
}

// sameEventsAs fails unless the records stored at each result are events.
func sameEventsAs(t *testing.T, b *Backend, topic string, events []event.Event, res []Result) {
	t.Helper()
	for i, r := range res {
		got, err := b.Fetch(testCtx(t), topic, r.Partition, r.Offset, FetchOptions{Limit: 1})
		if err != nil || len(got.Records) != 1 {
			t.Fatalf("event %d: fetch %s/%d at %d: %v (%d records)", i, topic, r.Partition, r.Offset, err, len(got.Records))
		}
		rec, e := got.Records[0], events[i]
		if rec.Timestamp != r.Timestamp || !bytes.Equal(rec.Key, e.Key) || (rec.Key == nil) != (e.Key == nil) ||
			!bytes.Equal(rec.Value, e.Value) || (rec.Value == nil) != (e.Value == nil) || len(rec.Headers) != len(e.Headers) {
			t.Fatalf("event %d read back from %s as %+v, sent %+v with result %+v", i, topic, rec, e, r)
		}
		for j, h := range rec.Headers {
			if h.Key != e.Headers[j].Key || !bytes.Equal(h.Value, e.Headers[j].Value) {
				t.Fatalf("event %d header %d read back as %+v, sent %+v", i, j, h, e.Headers[j])
			}
		}
	}
}

// TestProduceLocalMatchesKafkaPath produces the same requests through
// franz-go and in process, to two topics alike: the events land on the
// same partitions at the same offsets with the same timestamps, keys,
// values and headers, keyless events spread alike, acks 0, 1 and all
// answer alike, and so do refusals; the in-process produces never reach
// the broker's Kafka listener, and requests with an Idempotency-Key still
// go through it.
func TestProduceLocalMatchesKafkaPath(t *testing.T) {
	c := brokertest.Start(t, 1, brokertest.Options{})
	for _, topic := range []string{"wire", "local"} {
		c.CreateTopic(topic, 6, map[string]*string{"max.message.bytes": ptr("3000")})
	}
	wire, local := newBackend(t, c), newBackend(t, c, withLocal(c, 0))
	ctx := testCtx(t)
	reg := c.Metrics(0)

	past := time.Now().Add(-time.Hour).UnixMilli()
	shapes := [][]event.Event{
		{{Partition: -1, Key: []byte("user-42"), Value: []byte(`{"n":1}`), Headers: []event.Header{{Key: "h", Value: []byte("x")}, {Key: "nil"}}}},
		{{Partition: 5, Value: []byte("explicit"), Timestamp: past}},
		{
			{Partition: -1, Key: []byte("user-42"), Value: nil},
			{Partition: -1, Key: []byte{}, Value: []byte("empty key")},
			{Partition: 2, Key: []byte("user-42"), Value: []byte("explicit beats key"), Timestamp: past + 1},
			{Partition: 5, Value: []byte("second on 5")},
		},
		// Snappy-sized: the in-process path compresses from 4 KiB.
		slices.Repeat([]event.Event{{Partition: 3, Value: bytes.Repeat([]byte("abcd"), 100)}}, 20),
	}
	for _, acks := range []Acks{AcksAll, AcksLeader, AcksNone} {
		for si, evs := range shapes {
			before := producesOf(t, reg)
			lres, err := local.Produce(ctx, "local", acks, evs, "")
			if err != nil {
				t.Fatalf("acks=%d shape %d in process: %v", acks, si, err)
			}
			if after := producesOf(t, reg); after.local != before.local+1 || after.wire != before.wire {
				t.Fatalf("acks=%d shape %d: produce requests in process %v -> %v, over the listener %v -> %v; want one more in process only",
					acks, si, before.local, after.local, before.wire, after.wire)
			}
			wres, err := wire.Produce(ctx, "wire", acks, evs, "")
			if err != nil {
				t.Fatalf("acks=%d shape %d through franz-go: %v", acks, si, err)
			}
			// An acks=0 produce is answered before the listener reads it:
			// it is counted before the next shape goes.
			testwait.For(t, 10*time.Second, 5*time.Millisecond, func() error {
				if n := producesOf(t, reg).wire; n != before.wire+1 {
					return fmt.Errorf("the listener counted %v produce requests, want %v", n, before.wire+1)
				}
				return nil
			})
			for i := range evs {
				l, w := lres[i], wres[i]
				if l.Partition != w.Partition || l.Offset != w.Offset || (evs[i].Timestamp != 0 && l.Timestamp != w.Timestamp) || l.Timestamp == 0 {
					t.Fatalf("acks=%d shape %d event %d: in process %+v, through franz-go %+v", acks, si, i, l, w)
				}
			}
			if acks != AcksNone {
				sameEventsAs(t, local, "local", evs, lres)
			}
		}
	}

	// Keyless events spread evenly on both paths: 60 over 6 partitions.
	for _, topic := range []string{"wire", "local"} {
		b := map[string]*Backend{"wire": wire, "local": local}[topic]
		res, err := b.Produce(ctx, topic, AcksLeader, values(60, -1, "spread"), "")
		if err != nil {
			t.Fatal(err)
		}
		wantEvenSpread(t, res, 6)
		sameEventsAs(t, b, topic, values(60, -1, "spread"), res)
	}

	// Refusals answer alike.
	noise := make([]byte, 5000)
	rand.NewChaCha8([32]byte{2}).Read(noise)
	for _, r := range []struct {
		name, topic string
		evs         []event.Event
		status      int
		code        string
	}{
		{"no topic", "nope", values(1, -1, "v"), http.StatusNotFound, apierr.CodeTopicNotFound},
		{"no partition", "", append(values(1, 0, "ok"), event.Event{Partition: 6, Value: []byte("v")}), http.StatusNotFound, apierr.CodePartitionNotFound},
		{"over max.message.bytes", "", []event.Event{{Partition: 1, Value: noise}}, http.StatusRequestEntityTooLarge, apierr.CodeTooLarge},
		{"timestamp ahead", "", []event.Event{{Partition: 1, Value: []byte("v"), Timestamp: time.Now().Add(2 * time.Hour).UnixMilli()}}, http.StatusBadRequest, apierr.CodeInvalidRequest},
	} {
		var msgs []string
		for _, topic := range []string{"wire", "local"} {
			b := map[string]*Backend{"wire": wire, "local": local}[topic]
			if r.topic != "" {
				topic = r.topic
			}
			_, err := b.Produce(ctx, topic, AcksAll, r.evs, "")
			msgs = append(msgs, wantAPIError(t, err, r.status, r.code).Message)
		}
		if got := strings.ReplaceAll(msgs[1], `"local"`, `"wire"`); r.status != http.StatusRequestEntityTooLarge && got != msgs[0] {
			t.Errorf("%s: through franz-go %q, in process %q", r.name, msgs[0], msgs[1])
		}
	}

	// An Idempotency-Key takes the Kafka path.
	before := producesOf(t, reg)
	if _, err := local.Produce(ctx, "local", AcksAll, values(2, 1, "idem"), "key-1"); err != nil {
		t.Fatal(err)
	}
	if after := producesOf(t, reg); after.local != before.local || after.wire == before.wire {
		t.Fatalf("with an Idempotency-Key: produce requests in process %v -> %v, over the listener %v -> %v; want the listener's only",
			before.local, after.local, before.wire, after.wire)
	}

	// A closed Backend writes nothing, in process or not.
	local.Close()
	_, err := local.Produce(ctx, "local", AcksAll, values(1, 0, "closed"), "")
	wantAPIError(t, err, http.StatusServiceUnavailable, apierr.CodeUnavailable)
}

// TestProduceLocalFallsBack: with three brokers and the in-process broker
// leading only some partitions, a request's events for the others go
// through franz-go, and every event is stored once, where its result says.
func TestProduceLocalFallsBack(t *testing.T) {
	c := brokertest.Start(t, 3, brokertest.Options{})
	c.WaitForBrokers(3)
	c.CreateReplicatedTopic("spread", 6, 1, nil)
	b := newBackend(t, c, withLocal(c, 0))
	ctx := testCtx(t)
	ts, err := b.topic(ctx, "spread", true)
	if err != nil {
		t.Fatal(err)
	}
	localParts := 0
	for _, p := range ts.parts {
		if p.leader == 1 {
			localParts++
		}
	}
	if localParts == 0 || localParts == 6 {
		t.Fatalf("broker 1 leads %d of 6 partitions; the test needs some and not all", localParts)
	}
	var evs []event.Event
	for p := range int32(6) {
		evs = append(evs, event.Event{Partition: p, Value: fmt.Appendf(nil, "explicit-%d", p)})
	}
	for i := range 12 {
		evs = append(evs, event.Event{Partition: -1, Key: fmt.Appendf(nil, "key-%d", i), Value: fmt.Appendf(nil, "keyed-%d", i)})
		evs = append(evs, event.Event{Partition: -1, Value: fmt.Appendf(nil, "keyless-%d", i)})
	}
	for _, acks := range []Acks{AcksAll, AcksLeader} {
		before := producesOf(t, c.Metrics(0))
		res, err := b.Produce(ctx, "spread", acks, evs, "")
		if err != nil {
			t.Fatalf("acks=%d: %v", acks, err)
		}
		if after := producesOf(t, c.Metrics(0)); after.local != before.local+1 {
			t.Fatalf("acks=%d: %v produce requests in process, want 1", acks, after.local-before.local)
		}
		for i, r := range res {
			if evs[i].Partition >= 0 && r.Partition != evs[i].Partition || evs[i].Key != nil && r.Partition != keyPartition(evs[i].Key, 6) {
				t.Fatalf("acks=%d event %d went to partition %d", acks, i, r.Partition)
			}
		}
		sameEventsAs(t, b, "spread", evs, res)
	}
	total := 0
	for p := range int32(6) {
		total += len(readAll(t, b, "spread", p, 0))
	}
	if total != 2*len(evs) {
		t.Fatalf("the topic holds %d events, want %d (each written once)", total, 2*len(evs))
	}
}

// answeringBroker is a LocalBroker whose produce answers carry, while fail
// holds a Kafka error, that error for every partition (nothing appended);
// otherwise it passes requests to the real broker.
type answeringBroker struct {
	LocalBroker
	fail  atomic.Pointer[kerr.Error]
	calls atomic.Int32
}

func (a *answeringBroker) ProduceLocal(ctx context.Context, topic string, acks int16, timeout time.Duration, parts []kmsg.ProduceRequestTopicPartition, out []kmsg.ProduceResponseTopicPartition) error {
	a.calls.Add(1)
	ke := a.fail.Load()
	if ke == nil {
		return a.LocalBroker.ProduceLocal(ctx, topic, acks, timeout, parts, out)
	}
	for i, rp := range parts {
		out[i] = kmsg.NewProduceResponseTopicPartition()
		out[i].Partition, out[i].ErrorCode, out[i].BaseOffset = rp.Partition, ke.Code, -1
	}
	return nil
}

// TestProduceLocalAnswers: what the in-process broker answers decides
// where events go. NOT_LEADER_OR_FOLLOWER (leadership moved since it was
// asked) or UNKNOWN_TOPIC_OR_PARTITION (its metadata lags) for a batch it
// did not append sends the events through franz-go, written once; with
// acks=all, where NOT_LEADER_OR_FOLLOWER may come after the append, the
// client gets the 503 and nothing is sent again; KAFKA_STORAGE_ERROR is
// the 507 naming the partition.
func TestProduceLocalAnswers(t *testing.T) {
	c := brokertest.Start(t, 1, brokertest.Options{})
	c.CreateTopic("t", 2, nil)
	ab := &answeringBroker{LocalBroker: c.Nodes[0].Broker}
	b := newBackend(t, c, func(cfg *Config) { cfg.Local = ab })
	ctx := testCtx(t)
	reg := c.Metrics(0)
	written := 0
	for _, tc := range []struct {
		fail   *kerr.Error
		acks   Acks
		status int // 0: written through franz-go
		code   string
	}{
		{kerr.NotLeaderForPartition, AcksLeader, 0, ""},
		{kerr.NotLeaderForPartition, AcksNone, 0, ""},
		{kerr.UnknownTopicOrPartition, AcksAll, 0, ""},
		{kerr.NotLeaderForPartition, AcksAll, http.StatusServiceUnavailable, apierr.CodeUnavailable},
		{kerr.RequestTimedOut, AcksAll, http.StatusServiceUnavailable, apierr.CodeUnavailable},
		{kerr.KafkaStorageError, AcksLeader, http.StatusInsufficientStorage, apierr.CodeInsufficientStorage},
		{nil, AcksAll, 0, ""},
	} {
		ab.fail.Store(tc.fail)
		calls, before := ab.calls.Load(), producesOf(t, reg)
		evs := values(2, 1, fmt.Sprintf("%v-%d", tc.fail, tc.acks))
		res, err := b.Produce(ctx, "t", tc.acks, evs, "")
		after := producesOf(t, reg)
		if ab.calls.Load() != calls+1 {
			t.Fatalf("%v acks=%d: %d in-process calls, want 1", tc.fail, tc.acks, ab.calls.Load()-calls)
		}
		if tc.status != 0 {
			ae := wantAPIError(t, err, tc.status, tc.code)
			if tc.status == http.StatusInsufficientStorage && !contains(ae.Message, `partition 1 of topic "t"`) {
				t.Errorf("507 %q does not name the partition", ae.Message)
			}
			if after.wire != before.wire {
				t.Fatalf("%v acks=%d: answered %d and sent the events again through franz-go", tc.fail, tc.acks, tc.status)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%v acks=%d: %v", tc.fail, tc.acks, err)
		}
		written += len(evs)
		if tc.fail != nil {
			// An acks=0 produce is answered before the listener reads it.
			testwait.For(t, 10*time.Second, 5*time.Millisecond, func() error {
				if producesOf(t, reg).wire == before.wire {
					return fmt.Errorf("%v acks=%d: the events did not go through franz-go", tc.fail, tc.acks)
				}
				return nil
			})
		}
		if tc.acks != AcksNone {
			sameEventsAs(t, b, "t", evs, res)
		}
	}
	// Once the acks=0 events are in, each event is there once.
	testwait.For(t, 10*time.Second, 10*time.Millisecond, func() error {
		if n := len(readAll(t, b, "t", 1, 0)); n != written {
			return fmt.Errorf("partition 1 holds %d events, want %d (each written once)", n, written)
		}
		return nil
	})
}
