package producerstate

import (
	"math"
	"slices"

	"github.com/runnel-dev/runnel/broker/recordbatch"
)

// BatchMetadata describes one batch a producer wrote to the partition.
type BatchMetadata struct {
	FirstSeq     int32 // base sequence of the batch
	LastSeq      int32 // sequence of its last record, wrapped past MaxInt32 to 0
	FirstOffset  int64 // offset of its first record
	LastOffset   int64 // offset of its last record
	MaxTimestamp int64 // the batch header's max timestamp
}

// ProducerState is a copy of the partition's state for one producer id.
type ProducerState struct {
	ID    int64
	Epoch int16
	// Batches holds the producer's most recent batches of the current epoch,
	// oldest first, at most RetainedBatches of them.
	Batches []BatchMetadata
	// LastOffset is the last offset of the producer's latest batch (data or
	// control); the producer is forgotten once it falls below the log start.
	LastOffset int64
	// LastTimestamp is the max timestamp of the producer's latest batch, in
	// milliseconds since the epoch; expiration is measured from it.
	LastTimestamp int64
}

// LastSeq returns the sequence of the producer's last retained record, or -1
// when no batch is retained.
func (p *ProducerState) LastSeq() int32 {
	if len(p.Batches) == 0 {
		return -1
	}
	return p.Batches[len(p.Batches)-1].LastSeq
}

// entry is the state of one producer. The batches slice is owned by the
// entry: copies handed out are made with clone.
type entry struct {
	epoch         int16
	batches       []BatchMetadata // oldest first, len <= RetainedBatches
	lastOffset    int64
	lastTimestamp int64
}

func (e *entry) clone() *entry {
	c := *e
	c.batches = slices.Clone(e.batches)
	return &c
}

func (e *entry) lastSeq() int32 {
	if len(e.batches) == 0 {
		return -1
	}
	return e.batches[len(e.batches)-1].LastSeq
}

// apply records a batch that was written at firstOffset. It does not check
// anything: checking is Check's job, and replayed or replicated batches are
// already in the log. A new epoch discards the batches of the old one, as
// sequences restart with it.
func (e *entry) apply(h *recordbatch.Header, firstOffset int64) {
	if h.ProducerEpoch != e.epoch {
		e.epoch = h.ProducerEpoch
		e.batches = e.batches[:0]
	}
	last := firstOffset + int64(h.LastOffsetDelta)
	e.lastOffset = last
	e.lastTimestamp = h.MaxTimestamp
	// Control batches (transaction markers) and batches the broker writes
	// for a producer without sequences (transactional offset commits) move
	// the epoch but carry no sequence to track.
	if h.IsControl() || h.BaseSequence < 0 {
		return
	}
	if len(e.batches) == RetainedBatches {
		copy(e.batches, e.batches[1:])
		e.batches = e.batches[:RetainedBatches-1]
	}
	e.batches = append(e.batches, BatchMetadata{
		FirstSeq:     h.BaseSequence,
		LastSeq:      lastSequence(h.BaseSequence, h.LastOffsetDelta),
		FirstOffset:  firstOffset,
		LastOffset:   last,
		MaxTimestamp: h.MaxTimestamp,
	})
}

func (e *entry) state(id int64) ProducerState {
	p := ProducerState{ID: id, Epoch: e.epoch, LastOffset: e.lastOffset, LastTimestamp: e.lastTimestamp}
	if len(e.batches) > 0 {
		p.Batches = slices.Clone(e.batches)
	}
	return p
}

// lastSequence is the sequence of a batch's last record. Sequences are
// non-negative int32 values that wrap from MaxInt32 to 0, as Kafka's
// DefaultRecordBatch.incrementSequence does.
func lastSequence(base, lastOffsetDelta int32) int32 {
	return int32((int64(base) + int64(lastOffsetDelta)) % (math.MaxInt32 + 1))
}

// inSequence reports whether next directly follows last.
func inSequence(last, next int32) bool {
	return int64(next) == int64(last)+1 || (next == 0 && last == math.MaxInt32)
}
