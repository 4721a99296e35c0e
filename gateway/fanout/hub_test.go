package fanout

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/gateway/event"
	"github.com/runnel-dev/runnel/internal/testwait"
)

func TestManySubscribersReceiveEverythingInOrder(t *testing.T) {
	log := newMemLog()
	h := newTestHub(t, log, Options{})
	const subs, events = 1000, 1000
	sinks := make([]*recSink, subs)
	for i := range sinks {
		sinks[i] = &recSink{}
		if _, err := h.Subscribe(t.Context(), "t", 0, Latest, sinks[i]); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for range events / 10 {
			log.append(10)
		}
	})
	wg.Wait()
	testwait.For(t, 60*time.Second, 20*time.Millisecond, func() error {
		for i, s := range sinks {
			if err := s.check(0, events); err != nil {
				return errors.Join(errors.New("subscriber "+itoa(i)), err)
			}
		}
		return nil
	})
	// One shared reader: every offset was fetched once, by the tail.
	log.assertFetchedOnce(t)
}

func TestSlowSubscriberDelaysNobodyAndLosesNothing(t *testing.T) {
	log := newMemLog()
	h := newTestHub(t, log, Options{MaxQueueEvents: 16})
	slow, fast := &recSink{}, &recSink{}
	slow.hold()
	slowSub, err := h.Subscribe(t.Context(), "t", 0, Latest, slow)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Subscribe(t.Context(), "t", 0, Latest, fast); err != nil {
		t.Fatal(err)
	}
	// The fast subscriber keeps receiving while the slow one is stuck.
	for round := int64(1); round <= 5; round++ {
		log.append(100)
		testwait.For(t, 10*time.Second, 5*time.Millisecond, func() error { return fast.check(0, round*100) })
	}
	if n := slow.count(); n != 0 {
		t.Fatalf("held subscriber got %d events", n)
	}
	if slowSub.isLive() {
		t.Fatal("held subscriber with a full queue is still fed by the tail")
	}
	slow.release()
	testwait.For(t, 10*time.Second, 5*time.Millisecond, func() error { return slow.check(0, 500) })
	// It rejoins the shared tail and follows it with no gap or duplicate.
	testwait.For(t, 10*time.Second, 5*time.Millisecond, func() error {
		if !slowSub.isLive() {
			return errors.New("caught-up subscriber has not rejoined the tail")
		}
		return nil
	})
	log.append(300)
	testwait.For(t, 10*time.Second, 5*time.Millisecond, func() error { return slow.check(0, 800) })
	testwait.For(t, 10*time.Second, 5*time.Millisecond, func() error { return fast.check(0, 800) })
	if got := slowSub.Next(); got != 800 {
		t.Fatalf("Next() = %d, want 800", got)
	}
}

// pausingSink is a test sink that can be held.
type pausingSink interface {
	Sink
	hold()
	release()
	check(from, to int64) error
}

func TestRepeatedPausesUnderLoad(t *testing.T) {
	// Sinks that stall now and then pause and rejoin many times while a
	// publisher writes; each must still see every event once, in order.
	// Live sinks also refuse some offers, which pauses them too.
	for _, live := range []bool{false, true} {
		t.Run(map[bool]string{false: "queued", true: "live"}[live], func(t *testing.T) {
			log := newMemLog()
			h := newTestHub(t, log, Options{MaxQueueEvents: 8, FetchMaxBytes: 64})
			sinks := make([]pausingSink, 8)
			var refusers []*liveSink
			for i := range sinks {
				sinks[i] = &recSink{}
				if live {
					ls := &liveSink{}
					if i%2 == 0 {
						k := int64(i + 2)
						ls.refuse = func(n int64) bool { return n%k == 0 }
						refusers = append(refusers, ls)
					}
					sinks[i] = ls
				}
				if _, err := h.Subscribe(t.Context(), "t", 0, Latest, sinks[i]); err != nil {
					t.Fatal(err)
				}
			}
			const events = 3000
			var wg sync.WaitGroup
			wg.Go(func() {
				for range events / 5 {
					log.append(5)
				}
			})
			wg.Go(func() {
				for i := range 40 {
					s := sinks[i%len(sinks)]
					s.hold()
					time.Sleep(time.Millisecond)
					s.release()
				}
			})
			wg.Wait()
			testwait.For(t, 30*time.Second, 10*time.Millisecond, func() error {
				for _, s := range sinks {
					if err := s.check(0, events); err != nil {
						return err
					}
				}
				return nil
			})
			for i, s := range refusers {
				if s.refused.Load() == 0 {
					t.Fatalf("live sink %d refused no offer; the test did not exercise the pause", i)
				}
			}
		})
	}
}

