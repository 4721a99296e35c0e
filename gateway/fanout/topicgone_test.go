package fanout

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/gateway/event"
	"github.com/runnel-dev/runnel/internal/testwait"
)

// endsWith waits for s to end and checks it ended with a TopicGoneError
// whose Recreated is recreated.
func endsWith(t *testing.T, s *Subscription, recreated bool) {
	t.Helper()
	select {
	case <-s.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("subscription did not end")
	}
	var tg *event.TopicGoneError
	if !errors.As(s.Err(), &tg) || tg.Recreated != recreated {
		t.Fatalf("Err() = %v, want a TopicGoneError with Recreated %v", s.Err(), recreated)
	}
}

// A topic created again under its name (reads answer another topic ID) ends
// the partition's subscriptions, live and catching up alike, instead of
// feeding them the new topic's events as if they were the old one's.
func TestRecreatedTopicEndsSubscriptions(t *testing.T) {
	log := newMemLog()
	log.id = [16]byte{1}
	h := newTestHub(t, log, Options{})
	log.append(10)
	live, slow := &liveSink{}, &recSink{}
	sl, err := h.Subscribe(t.Context(), "t", 0, Earliest, live)
	if err != nil {
		t.Fatal(err)
	}
	slow.hold()
	ss, err := h.Subscribe(t.Context(), "t", 0, Earliest, slow)
	if err != nil {
		t.Fatal(err)
	}
	waitCount(t, &live.recSink, 10)
	log.recreate(2)
	log.append(20) // more than the old topic had: offsets 0..19 are the new topic's
	endsWith(t, sl, true)
	slow.release()
	endsWith(t, ss, true)
	if err := live.check(0, 10); err != nil {
		t.Errorf("live subscriber: %v (none of the new topic's events)", err)
	}
	// A new subscription follows the new topic.
	fresh := &liveSink{}
	if _, err := h.Subscribe(t.Context(), "t", 0, Earliest, fresh); err != nil {
		t.Fatal(err)
	}
	waitCount(t, &fresh.recSink, 20)
}

// A deleted topic (the source says so) ends the partition's subscriptions;
// a subscription made afterwards reads again.
func TestDeletedTopicEndsSubscriptions(t *testing.T) {
	log := newMemLog()
	h := newTestHub(t, log, Options{})
	log.append(3)
	sink := &liveSink{}
	s, err := h.Subscribe(t.Context(), "t", 0, Latest, sink)
	if err != nil {
		t.Fatal(err)
	}
	log.setGone(&event.TopicGoneError{Topic: "t"})
	endsWith(t, s, false)
	log.setGone(nil)
	again := &liveSink{}
	if _, err := h.Subscribe(t.Context(), "t", 0, Latest, again); err != nil {
		t.Fatal(err)
	}
	log.append(2)
	waitCount(t, &again.recSink, 2)
}

func waitCount(t *testing.T, s *recSink, n int) {
	t.Helper()
	testwait.For(t, 10*time.Second, 5*time.Millisecond, func() error {
		if c := s.count(); c < n {
			return fmt.Errorf("sink has %d events, want %d", c, n)
		}
		return nil
	})
}
