package wsapi

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/runnel-dev/runnel/gateway/apierr"
	"github.com/runnel-dev/runnel/gateway/backend"
	"github.com/runnel-dev/runnel/gateway/event"
	"github.com/runnel-dev/runnel/gateway/eventjson"

	"github.com/runnel-dev/runnel/internal/plural"
)

// Groups joins Kafka consumer groups; the gateway's *backend.Backend
// implements it. Without it, group subscriptions are refused.
type Groups interface {
	JoinGroup(cfg backend.GroupConsumerConfig) (*backend.GroupConsumer, error)
}

// commitTimeout bounds one commit frame's OffsetCommit.
const commitTimeout = 10 * time.Second

// pollMax is the most records one poll of a group member hands on.
const pollMax = 500

// offerRetry is how long a group subscription waits before offering
// events again to a full socket queue.
const offerRetry = 5 * time.Millisecond

// groupSub is the consumer-group side of a subscription: a member of the
// group (one per subscription, so every socket is a member Kafka clients
// see) and the partitions the group gave it. Events come from the member's
// own fetches, from the committed offsets.
type groupSub struct {
	sub    *subscription
	group  string
	member *backend.GroupConsumer
	ctx    context.Context // ends when the subscription ends
	cancel context.CancelFunc
	done   chan struct{} // closed when the poll loop returns

	mu    sync.Mutex
	owned map[int32]*partSub // the partitions assigned now
}

// subscribeGroup joins f.group as a new member and queues the first
// subscribed frame (no partitions until the group assigns some).
func (s *socket) subscribeGroup(f *clientFrame) *apierr.Error {
	if s.h.cfg.Groups == nil {
		return apierr.New(http.StatusBadRequest, codeUnsupported,
			"consumer-group subscriptions are not available on this gateway; subscribe without \"group\"")
	}
	if err := s.admit(f); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
	meta, err := s.h.cfg.Topics.TopicMeta(ctx, f.topic)
	cancel()
	if err != nil {
		return apierr.As(err)
	}
	sub := newSubscription(s, f, meta.ID)
	gs := &groupSub{sub: sub, group: f.group, owned: map[int32]*partSub{}, done: make(chan struct{})}
	gs.ctx, gs.cancel = context.WithCancel(context.Background())
	sub.group = gs
	cfg := backend.GroupConsumerConfig{Group: f.group, Topic: f.topic, Handler: gs, StartValue: f.from.value}
	switch f.from.kind {
	case fromEarliest:
		cfg.StartKind = backend.GroupStartEarliest
	case fromOffset:
		cfg.StartKind = backend.GroupStartOffset
	case fromTime:
		cfg.StartKind = backend.GroupStartTime
	default:
		cfg.StartKind = backend.GroupStartLatest
	}
	member, jerr := s.h.cfg.Groups.JoinGroup(cfg)
	if jerr != nil {
		gs.cancel()
		return apierr.As(jerr)
	}
	gs.member = member
	// The first subscribed frame (no partitions yet) goes before any the
	// handler queues: announce waits for ready.
	if err := s.out.push(s.ctx, outFrame{data: gs.subscribedFrame(nil)}); err != nil {
		gs.cancel()
		member.Close()
		return nil // closing
	}
	s.mu.Lock()
	if s.tornDown {
		s.mu.Unlock()
		gs.cancel()
		member.Close()
		return nil
	}
	s.subs = append(s.subs, sub)
	s.wg.Add(1)
	s.mu.Unlock()
	close(sub.ready)
	go gs.pollLoop()
	return nil
}

