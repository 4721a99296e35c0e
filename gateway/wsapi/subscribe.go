package wsapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/runnel-dev/runnel/gateway/apierr"
	"github.com/runnel-dev/runnel/gateway/backend"
	"github.com/runnel-dev/runnel/gateway/event"
	"github.com/runnel-dev/runnel/gateway/eventjson"
	"github.com/runnel-dev/runnel/gateway/fanout"

	"github.com/runnel-dev/runnel/internal/plural"
)

// chunkBytes is about how many encoded bytes of events a sink queues at
// once; smaller than the socket's bound, so that a slow client's sinks
// wait in small steps.
const chunkBytes = 32 << 10

// subscription is one subscribe frame's subscription: one fan-out
// subscription per partition, all writing to the socket's queue.
type subscription struct {
	s       *socket
	id      string
	topic   string
	topicID string
	prefix  []byte // {"type":"event","id":...,"topic":...,
	// batchPrefix, set when the client asked for "batch", opens an events
	// frame: {"type":"events","id":...,"topic":...,"events":[
	batchPrefix []byte
	parts       []*partSub
	// ready is closed once the subscribed frame is queued; sinks wait for
	// it, so that no event overtakes it.
	ready chan struct{}
	// closed is set when the subscription ends; the writer then drops its
	// queued events, so that none arrives after an unsubscribe.
	closed atomic.Bool
	// group is set for a consumer-group subscription, whose partitions
	// come and go with the group's rebalances (parts stays empty).
	group *groupSub
}

// newSubscription returns the subscription f asks for, of the topic with
// id topicID, not ready yet.
func newSubscription(s *socket, f *clientFrame, topicID string) *subscription {
	sub := &subscription{s: s, id: f.id, topic: f.topic, topicID: topicID, ready: make(chan struct{})}
	sub.prefix = appendFrameHead(nil, "event", f.id, f.topic)
	sub.prefix = append(sub.prefix, ',')
	if f.batch {
		sub.batchPrefix = appendFrameHead(nil, "events", f.id, f.topic)
		sub.batchPrefix = append(sub.batchPrefix, `,"events":[`...)
	}
	return sub
}

// appendFrameHead appends {"type":typ,"id":id,"topic":topic.
func appendFrameHead(b []byte, typ, id, topic string) []byte {
	b = append(b, `{"type":"`...)
	b = append(b, typ...)
	b = append(b, `","id":`...)
	b = eventjson.AppendString(b, id)
	b = append(b, `,"topic":`...)
	return eventjson.AppendString(b, topic)
}

// batched reports whether the client asked for events frames.
func (sub *subscription) batched() bool { return sub.batchPrefix != nil }

// partSub is the subscription of one partition; it is the fan-out Sink.
type partSub struct {
	sub       *subscription
	partition int32
	start     int64 // first offset, as announced in the subscribed frame
	fs        *fanout.Subscription
	hwm       *hwmEntry
	// revoked is set when the group took the partition away: the writer
	// drops its queued events.
	revoked atomic.Bool
}

// subscribe starts the subscription a subscribe frame asks for and queues
// its subscribed frame. It runs on the reader goroutine.
func (s *socket) subscribe(f *clientFrame) *apierr.Error {
	if err := s.admit(f); err != nil {
		return err
	}

	// Not derived from s.ctx: nothing cancels that while a frame is
	// handled (teardown runs after), and a child context would cost every
	// socket a map of children for as long as it lives.
	ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
	defer cancel()
	meta, err := s.h.cfg.Topics.TopicMeta(ctx, f.topic)
	if err != nil {
		return apierr.As(err)
	}
	parts := f.partitions
	if parts == nil {
		parts = make([]int32, meta.Partitions)
		for i := range parts {
			parts[i] = int32(i)
		}
	}
	check := slices.Clone(parts)
	if f.from.kind == fromOffsets {
		for q := range f.from.offsets {
			check = append(check, q)
		}
	}
	for _, q := range check {
		if q >= meta.Partitions {
			return apierr.New(http.StatusNotFound, apierr.CodePartitionNotFound, "topic %q has %s; there is no partition %d", f.topic, plural.Noun(meta.Partitions, "partition"), q)
		}
	}
	starts, aerr := s.startOffsets(ctx, f, parts)
	if aerr != nil {
		return aerr
	}

	sub := newSubscription(s, f, meta.ID)
	for i, q := range parts {
		ps := &partSub{sub: sub, partition: q, hwm: s.h.hwm.acquire(f.topic, q)}
		sub.parts = append(sub.parts, ps)
		fs, err := s.hubSubscribe(ctx, f.topic, q, starts[i], ps)
		if err != nil {
			sub.end()
			return subscribeError(f.topic, q, err)
		}
		ps.fs = fs
		// Nothing is delivered before ready: Next is the start offset,
		// the high watermark for Latest.
		ps.start = fs.Next()
		ps.hwm.observe(ps.start)
	}

	s.mu.Lock()
	if s.tornDown {
		s.mu.Unlock()
		sub.end()
		return nil
	}
	s.subs = append(s.subs, sub)
	s.mu.Unlock()
	if err := s.out.push(s.ctx, outFrame{data: subscribedFrame(sub)}); err != nil {
		return nil // closing: the teardown ends the subscription
	}
	s.h.metrics.partitions.Add(float64(len(sub.parts)))
	close(sub.ready)
	// A partition that ended before now was not told to Ended (see
	// there); one that ends from now on is.
	for _, ps := range sub.parts {
		select {
		case <-ps.fs.Done():
			s.endSubscription(sub, ps.endedWhy(ps.fs.Err()))
		default:
		}
	}
	return nil
}

