package backend

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/runnel-dev/runnel/gateway/apierr"
	"github.com/runnel-dev/runnel/gateway/event"
)

// GroupBalancer is the partition assignor a GroupConsumer offers in
// JoinGroup: Kafka's cooperative-sticky, the one franz-go's consumers use
// by default and Java's CooperativeStickyAssignor shares. Members of one
// group must offer a common assignor, as in Kafka.
const GroupBalancer = "cooperative-sticky"

// Where a group member starts a partition that has no committed offset.
const (
	GroupStartLatest   = iota // the log end
	GroupStartEarliest        // the log start
	GroupStartOffset          // GroupConsumerConfig.StartValue, clamped to the log
	GroupStartTime            // the first offset at or after StartValue ms
)

// GroupHandler follows a GroupConsumer's assignment. Its methods run on the
// member's group goroutine, one at a time.
type GroupHandler interface {
	// Assigned gives the partitions added to the member's assignment.
	Assigned(partitions []int32)
	// Revoked takes partitions away (lost ones too: the member was fenced
	// or timed out). No record of them may be handed on once it returns:
	// the group's next generation gives them to another member.
	Revoked(partitions []int32)
}

// GroupConsumerConfig is one member of a consumer group on one topic.
type GroupConsumerConfig struct {
	Group   string
	Topic   string
	Handler GroupHandler
	// StartKind (a GroupStart constant) and StartValue say where a
	// partition without a committed offset starts.
	StartKind  int
	StartValue int64
	// SessionTimeout is the group's session timeout; 0 is kgo's default
	// (45 s).
	SessionTimeout time.Duration
}

// GroupConsumer is a member of a Kafka consumer group, joined through the
// group's coordinator with the classic protocol (JoinGroup, SyncGroup,
// Heartbeat, LeaveGroup), so the group's Kafka clients see it and share
// the topic's partitions with it. It commits nothing by itself.
type GroupConsumer struct {
	cl    *kgo.Client
	topic string
}

// JoinGroup starts a member of cfg.Group consuming cfg.Topic; it joins in
// the background, and cfg.Handler hears of each assignment.
func (b *Backend) JoinGroup(cfg GroupConsumerConfig) (*GroupConsumer, error) {
	if err := b.live(); err != nil {
		return nil, err
	}
	if cfg.Group == "" || cfg.Topic == "" || cfg.Handler == nil {
		return nil, errors.New("backend: a group member needs a group, a topic and a handler")
	}
	start := kgo.NewOffset()
	switch cfg.StartKind {
	case GroupStartLatest:
		start = start.AtEnd()
	case GroupStartEarliest:
		start = start.AtStart()
	case GroupStartOffset:
		start = start.At(cfg.StartValue)
	case GroupStartTime:
		start = start.AfterMilli(cfg.StartValue)
	default:
		return nil, fmt.Errorf("backend: unknown group start kind %d", cfg.StartKind)
	}
	h := cfg.Handler
	revoke := func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
		if ps := m[cfg.Topic]; len(ps) > 0 {
			h.Revoked(ps)
		}
	}
	opts := b.clientOpts(
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(cfg.Topic),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(start),
		kgo.FetchMaxWait(time.Second),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			if ps := m[cfg.Topic]; len(ps) > 0 {
				h.Assigned(ps)
			}
		}),
		kgo.OnPartitionsRevoked(revoke),
		kgo.OnPartitionsLost(revoke),
	)
	if cfg.SessionTimeout > 0 {
		opts = append(opts, kgo.SessionTimeout(cfg.SessionTimeout))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("backend: group member of %q: %w", cfg.Group, err)
	}
	return &GroupConsumer{cl: cl, topic: cfg.Topic}, nil
}

// groupRefusals are the group errors that keep a member out for good:
// retrying cannot help.
var groupRefusals = []error{kerr.InconsistentGroupProtocol, kerr.GroupAuthorizationFailed,
	kerr.InvalidGroupID, kerr.GroupMaxSizeReached, kerr.TopicAuthorizationFailed}

// Poll waits for records of the member's partitions, at most max. It
// returns an error once ctx ends, the member is closed, or the group
// refuses the member for good (a 409 *apierr.Error: for one, its Kafka
// members offer no assignor in common with cooperative-sticky); passing
// errors are retried by the client and skipped here.
func (m *GroupConsumer) Poll(ctx context.Context, max int) ([]event.Record, error) {
	for {
		fs := m.cl.PollRecords(ctx, max)
		if fs.IsClientClosed() {
			return nil, kgo.ErrClientClosed
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		for _, fe := range fs.Errors() {
			var gse *kgo.ErrGroupSession
			if !errors.As(fe.Err, &gse) {
				continue
			}
			for _, r := range groupRefusals {
				if !errors.Is(gse.Err, r) {
					continue
				}
				msg := fmt.Sprintf("the group refused this member: %v", gse.Err)
				if r == kerr.InconsistentGroupProtocol {
					msg += "; its members offer no assignor in common with this gateway's " + GroupBalancer
				}
				return nil, &apierr.Error{Status: http.StatusConflict, Code: apierr.CodeConflict, Message: msg, Err: gse.Err}
			}
		}
		var out []event.Record
		fs.EachRecord(func(r *kgo.Record) {
			rec := event.Record{Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp.UnixMilli(), Key: r.Key, Value: r.Value}
			for _, h := range r.Headers {
				rec.Headers = append(rec.Headers, event.Header{Key: h.Key, Value: h.Value})
			}
			out = append(out, rec)
		})
		if len(out) > 0 {
			return out, nil
		}
	}
}

// Commit commits offsets (the next offset to read, per partition) for the
// member's current generation. A member that the group has fenced or that
// no longer owns a partition gets the coordinator's error.
func (m *GroupConsumer) Commit(ctx context.Context, offsets map[int32]int64) error {
	eo := make(map[int32]kgo.EpochOffset, len(offsets))
	for p, o := range offsets {
		eo[p] = kgo.EpochOffset{Epoch: -1, Offset: o}
	}
	var cerr error
	m.cl.CommitOffsetsSync(ctx, map[string]map[int32]kgo.EpochOffset{m.topic: eo},
		func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
			if err != nil {
				cerr = err
				return
			}
			for _, t := range resp.Topics {
				for _, p := range t.Partitions {
					if e := kerr.ErrorForCode(p.ErrorCode); e != nil && cerr == nil {
						cerr = fmt.Errorf("partition %d: %w", p.Partition, e)
					}
				}
			}
		})
	if cerr != nil {
		return fmt.Errorf("backend: commit: %w", cerr)
	}
	return nil
}

// Close leaves the group at once (LeaveGroup), so that the group
// rebalances without waiting for the session timeout, and closes the
// member's connections.
func (m *GroupConsumer) Close() { m.cl.Close() }
