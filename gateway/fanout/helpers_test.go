package fanout

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/runnel-dev/runnel/gateway/event"
)

// memLog is an in-memory Source: one partition whose events sit in a slice
// that tests append to (and trim) concurrently with readers. It ignores the
// topic and partition.
type memLog struct {
	mu     sync.Mutex
	start  int64
	events []event.Record // events[i].Offset == start+i
	notify chan struct{}  // closed and replaced on append
	reads  map[int64]int  // fetches per offset, for tests that look
	// damaged are ranges [from, to) that cannot be read: a fetch stops
	// before one, and a fetch in one fails with an *event.UnreadableError.
	damaged        [][2]int64
	unreadableHits int // fetches answered with an *event.UnreadableError
	// id is the topic ID reads report; gone, when set, fails every read.
	id   [16]byte
	gone error
}

// recreate gives the log a new topic ID and no events, as a topic deleted
// and created again, and wakes the readers.
func (l *memLog) recreate(id byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.id = [16]byte{id}
	l.start, l.events = 0, nil
	close(l.notify)
	l.notify = make(chan struct{})
}

// setGone makes reads fail with err (nil: read again) and wakes the readers.
func (l *memLog) setGone(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.gone = err
	close(l.notify)
	l.notify = make(chan struct{})
}

// damage makes [from, to) unreadable.
func (l *memLog) damage(from, to int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.damaged = append(l.damaged, [2]int64{from, to})
}

// unreadableFetches is how many fetches met damage.
func (l *memLog) unreadableFetches() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.unreadableHits
}

func newMemLog() *memLog {
	return &memLog{notify: make(chan struct{}), reads: make(map[int64]int)}
}

// append adds n events and returns the offset after them.
func (l *memLog) append(n int) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	for range n {
		off := l.start + int64(len(l.events))
		l.events = append(l.events, event.Record{
			Offset:    off,
			Timestamp: 1_700_000_000_000 + off,
			Key:       []byte("k"),
			Value:     fmt.Appendf(nil, "v%d", off),
		})
	}
	close(l.notify)
	l.notify = make(chan struct{})
	return l.start + int64(len(l.events))
}

// trim drops the events below off, as retention does.
func (l *memLog) trim(off int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	drop := min(off-l.start, int64(len(l.events)))
	l.events = slices.Clone(l.events[drop:])
	l.start += drop
}

func (l *memLog) Fetch(ctx context.Context, topic string, partition int32, offset int64, maxBytes int32) (event.Batch, error) {
	for {
		l.mu.Lock()
		if l.gone != nil {
			err := l.gone
			l.mu.Unlock()
			return event.Batch{}, err
		}
		hwm := l.start + int64(len(l.events))
		if offset < l.start || offset > hwm {
			l.mu.Unlock()
			return event.Batch{}, &event.OffsetOutOfRangeError{Topic: topic, Partition: partition, Offset: offset, LogStartOffset: l.start, HighWatermark: hwm}
		}
		if offset < hwm {
			end := hwm
			for _, d := range l.damaged {
				if offset >= d[0] && offset < d[1] {
					l.unreadableHits++
					l.mu.Unlock()
					return event.Batch{}, &event.UnreadableError{Topic: topic, Partition: partition, From: offset, To: d[1], Cause: errors.New("damaged")}
				}
				if d[0] > offset {
					end = min(end, d[0])
				}
			}
			evs := l.events[offset-l.start : end-l.start]
			n, total := 0, 0
			for n < len(evs) && (n == 0 || total+size(&evs[n]) <= int(maxBytes)) {
				total += size(&evs[n])
				n++
			}
			for _, e := range evs[:n] {
				l.reads[e.Offset]++
			}
			b := event.Batch{Records: evs[:n:n], NextOffset: evs[n-1].Offset + 1, HighWatermark: hwm, LogStartOffset: l.start, TopicID: l.id}
			l.mu.Unlock()
			return b, nil
		}
		ch := l.notify
		l.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return event.Batch{}, ctx.Err()
		}
	}
}