// admit checks that f may start a subscription on this socket.
func (s *socket) admit(f *clientFrame) *apierr.Error {
	s.mu.Lock()
	p := s.principal
	dup := s.subLocked(f.id) >= 0
	n := len(s.subs)
	s.mu.Unlock()
	switch {
	case dup:
		return apierr.New(http.StatusConflict, codeSubscriptionExists, "this socket already has a subscription %q; unsubscribe it first or use another id", f.id)
	case n >= s.lim.MaxSubscriptionsPerSocket:
		return apierr.New(http.StatusTooManyRequests, codeTooManySubscriptions, "this socket has %s, the most allowed; unsubscribe one or open another socket", plural.Noun(n, "subscription"))
	case !p.CanConsume(f.topic):
		return apierr.New(http.StatusForbidden, apierr.CodeForbidden, "the token may not consume topic %q", f.topic)
	}
	return nil
}

// pollLoop hands the member's records to the socket until the
// subscription ends.
func (gs *groupSub) pollLoop() {
	defer gs.sub.s.wg.Done()
	defer close(gs.done)
	for {
		recs, err := gs.member.Poll(gs.ctx, pollMax)
		if err != nil {
			var refused *apierr.Error
			if errors.As(err, &refused) {
				gs.endApart(refused)
			}
			return
		}
		for len(recs) > 0 {
			n := 1
			for n < len(recs) && recs[n].Partition == recs[0].Partition {
				n++
			}
			if !gs.deliver(recs[:n]) {
				return
			}
			recs = recs[n:]
		}
	}
}

// endApart ends the subscription on a goroutine of its own, since ending
// it waits for the poll loop, and tells the client why.
func (gs *groupSub) endApart(why *apierr.Error) {
	s := gs.sub.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tornDown || gs.sub.closed.Load() {
		return // teardown's Wait may have begun
	}
	why.Message += "; the subscription has ended"
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.endSubscription(gs.sub, why)
	}()
}

// deliver queues events of one partition in chunks, while the partition
// is still assigned: the check and the queueing happen under gs.mu, which
// Revoked takes, so that nothing of a revoked partition is queued after
// Revoked returns (and the writer drops what was queued before). It
// returns false once the subscription has ended.
func (gs *groupSub) deliver(events []event.Record) bool {
	s := gs.sub.s
	chunk := min(chunkBytes, s.lim.MaxBufferedBytes)
	for len(events) > 0 {
		n, size := 0, 0
		for n < len(events) && (n == 0 || size < chunk) {
			size += eventFrameSize(&events[n], len(gs.sub.prefix))
			n++
		}
		for {
			gs.mu.Lock()
			ps := gs.owned[events[0].Partition]
			ok := ps == nil || s.out.offer(outFrame{sub: gs.sub, part: ps, events: events[:n], size: size})
			gs.mu.Unlock()
			if ps == nil {
				return true // revoked: the records are another member's now
			}
			if ok {
				break
			}
			t := time.NewTimer(offerRetry)
			select {
			case <-t.C:
			case <-gs.ctx.Done():
				t.Stop()
				return false
			}
		}
		events = events[n:]
	}
	return true
}

// Assigned implements backend.GroupHandler.
func (gs *groupSub) Assigned(partitions []int32) {
	gs.mu.Lock()
	for _, p := range partitions {
		if gs.owned[p] == nil {
			gs.owned[p] = &partSub{sub: gs.sub, partition: p, hwm: gs.sub.s.h.hwm.acquire(gs.sub.topic, p)}
		}
	}
	gs.mu.Unlock()
	gs.announce()
}

// Revoked implements backend.GroupHandler: the partitions' queued events
// are dropped by the writer and no more are queued.
func (gs *groupSub) Revoked(partitions []int32) {
	gs.mu.Lock()
	for _, p := range partitions {
		if ps := gs.owned[p]; ps != nil {
			ps.revoked.Store(true)
			delete(gs.owned, p)
			gs.sub.s.h.hwm.release(gs.sub.topic, p)
		}
	}
	gs.mu.Unlock()
	gs.announce()
}

// announce queues a subscribed frame with the partitions assigned now.
func (gs *groupSub) announce() {
	select {
	case <-gs.sub.ready:
	case <-gs.ctx.Done():
		return
	}
	if gs.sub.closed.Load() {
		return
	}
	gs.sub.s.out.push(gs.ctx, outFrame{data: gs.subscribedFrame(gs.partitions()), sub: gs.sub})
}

