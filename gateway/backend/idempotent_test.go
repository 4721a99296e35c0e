package backend

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/broker/kafkaext"
	"github.com/runnel-dev/runnel/gateway/apierr"
	"github.com/runnel-dev/runnel/gateway/event"
	"github.com/runnel-dev/runnel/internal/testwait"
)

// keyedEvents is a request mixing explicit partitions, keys and keyless
// events.
func keyedEvents(tag string) []event.Event {
	evs := []event.Event{
		{Partition: -1, Key: []byte("user-1"), Value: []byte(tag + "-a"), Headers: []event.Header{{Key: "trace", Value: []byte("t1")}}},
		{Partition: 3, Value: []byte(tag + "-b")},
		{Partition: -1, Value: []byte(tag + "-c")},
		{Partition: -1, Value: []byte(tag + "-d"), Timestamp: time.Now().Add(-time.Minute).UnixMilli()},
		{Partition: -1, Key: []byte("user-2"), Value: nil},
	}
	return evs
}

// logEnds returns every partition's high watermark.
func logEnds(t *testing.T, b *Backend, topic string) []int64 {
	t.Helper()
	var offs []PartitionOffsets
	// Right after a broker restart a partition may still be electing its
	// leader: 503, which a client retries.
	testwait.For(t, 30*time.Second, 50*time.Millisecond, func() error {
		var err error
		offs, err = b.Offsets(testCtx(t), topic, nil)
		if err != nil && apierr.As(err).Status != http.StatusServiceUnavailable {
			t.Fatal(err)
		}
		return err
	})
	var out []int64
	for _, o := range offs {
		out = append(out, o.Latest)
	}
	return out
}

// TestIdempotentProduceLayout checks the gateway's half on its own: where a
// keyed request's events go, that the first record of each partition's batch
// carries the key's tag, and that the stored timestamps are reported.
func TestIdempotentProduceLayout(t *testing.T) {
	c := brokertest.Start(t, 1, brokertest.Options{})
	c.CreateTopic("t", 4, nil)
	b := newBackend(t, c)
	ctx := testCtx(t)

	evs := keyedEvents("x")
	res, err := b.Produce(ctx, "t", AcksAll, evs, "alice\x00order-1")
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Partition != javaPartition([]byte("user-1"), 4) || res[1].Partition != 3 || res[4].Partition != javaPartition([]byte("user-2"), 4) {
		t.Fatalf("keyed or explicit events misplaced: %+v", res)
	}
	if res[2].Partition == res[3].Partition {
		t.Fatalf("two keyless events of one request went to one partition: %+v", res)
	}
	if res[3].Timestamp != evs[3].Timestamp {
		t.Fatalf("explicit timestamp reported as %d, want %d", res[3].Timestamp, evs[3].Timestamp)
	}
	sum := sha256.Sum256([]byte("alice\x00order-1"))
	tag := hex.EncodeToString(sum[:])
	firstOfPartition := map[int32]bool{}
	for i, r := range res {
		got, err := b.Fetch(ctx, "t", r.Partition, r.Offset, FetchOptions{Limit: 1})
		if err != nil || len(got.Records) != 1 {
			t.Fatalf("event %d: %v, %d records", i, err, len(got.Records))
		}
		rec := got.Records[0]
		if !bytes.Equal(rec.Value, evs[i].Value) || rec.Timestamp != r.Timestamp {
			t.Fatalf("event %d stored as %+v, result %+v", i, rec, r)
		}
		first := !firstOfPartition[r.Partition]
		firstOfPartition[r.Partition] = true
		tagged := false
		for _, h := range rec.Headers {
			if h.Key == kafkaext.IdempotencyKeyHeader {
				tagged = string(h.Value) == tag
			}
		}
		if tagged != first {
			t.Fatalf("event %d (first of its partition: %v) tagged: %v; headers %v", i, first, tagged, rec.Headers)
		}
	}

	// Keyless events are placed by the key alone: another gateway puts
	// the same request in the same partitions.
	b2 := newBackend(t, c)
	evs2 := values(8, -1, "spread")
	r1, err := b.Produce(ctx, "t", AcksLeader, evs2, "bob\x00k")
	if err != nil {
		t.Fatal(err)
	}
	r2, err := b2.Produce(ctx, "t", AcksLeader, evs2, "bob\x00k2")
	if err != nil {
		t.Fatal(err)
	}
	count := map[int32]int{}
	for i := range r1 {
		count[r1[i].Partition]++
		if want := (r1[0].Partition + int32(i)) % 4; r1[i].Partition != want {
			t.Fatalf("keyless event %d in partition %d, want %d (round-robin from the key's start)", i, r1[i].Partition, want)
		}
	}
	if len(count) != 4 || count[0] != 2 {
		t.Fatalf("8 keyless events over 4 partitions: %v", count)
	}
	_ = r2

	// acks=0 with a key: offsets unknown, events written.
	r0, err := b.Produce(ctx, "t", AcksNone, values(2, 1, "zero"), "carol\x00z")
	if err != nil || r0[0].Offset != -1 || r0[1].Offset != -1 {
		t.Fatalf("acks=0: %+v %v", r0, err)
	}
}

