package backend

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/gateway/apierr"
	"github.com/runnel-dev/runnel/gateway/event"
)

func TestFetch(t *testing.T) {
	c := brokertest.Start(t, 1, brokertest.Options{})
	c.CreateTopic("log", 2, nil)
	b := newBackend(t, c)
	ctx := testCtx(t)
	for i := range 5 { // five batches of ten
		if _, err := b.Produce(ctx, "log", AcksAll, values(10, 0, fmt.Sprintf("b%d-", i)), ""); err != nil {
			t.Fatal(err)
		}
	}

	// Limit bounds the events even inside a batch; NextOffset follows.
	res, err := b.Fetch(ctx, "log", 0, 3, FetchOptions{Limit: 4})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Records) != 4 || res.Records[0].Offset != 3 || res.Records[3].Offset != 6 || res.NextOffset != 7 ||
		res.HighWatermark != 50 || res.LogStartOffset != 0 || string(res.Records[0].Value) != "b0-3" {
		t.Fatalf("fetch at 3 limit 4: %d records, next %d, bounds [%d, %d]", len(res.Records), res.NextOffset, res.LogStartOffset, res.HighWatermark)
	}
	// Without a limit, the default; reading on from NextOffset reaches the end.
	res, err = b.Fetch(ctx, "log", 0, 7, FetchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Records) != 43 || res.NextOffset != 50 || string(res.Records[42].Value) != "b4-9" {
		t.Fatalf("fetch at 7: %d records, next %d", len(res.Records), res.NextOffset)
	}
	for i, r := range res.Records {
		if r.Offset != int64(7+i) || r.Partition != 0 {
			t.Fatalf("record %d: partition %d offset %d", i, r.Partition, r.Offset)
		}
	}

	// At the high watermark with no wait: an empty answer at once.
	start := time.Now()
	res, err = b.Fetch(ctx, "log", 0, 50, FetchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Records) != 0 || res.NextOffset != 50 {
		t.Fatalf("fetch at the end: %d records, next %d", len(res.Records), res.NextOffset)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("a fetch without wait took %v", d)
	}
	// With a wait, an empty partition answers after about the wait...
	start = time.Now()
	res, err = b.Fetch(ctx, "log", 1, 0, FetchOptions{Wait: 300 * time.Millisecond})
	if err != nil || len(res.Records) != 0 {
		t.Fatalf("long poll of an empty partition: %v, %d records", err, len(res.Records))
	}
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Fatalf("a fetch with a 300ms wait answered after %v", d)
	}
	// ...and as soon as an event arrives.
	got := make(chan event.Batch, 1)
	go func() {
		res, err := b.Fetch(ctx, "log", 1, 0, FetchOptions{Wait: 20 * time.Second})
		if err != nil {
			t.Error(err)
		}
		got <- res
	}()
	for {
		if _, err := b.Produce(ctx, "log", AcksAll, values(1, 1, "late"), ""); err != nil {
			t.Fatal(err)
		}
		select {
		case res := <-got:
			if len(res.Records) == 0 || string(res.Records[0].Value) != "late0" {
				t.Fatalf("long poll woke with %+v", res)
			}
			return
		case <-time.After(time.Second):
			// The poll may have started after the first produce: produce
			// again, the wait must end with the next one.
			t.Log("long poll not answered yet; producing again")
		}
	}
}

func TestFetchRefusals(t *testing.T) {
	c := brokertest.Start(t, 1, brokertest.Options{})
	c.CreateTopic("log", 1, nil)
	b := newBackend(t, c)
	ctx := testCtx(t)
	if _, err := b.Produce(ctx, "log", AcksAll, values(10, 0, "v"), ""); err != nil {
		t.Fatal(err)
	}
	_, err := b.Fetch(ctx, "nope", 0, 0, FetchOptions{})
	wantAPIError(t, err, http.StatusNotFound, apierr.CodeTopicNotFound)
	_, err = b.Fetch(ctx, "log", 1, 0, FetchOptions{})
	wantAPIError(t, err, http.StatusNotFound, apierr.CodePartitionNotFound)
	_, err = b.Fetch(ctx, "log", 0, -1, FetchOptions{})
	wantAPIError(t, err, http.StatusBadRequest, apierr.CodeInvalidRequest)

	_, err = b.Fetch(ctx, "log", 0, 11, FetchOptions{})
	ae := wantAPIError(t, err, http.StatusRequestedRangeNotSatisfiable, apierr.CodeOffsetOutOfRange)
	if ae.Extra["log_start_offset"] != int64(0) || ae.Extra["high_watermark"] != int64(10) {
		t.Fatalf("416 extra %v, want log_start_offset 0 and high_watermark 10", ae.Extra)
	}
}

// TestFetchOfStoredEventsDoesNotWaitBehindLongPoll: reading stored events
// of a partition whose long poll at the high watermark is in flight (a
// WebSocket tail, another REST consumer) answers at once, not after the
// poll's wait (10 s here): both would otherwise share the partition's fetch
// connection, answered in order.
func TestFetchOfStoredEventsDoesNotWaitBehindLongPoll(t *testing.T) {
	const longPoll = 10 * time.Second
	c := brokertest.Start(t, 1, brokertest.Options{})
	c.CreateTopic("busy", 1, nil)
	b := newBackend(t, c)
	ctx := testCtx(t)
	if _, err := b.Produce(ctx, "busy", AcksAll, values(5, 0, "v"), ""); err != nil {
		t.Fatal(err)
	}
	first, err := b.Fetch(ctx, "busy", 0, 0, FetchOptions{})
	if err != nil || len(first.Records) != 5 {
		t.Fatalf("first read: %d events, %v", len(first.Records), err)
	}

	polled := make(chan error, 1)
	go func() {
		_, err := b.Fetch(ctx, "busy", 0, 5, FetchOptions{Wait: longPoll})
		polled <- err
	}()
	// For a second after the long poll went out, every read of the
	// stored events is answered well before the poll ends.
	for start := time.Now(); time.Since(start) < time.Second; {
		t0 := time.Now()
		got, err := b.Fetch(ctx, "busy", 0, 0, FetchOptions{Wait: longPoll})
		if err != nil || len(got.Records) != 5 {
			t.Fatalf("read: %d events, %v", len(got.Records), err)
		}
		if d := time.Since(t0); d >= longPoll/2 {
			t.Fatalf("a read of stored events took %v: it waited behind the long poll (%v)", d, longPoll)
		}
	}
	if err := <-polled; err != nil {
		t.Fatal(err)
	}
}
