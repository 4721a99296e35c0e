package fanout

import (
	"context"

	"github.com/runnel-dev/runnel/gateway/event"
)

// Source reads a partition's log. Implementations must be safe for
// concurrent use: the hub calls Fetch from the shared tail reader and from
// every catching-up subscriber at once.
type Source interface {
	// Fetch returns events from offset on, at most about maxBytes of them
	// (at least one event when any is readable, whatever its size), each
	// Record carrying partition. When
	// offset equals the high watermark it waits for new events until some
	// arrive, a source-defined long-poll limit passes (it then returns an
	// empty Batch) or ctx is done.
	//
	// An offset below the log start or above the high watermark fails at
	// once with an *event.OffsetOutOfRangeError carrying both bounds; the
	// hub relies on this to learn the bounds of a partition. Stored data
	// at offset that cannot be read fails with an *event.UnreadableError;
	// readable records before such data are returned first.
	Fetch(ctx context.Context, topic string, partition int32, offset int64, maxBytes int32) (event.Batch, error)
}

// StoredSource is a Source that can also read events known to be stored
// without waiting behind long polls. Catch-up reads use it when the Source
// has it: they read below the tail's position, where there are events to
// answer with at once, while a Kafka source's fetches to one broker share
// one connection and are answered in order, so a catch-up fetch sent after
// the tail's long poll at the high watermark would wait out the poll's
// limit before the subscriber got its first stored event.
type StoredSource interface {
	// FetchStored is Fetch without the wait at the high watermark (there
	// it returns an empty Batch at once), on a path no long poll blocks.
	FetchStored(ctx context.Context, topic string, partition int32, offset int64, maxBytes int32) (event.Batch, error)
}

// Bounder is a Source that can tell a partition's bounds without a fetch.
// The hub asks it on every Subscribe. A Kafka source implements it with
// ListOffsets, which franz-go sends on a connection of its own: fetches to
// one broker share one connection and are answered in order, so a bounds
// fetch would wait behind every long poll in flight.
type Bounder interface {
	// Bounds returns the partition's log start offset and high watermark.
	Bounds(ctx context.Context, topic string, partition int32) (logStart, hwm int64, err error)
}

// size is the number of payload bytes a record pins in memory; queue
// bounds are counted in it.
func size(r *event.Record) int {
	n := len(r.Key) + len(r.Value)
	for _, h := range r.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return n
}
