package fanout

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/runnel-dev/runnel/gateway/event"
)

// Subscription is one subscriber of a partition. Its goroutine delivers
// queued events to the Sink and, while the subscriber is behind the shared
// tail, reads the log at its own offset. The goroutine runs only while
// there is such work, or to end the subscription: a caught-up subscriber
// of a LiveSink has none, so that many idle subscribers cost no
// goroutines.
type Subscription struct {
	hub    *Hub
	p      *partition
	sink   Sink
	offer  LiveSink        // sink, when it takes events from the tail itself
	parent context.Context // the caller's, to tell its end from Unsubscribe
	ctx    context.Context
	cancel context.CancelFunc
	// stopWatch stops watching parent, whose end starts the goroutine
	// that ends the subscription.
	stopWatch func() bool
	done      chan struct{}
	err       error // written before done is closed

	delivered atomic.Int64 // offset after the last delivered event

	mu sync.Mutex
	// running is true while a goroutine works for this subscription;
	// finished once it has ended it.
	running, finished bool
	// live is true while the tail feeds this subscriber; it is changed
	// with partition.mu held too.
	live bool
	// next is the first offset not yet queued or delivered.
	next int64
	// queue holds events handed over by the tail, not yet taken by the
	// goroutine; queued and queuedBytes also count those being delivered.
	queue       []event.Record
	queued      int
	queuedBytes int
}

// Unsubscribe ends the subscription and waits until its goroutine has
// exited. It may be called more than once, and from any goroutine except
// the Sink's own Deliver.
func (s *Subscription) Unsubscribe() {
	s.stop()
	<-s.done
}

// stop cancels the subscription's context and starts the goroutine that
// ends it.
func (s *Subscription) stop() {
	s.cancel()
	s.poke()
}

// Done is closed when the subscription has ended and its goroutine exited.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Err says why the subscription ended, once Done is closed: the Sink's
// error, an *event.OffsetOutOfRangeError when the log no longer holds the
// subscriber's position (retention passed it), an *event.TopicGoneError
// when the topic was deleted, an *event.UnreadableError
// when data at its position cannot be read and the Sink is not an
// UnreadableSink, or the error of the context given to Subscribe. It is nil
// after Unsubscribe or Hub.Close.
func (s *Subscription) Err() error {
	<-s.done
	return s.err
}

// Next returns the offset after the last event delivered (or offered to a
// LiveSink and taken), or after unreadable data the UnreadableSink was told
// of: where a new subscription resumes this one without a gap or a
// duplicate.
func (s *Subscription) Next() int64 { return s.delivered.Load() }

// poke starts the subscription's goroutine unless it runs: there may be
// work, or the subscription has to end.
func (s *Subscription) poke() {
	s.mu.Lock()
	s.startLocked()
	s.mu.Unlock()
}

// startLocked is poke with s.mu held.
func (s *Subscription) startLocked() {
	if !s.running && !s.finished {
		s.running = true
		go s.run()
	}
}

// run works until the subscriber is live with nothing queued, and then
// stops (the tail pokes it again when there is work), or until the
// subscription ends.
func (s *Subscription) run() {
	for {
		if s.ctx.Err() != nil {
			s.finish(nil)
			return
		}
		s.mu.Lock()
		if len(s.queue) > 0 {
			evs := s.queue
			s.queue = nil
			s.mu.Unlock()
			err := s.deliver(evs)
			bytes := 0
			for i := range evs {
				bytes += size(&evs[i])
			}
			s.mu.Lock()
			s.queued -= len(evs)
			s.queuedBytes -= bytes
			s.mu.Unlock()
			if err != nil {
				s.finish(err)
				return
			}
			continue
		}
		if s.live {
			// Checked under s.mu: a stop after this finds running
			// false and starts a goroutine to end the subscription.
			if s.ctx.Err() == nil {
				s.running = false
				s.mu.Unlock()
				return
			}
			s.mu.Unlock()
			continue
		}
		s.mu.Unlock()
		if err := s.catchUp(); err != nil {
			s.finish(err)
			return
		}
	}
}

