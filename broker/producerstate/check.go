package producerstate

import (
	"github.com/runnel-dev/runnel/broker/recordbatch"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Decision is the outcome of checking a batch that may be appended.
type Decision struct {
	// Duplicate is true when the batch repeats one of the producer's last
	// RetainedBatches batches, sequence range and epoch alike: a retry of a
	// request whose answer was lost. The caller must not write it and
	// answers with Original's offsets, as if it had just been written.
	Duplicate bool
	// Original is the logged batch the duplicate repeats.
	Original BatchMetadata
}

// Check decides whether the batch h may be appended, against the state of
// the batches already applied with Update. Batches without a producer id
// (ProducerID < 0) always pass. A refusal is a *ProducerError that unwraps to
// kerr.InvalidProducerEpoch, kerr.OutOfOrderSequenceNumber,
// kerr.UnknownProducerID or kerr.InvalidRecord.
//
// Check sees only batches applied with Update: for a produce request with
// several batches, check them with an Append so that each is checked against
// the ones before it. The caller serializes Check with Update (see the
// package documentation).
func (m *Manager) Check(h recordbatch.Header) (Decision, error) {
	if h.ProducerID < 0 {
		return Decision{}, nil
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	e := m.producers[h.ProducerID]
	return check(e, e, &h)
}

// check applies Kafka's rules (ProducerAppendInfo.checkProducerEpoch and
// checkSequence, ProducerStateEntry.findDuplicateBatch) to h. view is the
// producer's state including batches accepted earlier in the same request;
// committed is its state in the log, the only place duplicates can be found
// since only logged batches have offsets to answer with. Either may be nil.
func check(view, committed *entry, h *recordbatch.Header) (Decision, error) {
	refuse := func(code *kerr.Error, reason string) (Decision, error) {
		pe := &ProducerError{Code: code, ProducerID: h.ProducerID, Epoch: h.ProducerEpoch, FirstSeq: h.BaseSequence,
			CurrentEpoch: -1, LastSeq: -1, Reason: reason}
		if view != nil {
			pe.CurrentEpoch, pe.LastSeq = view.epoch, view.lastSeq()
		}
		return Decision{}, pe
	}
	if h.IsControl() {
		// Markers carry no sequence; only fencing applies.
		if view != nil && h.ProducerEpoch < view.epoch {
			return refuse(kerr.InvalidProducerEpoch, "epoch is older than the current one")
		}
		return Decision{}, nil
	}
	if h.BaseSequence < 0 {
		return refuse(kerr.InvalidRecord, "a batch with a producer id needs a base sequence")
	}
	if view == nil {
		// A producer the partition has no state for: a new one, or one
		// whose state went with its batches (retention, DeleteRecords) or
		// expired (producer.id.expiration.ms). Only sequence 0 starts it;
		// anything else is UNKNOWN_PRODUCER_ID, as Kafka 1.0 to 2.4
		// answered (KAFKA-5793). The produce answer carries the log start
		// offset, so the client can tell retention, after which it safely
		// restarts its sequences under a new epoch, from records that were
		// lost. Kafka 2.5+ (KIP-360) accepts any sequence here instead,
		// which leaves a lost first write undetected.
		if h.BaseSequence != 0 {
			return refuse(kerr.UnknownProducerID, "the partition has no state for this producer (new, expired, or its batches were removed), so its first batch must have sequence 0")
		}
		return Decision{}, nil
	}
	if committed != nil && h.ProducerEpoch == committed.epoch && view.epoch == committed.epoch {
		last := lastSequence(h.BaseSequence, h.LastOffsetDelta)
		for _, b := range committed.batches {
			if b.FirstSeq == h.BaseSequence && b.LastSeq == last {
				return Decision{Duplicate: true, Original: b}, nil
			}
		}
	}
	switch {
	case h.ProducerEpoch < view.epoch:
		return refuse(kerr.InvalidProducerEpoch, "epoch is older than the current one")
	case h.BaseSequence == 0 && (h.ProducerEpoch > view.epoch || len(view.batches) == 0):
		// A new epoch restarts sequences at 0 (Kafka 2.x+), and so may a
		// producer whose sequences the partition no longer knows.
	case h.ProducerEpoch > view.epoch && view.epoch >= 0:
		return refuse(kerr.OutOfOrderSequenceNumber, "a new epoch must start at sequence 0")
	case h.ProducerEpoch > view.epoch, len(view.batches) == 0:
		// The partition knows the producer but not its next sequence: an
		// entry from batches without a real epoch, or one left with only
		// its epoch (transaction markers) after its batches went. Kafka
		// 2.1 to 2.4 answered UNKNOWN_PRODUCER_ID (KAFKA-7298), as for an
		// unknown producer.
		return refuse(kerr.UnknownProducerID, "the partition does not know this producer's next sequence, so its batch must have sequence 0")
	case !inSequence(view.lastSeq(), h.BaseSequence):
		return refuse(kerr.OutOfOrderSequenceNumber, "sequence does not follow the last one")
	}
	return Decision{}, nil
}

// Append checks the batches of one produce request in order, each against
// the state including the batches before it, and applies them all once the
// request is written. It is Kafka's ProducerAppendInfo for a whole request.
// An Append is used by one goroutine, under the partition's append lock,
// between its creation and Commit; it holds no lock of its own.
type Append struct {
	m       *Manager
	views   map[int64]*entry
	headers []recordbatch.Header
	refused bool
}

// NewAppend starts checking a produce request's batches.
func (m *Manager) NewAppend() *Append {
	return &Append{m: m}
}

// Check decides whether h may be appended after the batches already given
// to this Append. Pass every batch of the request, in order, those without a
// producer id included, so that Commit can assign offsets as the log does.
// After an error or a Duplicate the request must not be written: Kafka
// answers the whole partition's request with the error, or with the
// duplicate's original offsets.
func (a *Append) Check(h recordbatch.Header) (Decision, error) {
	a.headers = append(a.headers, h)
	if h.ProducerID < 0 {
		return Decision{}, nil
	}
	a.m.mu.RLock()
	committed := a.m.producers[h.ProducerID]
	a.m.mu.RUnlock()
	view, ok := a.views[h.ProducerID]
	if !ok {
		view = committed
	}
	d, err := check(view, committed, &h)
	if err != nil || d.Duplicate {
		a.refused = true
		return d, err
	}
	if !ok {
		if committed != nil {
			view = committed.clone()
		} else {
			view = &entry{epoch: h.ProducerEpoch}
		}
		if a.views == nil {
			a.views = make(map[int64]*entry)
		}
		a.views[h.ProducerID] = view
	}
	// Offsets are not known until the log assigns them; the view is only
	// used for sequence and epoch checks, so a placeholder will do.
	view.apply(&h, 0)
	return d, nil
}

// Commit applies every checked batch after the request was appended with
// its first batch at firstOffset (commitlog.AppendInfo.FirstOffset); the
// following batches get the offsets the log assigned them, densely after
// it. It returns ErrNotCommittable, and changes nothing, when a Check
// refused a batch or found a duplicate.
func (a *Append) Commit(firstOffset int64) error {
	if a.refused {
		return ErrNotCommittable
	}
	a.m.mu.Lock()
	defer a.m.mu.Unlock()
	off := firstOffset
	for i := range a.headers {
		h := &a.headers[i]
		a.m.applyLocked(h, off)
		off += int64(h.LastOffsetDelta) + 1
	}
	a.headers, a.views = nil, nil
	return nil
}
