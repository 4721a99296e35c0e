package recordbatch

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error returned by this package wraps exactly one of
// them (through a *BatchError), so callers classify failures with errors.Is
// and never by matching message text.
var (
	// ErrCorrupt means the bytes are not a well-formed batch: a CRC
	// mismatch, an impossible length, a malformed record or a broken
	// compressed stream. The batch must be refused (a produce request is
	// answered with CORRUPT_MESSAGE); in a log file it means the data at
	// this position is damaged and everything from here on is suspect.
	ErrCorrupt = errors.New("recordbatch: corrupt batch")

	// ErrTruncated means the input ends before the batch it starts does.
	// At the end of a log segment this is a torn write from a crash: the
	// caller truncates the file at the start of the partial batch and
	// carries on. Anywhere else it is corruption.
	ErrTruncated = errors.New("recordbatch: truncated batch")

	// ErrTooLarge means the batch exceeds the caller's size limit, or its
	// records decompress to more than the decompression limit. Refuse the
	// batch (MESSAGE_TOO_LARGE); do not retry it with the same limit.
	ErrTooLarge = errors.New("recordbatch: batch too large")

	// ErrUnsupportedMagic means the batch is not a v2 (magic 2) record
	// batch, for example a legacy v0/v1 message set. Refuse it
	// (UNSUPPORTED_FOR_MESSAGE_FORMAT); this package reads only v2.
	ErrUnsupportedMagic = errors.New("recordbatch: unsupported magic")

	// ErrInvalidRecordCount means the record count is below one, does not
	// match lastOffsetDelta+1, or does not match the records actually
	// present. Refuse the batch (INVALID_RECORD).
	ErrInvalidRecordCount = errors.New("recordbatch: invalid record count")

	// ErrUnknownCodec means the attributes name a compression codec other
	// than none, gzip, snappy, lz4 or zstd. Refuse the batch
	// (UNSUPPORTED_COMPRESSION_TYPE).
	ErrUnknownCodec = errors.New("recordbatch: unknown compression codec")

	// ErrInvalidRecord means a produced batch breaks a rule that Kafka's
	// log validator enforces beyond the checksum: a malformed record, an
	// offset delta other than the record's position, a control batch or a
	// producer id without a sequence. Refuse the batch (INVALID_RECORD);
	// the producer must not retry it unchanged.
	ErrInvalidRecord = errors.New("recordbatch: invalid record")

	// ErrInvalidTimestamp means records of a produced batch carry
	// timestamps the topic does not accept: outside its
	// message.timestamp.before.max.ms / after.max.ms window, or the
	// log-append-time type, which only the broker may set. Refuse the batch
	// (INVALID_TIMESTAMP).
	ErrInvalidTimestamp = errors.New("recordbatch: invalid timestamp")
)

// MaxRecordErrors bounds the records a *BatchError names, so that a batch of
// a hundred thousand bad records does not make an answer of as many
// messages.
const MaxRecordErrors = 100

// RecordError names one record of a batch that broke a rule, for the
// per-record errors of a produce response (Kafka's RecordErrors, KIP-467).
type RecordError struct {
	// Index is the record's position in its batch, from 0.
	Index int32
	// Message says what is wrong with the record.
	Message string
}

// BatchError describes why a batch was refused. Kind is one of the package's
// sentinel errors and Reason says exactly what was wrong, with the numbers
// involved; Err is the underlying cause (for example a decompressor's error)
// when there is one.
type BatchError struct {
	// Kind is the sentinel that classifies the failure (ErrCorrupt, ...).
	Kind error
	// Reason is a human-readable account of the problem.
	Reason string
	// Err is the underlying error, or nil.
	Err error
	// Records names the records at fault, in order, when the fault lies
	// with single records (at most MaxRecordErrors of them); nil when it
	// lies with the batch as a whole.
	Records []RecordError
}

// Error returns the sentinel's text, the reason and, if set, the cause.
func (e *BatchError) Error() string {
	s := e.Kind.Error() + ": " + e.Reason
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the sentinel and, if set, the underlying cause, so that
// errors.Is matches both.
func (e *BatchError) Unwrap() []error {
	if e.Err != nil {
		return []error{e.Kind, e.Err}
	}
	return []error{e.Kind}
}

// batchErr builds a *BatchError. It is kept out of line so that the
// formatting cost and the allocations stay off the success path of callers.
//
//go:noinline
func batchErr(kind error, format string, args ...any) error {
	return &BatchError{Kind: kind, Reason: fmt.Sprintf(format, args...)}
}

// batchErrCause is batchErr with an underlying cause.
//
//go:noinline
func batchErrCause(kind, cause error, format string, args ...any) error {
	return &BatchError{Kind: kind, Reason: fmt.Sprintf(format, args...), Err: cause}
}
