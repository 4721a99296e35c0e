package fanout

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// ErrUnreadable is wrapped by every *UnreadableError, for errors.Is.
// Callers should tell their reader which offsets are lost and read on from
// the error's To.
var ErrUnreadable = errors.New("fanout: stored events cannot be read")

// UnreadableError says that a partition holds data at From that cannot be
// read, and will not become readable by asking again: the broker reports it
// damaged (Kafka's CORRUPT_MESSAGE), or it served a batch that does not
// decode (a CRC mismatch, a compressed payload that does not decompress,
// broken records). The offsets [From, To) are lost to the reader; reading
// goes on at To.
//
// To comes from the broker (Runnel's unreadable range, see
// broker/kafkaext) or from the damaged batch's header. When neither can be
// trusted, To is From+1: the extent is unknown, so a reader moves on one
// offset at a time.
type UnreadableError struct {
	Topic     string
	Partition int32
	From, To  int64
	// Cause is what the broker said or what failed to decode, for logs.
	Cause error
}

func (e *UnreadableError) Error() string {
	return fmt.Sprintf("fanout: %s of %s/%d cannot be read (resume at %d): %v",
		e.Lost(), e.Topic, e.Partition, e.To, e.Cause)
}

// Unwrap returns ErrUnreadable. The cause is not unwrapped: a broker's
// CORRUPT_MESSAGE is a retriable Kafka error, and nothing here gets better
// by retrying.
func (e *UnreadableError) Unwrap() error { return ErrUnreadable }

// Lost names the lost offsets for messages: "offset 7" or "offsets 7 to
// 9".
func (e *UnreadableError) Lost() string { return offsetsText(e.From, e.To) }

// offsetsText names the offsets [from, to) for messages: "offset 7" or
// "offsets 7 to 9".
func offsetsText(from, to int64) string {
	if to == from+1 {
		return fmt.Sprintf("offset %d", from)
	}
	return fmt.Sprintf("offsets %d to %d", from, to-1)
}

// UnreadableSink is a Sink that can be told about events it will never get.
// When a subscription's reader meets an *UnreadableError, the hub calls
// Unreadable from the subscription's goroutine, in order with Deliver:
// every event below err.From has been delivered before, and the events from
// err.To on follow. A nil error moves the subscription past the damage; a
// non-nil one ends the subscription with it.
//
// A subscription whose Sink is not an UnreadableSink ends with the
// *UnreadableError instead (Subscription.Err), rather than skip events
// silently.
type UnreadableSink interface {
	Sink
	Unreadable(ctx context.Context, err *UnreadableError) error
}

// maxReported bounds how many damaged ranges a KafkaSource remembers having
// logged.
const maxReported = 1024

// reportedRanges remembers the damaged ranges already logged, the most
// recent maxReported of them, so that each is logged once however many
// readers meet it and however often they retry.
type reportedRanges struct {
	mu   sync.Mutex
	seen map[damageKey]struct{}
	ring []damageKey // insertion order; the oldest is forgotten first
	next int         // ring slot to overwrite once the ring is full
}

type damageKey struct {
	topic     string
	partition int32
	from, to  int64
}

// first reports whether k is new, remembering it.
func (r *reportedRanges) first(k damageKey) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.seen[k]; ok {
		return false
	}
	if r.seen == nil {
		r.seen = make(map[damageKey]struct{})
	}
	if len(r.ring) < maxReported {
		r.ring = append(r.ring, k)
	} else {
		delete(r.seen, r.ring[r.next])
		r.ring[r.next] = k
		r.next = (r.next + 1) % maxReported
	}
	r.seen[k] = struct{}{}
	return true
}
