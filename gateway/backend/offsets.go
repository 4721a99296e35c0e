package backend

import (
	"context"
	"fmt"
	"sort"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/runnel-dev/runnel/gateway/apierr"
)

// Offsets lists every partition's log start offset (Earliest) and high
// watermark (Latest), in partition order. With a timestamp, ForTimestamp is
// the first offset whose timestamp is at or after it, or -1 when no event is
// that recent, as Kafka's ListOffsets answers (a reader starting "from that
// time" starts at Latest then; OffsetForTime does that).
func (b *Backend) Offsets(ctx context.Context, topic string, timestamp *int64) ([]PartitionOffsets, error) {
	if timestamp != nil && *timestamp < 0 {
		return nil, apierr.Invalid("timestamp %d is negative", *timestamp)
	}
	ts, err := b.topic(ctx, topic, false)
	if err != nil {
		return nil, err
	}
	starts, err := b.adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return nil, apiError(fmt.Errorf("backend: list start offsets: %w", err), topicScope(topic))
	}
	ends, err := b.adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, apiError(fmt.Errorf("backend: list end offsets: %w", err), topicScope(topic))
	}
	var after kadm.ListedOffsets
	if timestamp != nil {
		if after, err = b.adm.ListOffsetsAfterMilli(ctx, *timestamp, topic); err != nil {
			return nil, apiError(fmt.Errorf("backend: list offsets after %d: %w", *timestamp, err), topicScope(topic))
		}
	}
	if o, ok := starts.Lookup(topic, -1); ok && o.Err != nil {
		b.meta.drop(topic)
		return nil, apiError(o.Err, topicScope(topic))
	}
	out := make([]PartitionOffsets, 0, ts.meta.Partitions)
	for p, start := range starts[topic] {
		end, ok := ends.Lookup(topic, p)
		if !ok {
			return nil, apiError(fmt.Errorf("backend: no end offset listed for %s/%d", topic, p), topicScope(topic))
		}
		if err := firstErr(start.Err, end.Err); err != nil {
			return nil, apiError(err, scope{topic, p})
		}
		po := PartitionOffsets{Partition: p, Earliest: start.Offset, Latest: end.Offset}
		if timestamp != nil {
			at, ok := after.Lookup(topic, p)
			if !ok {
				return nil, apiError(fmt.Errorf("backend: no offset after %d listed for %s/%d", *timestamp, topic, p), topicScope(topic))
			}
			if at.Err != nil {
				return nil, apiError(at.Err, scope{topic, p})
			}
			// The broker answers -1 when no record is that recent; kadm then
			// lists the end offset instead, whose timestamp is -1 (Kafka's,
			// for "latest"), while a record found by time has its own,
			// at or after the one asked for (not negative).
			off := at.Offset
			if at.Timestamp < 0 {
				off = -1
			}
			po.ForTimestamp = &off
		}
		out = append(out, po)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Partition < out[j].Partition })
	return out, nil
}

// OffsetForTime returns the first offset of the partition whose timestamp is
// at or after ms, or the high watermark when there is none: where a reader
// starting "from that time" begins.
func (b *Backend) OffsetForTime(ctx context.Context, topic string, partition int32, ms int64) (int64, error) {
	if ms < 0 {
		return 0, apierr.Invalid("timestamp %d is negative", ms)
	}
	if _, err := b.partition(ctx, topic, partition); err != nil {
		return 0, err
	}
	after, err := b.adm.ListOffsetsAfterMilli(ctx, ms, topic)
	if err != nil {
		return 0, apiError(fmt.Errorf("backend: list offsets after %d: %w", ms, err), scope{topic, partition})
	}
	if o, ok := after.Lookup(topic, -1); ok && o.Err != nil {
		b.meta.drop(topic)
		return 0, apiError(o.Err, topicScope(topic))
	}
	at, ok := after.Lookup(topic, partition)
	if !ok {
		return 0, apiError(kerr.UnknownTopicOrPartition, scope{topic, partition})
	}
	if at.Err != nil {
		return 0, apiError(at.Err, scope{topic, partition})
	}
	if at.Offset >= 0 {
		return at.Offset, nil
	}
	ends, err := b.adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return 0, apiError(fmt.Errorf("backend: list end offsets: %w", err), scope{topic, partition})
	}
	end, ok := ends.Lookup(topic, partition)
	if !ok || end.Err != nil {
		return 0, apiError(firstErr(end.Err, kerr.UnknownTopicOrPartition), scope{topic, partition})
	}
	return end.Offset, nil
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
