package backend

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/gateway/apierr"
	"github.com/runnel-dev/runnel/gateway/event"
	"github.com/runnel-dev/runnel/internal/testwait"
)

func TestProduceAndFetch(t *testing.T) {
	c := brokertest.Start(t, 1, brokertest.Options{})
	c.CreateTopic("orders", 6, nil)
	b := newBackend(t, c)
	ctx := testCtx(t)

	ts := time.Now().Add(-time.Hour).UnixMilli()
	events := []event.Event{
		{Partition: -1, Key: []byte("user-42"), Value: []byte(`{"n":1}`), Headers: []event.Header{{Key: "h", Value: []byte("x")}}},
		{Partition: 5, Value: []byte("explicit"), Timestamp: ts},
		{Partition: -1, Key: []byte("user-42"), Value: nil}, // a tombstone
		{Partition: -1, Key: []byte{}, Value: []byte("empty key")},
		{Partition: 2, Key: []byte("user-42"), Value: []byte("explicit beats key")},
	}
	res, err := b.Produce(ctx, "orders", AcksAll, events, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != len(events) {
		t.Fatalf("%d results for %d events", len(res), len(events))
	}
	wantPart := []int32{javaPartition([]byte("user-42"), 6), 5, javaPartition([]byte("user-42"), 6), javaPartition([]byte{}, 6), 2}
	for i, r := range res {
		if r.Partition != wantPart[i] {
			t.Errorf("event %d went to partition %d, want %d", i, r.Partition, wantPart[i])
		}
	}
	if res[1].Timestamp != ts {
		t.Errorf("explicit timestamp reported as %d, want %d", res[1].Timestamp, ts)
	}
	if res[0].Offset != 0 || res[2].Offset != 1 {
		t.Errorf("keyed events at offsets %d and %d of one partition, want 0 and 1", res[0].Offset, res[2].Offset)
	}

	// Each event reads back where its result says, as it was sent.
	for i, r := range res {
		got, err := b.Fetch(ctx, "orders", r.Partition, r.Offset, FetchOptions{Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Records) != 1 {
			t.Fatalf("event %d: %d records at %d/%d", i, len(got.Records), r.Partition, r.Offset)
		}
		rec, e := got.Records[0], events[i]
		if rec.Offset != r.Offset || rec.Partition != r.Partition || rec.Timestamp != r.Timestamp ||
			!bytes.Equal(rec.Key, e.Key) || (rec.Key == nil) != (e.Key == nil) ||
			!bytes.Equal(rec.Value, e.Value) || (rec.Value == nil) != (e.Value == nil) || len(rec.Headers) != len(e.Headers) {
			t.Errorf("event %d read back as %+v, sent %+v with result %+v", i, rec, e, r)
		}
		if got.NextOffset != r.Offset+1 {
			t.Errorf("event %d: next offset %d after limit 1, want %d", i, got.NextOffset, r.Offset+1)
		}
	}

	// Keyless events spread evenly: 60 of them over 6 partitions, 10 each.
	res, err = b.Produce(ctx, "orders", AcksLeader, values(60, -1, "spread"), "")
	if err != nil {
		t.Fatal(err)
	}
	wantEvenSpread(t, res, 6)
}

// wantEvenSpread fails unless the results are spread evenly over n
// partitions.
func wantEvenSpread(t *testing.T, res []Result, n int32) {
	t.Helper()
	count := map[int32]int{}
	for _, r := range res {
		count[r.Partition]++
	}
	for p := range n {
		if count[p] != len(res)/int(n) {
			t.Fatalf("keyless events per partition: %v, want %d each", count, len(res)/int(n))
		}
	}
}

func TestProduceAcks(t *testing.T) {
	c := brokertest.Start(t, 1, brokertest.Options{})
	c.CreateTopic("acks", 1, nil)
	b := newBackend(t, c)
	ctx := testCtx(t)
	next := int64(0)
	for _, acks := range []Acks{AcksAll, AcksLeader, AcksNone} {
		res, err := b.Produce(ctx, "acks", acks, values(3, 0, fmt.Sprintf("acks%d-", acks)), "")
		if err != nil {
			t.Fatalf("acks=%d: %v", acks, err)
		}
		for i, r := range res {
			want := next + int64(i)
			if acks == AcksNone {
				want = -1
			}
			if r.Offset != want || r.Partition != 0 || r.Timestamp == 0 {
				t.Fatalf("acks=%d event %d: %+v, want offset %d", acks, i, r, want)
			}
		}
		next += 3
	}
	// acks=0 is answered before the write; the events arrive all the same.
	testwait.For(t, 10*time.Second, 10*time.Millisecond, func() error {
		recs := readAll(t, b, "acks", 0, 0)
		if len(recs) != 9 {
			return fmt.Errorf("%d records, want 9", len(recs))
		}
		if v := string(recs[8].Value); v != "acks0-2" {
			return fmt.Errorf("last record %q, want acks0-2", v)
		}
		return nil
	})
}

func TestProduceRefusals(t *testing.T) {
	c := brokertest.Start(t, 1, brokertest.Options{})
	c.CreateTopic("small", 2, map[string]*string{"max.message.bytes": ptr("2000")})
	b := newBackend(t, c)
	ctx := testCtx(t)

	_, err := b.Produce(ctx, "nope", AcksAll, values(1, -1, "v"), "")
	wantAPIError(t, err, http.StatusNotFound, apierr.CodeTopicNotFound)
	_, err = b.Produce(ctx, "nope", AcksAll, values(1, -1, "v"), "key")
	wantAPIError(t, err, http.StatusNotFound, apierr.CodeTopicNotFound)

	// One bad event refuses the whole request: nothing is written.
	evs := append(values(2, 0, "ok"), event.Event{Partition: 2, Value: []byte("no such partition")})
	_, err = b.Produce(ctx, "small", AcksAll, evs, "")
	wantAPIError(t, err, http.StatusNotFound, apierr.CodePartitionNotFound)
	_, err = b.Produce(ctx, "small", AcksAll, evs, "key-1")
	wantAPIError(t, err, http.StatusNotFound, apierr.CodePartitionNotFound)
	if recs := readAll(t, b, "small", 0, 0); len(recs) != 0 {
		t.Fatalf("a refused request wrote %d events", len(recs))
	}

	for name, evs := range map[string][]event.Event{
		"negative timestamp":  {{Partition: -1, Value: []byte("v"), Timestamp: -5}},
		"timestamp 2 h ahead": {{Partition: 0, Value: []byte("v")}, {Partition: 0, Value: []byte("v"), Timestamp: time.Now().Add(2 * time.Hour).UnixMilli()}},
		"partition -2":        {{Partition: -2, Value: []byte("v")}},
		"no events":           nil,
	} {
		for _, key := range []string{"", "key-" + name} {
			_, err = b.Produce(ctx, "small", AcksAll, evs, key)
			// The gateway's own refusal, before any broker sees the
			// events: "event N" names the event at fault.
			wantAPIError(t, err, http.StatusBadRequest, apierr.CodeInvalidRequest)
			if len(evs) > 0 && !strings.Contains(err.Error(), fmt.Sprintf("event %d", len(evs)-1)) {
				t.Errorf("%s: %v does not name the event", name, err)
			}
		}
	}
	if recs := readAll(t, b, "small", 0, 0); len(recs) != 0 {
		t.Fatalf("refused requests wrote %d events", len(recs))
	}
	_, err = b.Produce(ctx, "small", Acks(2), values(1, 0, "v"), "")
	wantAPIError(t, err, http.StatusBadRequest, apierr.CodeInvalidRequest)
	_, err = b.Produce(ctx, "bad name!", AcksAll, values(1, 0, "v"), "")
	wantAPIError(t, err, http.StatusBadRequest, apierr.CodeInvalidRequest)

	// The broker refuses a batch over the topic's max.message.bytes
	// (random bytes: franz-go compresses, and repetition would shrink).
	noise := make([]byte, 5000)
	rand.NewChaCha8([32]byte{1}).Read(noise)
	big := []event.Event{{Partition: 0, Value: noise}}
	_, err = b.Produce(ctx, "small", AcksAll, big, "")
	wantAPIError(t, err, http.StatusRequestEntityTooLarge, apierr.CodeTooLarge)
	_, err = b.Produce(ctx, "small", AcksAll, big, "key-2")
	wantAPIError(t, err, http.StatusRequestEntityTooLarge, apierr.CodeTooLarge)
	// The gateway refuses one larger than it ever sends.
	huge := []event.Event{{Partition: 0, Value: bytes.Repeat([]byte("x"), DefaultMaxBatchBytes+1)}}
	_, err = b.Produce(ctx, "small", AcksLeader, huge, "")
	wantAPIError(t, err, http.StatusRequestEntityTooLarge, apierr.CodeTooLarge)
	_, err = b.Produce(ctx, "small", AcksLeader, huge, "key-3")
	wantAPIError(t, err, http.StatusRequestEntityTooLarge, apierr.CodeTooLarge)
}

// TestProduceToNewPartition names a partition added after the producers
// learnt the topic: Backend checks it against fresh metadata, and the write
// lands there (or, while franz-go's metadata or the in-process broker
// catches up, is a 503 to retry), through franz-go and in process.
func TestProduceToNewPartition(t *testing.T) {
	c := brokertest.Start(t, 1, brokertest.Options{})
	for _, path := range producePaths(c) {
		t.Run(path.name, func(t *testing.T) {
			c.CreateTopic("grow-"+path.name, 1, nil)
			b := newBackend(t, c, path.mod)
			ctx := testCtx(t)
			if _, err := b.Produce(ctx, "grow-"+path.name, AcksAll, values(1, 0, "v"), ""); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Admin().UpdatePartitions(ctx, 3, "grow-"+path.name); err != nil {
				t.Fatal(err)
			}
			testwait.For(t, 20*time.Second, 20*time.Millisecond, func() error {
				res, err := b.Produce(ctx, "grow-"+path.name, AcksAll, values(1, 2, "new"), "")
				if err != nil {
					if ae := apierr.As(err); ae.Status == http.StatusNotFound || ae.Status == http.StatusServiceUnavailable {
						return err
					}
					t.Fatalf("produce to the new partition: %v", err)
				}
				if res[0].Partition != 2 {
					t.Fatalf("went to partition %d", res[0].Partition)
				}
				return nil
			})
		})
	}
}

func ptr(s string) *string { return &s }

// TestProduceWithoutLeaderFailsFast: a produce to a partition whose only
// replica is down answers 503 with Retry-After, naming the partition, once
// the partition has had no leader for Config.LeaderWait, not after the
// whole ProduceTimeout (60 s here); so does a keyed or keyless one bound
// to such a partition.
func TestProduceWithoutLeaderFailsFast(t *testing.T) {
	const produceTimeout = 60 * time.Second
	c := brokertest.Start(t, 3, brokertest.Options{})
	c.WaitForBrokers(3)
	c.CreateReplicatedTopic("lonely", 3, 1, nil)
	for _, name := range []string{"solo-a", "solo-b", "solo-c"} {
		c.CreateReplicatedTopic(name, 1, 1, nil)
	}
	b := newBackend(t, c, func(cfg *Config) {
		cfg.ProduceTimeout = produceTimeout
		cfg.LeaderWait = time.Second
	})
	ctx := testCtx(t)

	// Broker 3 stops: the only replica of a partition of "lonely" and of
	// a one-partition topic.
	ledBy3 := func(topic string) int32 {
		ts, err := b.topic(ctx, topic, true)
		if err != nil {
			t.Fatal(err)
		}
		for p, ps := range ts.parts {
			if ps.leader == 3 {
				return int32(p)
			}
		}
		return -1
	}
	dead := ledBy3("lonely")
	if dead < 0 {
		t.Fatal("no partition of lonely is led by broker 3")
	}
	solo := ""
	for _, name := range []string{"solo-a", "solo-b", "solo-c"} {
		if ledBy3(name) == 0 {
			solo = name
		}
	}
	if solo == "" {
		t.Fatal("no one-partition topic is led by broker 3")
	}
	var key []byte // a key of the dead partition
	for i := 0; key == nil; i++ {
		if k := fmt.Appendf(nil, "k%d", i); javaPartition(k, 3) == dead {
			key = k
		}
	}
	c.Stop(2)
	testwait.For(t, 30*time.Second, 100*time.Millisecond, func() error {
		if _, err := b.Fetch(ctx, "lonely", dead, 0, FetchOptions{}); err == nil {
			return errors.New("partition still readable")
		}
		return nil
	})

	for _, tc := range []struct {
		what, topic, mention string
		ev                   event.Event
	}{
		{"named partition", "lonely", fmt.Sprintf("partition %d of topic \"lonely\" has no leader", dead), event.Event{Partition: dead, Value: []byte("x")}},
		{"keyed", "lonely", fmt.Sprintf("partition %d of topic \"lonely\" has no leader", dead), event.Event{Partition: -1, Key: key, Value: []byte("x")}},
		// Given back by franz-go and sent again to the partition it
		// was put in: bound to it.
		{"keyless", solo, fmt.Sprintf("partition 0 of topic %q has no leader", solo), event.Event{Partition: -1, Value: []byte("x")}},
	} {
		start := time.Now()
		_, err := b.Produce(ctx, tc.topic, AcksAll, []event.Event{tc.ev}, "")
		elapsed := time.Since(start)
		e := wantAPIError(t, err, http.StatusServiceUnavailable, apierr.CodeUnavailable)
		if !strings.Contains(e.Message, tc.mention) || e.RetryAfter <= 0 {
			t.Errorf("%s: 503 %q (Retry-After %v): want %q and a Retry-After", tc.what, e.Message, e.RetryAfter, tc.mention)
		}
		if elapsed >= produceTimeout/2 {
			t.Errorf("%s: the produce failed after %v, near the produce timeout %v, not after the leader wait", tc.what, elapsed, produceTimeout)
		}
		t.Logf("%s: failed after %v: %s", tc.what, elapsed, e.Message)
	}
}