// subscribeAttempts and subscribeBackoff bound the retries of a
// partition subscription that failed for a passing reason, such as a
// broker connection that died under a request.
const (
	subscribeAttempts = 5
	subscribeBackoff  = 50 * time.Millisecond
)

// hubSubscribe subscribes ps to the hub, retrying briefly (within ctx) on
// errors other than a start offset out of range or a closed hub. The
// subscription has no context that ends it: the socket ends it itself
// (sub.end, which teardown calls for every subscription), and a context
// would cost every idle subscription a context and a watcher of it.
func (s *socket) hubSubscribe(ctx context.Context, topic string, partition int32, from int64, ps *partSub) (*fanout.Subscription, error) {
	backoff := subscribeBackoff
	for attempt := 1; ; attempt++ {
		fs, err := s.h.cfg.Hub.Subscribe(context.Background(), topic, partition, from, ps)
		if err == nil || attempt == subscribeAttempts ||
			errors.Is(err, event.ErrOffsetOutOfRange) || errors.Is(err, fanout.ErrClosed) {
			return fs, err
		}
		s.logger().Debug("wsapi: subscribe failed; retrying", "topic", topic, "partition", partition, "err", err)
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, err
		}
		backoff *= 2
	}
}

// startOffsets resolves "from" to a start offset (or fanout.Latest or
// Earliest) per partition of parts.
func (s *socket) startOffsets(ctx context.Context, f *clientFrame, parts []int32) ([]int64, *apierr.Error) {
	starts := make([]int64, len(parts))
	switch f.from.kind {
	case fromLatest:
		for i := range starts {
			starts[i] = fanout.Latest
		}
	case fromEarliest:
		for i := range starts {
			starts[i] = fanout.Earliest
		}
	case fromOffset:
		for i := range starts {
			starts[i] = f.from.value
		}
	case fromOffsets:
		// A partition without an offset starts at latest, as the spec
		// says and as a Kafka consumer does by default for a partition
		// without a position (auto.offset.reset=latest). A client
		// resuming names every partition it has read: the subscribed
		// frame gave it a start for each.
		for i, q := range parts {
			if off, ok := f.from.offsets[q]; ok {
				starts[i] = off
			} else {
				starts[i] = fanout.Latest
			}
		}
	case fromTime:
		ms := f.from.value
		offs, err := s.h.cfg.Topics.Offsets(ctx, f.topic, &ms)
		if err != nil {
			return nil, apierr.As(err)
		}
		for i, q := range parts {
			j := slices.IndexFunc(offs, func(po backend.PartitionOffsets) bool { return po.Partition == q })
			if j < 0 {
				return nil, apierr.New(http.StatusServiceUnavailable, apierr.CodeUnavailable, "no offsets for partition %d of %q; try again", q, f.topic)
			}
			po := offs[j]
			// No event that recent: start at the end as it was then, not
			// at the end as it is when the subscription starts.
			starts[i] = po.Latest
			if po.ForTimestamp != nil && *po.ForTimestamp >= 0 {
				starts[i] = *po.ForTimestamp
			}
		}
	}
	return starts, nil
}

