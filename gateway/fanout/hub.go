package fanout

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/runnel-dev/runnel/gateway/event"
)

// Special start offsets for Subscribe.
const (
	// Latest starts at the high watermark: only events produced from now on.
	Latest int64 = -1
	// Earliest starts at the log start offset: everything still stored.
	Earliest int64 = -2
)

// ErrClosed is returned by Subscribe after Close; the caller should give up
// (the gateway is shutting down).
var ErrClosed = errors.New("fanout: hub closed")

// Sink receives the events of one subscription.
type Sink interface {
	// Deliver is called from one goroutine per subscription, never
	// concurrently for one subscription, with a non-empty run of events in
	// offset order: across calls there is no gap and no duplicate. The
	// events are shared with other subscribers: read them, do not modify
	// them, and do not keep the slice after returning.
	//
	// Blocking in Deliver pauses this subscription only: the shared tail
	// and the other subscribers go on, and this one catches up from the
	// log afterwards. ctx is done when the subscription ends; Deliver
	// should then return promptly. A non-nil error ends the subscription
	// with that error.
	Deliver(ctx context.Context, events []event.Record) error
}

// EndSink is a Sink told when its subscription has ended, whatever ended
// it: it spares its owner a goroutine waiting on Subscription.Done per
// subscription. Ended is called once, with what Subscription.Err returns,
// after Done is closed, on the hub's goroutine: it must not block or call
// the hub.
type EndSink interface {
	Sink
	Ended(err error)
}

// LiveSink is a Sink that can also take events straight from the shared
// tail, without a hop through the subscription's goroutine. While the
// subscriber is caught up the hub calls Offer instead of Deliver; the
// subscription's goroutine then only runs to catch up.
type LiveSink interface {
	Sink
	// Offer takes all of events (true) or none (false), without
	// blocking: it runs on the tail's goroutine with the partition's lock
	// held, so it must not wait or call the hub. The events are in offset
	// order, with no gap or duplicate across Offer and Deliver calls. The
	// sink may keep the slice until it has sent the events: the hub never
	// modifies it. After false the subscriber is paused and gets the
	// events through Deliver, from the log, when there is room again.
	Offer(events []event.Record) bool
}

// Options tune a Hub. The zero value uses the defaults.
type Options struct {
	// MaxQueueEvents bounds the events buffered for one subscriber,
	// including those being delivered. A subscriber whose queue is full is
	// paused and catches up from the log. Default 1024.
	MaxQueueEvents int
	// MaxQueueBytes bounds the key, value and header bytes buffered for one
	// subscriber, as MaxQueueEvents does. A single event larger than this
	// is still queued when the queue is empty. Default 4 MiB.
	MaxQueueBytes int
	// FetchMaxBytes is the maxBytes of every Fetch, by the shared tail and
	// by catching-up subscribers alike. Default 1 MiB.
	FetchMaxBytes int32
	// RetryBackoff is how long a reader waits after a failed Fetch before
	// trying again. Default 200 ms.
	RetryBackoff time.Duration
	// Logger receives fetch failures. Default: discard.
	Logger *slog.Logger
}

// Validate says what is wrong with o, in plain words.
func (o Options) Validate() error {
	switch {
	case o.MaxQueueEvents < 0:
		return fmt.Errorf("fanout: MaxQueueEvents is %d; it must be positive, or 0 for the default", o.MaxQueueEvents)
	case o.MaxQueueBytes < 0:
		return fmt.Errorf("fanout: MaxQueueBytes is %d; it must be positive, or 0 for the default", o.MaxQueueBytes)
	case o.FetchMaxBytes < 0:
		return fmt.Errorf("fanout: FetchMaxBytes is %d; it must be positive, or 0 for the default", o.FetchMaxBytes)
	case o.RetryBackoff < 0:
		return fmt.Errorf("fanout: RetryBackoff is %v; it must be positive, or 0 for the default", o.RetryBackoff)
	}
	return nil
}

