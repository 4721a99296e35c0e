package wsapi

import (
	"strings"
	"testing"
	"time"
)

// eventsOf returns the events a frame carries, each as an event frame
// with the frame's id and topic: one for an event frame, every item of
// an events frame. It fails the test for an events frame outside the
// documented bounds.
func eventsOf(t *testing.T, f frame) []frame {
	t.Helper()
	switch f.Type {
	case "event":
		return []frame{f}
	case "events":
		if len(f.Events) < 2 || len(f.Events) > maxBatchEvents {
			t.Fatalf("an events frame with %d events, want 2 to %d", len(f.Events), maxBatchEvents)
		}
		if len(f.raw) > maxBatchBytes+4<<10 {
			t.Fatalf("an events frame of %d bytes, want about %d at most", len(f.raw), maxBatchBytes)
		}
		out := make([]frame, len(f.Events))
		for i, e := range f.Events {
			e.Type, e.ID, e.Topic, e.raw = "event", f.ID, f.Topic, f.raw
			out[i] = e
		}
		return out
	}
	t.Fatalf("want an event or events frame, got %s", f.raw)
	return nil
}

// TestBatchedEvents: a subscription with "batch" that catches up gets its
// events several to a frame, every one once and in order per partition,
// while a subscription without it on the same socket gets event frames
// only; once caught up, a lone event goes at once, as an event frame byte
// for byte like the unbatched one's.
func TestBatchedEvents(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.pad = strings.Repeat("x", 100)
	e.cluster.CreateTopic("batch", 2, nil)
	const stored = 1500
	e.produce("batch", 0, 0, stored, 0)
	e.produce("batch", 1, 0, stored, 0)

	c := e.dialAuthed()
	r := newReceived(t, "batch")
	// Both subscribe before any event is read: the events of the first
	// may come before the second's subscribed frame.
	c.send(map[string]any{"type": "subscribe", "id": "plain", "topic": "batch", "from": "earliest"})
	c.send(map[string]any{"type": "subscribe", "id": "batched", "topic": "batch", "from": "earliest", "batch": true})
	for _, id := range []string{"plain", "batched"} {
		r.expectFrom(id, 0, 0)
		r.expectFrom(id, 1, 0)
	}
	r.until(c, map[string]map[int32]int64{"plain": {0: stored, 1: stored}, "batched": {0: stored, 1: stored}})
	frames := r.frames
	if frames["plain events"] > 0 {
		t.Fatalf("events frames for a subscription without batch: %v", frames)
	}
	if frames["plain event"] != 2*stored {
		t.Fatalf("plain: %v frames, want %d event frames", frames, 2*stored)
	}
	if frames["batched events"] == 0 || frames["batched events"]+frames["batched event"] >= 2*stored {
		t.Fatalf("batched: %v frames for %d events, want events frames carrying several", frames, 2*stored)
	}

	// Caught up: one event is sent at once, alone, as an event frame; no
	// second event comes to complete a batch.
	e.produce("batch", 1, stored, 1, 0)
	got := map[string]string{}
	for range 2 {
		f, err := c.next(20 * time.Second)
		if err != nil {
			t.Fatalf("a lone event was not sent: %v", err)
		}
		if f.Type != "event" || f.Partition != 1 || f.Offset != stored {
			t.Fatalf("want the lone event as an event frame, got %.300s", f.raw)
		}
		got[f.ID] = f.raw
	}
	if want := strings.Replace(got["plain"], `"id":"plain"`, `"id":"batched"`, 1); got["batched"] != want {
		t.Fatalf("the batched subscription's lone event frame\n%s\ndiffers from the unbatched one's\n%s", got["batched"], want)
	}

	// Live: a burst the tail offers straight to the socket arrives in
	// order too, however it is split into frames.
	const burst = 1000
	e.produce("batch", 0, stored, burst, 0)
	r.next["plain"][1]++
	r.next["batched"][1]++
	clear(r.frames)
	r.until(c, map[string]map[int32]int64{"plain": {0: stored + burst}, "batched": {0: stored + burst}})
	if r.frames["plain events"] > 0 {
		t.Fatalf("events frames for a subscription without batch: %v", r.frames)
	}
	t.Logf("live burst of %d events: %v frames", burst, r.frames)
}

// TestBatchedEventsUnsubscribe: after an unsubscribe, no more events of a
// batched subscription are sent.
func TestBatchedEventsUnsubscribe(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.cluster.CreateTopic("bunsub", 1, nil)
	e.cluster.CreateTopic("bunsub-probe", 1, nil)
	e.produce("bunsub", 0, 0, 50, 0)
	c := e.dialAuthed()
	c.subscribe("s", "bunsub", map[string]any{"from": "earliest", "batch": true})
	next := int64(0)
	for next < 50 {
		f, err := c.next(20 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range eventsOf(t, f) {
			if ev.ID != "s" || ev.Offset != next {
				t.Fatalf("want offset %d of s, got %.200s", next, f.raw)
			}
			checkEvent(t, ev, "bunsub")
			next++
		}
	}
	c.send(map[string]any{"type": "unsubscribe", "id": "s"})
	c.subscribe("probe", "bunsub-probe", nil)
	e.produce("bunsub", 0, 50, 20, 0)
	e.produce("bunsub-probe", 0, 0, 1, 0)
	if f := c.expect("event", "probe"); f.Offset != 0 {
		t.Fatalf("probe: %s", f.raw)
	}
}
