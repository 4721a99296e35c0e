package wsapi

import (
	"testing"
	"time"
)

// TestCatchUpDoesNotWaitForLongPoll: stored events reach a subscription
// from "earliest" at once, not after the long poll of the partition's tail
// (at the high watermark, waiting for new events) ends. The long-poll limit
// is 10 s here, so a catch-up read queued behind the tail's poll would
// deliver its first event after about 10 s.
func TestCatchUpDoesNotWaitForLongPoll(t *testing.T) {
	const maxWait = 10 * time.Second
	e := newEnv(t, envOptions{maxWait: maxWait})
	e.cluster.CreateTopic("stored", 1, nil)
	e.produce("stored", 0, 0, 5, 0)

	// A live subscriber keeps the partition's tail long-polling at the
	// high watermark.
	live := e.dialAuthed()
	live.subscribe("live", "stored", nil)
	for round := range 3 {
		c := e.dialAuthed()
		c.subscribe("s", "stored", map[string]any{"from": "earliest"})
		start := time.Now()
		for i := range 5 {
			f, err := c.next(2 * maxWait)
			if err != nil {
				t.Fatalf("round %d: event %d: %v", round, i, err)
			}
			if f.Type != "event" || f.Offset != int64(i) {
				t.Fatalf("round %d: got %s, want the event at offset %d", round, f.raw, i)
			}
			checkEvent(t, f, "stored")
		}
		d := time.Since(start)
		if d >= maxWait/2 {
			t.Fatalf("round %d: stored events took %v, as long as the long poll (%v): the catch-up read waited behind it", round, d, maxWait)
		}
		t.Logf("round %d: 5 stored events %v after subscribed", round, d)
	}
}
