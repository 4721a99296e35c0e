package backend

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/runnel-dev/runnel/broker/group"
)

// Commit times are not in any Kafka API answer (OffsetFetch gives offsets
// only): they are read from the group's records in __consumer_offsets,
// which the coordinator writes with each commit's time, as Kafka does.

// offsetsTopic is Kafka's internal topic of group offsets.
const offsetsTopic = "__consumer_offsets"

// Bounds of the search for commit times (variables for tests).
var (
	// commitScanWindow is how many offsets of __consumer_offsets are read
	// at a time, from the tail backwards: recent commits are near the tail.
	commitScanWindow int64 = 5000
	// commitScanMax bounds the offsets one describe reads; commits older
	// than that have no known time.
	commitScanMax int64 = 200_000
)

// topicPartition names a partition of a topic.
type topicPartition struct {
	topic     string
	partition int32
}

// commitTimes returns, for each of want, the time in milliseconds of the
// group's last offset commit, read from the tail of the group's partition
// of __consumer_offsets backwards, window by window, until every one is
// found, the log start is reached, or commitScanMax offsets were read. A
// partition whose last record is a tombstone (its offset deleted), or
// whose commit lies further back, is left out.
func (b *Backend) commitTimes(ctx context.Context, groupID string, want map[topicPartition]bool) (map[topicPartition]int64, error) {
	out := make(map[topicPartition]int64, len(want))
	if len(want) == 0 {
		return out, nil
	}
	ts, err := b.topic(ctx, offsetsTopic, false)
	if err != nil {
		return nil, err
	}
	p := group.PartitionFor(groupID, ts.meta.Partitions)
	bounds, err := b.Offsets(ctx, offsetsTopic, nil)
	if err != nil {
		return nil, err
	}
	var start, end int64
	for _, po := range bounds {
		if po.Partition == p {
			start, end = po.Earliest, po.Latest
		}
	}
	done := make(map[topicPartition]bool, len(want))
	for to := end; to > start && end-to < commitScanMax && len(done) < len(want); to -= commitScanWindow {
		from := max(start, to-commitScanWindow)
		found, err := b.scanCommits(ctx, p, from, to, groupID)
		if err != nil {
			return nil, err
		}
		for tp, at := range found {
			if !want[tp] || done[tp] {
				continue // a later window had a newer record
			}
			done[tp] = true
			if at >= 0 {
				out[tp] = at
			}
		}
	}
	return out, nil
}

// scanCommits reads [from, to) of the offsets partition and returns the
// last commit time of each of the group's partitions there; -1 for one
// whose last record is a tombstone.
func (b *Backend) scanCommits(ctx context.Context, partition int32, from, to int64, groupID string) (map[topicPartition]int64, error) {
	found := map[topicPartition]int64{}
	for off := from; off < to; {
		batch, err := b.Fetch(ctx, offsetsTopic, partition, off, FetchOptions{Limit: int(commitScanWindow)})
		if err != nil {
			return nil, fmt.Errorf("backend: read %s/%d at %d: %w", offsetsTopic, partition, off, err)
		}
		for _, r := range batch.Records {
			if r.Offset >= to {
				break
			}
			var k kmsg.OffsetCommitKey
			if len(r.Key) < 2 || k.ReadFrom(r.Key) != nil || k.Version > 1 || k.Group != groupID {
				continue // group metadata, another group, or not ours to read
			}
			tp := topicPartition{k.Topic, k.Partition}
			if r.Value == nil {
				found[tp] = -1
				continue
			}
			var v kmsg.OffsetCommitValue
			if v.ReadFrom(r.Value) != nil {
				continue
			}
			found[tp] = v.CommitTimestamp
		}
		if batch.NextOffset <= off {
			break // nothing more readable
		}
		off = batch.NextOffset
	}
	return found, nil
}
