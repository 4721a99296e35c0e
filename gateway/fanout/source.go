package fanout

import (
	"context"
	"errors"
	"fmt"
)

// Event is one record of a partition, decoded.
//
// An Event handed to a Sink is shared with every other subscriber of the
// partition: its byte slices must be treated as read-only.
type Event struct {
	Offset    int64
	Timestamp int64 // milliseconds since the Unix epoch
	Key       []byte
	Value     []byte
	Headers   []Header
}

// Header is one record header. A nil Value is Kafka's null.
type Header struct {
	Key   string
	Value []byte
}

// size is the number of payload bytes an event pins in memory; queue bounds
// are counted in it.
func (e *Event) size() int {
	n := len(e.Key) + len(e.Value)
	for _, h := range e.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return n
}

// Batch is the answer to one Fetch.
type Batch struct {
	// Events are in offset order, all at or after the requested offset.
	// Offsets need not be dense: compaction and transaction markers leave
	// holes.
	Events []Event
	// NextOffset is where the next Fetch continues: past the last event,
	// or further when the fetch skipped records that are not events
	// (control batches). It is never below the requested offset.
	NextOffset int64
	// HighWatermark is the partition's high watermark when the fetch was
	// answered: the offset after the last readable event.
	HighWatermark int64
	// LogStartOffset is the first offset still in the log.
	LogStartOffset int64
}

// Source reads a partition's log. Implementations must be safe for
// concurrent use: the hub calls Fetch from the shared tail reader and from
// every catching-up subscriber at once.
type Source interface {
	// Fetch returns events from offset on, at most about maxBytes of them
	// (at least one event when any is readable, whatever its size). When
	// offset equals the high watermark it waits for new events until some
	// arrive, a source-defined long-poll limit passes (it then returns an
	// empty Batch) or ctx is done.
	//
	// An offset below the log start or above the high watermark fails at
	// once with an *OffsetOutOfRangeError carrying both bounds; the hub
	// relies on this to learn the bounds of a partition.
	Fetch(ctx context.Context, topic string, partition int32, offset int64, maxBytes int32) (Batch, error)
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

// ErrOffsetOutOfRange is wrapped by every *OffsetOutOfRangeError, for
// errors.Is. Callers should restart from one of the bounds the error carries
// (the API answers 416 with both).
var ErrOffsetOutOfRange = errors.New("fanout: offset out of range")

// OffsetOutOfRangeError says that an offset is outside the readable part of
// a partition, [LogStartOffset, HighWatermark].
type OffsetOutOfRangeError struct {
	Topic          string
	Partition      int32
	Offset         int64
	LogStartOffset int64
	HighWatermark  int64
}

func (e *OffsetOutOfRangeError) Error() string {
	return fmt.Sprintf("fanout: offset %d of %s/%d is out of range [%d, %d]",
		e.Offset, e.Topic, e.Partition, e.LogStartOffset, e.HighWatermark)
}

// Unwrap returns ErrOffsetOutOfRange.
func (e *OffsetOutOfRangeError) Unwrap() error { return ErrOffsetOutOfRange }
