package commitlog

import (
	"errors"
	"fmt"
)

var (
	// ErrOffsetOutOfRange is matched (errors.Is) by *OffsetOutOfRangeError. The
	// caller should reset its position to the log start or end offset it carries.
	ErrOffsetOutOfRange = errors.New("offset out of range")
	// ErrLogFailed means an earlier write or fsync failed (a full disk, a
	// failing device). The log refuses writes until a retry, at the next
	// write or in the background with backoff, finds the disk writable again
	// and its tail whole; StorageError says whether it still refuses. Kafka
	// clients get KAFKA_STORAGE_ERROR and retry.
	ErrLogFailed = errors.New("log storage failed")
	// ErrUnreadable is matched (errors.Is) by *UnreadableRangeError: the
	// offsets asked for lie in stored data the log found damaged. Nothing
	// there will be served; the caller tells its reader and continues from
	// the error's To offset.
	ErrUnreadable = errors.New("offsets unreadable: stored data is damaged")
	// ErrClosed means the log was closed. Open it again to use it.
	ErrClosed = errors.New("log closed")
	// ErrEmptyAppend means Append was given no batches. Send at least one.
	ErrEmptyAppend = errors.New("no record batches to append")
	// ErrBadOffset means a follower append's batches do not continue the log at its
	// end offset. The follower should truncate or fetch from its end offset.
	ErrBadOffset = errors.New("batch offset does not continue the log")
	// ErrInvalidRequest means an argument is outside what the log allows, such as
	// deleting records past the high watermark.
	ErrInvalidRequest = errors.New("invalid log request")
)

// OffsetOutOfRangeError is returned for an offset below the log start offset or
// past the log end offset. It carries both bounds so the caller can reset.
type OffsetOutOfRangeError struct {
	Offset         int64
	LogStartOffset int64
	LogEndOffset   int64
}

func (e *OffsetOutOfRangeError) Error() string {
	return fmt.Sprintf("offset %d out of range [%d, %d]", e.Offset, e.LogStartOffset, e.LogEndOffset)
}

// Is makes errors.Is(err, ErrOffsetOutOfRange) true.
func (e *OffsetOutOfRangeError) Is(target error) bool { return target == ErrOffsetOutOfRange }

// InvalidBatchError says which batch of an append was refused and why. It unwraps
// to the recordbatch error (recordbatch.ErrCorrupt, ErrTooLarge, ...).
type InvalidBatchError struct {
	Index    int // position of the batch in the appended buffer, from 0
	Position int // byte position of the batch in the appended buffer
	Err      error
}

func (e *InvalidBatchError) Error() string {
	return fmt.Sprintf("record batch %d at byte %d: %v", e.Index, e.Position, e.Err)
}

func (e *InvalidBatchError) Unwrap() error { return e.Err }

// UnreadableRange is a range of offsets [From, To) of a log that cannot be
// read: the batches there lie in the damaged part of a segment, from byte
// Position of its file on. The bytes stay on disk, never served and never
// cut, so that an operator can inspect them (runnel log dump).
type UnreadableRange struct {
	From     int64
	To       int64
	Segment  string // the segment's .log file
	Position int64  // where in Segment the damage starts
	Reason   string // what is wrong there
}

// UnreadableRangeError is returned by reads at an offset in an unreadable
// range. A read that starts before the range returns the batches before it
// instead; the next read, at From, gets this error.
type UnreadableRangeError struct {
	UnreadableRange
}

func (e *UnreadableRangeError) Error() string {
	return fmt.Sprintf("offsets %d to %d are unreadable: %s is damaged from byte %d (%s)", e.From, e.To-1, e.Segment, e.Position, e.Reason)
}

// Is makes errors.Is(err, ErrUnreadable) true.
func (e *UnreadableRangeError) Is(target error) bool { return target == ErrUnreadable }
