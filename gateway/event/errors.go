package event

import (
	"errors"
	"fmt"
)

// ErrOffsetOutOfRange is wrapped by every *OffsetOutOfRangeError, for
// errors.Is. Callers should restart from one of the bounds the error carries
// (the API answers 416 with both).
var ErrOffsetOutOfRange = errors.New("event: offset out of range")

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
	return fmt.Sprintf("event: offset %d of %s/%d is out of range [%d, %d]",
		e.Offset, e.Topic, e.Partition, e.LogStartOffset, e.HighWatermark)
}

// Unwrap returns ErrOffsetOutOfRange.
func (e *OffsetOutOfRangeError) Unwrap() error { return ErrOffsetOutOfRange }

// ErrUnreadable is wrapped by every *UnreadableError, for errors.Is.
// Callers should tell their reader which offsets are lost and read on from
// the error's To.
var ErrUnreadable = errors.New("event: stored events cannot be read")

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
	return fmt.Sprintf("event: %s of %s/%d cannot be read (resume at %d): %v",
		e.Lost(), e.Topic, e.Partition, e.To, e.Cause)
}

// Unwrap returns ErrUnreadable. The cause is not unwrapped: a broker's
// CORRUPT_MESSAGE is a retriable Kafka error, and nothing here gets better
// by retrying.
func (e *UnreadableError) Unwrap() error { return ErrUnreadable }

// Lost names the lost offsets for messages: "offset 7" or "offsets 7 to
// 9".
func (e *UnreadableError) Lost() string { return Offsets(e.From, e.To) }

// Offsets names the offsets [from, to) for messages: "offset 7" or
// "offsets 7 to 9".
func Offsets(from, to int64) string {
	if to == from+1 {
		return fmt.Sprintf("offset %d", from)
	}
	return fmt.Sprintf("offsets %d to %d", from, to-1)
}

// ErrTopicGone is wrapped by every *TopicGoneError, for errors.Is. Readers
// should stop: nothing more will be read from the topic they followed.
var ErrTopicGone = errors.New("event: topic deleted")

// TopicGoneError says that the topic a reader followed was deleted while it
// read, and maybe created again under the same name (Recreated): a new
// topic whose offsets have nothing to do with the old one's.
type TopicGoneError struct {
	Topic     string
	Partition int32
	Recreated bool
}

func (e *TopicGoneError) Error() string {
	if e.Recreated {
		return fmt.Sprintf("event: topic %s was deleted and created again while partition %d was read", e.Topic, e.Partition)
	}
	return fmt.Sprintf("event: topic %s was deleted while partition %d was read", e.Topic, e.Partition)
}

// Unwrap returns ErrTopicGone.
func (e *TopicGoneError) Unwrap() error { return ErrTopicGone }