// assertFetchedOnce fails t unless every offset read was fetched once:
// by the shared tail, not by each subscriber.
func (l *memLog) assertFetchedOnce(t testing.TB) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for off, n := range l.reads {
		if n != 1 {
			t.Fatalf("offset %d fetched %d times, want once", off, n)
		}
	}
}

// recSink records the offsets delivered to it and can be held, making
// Deliver block until released.
type recSink struct {
	mu      sync.Mutex
	offsets []int64
	values  []string
	gate    chan struct{} // non-nil while held
	fail    error         // returned by the next Deliver
}

func (s *recSink) Deliver(ctx context.Context, events []event.Record) error {
	s.mu.Lock()
	gate, fail := s.gate, s.fail
	s.mu.Unlock()
	if fail != nil {
		return fail
	}
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range events {
		s.offsets = append(s.offsets, e.Offset)
		s.values = append(s.values, string(e.Value))
	}
	return nil
}

func (s *recSink) hold() {
	s.mu.Lock()
	s.gate = make(chan struct{})
	s.mu.Unlock()
}

func (s *recSink) release() {
	s.mu.Lock()
	close(s.gate)
	s.gate = nil
	s.mu.Unlock()
}

func (s *recSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.offsets)
}

// check says whether the sink got exactly the offsets [from, to), in order.
func (s *recSink) check(from, to int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if int64(len(s.offsets)) != to-from {
		return fmt.Errorf("got %d events, want %d (offsets %d to %d)", len(s.offsets), to-from, from, to)
	}
	for i, off := range s.offsets {
		if off != from+int64(i) {
			return fmt.Errorf("event %d has offset %d, want %d", i, off, from+int64(i))
		}
		if want := fmt.Sprintf("v%d", off); s.values[i] != want {
			return fmt.Errorf("event at offset %d has value %q, want %q", off, s.values[i], want)
		}
	}
	return nil
}

func newTestHub(t testing.TB, src Source, opts Options) *Hub {
	t.Helper()
	h, err := NewHub(src, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func (s *Subscription) isLive() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.live
}

// liveSink is a recSink that also takes events from the tail (LiveSink),
// refusing an offer while held or when refuse says so.
type liveSink struct {
	recSink
	offered, refused atomic.Int64
	refuse           func(n int64) bool // of the offer count; nil takes all
}

func (s *liveSink) Offer(events []event.Record) bool {
	n := s.offered.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gate != nil || s.fail != nil || (s.refuse != nil && s.refuse(n)) {
		s.refused.Add(1)
		return false
	}
	for _, e := range events {
		s.offsets = append(s.offsets, e.Offset)
		s.values = append(s.values, string(e.Value))
	}
	return true
}

// unreadableSink is a liveSink that is told of unreadable ranges
// (UnreadableSink), recording each with how many events came before it.
type unreadableSink struct {
	liveSink
	notices []notice
}

type notice struct {
	from, to int64
	after    int // events delivered before the notice
}

func (s *unreadableSink) Unreadable(ctx context.Context, err *event.UnreadableError) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.notices = append(s.notices, notice{err.From, err.To, len(s.offsets)})
	return nil
}

// checkSkipping says whether the sink got exactly the offsets [from, to)
// outside the skipped ranges, each skip told in its place.
func (s *unreadableSink) checkSkipping(from, to int64, skipped ...notice) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var want []int64
	for off := from; off < to; off++ {
		if !slices.ContainsFunc(skipped, func(n notice) bool { return off >= n.from && off < n.to }) {
			want = append(want, off)
		}
	}
	if !slices.Equal(s.offsets, want) {
		return fmt.Errorf("got offsets %v, want %v", s.offsets, want)
	}
	if !slices.Equal(s.notices, skipped) {
		return fmt.Errorf("got notices %+v, want %+v", s.notices, skipped)
	}
	return nil
}