// subscribeError turns a fan-out Subscribe error into the client's.
func subscribeError(topic string, partition int32, err error) *apierr.Error {
	var oor *event.OffsetOutOfRangeError
	switch {
	case errors.As(err, &oor):
		e := apierr.New(http.StatusRequestedRangeNotSatisfiable, apierr.CodeOffsetOutOfRange,
			"offset %d is outside partition %d of %q, which holds offsets %d to %d", oor.Offset, partition, topic, oor.LogStartOffset, oor.HighWatermark)
		e.Extra = map[string]any{"partition": partition, "log_start_offset": oor.LogStartOffset, "high_watermark": oor.HighWatermark}
		return e
	case errors.Is(err, fanout.ErrClosed):
		return apierr.New(http.StatusServiceUnavailable, apierr.CodeUnavailable, "the gateway is shutting down")
	case errors.Is(err, event.ErrTopicGone):
		return apierr.New(http.StatusNotFound, apierr.CodeTopicNotFound, "topic %q was deleted", topic)
	}
	return &apierr.Error{Status: http.StatusServiceUnavailable, Code: apierr.CodeUnavailable,
		Message: fmt.Sprintf("cannot read partition %d of %q now; try again", partition, topic), Err: err}
}

// subLocked returns the index in s.subs of the subscription id, or -1.
func (s *socket) subLocked(id string) int {
	return slices.IndexFunc(s.subs, func(sub *subscription) bool { return sub.id == id })
}

// unsubscribe ends the subscription id; false when there is none.
func (s *socket) unsubscribe(id string) bool {
	s.mu.Lock()
	var sub *subscription
	i := s.subLocked(id)
	ok := i >= 0
	if ok {
		sub = s.subs[i]
		s.subs = slices.Delete(s.subs, i, i+1)
	}
	s.mu.Unlock()
	if ok {
		sub.end()
	}
	return ok
}

// endSubscription ends sub, if it is still the socket's, and tells the
// client why.
func (s *socket) endSubscription(sub *subscription, why *apierr.Error) {
	s.mu.Lock()
	i := slices.Index(s.subs, sub)
	ok := i >= 0
	if ok {
		s.subs = slices.Delete(s.subs, i, i+1)
	}
	s.mu.Unlock()
	if ok && sub.end() {
		s.sendError(sub.id, "", why)
	}
}

// end stops every partition of sub and waits for their fan-out goroutines;
// it reports whether this call ended it. It must not run on a Deliver
// goroutine.
func (sub *subscription) end() bool {
	if !sub.closed.CompareAndSwap(false, true) {
		return false
	}
	if sub.group != nil {
		sub.group.end()
	}
	for _, ps := range sub.parts {
		if ps.fs != nil {
			ps.fs.Unsubscribe()
		}
		sub.s.h.hwm.release(sub.topic, ps.partition)
	}
	select {
	case <-sub.ready: // counted in the gauge when it became ready
		sub.s.h.metrics.partitions.Sub(float64(len(sub.parts)))
	default:
	}
	return true
}