// finish ends the subscription with err (nil when its context ended it)
// and tells an EndSink.
func (s *Subscription) finish(err error) {
	if err == nil && s.parent.Err() != nil {
		err = context.Cause(s.parent)
	}
	s.mu.Lock()
	stopWatch := s.stopWatch
	s.mu.Unlock()
	stopWatch()
	s.cancel()
	p := s.p
	p.mu.Lock()
	delete(p.live, s)
	s.mu.Lock()
	s.live = false
	s.queue = nil
	s.finished = true
	s.mu.Unlock()
	p.mu.Unlock()
	s.hub.release(s)
	s.err = err
	close(s.done)
	if es, ok := s.sink.(EndSink); ok {
		es.Ended(err)
	}
	s.hub.wg.Done()
}

// deliver hands evs to the sink. An error caused by the end of the
// subscription is not the sink's failure and returns nil.
func (s *Subscription) deliver(evs []event.Record) error {
	if err := s.sink.Deliver(s.ctx, evs); err != nil {
		if s.ctx.Err() != nil {
			return nil
		}
		return err
	}
	s.delivered.Store(evs[len(evs)-1].Offset + 1)
	return nil
}

// catchUp makes one step of catch-up mode, with the queue empty: join the
// tail if this subscriber has reached it, else fetch and deliver one batch
// from its own offset.
func (s *Subscription) catchUp() error {
	if err := s.p.goneErr(); err != nil {
		return err
	}
	if s.tryJoin() {
		return nil
	}
	s.mu.Lock()
	next := s.next
	s.mu.Unlock()
	h, p := s.hub, s.p
	b, err := h.fetchStored(s.ctx, p.key.topic, p.key.partition, next, h.opts.FetchMaxBytes)
	if s.ctx.Err() != nil {
		return nil
	}
	if err != nil {
		if errors.Is(err, event.ErrOffsetOutOfRange) || errors.Is(err, event.ErrTopicGone) {
			return err
		}
		var ue *event.UnreadableError
		if errors.As(err, &ue) && ue.To > next {
			return s.skip(ue)
		}
		h.opts.Logger.Warn("fanout: catch-up fetch failed", "topic", p.key.topic, "partition", p.key.partition, "offset", next, "err", err)
		sleep(s.ctx, h.opts.RetryBackoff)
		return nil
	}
	if err := p.checkTopicID(b.TopicID); err != nil {
		return err
	}
	if len(b.Records) > 0 {
		if err := s.deliver(b.Records); err != nil {
			return err
		}
	}
	s.mu.Lock()
	s.next = max(next, b.NextOffset)
	s.mu.Unlock()
	return nil
}

// skip tells the sink that the events in [ue.From, ue.To) cannot be read
// and moves the subscriber past them; a sink that cannot be told ends the
// subscription with ue.
func (s *Subscription) skip(ue *event.UnreadableError) error {
	us, ok := s.sink.(UnreadableSink)
	if !ok {
		return ue
	}
	if err := us.Unreadable(s.ctx, ue); err != nil {
		if s.ctx.Err() != nil {
			return nil
		}
		return err
	}
	s.mu.Lock()
	s.next = max(s.next, ue.To)
	s.mu.Unlock()
	s.delivered.Store(max(s.delivered.Load(), ue.To))
	return nil
}

// tryJoin moves the subscriber into the live set if it has reached the
// tail's position. Under partition.mu the tail cannot fan out, so every
// event from here on is queued by the tail, and fanOutLocked skips those
// below s.next: no gap and no duplicate.
func (s *Subscription) tryJoin() bool {
	p := s.p
	p.mu.Lock()
	defer p.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.next < p.next || p.gone != nil {
		return false
	}
	s.live = true
	p.live[s] = struct{}{}
	return true
}
