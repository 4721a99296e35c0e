package fanout

import (
	"context"
	"errors"
	"sync"

	"github.com/runnel-dev/runnel/gateway/event"
)

// partition is the shared state of one (topic, partition): the tail reader
// and the set of subscribers it feeds.
type partition struct {
	hub    *Hub
	key    partKey
	refs   int // subscriptions holding it; guarded by Hub.mu
	cancel context.CancelFunc
	done   chan struct{} // closed when the tail reader has exited

	mu sync.Mutex
	// next is the tail's position: every live subscriber has been queued
	// every event below next at or after its own next offset. A catching-up
	// subscriber whose next offset reaches this may join live (see
	// Subscription.tryJoin); both happen under mu, which is what makes the
	// handoff exact.
	next int64
	live map[*Subscription]struct{}
	// gone is set when the tail learnt that the topic was deleted (an
	// event.ErrTopicGone): the tail has stopped, and every subscriber
	// ends with it.
	gone error
	// topicID is the topic ID of the first read that named one: a read
	// answered with another is of a topic created again under the
	// name, which ends the partition as gone does.
	topicID [16]byte
}

func newPartition(h *Hub, key partKey, start int64) *partition {
	ctx, cancel := context.WithCancel(context.Background())
	p := &partition{
		hub:    h,
		key:    key,
		cancel: cancel,
		done:   make(chan struct{}),
		next:   start,
		live:   make(map[*Subscription]struct{}),
	}
	go p.runTail(ctx)
	return p
}

// runTail reads the partition forward from the tail position and fans every
// batch out to the live subscribers, until ctx is done.
func (p *partition) runTail(ctx context.Context) {
	defer close(p.done)
	h := p.hub
	for {
		p.mu.Lock()
		next := p.next
		p.mu.Unlock()
		b, err := h.src.Fetch(ctx, p.key.topic, p.key.partition, next, h.opts.FetchMaxBytes)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			var oor *event.OffsetOutOfRangeError
			if errors.As(err, &oor) && oor.LogStartOffset > next {
				// Retention removed events the tail has not read. Live
				// subscribers must not silently skip them: send them to
				// catch-up, where they meet the same error and end with it.
				p.mu.Lock()
				p.pauseAllLocked()
				p.next = oor.LogStartOffset
				p.mu.Unlock()
				h.opts.Logger.Warn("fanout: tail fell below the log start", "topic", p.key.topic, "partition", p.key.partition, "offset", next, "log_start_offset", oor.LogStartOffset)
				continue
			}
			var ue *event.UnreadableError
			if errors.As(err, &ue) && ue.To > next {
				// Live subscribers must be told what they lose: send
				// them to catch-up, where each meets the damage at its
				// own offset, is told, and moves past it. The tail
				// moves past it at once.
				p.mu.Lock()
				p.pauseAllLocked()
				p.next = max(p.next, ue.To)
				p.mu.Unlock()
				continue
			}
			if errors.Is(err, event.ErrTopicGone) {
				p.topicGone(err)
				return
			}
			h.opts.Logger.Warn("fanout: tail fetch failed", "topic", p.key.topic, "partition", p.key.partition, "offset", next, "err", err)
			sleep(ctx, h.opts.RetryBackoff)
			continue
		}
		if err := p.checkTopicID(b.TopicID); err != nil {
			p.topicGone(err)
			return
		}
		if len(b.Records) == 0 && b.NextOffset <= next {
			continue // long poll expired
		}
		p.mu.Lock()
		p.fanOutLocked(next, b)
		p.mu.Unlock()
	}
}

// fanOutLocked queues the events of b, fetched from offset from, to every
// live subscriber. A subscriber whose queue cannot take them all gets the
// prefix that fits and is paused: it leaves the live set and will read the
// rest from the log itself. Nothing here blocks.
func (p *partition) fanOutLocked(from int64, b event.Batch) {
	opts := &p.hub.opts
	end := max(b.NextOffset, from)
	for s := range p.live {
		s.mu.Lock()
		evs := b.Records
		// A subscriber may have joined ahead of the tail; skip what it
		// already has.
		i := 0
		for i < len(evs) && evs[i].Offset < s.next {
			i++
		}
		evs = evs[i:]
		if s.offer != nil {
			p.offerLocked(s, evs, end)
			s.mu.Unlock()
			continue
		}
		n, bytes := 0, 0
		for ; n < len(evs); n++ {
			sz := size(&evs[n])
			if s.queued+n >= opts.MaxQueueEvents || (s.queued+n > 0 && s.queuedBytes+bytes+sz > opts.MaxQueueBytes) {
				break
			}
			bytes += sz
		}
		if n > 0 {
			s.queue = append(s.queue, evs[:n]...)
			s.queued += n
			s.queuedBytes += bytes
		}
		paused := n < len(evs)
		if paused {
			s.next = evs[n].Offset
			s.live = false
			delete(p.live, s)
		} else {
			s.next = max(s.next, end)
		}
		s.mu.Unlock()
		if n > 0 || paused {
			s.poke()
		}
	}
	p.next = max(p.next, end)
}

// offerLocked hands evs straight to the LiveSink of s, whose lock is held,
// or pauses s when the sink cannot take them. A subscription being ended
// is skipped: its goroutine is about to leave the live set.
func (p *partition) offerLocked(s *Subscription, evs []event.Record, end int64) {
	switch {
	case len(evs) == 0 || s.ctx.Err() != nil:
	case s.offer.Offer(evs):
		s.delivered.Store(evs[len(evs)-1].Offset + 1)
	default:
		s.next = evs[0].Offset
		s.live = false
		delete(p.live, s)
		s.startLocked()
		return
	}
	s.next = max(s.next, end)
}

// topicGone stops the partition for good: new subscribers get a new one
// (of the topic created again, if it was), and every subscriber of this one
// is sent to catch-up, where it ends with err.
func (p *partition) topicGone(err error) {
	h := p.hub
	h.mu.Lock()
	if h.parts[p.key] == p {
		delete(h.parts, p.key)
	}
	h.mu.Unlock()
	p.mu.Lock()
	p.gone = err
	p.pauseAllLocked()
	p.mu.Unlock()
	h.opts.Logger.Info("fanout: topic deleted; ending its subscriptions", "topic", p.key.topic, "partition", p.key.partition, "err", err)
}

// checkTopicID returns an *event.TopicGoneError when id, a read's topic ID,
// is not the one the partition's reads have been answered from.
func (p *partition) checkTopicID(id [16]byte) error {
	if id == ([16]byte{}) {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch p.topicID {
	case [16]byte{}:
		p.topicID = id
	case id:
	default:
		return &event.TopicGoneError{Topic: p.key.topic, Partition: p.key.partition, Recreated: true}
	}
	return nil
}

// goneErr returns the partition's gone error, or nil.
func (p *partition) goneErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.gone
}

// pauseAllLocked sends every live subscriber to catch-up mode at its own
// next offset.
func (p *partition) pauseAllLocked() {
	for s := range p.live {
		s.mu.Lock()
		s.live = false
		s.mu.Unlock()
		delete(p.live, s)
		s.poke()
	}
}