// Ended implements fanout.EndSink. A partition whose fan-out subscription
// ended on its own (retention removed unread events, the hub closed) ends
// the whole subscription, and the client gets an error frame; that takes a
// goroutine, since ending the other partitions waits for theirs. Before
// the subscription is ready, subscribe does it instead.
func (ps *partSub) Ended(err error) {
	sub := ps.sub
	s := sub.s
	select {
	case <-sub.ready:
	default:
		return
	}
	if sub.closed.Load() || s.ctx.Err() != nil || s.closing.Load() {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tornDown {
		return // teardown's Wait may have begun
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.endSubscription(sub, ps.endedWhy(err))
	}()
}

// endedWhy is what the client is told when the fan-out subscription of ps
// ended with err on its own.
func (ps *partSub) endedWhy(err error) *apierr.Error {
	var oor *event.OffsetOutOfRangeError
	var tg *event.TopicGoneError
	switch {
	case errors.As(err, &tg) && tg.Recreated:
		return apierr.New(http.StatusNotFound, apierr.CodeTopicNotFound,
			"topic %q was deleted and created again (it has a new topic_id); the subscription has ended: its offsets do not apply to the new topic", tg.Topic)
	case errors.As(err, &tg):
		return apierr.New(http.StatusNotFound, apierr.CodeTopicNotFound, "topic %q was deleted; the subscription has ended", tg.Topic)
	case errors.As(err, &oor):
		why := apierr.New(http.StatusRequestedRangeNotSatisfiable, apierr.CodeOffsetOutOfRange,
			"retention removed events of partition %d before they were sent (next was offset %d, the log now starts at %d); the subscription has ended, subscribe again", ps.partition, oor.Offset, oor.LogStartOffset)
		why.Extra = map[string]any{"partition": ps.partition, "log_start_offset": oor.LogStartOffset, "high_watermark": oor.HighWatermark}
		return why
	case err == nil:
		return apierr.New(http.StatusServiceUnavailable, apierr.CodeUnavailable, "the gateway is shutting down; the subscription has ended")
	}
	return &apierr.Error{Status: http.StatusInternalServerError, Code: apierr.CodeInternal,
		Message: "the subscription failed and has ended; see the gateway's log", Err: err}
}

// frameBufs recycles the buffers Deliver encodes frames into; the writer
// returns each once it has copied the frames out (gatherFrame). Without it
// every event makes garbage once per subscriber.
var frameBufs sync.Pool

// getFrameBuf returns an empty buffer with room for at least n bytes.
func getFrameBuf(n int) []byte {
	if p, ok := frameBufs.Get().(*[]byte); ok && cap(*p) >= n {
		return (*p)[:0]
	}
	return make([]byte, 0, n)
}

// putFrameBuf gives a buffer back for reuse; large ones are left to the
// garbage collector, so that the pool does not pin a burst's memory.
func putFrameBuf(b []byte) {
	if cap(b) <= 2*chunkBytes {
		frameBufs.Put(&b)
	}
}

// frameSizeHint guesses the bytes the frames of events take, up to about
// chunk: the buffer is allocated once per Deliver, and most calls carry one
// small event, so a fixed chunk-sized buffer would make the garbage
// collector the gateway's main cost.
func frameSizeHint(events []event.Record, prefix, chunk int) int {
	n := 0
	for i := range events {
		if n += eventFrameSize(&events[i], prefix); n >= chunk {
			return n
		}
	}
	return n
}

// eventFrameSize guesses the bytes of e's event frame: the fields, quotes
// and escapes of a typical event, and base64's growth when the value is
// not JSON.
func eventFrameSize(e *event.Record, prefix int) int {
	n := prefix + 128 + len(e.Key) + len(e.Value)*4/3
	for _, h := range e.Headers {
		n += len(h.Key) + len(h.Value)*4/3 + 8
	}
	return n
}

// Offer implements fanout.LiveSink: it queues the events for the writer,
// which encodes them, when the socket's queue has room for them now.
// Nothing is taken before the subscribed frame is queued.
func (ps *partSub) Offer(events []event.Record) bool {
	sub := ps.sub
	select {
	case <-sub.ready:
	default:
		return false
	}
	size := 0
	for i := range events {
		size += eventFrameSize(&events[i], len(sub.prefix))
	}
	return sub.s.out.offer(outFrame{sub: sub, part: ps, events: events, size: size})
}

// Unreadable implements fanout.UnreadableSink: it queues an error frame
// naming the events of this partition that cannot be read, in order with
// the events around them, waiting while the socket's queue is full. The
// subscription goes on after them.
func (ps *partSub) Unreadable(ctx context.Context, ue *event.UnreadableError) error {
	sub := ps.sub
	select {
	case <-sub.ready:
	case <-ctx.Done():
		return ctx.Err()
	}
	e := apierr.New(http.StatusGone, apierr.CodeDataUnreadable,
		"%s of partition %d of %q cannot be read: the stored data is damaged; the subscription goes on at offset %d",
		ue.Lost(), ps.partition, sub.topic, ue.To)
	e.Extra = map[string]any{"topic": sub.topic, "partition": ps.partition, "unreadable_from": ue.From, "next_offset": ue.To}
	return sub.s.out.push(ctx, outFrame{data: errorFrame(sub.id, "", e), sub: sub})
}

// Deliver implements fanout.Sink: it encodes the events and queues them
// for the writer, waiting while the socket's queue is full. That wait is
// what pauses a slow client's subscription. Each event is encoded as an
// event frame, or for a batched subscription as an item of an events
// frame ({fields}), which the writer gathers into events frames.
func (ps *partSub) Deliver(ctx context.Context, events []event.Record) error {
	sub := ps.sub
	select {
	case <-sub.ready:
	case <-ctx.Done():
		return ctx.Err()
	}
	chunk := min(chunkBytes, sub.s.lim.MaxBufferedBytes)
	var buf []byte
	var ends []int
	for i := range events {
		e := &events[i]
		if buf == nil {
			buf = getFrameBuf(frameSizeHint(events[i:], len(sub.prefix), chunk))
		}
		if sub.batched() {
			buf = append(buf, '{')
		} else {
			buf = append(buf, sub.prefix...)
		}
		buf = eventjson.AppendRecordFields(buf, e)
		buf = append(buf, '}')
		ends = append(ends, len(buf))
		if len(buf) >= chunk || i == len(events)-1 {
			if err := sub.s.out.push(ctx, outFrame{data: buf, ends: ends, sub: sub}); err != nil {
				return err
			}
			buf, ends = nil, nil
		}
	}
	ps.hwm.observe(events[len(events)-1].Offset + 1)
	return nil
}
