package commitlog

import (
	"errors"
	"fmt"
)

var (
	// ErrOffsetOutOfRange is matched (errors.Is) by *OffsetOutOfRangeError. The
	// caller should reset its position to the log start or end offset it carries.
	ErrOffsetOutOfRange = errors.New("offset out of range")
	// ErrLogFailed means an earlier write or fsync failed. The log refuses further
	// writes until it is closed and reopened, which recovers it from disk.
	ErrLogFailed = errors.New("log failed: reopen to recover")
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
