package backend

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/runnel-dev/runnel/gateway/apierr"
	"github.com/runnel-dev/runnel/gateway/event"
)

// ResetTo says where ResetGroupOffsets moves a group: to the log start
// (Earliest), to the high watermark (Latest), or, with Time set, to the
// first offset at or after that many milliseconds since the Unix epoch.
type ResetTo struct {
	Earliest bool
	Latest   bool
	Time     *int64
}

// CommittedOffset is one offset a group was moved to.
type CommittedOffset struct {
	Topic     string
	Partition int32
	Offset    int64
}

// CommitGroupOffset commits offset for the group on one partition, as a
// stateless HTTP consumer does after reading up to it. The offset must be
// within [log start, high watermark] (416 otherwise); a group with live
// members is refused with 409, since its members own its offsets.
func (b *Backend) CommitGroupOffset(ctx context.Context, group, topic string, partition int32, offset int64) (CommittedOffset, error) {
	if err := b.live(); err != nil {
		return CommittedOffset{}, apiError(err, scope{topic, partition})
	}
	if _, err := b.partition(ctx, topic, partition); err != nil {
		return CommittedOffset{}, err
	}
	bounds, err := b.Offsets(ctx, topic, nil)
	if err != nil {
		return CommittedOffset{}, err
	}
	for _, po := range bounds {
		if po.Partition == partition && (offset < po.Earliest || offset > po.Latest) {
			return CommittedOffset{}, apiError(&event.OffsetOutOfRangeError{Topic: topic, Partition: partition, Offset: offset,
				LogStartOffset: po.Earliest, HighWatermark: po.Latest}, scope{topic, partition})
		}
	}
	out := []CommittedOffset{{Topic: topic, Partition: partition, Offset: offset}}
	if err := b.commitWhileEmpty(ctx, group, out); err != nil {
		return CommittedOffset{}, err
	}
	return out[0], nil
}

// ResetGroupOffsets moves the group on every partition of topic (or on the
// one partition given) to where to says, and returns the offsets
// committed, by partition. A group with live members is refused with 409,
// as kafka-consumer-groups --reset-offsets refuses it.
func (b *Backend) ResetGroupOffsets(ctx context.Context, group, topic string, partition *int32, to ResetTo) ([]CommittedOffset, error) {
	if n := btoi(to.Earliest) + btoi(to.Latest) + btoi(to.Time != nil); n != 1 {
		return nil, apierr.Invalid("reset: give exactly one of earliest, latest or a time")
	}
	if err := b.live(); err != nil {
		return nil, apiError(err, topicScope(topic))
	}
	if partition != nil {
		if _, err := b.partition(ctx, topic, *partition); err != nil {
			return nil, err
		}
	}
	bounds, err := b.Offsets(ctx, topic, to.Time)
	if err != nil {
		return nil, err
	}
	var out []CommittedOffset
	for _, po := range bounds {
		if partition != nil && po.Partition != *partition {
			continue
		}
		at := po.Earliest
		switch {
		case to.Latest:
			at = po.Latest
		case to.Time != nil:
			at = po.Latest // no event that recent: the end, as kafka-consumer-groups --to-datetime
			if *po.ForTimestamp >= 0 {
				at = *po.ForTimestamp
			}
		}
		out = append(out, CommittedOffset{Topic: topic, Partition: po.Partition, Offset: at})
	}
	if err := b.commitWhileEmpty(ctx, group, out); err != nil {
		return nil, err
	}
	return out, nil
}

func btoi(v bool) int {
	if v {
		return 1
	}
	return 0
}

// checkEmpty refuses a group that has live members with 409.
func (b *Backend) checkEmpty(ctx context.Context, group string) error {
	described, err := b.adm.DescribeGroups(ctx, group)
	if err != nil {
		return groupError(fmt.Errorf("backend: describe group %q: %w", group, err), group)
	}
	d, ok := described[group]
	if !ok {
		return nil
	}
	if d.Err != nil {
		return groupError(fmt.Errorf("backend: describe group %q: %w", group, withMessage(d.Err, &d.ErrMessage)), group)
	}
	if d.State != GroupEmpty && d.State != GroupDead || len(d.Members) > 0 {
		return liveMembers(group, nil)
	}
	if d.State == GroupDead { // not a classic group: maybe a consumer group
		cg, found, err := b.describeConsumerGroup(ctx, group)
		if err != nil {
			return err
		}
		if found && len(cg.Members) > 0 {
			return liveMembers(group, nil)
		}
	}
	return nil
}

// commitWhileEmpty commits offsets for a group that has no live members.
// The commit carries no member id and generation -1, as Kafka's admin
// commits do: should a member join between the check and the commit, the
// coordinator refuses it and the caller gets 409.
func (b *Backend) commitWhileEmpty(ctx context.Context, group string, offsets []CommittedOffset) error {
	if err := b.checkEmpty(ctx, group); err != nil {
		return err
	}
	os := make(kadm.Offsets)
	for _, o := range offsets {
		os.AddOffset(o.Topic, o.Partition, o.Offset, -1)
	}
	resps, err := b.adm.CommitOffsets(ctx, group, os)
	if err != nil {
		return groupError(fmt.Errorf("backend: commit offsets of group %q: %w", group, err), group)
	}
	if err := resps.Error(); err != nil {
		return groupError(fmt.Errorf("backend: commit offsets of group %q: %w", group, err), group)
	}
	return nil
}

// CommittedOffsetOf returns the group's committed offset on one partition,
// and false when it has none. An unknown group has none.
func (b *Backend) CommittedOffsetOf(ctx context.Context, group, topic string, partition int32) (int64, bool, error) {
	if err := b.live(); err != nil {
		return 0, false, apiError(err, scope{topic, partition})
	}
	fetched, err := b.adm.FetchOffsets(ctx, group)
	if err != nil {
		return 0, false, groupError(fmt.Errorf("backend: fetch offsets of group %q: %w", group, err), group)
	}
	o, ok := fetched.Lookup(topic, partition)
	if !ok || o.At < 0 {
		return 0, false, nil
	}
	if o.Err != nil {
		return 0, false, groupError(fmt.Errorf("backend: fetch offsets of group %q: %w", group, o.Err), group)
	}
	return o.At, true, nil
}

// DeleteGroup deletes a group and its committed offsets: 404 for an
// unknown group, 409 while it has live members.
func (b *Backend) DeleteGroup(ctx context.Context, group string) error {
	if err := b.live(); err != nil {
		return apiError(err, scope{partition: -1})
	}
	resp, err := b.adm.DeleteGroup(ctx, group)
	if err != nil {
		return groupError(fmt.Errorf("backend: delete group %q: %w", group, withMessage(err, &resp.ErrMessage)), group)
	}
	return nil
}