func TestSubscribeFromOldOffsetCatchesUpThenFollows(t *testing.T) {
	log := newMemLog()
	log.append(300)
	h := newTestHub(t, log, Options{MaxQueueEvents: 32, FetchMaxBytes: 256})
	// A subscriber at the tail first, so the tail reader exists and runs.
	tail := &recSink{}
	if _, err := h.Subscribe(t.Context(), "t", 0, Latest, tail); err != nil {
		t.Fatal(err)
	}
	earliest, mid := &recSink{}, &recSink{}
	if _, err := h.Subscribe(t.Context(), "t", 0, Earliest, earliest); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Subscribe(t.Context(), "t", 0, 100, mid); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for range 30 {
			log.append(10)
		}
	})
	wg.Wait()
	testwait.For(t, 10*time.Second, 5*time.Millisecond, func() error { return earliest.check(0, 600) })
	testwait.For(t, 10*time.Second, 5*time.Millisecond, func() error { return mid.check(100, 600) })
	testwait.For(t, 10*time.Second, 5*time.Millisecond, func() error { return tail.check(300, 600) })
}

func TestSubscribeOutOfRange(t *testing.T) {
	log := newMemLog()
	log.append(100)
	log.trim(50)
	h := newTestHub(t, log, Options{})
	for _, from := range []int64{0, 49, 101, 1 << 40} {
		_, err := h.Subscribe(t.Context(), "t", 0, from, &recSink{})
		var oor *event.OffsetOutOfRangeError
		if !errors.As(err, &oor) || !errors.Is(err, event.ErrOffsetOutOfRange) {
			t.Fatalf("from %d: err = %v, want an *event.OffsetOutOfRangeError", from, err)
		}
		if oor.Offset != from || oor.LogStartOffset != 50 || oor.HighWatermark != 100 {
			t.Fatalf("from %d: error %+v, want bounds [50, 100]", from, oor)
		}
	}
	if _, err := h.Subscribe(t.Context(), "t", 0, -7, &recSink{}); err == nil {
		t.Fatal("start offset -7 was accepted")
	}
	// Both bounds are valid starts.
	for _, from := range []int64{50, 100} {
		s, err := h.Subscribe(t.Context(), "t", 0, from, &recSink{})
		if err != nil {
			t.Fatalf("from %d: %v", from, err)
		}
		s.Unsubscribe()
	}
}

func TestRetentionPassingAPausedSubscriberEndsIt(t *testing.T) {
	log := newMemLog()
	h := newTestHub(t, log, Options{MaxQueueEvents: 4})
	slow := &recSink{}
	slow.hold()
	s, err := h.Subscribe(t.Context(), "t", 0, Latest, slow)
	if err != nil {
		t.Fatal(err)
	}
	log.append(100)
	testwait.For(t, 10*time.Second, 5*time.Millisecond, func() error {
		if s.isLive() {
			return errors.New("subscriber not paused yet")
		}
		return nil
	})
	log.trim(90)
	slow.release()
	select {
	case <-s.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("subscription did not end")
	}
	if !errors.Is(s.Err(), event.ErrOffsetOutOfRange) {
		t.Fatalf("Err() = %v, want out of range", s.Err())
	}
	// What it did get has no gap.
	slow.mu.Lock()
	defer slow.mu.Unlock()
	for i, off := range slow.offsets {
		if off != int64(i) {
			t.Fatalf("event %d has offset %d", i, off)
		}
	}
}