// partitions returns the partitions assigned now, in order.
func (gs *groupSub) partitions() []int32 {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	out := make([]int32, 0, len(gs.owned))
	for p := range gs.owned {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// subscribedFrame encodes {"type":"subscribed","id","topic","topic_id",
// "group","partitions":[...]}.
func (gs *groupSub) subscribedFrame(parts []int32) []byte {
	b := []byte(`{"type":"subscribed","id":`)
	b = eventjson.AppendString(b, gs.sub.id)
	b = append(b, `,"topic":`...)
	b = eventjson.AppendString(b, gs.sub.topic)
	b = append(b, `,"topic_id":`...)
	b = eventjson.AppendString(b, gs.sub.topicID)
	b = append(b, `,"group":`...)
	b = eventjson.AppendString(b, gs.group)
	b = append(b, `,"partitions":[`...)
	for i, p := range parts {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(p), 10)
	}
	return append(b, "]}"...)
}

// end leaves the group at once (LeaveGroup) and waits for the poll loop.
func (gs *groupSub) end() {
	gs.cancel()
	if gs.member != nil {
		gs.member.Close()
		<-gs.done
	}
	gs.mu.Lock()
	for p := range gs.owned {
		gs.sub.s.h.hwm.release(gs.sub.topic, p)
	}
	clear(gs.owned)
	gs.mu.Unlock()
}

// commit commits f.offsets for the group subscription f.id and answers
// with a committed frame.
func (s *socket) commit(f *clientFrame) *apierr.Error {
	s.mu.Lock()
	var gs *groupSub
	if i := s.subLocked(f.id); i >= 0 {
		gs = s.subs[i].group
		if gs == nil {
			s.mu.Unlock()
			return apierr.New(http.StatusBadRequest, apierr.CodeInvalidRequest, "subscription %q has no \"group\"; only group subscriptions commit", f.id)
		}
	}
	s.mu.Unlock()
	if gs == nil {
		return apierr.New(http.StatusNotFound, codeSubscriptionNotFound, "no subscription %q on this socket", f.id)
	}
	gs.mu.Lock()
	for p := range f.offsets {
		if gs.owned[p] == nil {
			gs.mu.Unlock()
			e := apierr.New(http.StatusConflict, apierr.CodeConflict, "partition %d is not assigned to subscription %q now (the group rebalanced); its events go to another member", p, f.id)
			e.Extra = map[string]any{"partition": p}
			return e
		}
	}
	gs.mu.Unlock()
	ctx, cancel := context.WithTimeout(gs.ctx, commitTimeout)
	defer cancel()
	if err := gs.member.Commit(ctx, f.offsets); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return &apierr.Error{Status: http.StatusGatewayTimeout, Code: apierr.CodeTimeout, Message: "the commit was not answered in time; commit again", Err: err}
		}
		return &apierr.Error{Status: http.StatusConflict, Code: apierr.CodeConflict, Message: "the group refused the commit: " + err.Error(), Err: err}
	}
	s.out.push(s.ctx, outFrame{data: committedFrame(f.id, f.offsets)})
	return nil
}

// committedFrame encodes {"type":"committed","id","offsets":{...}}.
func committedFrame(id string, offsets map[int32]int64) []byte {
	b := []byte(`{"type":"committed","id":`)
	b = eventjson.AppendString(b, id)
	b = append(b, `,"offsets":{`...)
	parts := make([]int32, 0, len(offsets))
	for p := range offsets {
		parts = append(parts, p)
	}
	slices.Sort(parts)
	for i, p := range parts {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = strconv.AppendInt(b, int64(p), 10)
		b = append(b, `":`...)
		b = strconv.AppendInt(b, offsets[p], 10)
	}
	return append(b, "}}"...)
}
