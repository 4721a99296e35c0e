package fanout

import (
	"testing"
	"time"

	"github.com/runnel-dev/runnel/internal/testwait"
)

func TestLiveSinkTakesEventsFromTheTail(t *testing.T) {
	log := newMemLog()
	h := newTestHub(t, log, Options{})
	s := &liveSink{}
	sub, err := h.Subscribe(t.Context(), "t", 0, Latest, s)
	if err != nil {
		t.Fatal(err)
	}
	for range 50 {
		log.append(2)
	}
	testwait.For(t, 10*time.Second, 5*time.Millisecond, func() error { return s.check(0, 100) })
	if s.offered.Load() == 0 || s.refused.Load() != 0 {
		t.Fatalf("%d offers, %d refused; want the tail to offer every batch", s.offered.Load(), s.refused.Load())
	}
	if got := sub.Next(); got != 100 {
		t.Fatalf("Next() = %d, want 100", got)
	}
	// Every event came from the shared tail: one fetch per offset.
	log.assertFetchedOnce(t)
}