func TestSinkErrorEndsOnlyThatSubscription(t *testing.T) {
	log := newMemLog()
	h := newTestHub(t, log, Options{})
	bad, good := &recSink{fail: errors.New("socket closed")}, &recSink{}
	sb, err := h.Subscribe(t.Context(), "t", 0, Latest, bad)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Subscribe(t.Context(), "t", 0, Latest, good); err != nil {
		t.Fatal(err)
	}
	log.append(10)
	<-sb.Done()
	if sb.Err() == nil || sb.Err().Error() != "socket closed" {
		t.Fatalf("Err() = %v", sb.Err())
	}
	log.append(10)
	testwait.For(t, 10*time.Second, 5*time.Millisecond, func() error { return good.check(0, 20) })
}

func TestContextCancelEndsSubscription(t *testing.T) {
	log := newMemLog()
	h := newTestHub(t, log, Options{})
	ctx, cancel := context.WithCancel(t.Context())
	s, err := h.Subscribe(ctx, "t", 0, Latest, &recSink{})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case <-s.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("subscription did not end")
	}
	if !errors.Is(s.Err(), context.Canceled) {
		t.Fatalf("Err() = %v, want context.Canceled", s.Err())
	}
}

func TestNoGoroutineLeak(t *testing.T) {
	base := runtime.NumGoroutine()
	log := newMemLog()
	log.append(1000)
	h, err := NewHub(log, Options{MaxQueueEvents: 8})
	if err != nil {
		t.Fatal(err)
	}
	var subs []*Subscription
	for i := range 50 {
		sink := &recSink{}
		if i%3 == 0 {
			sink.hold() // stuck in Deliver: Unsubscribe must still end it
		}
		from := Latest
		if i%2 == 0 {
			from = Earliest // catching up: its own reader must stop too
		}
		s, err := h.Subscribe(t.Context(), "t", 0, from, sink)
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, s)
	}
	log.append(100)
	for _, s := range subs[:25] {
		s.Unsubscribe()
		if s.Err() != nil {
			t.Fatalf("Err() after Unsubscribe = %v", s.Err())
		}
	}
	// Close ends the rest and waits for every goroutine.
	h.Close()
	for _, s := range subs[25:] {
		<-s.Done()
	}
	if _, err := h.Subscribe(t.Context(), "t", 0, Latest, &recSink{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Subscribe after Close: %v", err)
	}
	testwait.For(t, 5*time.Second, 10*time.Millisecond, func() error {
		if n := runtime.NumGoroutine(); n > base {
			return errors.New("goroutines: " + itoa(n) + ", before: " + itoa(base))
		}
		return nil
	})
}

func TestTailStopsWithLastSubscriber(t *testing.T) {
	log := newMemLog()
	h := newTestHub(t, log, Options{})
	s1, _ := h.Subscribe(t.Context(), "t", 0, Latest, &recSink{})
	s2, _ := h.Subscribe(t.Context(), "t", 0, Latest, &recSink{})
	h.mu.Lock()
	p := h.parts[partKey{"t", 0}]
	h.mu.Unlock()
	s1.Unsubscribe()
	select {
	case <-p.done:
		t.Fatal("tail stopped while a subscriber remains")
	default:
	}
	s2.Unsubscribe()
	select {
	case <-p.done:
	default:
		t.Fatal("tail still running after the last Unsubscribe")
	}
	h.mu.Lock()
	n := len(h.parts)
	h.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d partitions left", n)
	}
}