// TestIdempotencyKeyAcrossGatewaysAndRestart is the guarantee end to end: a
// retry with the same key, through another gateway, and again after the
// broker restarted, gets the first answer and writes nothing.
//
// It needs the broker half: broker/partition.go consulting an
// idemwindow.Index on append (see the package doc of broker/idemwindow).
// Without it the retries write again and this test fails.
func TestIdempotencyKeyAcrossGatewaysAndRestart(t *testing.T) {
	c := brokertest.Start(t, 1, brokertest.Options{})
	c.CreateTopic("t", 4, nil)
	g1 := newBackend(t, c)
	g2 := newBackend(t, c)
	ctx := testCtx(t)

	// Something unkeyed first, so that offsets are not all zero.
	if _, err := g1.Produce(ctx, "t", AcksAll, values(3, -1, "pre"), ""); err != nil {
		t.Fatal(err)
	}
	evs := keyedEvents("once")
	first, err := g1.Produce(ctx, "t", AcksAll, evs, "alice\x00pay-7")
	if err != nil {
		t.Fatal(err)
	}
	ends := logEnds(t, g1, "t")

	// The client retries through the other gateway, a moment later
	// (events without a timestamp get a new "now", yet the answer must
	// carry the stored ones).
	testwait.For(t, time.Second, time.Millisecond, func() error {
		if now := time.Now().UnixMilli(); now <= first[2].Timestamp {
			return fmt.Errorf("the clock is still at %d", now) // a retry must stamp a later "now"
		}
		return nil
	})
	again, err := g2.Produce(ctx, "t", AcksAll, keyedEvents("once"), "alice\x00pay-7")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(again, first) {
		t.Fatalf("retry through another gateway:\n got %+v\nwant %+v", again, first)
	}
	if got := logEnds(t, g1, "t"); !slices.Equal(got, ends) {
		t.Fatalf("the retry wrote: log ends %v, were %v", got, ends)
	}

	// Concurrent retries from both gateways: all get the first answer.
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		g := g1
		if i%2 == 1 {
			g = g2
		}
		wg.Go(func() {
			res, err := g.Produce(ctx, "t", AcksLeader, keyedEvents("once"), "alice\x00pay-7")
			if err == nil && !slices.Equal(res, first) {
				err = fmt.Errorf("concurrent retry got %+v", res)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}

	// The broker restarts: its memory of keys is rebuilt from the log.
	c.Stop(0)
	c.Restart(0)
	c.WaitForBrokers(1)
	var after []Result
	deadline := time.Now().Add(30 * time.Second)
	for {
		after, err = g1.Produce(ctx, "t", AcksAll, keyedEvents("once"), "alice\x00pay-7")
		if err == nil || apierr.As(err).Status != http.StatusServiceUnavailable || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(after, first) {
		t.Fatalf("retry after a broker restart:\n got %+v\nwant %+v", after, first)
	}
	if got := logEnds(t, g2, "t"); !slices.Equal(got, ends) {
		t.Fatalf("the retry after restart wrote: log ends %v, were %v", got, ends)
	}

	// A new key writes.
	fresh, err := g2.Produce(ctx, "t", AcksAll, keyedEvents("once"), "alice\x00pay-8")
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(fresh, first) {
		t.Fatal("a new key got the old answer")
	}
	// The same key from another caller (the REST layer scopes keys by
	// subject) is another key.
	other, err := g2.Produce(ctx, "t", AcksAll, keyedEvents("once"), "bob\x00pay-7")
	if err != nil || slices.Equal(other, first) {
		t.Fatalf("another subject's key: %+v %v", other, err)
	}
}

// TestIdempotencyKeyReused sends other events under a used key: a 409, and
// nothing is written. Like the test above, it needs the broker half.
func TestIdempotencyKeyReused(t *testing.T) {
	c := brokertest.Start(t, 1, brokertest.Options{})
	c.CreateTopic("t", 1, nil)
	b := newBackend(t, c)
	ctx := testCtx(t)
	if _, err := b.Produce(ctx, "t", AcksAll, values(3, 0, "first"), "k"); err != nil {
		t.Fatal(err)
	}
	_, err := b.Produce(ctx, "t", AcksAll, values(3, 0, "second"), "k")
	wantAPIError(t, err, http.StatusConflict, apierr.CodeConflict)
	_, err = b.Produce(ctx, "t", AcksAll, values(4, 0, "first"), "k")
	wantAPIError(t, err, http.StatusConflict, apierr.CodeConflict)
	if ends := logEnds(t, b, "t"); ends[0] != 3 {
		t.Fatalf("log end %d after a refused reuse, want 3", ends[0])
	}
}