func (o *Options) fill() {
	if o.MaxQueueEvents == 0 {
		o.MaxQueueEvents = 1024
	}
	if o.MaxQueueBytes == 0 {
		o.MaxQueueBytes = 4 << 20
	}
	if o.FetchMaxBytes == 0 {
		o.FetchMaxBytes = 1 << 20
	}
	if o.RetryBackoff == 0 {
		o.RetryBackoff = 200 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
}

type partKey struct {
	topic     string
	partition int32
}

// Hub shares one tail reader per partition among all its subscribers. It is
// safe for concurrent use.
//
// A subscription has a goroutine of its own only while it catches up, has
// queued events to deliver or is ending; the wait group counts
// subscriptions until they have ended.
//
// Lock order: Hub.mu, then partition.mu, then Subscription.mu. No lock is
// held while calling the Source or a Sink.
type Hub struct {
	src  Source
	opts Options
	// fetchStored is the catch-up read: src's FetchStored when it is a
	// StoredSource, else its Fetch.
	fetchStored func(ctx context.Context, topic string, partition int32, offset int64, maxBytes int32) (event.Batch, error)

	mu     sync.Mutex
	closed bool
	parts  map[partKey]*partition
	subs   map[*Subscription]struct{}
	wg     sync.WaitGroup // one per subscription not ended yet
}

// NewHub returns a hub reading from src.
func NewHub(src Source, opts Options) (*Hub, error) {
	if src == nil {
		return nil, errors.New("fanout: nil Source")
	}
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts.fill()
	h := &Hub{
		src:         src,
		opts:        opts,
		fetchStored: src.Fetch,
		parts:       make(map[partKey]*partition),
		subs:        make(map[*Subscription]struct{}),
	}
	if ss, ok := src.(StoredSource); ok {
		h.fetchStored = ss.FetchStored
	}
	return h, nil
}

// Subscribe starts delivering the events of topic/partition to sink from
// offset from (an offset, Latest or Earliest) until ctx is done,
// Unsubscribe is called, the hub closes, or sink fails.
//
// Subscribe blocks while it asks the source for the partition's bounds. An
// offset outside [log start, high watermark] fails with an
// *event.OffsetOutOfRangeError. A subscriber starting behind the shared
// tail reads from the log on its own until it reaches it.
func (h *Hub) Subscribe(ctx context.Context, topic string, partition int32, from int64, sink Sink) (*Subscription, error) {
	if sink == nil {
		return nil, errors.New("fanout: nil Sink")
	}
	if from < 0 && from != Latest && from != Earliest {
		return nil, fmt.Errorf("fanout: start offset %d is neither an offset nor Latest or Earliest", from)
	}
	logStart, hwm, err := h.bounds(ctx, topic, partition)
	if err != nil {
		return nil, err
	}
	start := from
	switch from {
	case Latest:
		start = hwm
	case Earliest:
		start = logStart
	default:
		if from < logStart || from > hwm {
			return nil, &event.OffsetOutOfRangeError{Topic: topic, Partition: partition, Offset: from, LogStartOffset: logStart, HighWatermark: hwm}
		}
	}

	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrClosed
	}
	key := partKey{topic, partition}
	p := h.parts[key]
	if p == nil {
		p = newPartition(h, key, hwm)
		h.parts[key] = p
	}
	p.refs++
	sctx, cancel := context.WithCancel(ctx)
	s := &Subscription{
		hub:    h,
		p:      p,
		sink:   sink,
		parent: ctx,
		ctx:    sctx,
		cancel: cancel,
		done:   make(chan struct{}),
		next:   start,
	}
	s.offer, _ = sink.(LiveSink)
	s.delivered.Store(start)
	h.subs[s] = struct{}{}
	h.wg.Add(1) // until the subscription has ended
	s.mu.Lock() // finish reads stopWatch, maybe soon: ctx may be done
	s.stopWatch = noWatch
	if ctx.Done() != nil { // a context that never ends needs no watcher
		s.stopWatch = context.AfterFunc(ctx, s.stop)
	}
	s.mu.Unlock()
	// A subscriber at or past the tail joins it now, saving a catch-up
	// read of what the tail is about to fan out anyway; one behind it
	// needs its goroutine to catch up.
	if !s.tryJoin() {
		s.poke()
	}
	return s, nil
}

func noWatch() bool { return false }

// bounds learns a partition's log start offset and high watermark: from the
// Source's Bounds when it has one, else by asking for an offset no log
// reaches, which the Source contract answers with an
// *event.OffsetOutOfRangeError at once.
func (h *Hub) bounds(ctx context.Context, topic string, partition int32) (logStart, hwm int64, err error) {
	if b, ok := h.src.(Bounder); ok {
		if logStart, hwm, err = b.Bounds(ctx, topic, partition); err != nil {
			return 0, 0, fmt.Errorf("fanout: bounds of %s/%d: %w", topic, partition, err)
		}
		return logStart, hwm, nil
	}
	_, err = h.src.Fetch(ctx, topic, partition, math.MaxInt64, 1)
	var oor *event.OffsetOutOfRangeError
	if errors.As(err, &oor) {
		return oor.LogStartOffset, oor.HighWatermark, nil
	}
	if err == nil {
		err = errors.New("source answered a fetch past the end of the log without an out-of-range error")
	}
	return 0, 0, fmt.Errorf("fanout: bounds of %s/%d: %w", topic, partition, err)
}

// release drops a subscription's hold on its partition, stopping the tail
// reader when it was the last one, and waits for that reader to exit.
func (h *Hub) release(s *Subscription) {
	h.mu.Lock()
	delete(h.subs, s)
	p := s.p
	p.refs--
	last := p.refs == 0
	if last {
		if h.parts[p.key] == p { // a partition whose topic is gone has left already
			delete(h.parts, p.key)
		}
		p.cancel()
	}
	h.mu.Unlock()
	if last {
		<-p.done
	}
}

// Close ends every subscription and waits until every goroutine of the hub
// has exited. Subscribe fails with ErrClosed afterwards.
func (h *Hub) Close() error {
	h.mu.Lock()
	h.closed = true
	for s := range h.subs {
		s.stop()
	}
	h.mu.Unlock()
	h.wg.Wait()
	return nil
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