func TestOptionsValidate(t *testing.T) {
	if _, err := NewHub(newMemLog(), Options{MaxQueueEvents: -1}); err == nil {
		t.Fatal("negative MaxQueueEvents accepted")
	}
	if _, err := NewHub(nil, Options{}); err == nil {
		t.Fatal("nil Source accepted")
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestCaughtUpLiveSubscribersHoldNoGoroutine: subscribers of a LiveSink
// that are caught up cost no goroutine each (one idle subscriber per
// WebSocket, thousands of sockets); one that falls behind gets one to
// catch up, and gives it up once live again.
func TestCaughtUpLiveSubscribersHoldNoGoroutine(t *testing.T) {
	log := newMemLog()
	log.append(10)
	h := newTestHub(t, log, Options{})
	base := runtime.NumGoroutine()
	const subs = 100
	sinks := make([]*liveSink, subs)
	for i := range sinks {
		sinks[i] = &liveSink{}
		if _, err := h.Subscribe(t.Context(), "t", 0, Latest, sinks[i]); err != nil {
			t.Fatal(err)
		}
	}
	idle := func() error {
		// The partition's tail reader, and nothing per subscriber.
		if n := runtime.NumGoroutine() - base; n > 1 {
			return fmt.Errorf("%d goroutines for %d caught-up subscribers", n, subs)
		}
		return nil
	}
	testwait.For(t, 10*time.Second, 5*time.Millisecond, idle)
	log.append(10)
	for _, s := range sinks {
		testwait.For(t, 10*time.Second, 5*time.Millisecond, func() error { return s.check(10, 20) })
	}
	testwait.For(t, 10*time.Second, 5*time.Millisecond, idle)

	// A subscriber that falls behind catches up on a goroutine of its
	// own, then gives it up.
	sinks[0].hold()
	log.append(10)
	testwait.For(t, 10*time.Second, 5*time.Millisecond, func() error {
		if sinks[0].refused.Load() == 0 {
			return errors.New("the held sink was not offered the events")
		}
		return nil
	})
	sinks[0].release()
	testwait.For(t, 10*time.Second, 5*time.Millisecond, func() error { return sinks[0].check(10, 30) })
	testwait.For(t, 10*time.Second, 5*time.Millisecond, idle)
}

// endSink records what Ended is told.
type endSink struct {
	recSink
	mu    sync.Mutex
	ended []error
}

func (s *endSink) Ended(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ended = append(s.ended, err)
}

// TestEndSinkIsToldOnce: an EndSink hears of its subscription's end once,
// with what Err returns, however it ended.
func TestEndSinkIsToldOnce(t *testing.T) {
	log := newMemLog()
	h := newTestHub(t, log, Options{})
	failing := errors.New("socket closed")
	ctx, cancel := context.WithCancel(t.Context())
	byUnsubscribe, byFailure, byContext := &endSink{}, &endSink{recSink: recSink{fail: failing}}, &endSink{}
	var subs []*Subscription
	for _, tc := range []struct {
		ctx  context.Context
		sink *endSink
	}{{t.Context(), byUnsubscribe}, {t.Context(), byFailure}, {ctx, byContext}} {
		s, err := h.Subscribe(tc.ctx, "t", 0, Latest, tc.sink)
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, s)
	}
	log.append(5)
	subs[0].Unsubscribe()
	cancel()
	for _, s := range subs {
		<-s.Done()
	}
	for _, tc := range []struct {
		sink *endSink
		want error
	}{{byUnsubscribe, nil}, {byFailure, failing}, {byContext, context.Canceled}} {
		testwait.For(t, 10*time.Second, 5*time.Millisecond, func() error {
			tc.sink.mu.Lock()
			defer tc.sink.mu.Unlock()
			if len(tc.sink.ended) != 1 || !errors.Is(tc.sink.ended[0], tc.want) || (tc.want == nil && tc.sink.ended[0] != nil) {
				return fmt.Errorf("Ended calls %v, want one with %v", tc.sink.ended, tc.want)
			}
			return nil
		})
	}
}
