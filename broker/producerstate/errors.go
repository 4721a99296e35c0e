package producerstate

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
)

var (
	// ErrCorruptSnapshot means a snapshot file failed its checks (version,
	// CRC-32C, lengths, field ranges). Load and TruncateTo delete such a file
	// and fall back to an older snapshot or to the log, so callers only see
	// it from DecodeSnapshot.
	ErrCorruptSnapshot = errors.New("producerstate: corrupt snapshot")

	// ErrSnapshotBehind means TakeSnapshot was given an end offset below
	// batches the state already holds. Pass the log end offset, read under
	// the partition's append lock, so that the snapshot and the log agree.
	ErrSnapshotBehind = errors.New("producerstate: snapshot offset below applied batches")

	// ErrNotCommittable means Append.Commit was called after one of the
	// append's batches was refused or found to be a duplicate. Such a
	// produce request must not be written; answer it instead.
	ErrNotCommittable = errors.New("producerstate: append has a refused or duplicate batch")
)

// ProducerError says why a batch was refused. It unwraps to the Kafka error
// the broker answers with: kerr.InvalidProducerEpoch,
// kerr.OutOfOrderSequenceNumber or kerr.InvalidRecord, so callers classify it
// with errors.Is(err, kerr.OutOfOrderSequenceNumber) or take the code from
// errors.As into a *kerr.Error.
type ProducerError struct {
	// Code is the Kafka error for the produce response.
	Code *kerr.Error
	// ProducerID, Epoch and FirstSeq identify the refused batch.
	ProducerID int64
	Epoch      int16
	FirstSeq   int32
	// CurrentEpoch and LastSeq are the partition's state for the producer
	// (LastSeq is -1 when no batch is retained).
	CurrentEpoch int16
	LastSeq      int32
	// Reason says what rule the batch broke.
	Reason string
}

// Error names the producer, the batch, the state it was checked against and
// the rule it broke.
func (e *ProducerError) Error() string {
	return fmt.Sprintf("producer %d epoch %d sequence %d: %s (current epoch %d, last sequence %d): %s",
		e.ProducerID, e.Epoch, e.FirstSeq, e.Reason, e.CurrentEpoch, e.LastSeq, e.Code.Message)
}

// Unwrap returns the Kafka error, so that errors.Is and errors.As match it.
func (e *ProducerError) Unwrap() error { return e.Code }

// corrupt builds an error wrapping ErrCorruptSnapshot.
func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorruptSnapshot, fmt.Sprintf(format, args...))
}
