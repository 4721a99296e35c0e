package fanout

import (
	"errors"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/gateway/event"
	"github.com/runnel-dev/runnel/internal/testwait"
)

// TestUnreadableRangeIsToldAndSkipped: live, catching-up and mid-range
// subscribers of a partition with damaged data each get every readable
// event, are told of the damage in its place, and go on after it at once,
// each meeting the damage once (a retry would wait RetryBackoff, an hour).
func TestUnreadableRangeIsToldAndSkipped(t *testing.T) {
	log := newMemLog()
	h := newTestHub(t, log, Options{RetryBackoff: time.Hour})
	live := &unreadableSink{}
	if _, err := h.Subscribe(t.Context(), "t", 0, Latest, live); err != nil {
		t.Fatal(err)
	}
	log.damage(3, 6)
	log.append(10)
	behind, inside := &unreadableSink{}, &unreadableSink{}
	if _, err := h.Subscribe(t.Context(), "t", 0, Earliest, behind); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Subscribe(t.Context(), "t", 0, 4, inside); err != nil {
		t.Fatal(err)
	}
	log.append(5)
	for name, tc := range map[string]struct {
		s    *unreadableSink
		from int64
		skip notice
	}{
		"live":   {live, 0, notice{3, 6, 3}},
		"behind": {behind, 0, notice{3, 6, 3}},
		"inside": {inside, 4, notice{4, 6, 0}},
	} {
		testwait.For(t, 10*time.Second, 5*time.Millisecond, func() error {
			if err := tc.s.checkSkipping(tc.from, 15, tc.skip); err != nil {
				return errors.New(name + ": " + err.Error())
			}
			return nil
		})
	}
	// The tail and each subscriber met the damage once.
	if n := log.unreadableFetches(); n < 1 || n > 4 {
		t.Fatalf("%d fetches met the damage; want one per reader, at most 4", n)
	}
}

// TestUnreadableEndsASubscriptionThatCannotBeTold: a Sink that is not an
// UnreadableSink is not skipped past the damage silently; its subscription
// ends with the *event.UnreadableError after the events before it.
func TestUnreadableEndsASubscriptionThatCannotBeTold(t *testing.T) {
	log := newMemLog()
	log.damage(3, 6)
	log.append(10)
	h := newTestHub(t, log, Options{RetryBackoff: time.Hour})
	sink := &recSink{}
	s, err := h.Subscribe(t.Context(), "t", 0, Earliest, sink)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("subscription did not end")
	}
	var ue *event.UnreadableError
	if !errors.As(s.Err(), &ue) || !errors.Is(s.Err(), event.ErrUnreadable) || ue.From != 3 || ue.To != 6 {
		t.Fatalf("Err() = %v, want an *event.UnreadableError for [3, 6)", s.Err())
	}
	if err := sink.check(0, 3); err != nil {
		t.Fatal(err)
	}
	if s.Next() != 3 {
		t.Fatalf("Next() = %d, want 3: nothing was skipped", s.Next())
	}
}
