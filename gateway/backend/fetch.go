package backend

import (
	"context"
	"errors"
	"net/http"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/runnel-dev/runnel/gateway/apierr"
	"github.com/runnel-dev/runnel/gateway/event"
)

// Fetch reads partition of topic from offset on: at most opts.Limit events
// (DefaultFetchLimit when unset) and about opts.MaxBytes bytes
// (DefaultFetchMaxBytes), waiting up to opts.Wait when offset is at the high
// watermark. NextOffset is where the next read continues: after the last
// event returned, or past skipped control records. An offset outside
// [log start, high watermark] is a 416 with both bounds. Events that cannot
// be read (damaged stored data) are a 410 naming them and the offset to
// read on from; readable events before them are returned first.
//
// Fetch sends a Fetch request straight to the partition leader through the
// shared source (Source); it keeps no consumer state.
func (b *Backend) Fetch(ctx context.Context, topic string, partition int32, offset int64, opts FetchOptions) (event.Batch, error) {
	if offset < 0 {
		return event.Batch{}, apierr.Invalid("offset %d is negative", offset)
	}
	if opts.Limit < 0 || opts.MaxBytes < 0 || opts.Wait < 0 {
		return event.Batch{}, apierr.Invalid("limit, max bytes and wait must not be negative")
	}
	if _, err := b.partition(ctx, topic, partition); err != nil {
		return event.Batch{}, err
	}
	if err := b.live(); err != nil {
		return event.Batch{}, apiError(err, scope{topic, partition})
	}
	limit := opts.Limit
	if limit == 0 {
		limit = DefaultFetchLimit
	}
	maxBytes := opts.MaxBytes
	if maxBytes == 0 {
		maxBytes = DefaultFetchMaxBytes
	}
	batch, err := b.tail.FetchWait(ctx, topic, partition, offset, maxBytes, opts.Wait)
	if err != nil && (leadershipMoved(err) || unreachable(err)) && ctx.Err() == nil {
		// The source dropped its cached leader or connection; one
		// more try asks for metadata afresh.
		batch, err = b.tail.FetchWait(ctx, topic, partition, offset, maxBytes, opts.Wait)
	}
	if err != nil {
		if errors.Is(err, kerr.UnknownTopicOrPartition) || errors.Is(err, kerr.UnknownTopicID) {
			b.meta.drop(topic)
		}
		return event.Batch{}, apiError(err, scope{topic, partition})
	}
	if len(batch.Records) > limit {
		batch.Records = batch.Records[:limit:limit]
		batch.NextOffset = batch.Records[limit-1].Offset + 1
	}
	return batch, nil
}

// unreadable is the 410 for events that cannot be read: the stored data is
// damaged, so asking again does not help. It names the lost offsets and
// where reading goes on.
func unreadable(ue *event.UnreadableError) *apierr.Error {
	e := apierr.New(http.StatusGone, apierr.CodeDataUnreadable,
		"%s of partition %d of topic %q cannot be read: the stored data is damaged; fetch from offset %d (next_offset) to read on",
		ue.Lost(), ue.Partition, ue.Topic, ue.To)
	e.Extra = map[string]any{"unreadable_from": ue.From, "next_offset": ue.To}
	e.Err = ue
	return e
}

// leadershipMoved reports errors after which the partition's leader should
// be looked up again.
func leadershipMoved(err error) bool {
	for _, e := range []error{kerr.NotLeaderForPartition, kerr.LeaderNotAvailable, kerr.FencedLeaderEpoch,
		kerr.UnknownLeaderEpoch, kerr.UnknownTopicID, kerr.UnknownTopicOrPartition, kerr.ReplicaNotAvailable} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
