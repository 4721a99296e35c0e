package broker

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/runnel-dev/runnel/broker/producerstate"
	"github.com/runnel-dev/runnel/broker/recordbatch"
)

// producerTracker checks idempotent producers' sequences around appends: a
// retried batch is answered with its original offsets and written once, a gap
// or a stale epoch is refused.
type producerTracker struct {
	m *producerstate.Manager
}

func newProducerTracker(l *commitlog.Log, logger *slog.Logger) (*producerTracker, error) {
	m, err := producerstate.Load(context.Background(), l.Dir(), l, producerstate.Options{Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("load producer state: %w", err)
	}
	return &producerTracker{m: m}, nil
}

// appended is where an append (or the original of a duplicate) landed.
type appended struct {
	firstOffset, lastOffset int64
	segmentBase             int64 // segment written to; -1 for a duplicate (nothing written)
}

// appendChecked appends records after checking every batch's producer
// sequence. For a duplicate it writes nothing and returns the original's
// offsets with dup set. The caller holds the partition's append lock.
func (t *producerTracker) appendChecked(l *commitlog.Log, records []byte, leaderEpoch int32) (res appended, dup bool, err error) {
	a := t.m.NewAppend()
	for rest := records; len(rest) > 0; {
		batch, next, err := recordbatch.Next(rest)
		if err != nil {
			return res, false, &commitlog.InvalidBatchError{Position: len(records) - len(rest), Err: err}
		}
		h, err := recordbatch.ParseHeader(batch)
		if err != nil {
			return res, false, &commitlog.InvalidBatchError{Position: len(records) - len(rest), Err: err}
		}
		d, err := a.Check(h)
		if err != nil {
			return res, false, err
		}
		if d.Duplicate {
			return appended{d.Original.FirstOffset, d.Original.LastOffset, -1}, true, nil
		}
		rest = next
	}
	info, err := l.Append(records, leaderEpoch)
	if err != nil {
		return res, false, err
	}
	if err := a.Commit(info.FirstOffset); err != nil {
		return res, false, fmt.Errorf("record producer state: %w", err)
	}
	return appended{info.FirstOffset, info.LastOffset, info.SegmentBase}, false, nil
}

// snapshot writes the producer state at the log end (clean shutdown).
func (t *producerTracker) snapshot(l *commitlog.Log) error {
	return t.m.TakeSnapshot(l.LogEndOffset())
}

// appendOutcome is the result of one record set of appendEach.
type appendOutcome struct {
	res appended
	dup bool
	err error
}

// appendEach appends record sets (one per produce request, in arrival order)
// as appendChecked would one after another. Consecutive sets without a
// producer id, which no sequence check concerns, go to the log with one
// vectored write; a set of an idempotent producer is checked and written
// alone, after the sets before it. The caller holds the partition's append
// lock.
func (t *producerTracker) appendEach(l *commitlog.Log, sets [][]byte, leaderEpoch int32, out []appendOutcome) {
	for i := 0; i < len(sets); {
		j := i
		for j < len(sets) && withoutProducer(sets[j]) {
			j++
		}
		if j-i < 2 {
			// An idempotent set (or an unreadable one, which appendChecked
			// reports), or a plain set alone.
			o := &out[i]
			o.res, o.dup, o.err = t.appendChecked(l, sets[i], leaderEpoch)
			i++
			continue
		}
		for k, r := range l.AppendEach(sets[i:j], leaderEpoch) {
			o := &out[i+k]
			if r.Err != nil {
				o.err = r.Err
				continue
			}
			// Only the offset the producer state covers moves. The log
			// stamped each batch's offset into its header.
			for rest := sets[i+k]; len(rest) > 0; {
				batch, next, err := recordbatch.Next(rest)
				if err != nil {
					break // cannot happen: the log validated the set
				}
				if h, err := recordbatch.ParseHeader(batch); err == nil {
					t.m.Update(h, h.BaseOffset)
				}
				rest = next
			}
			o.res = appended{r.Info.FirstOffset, r.Info.LastOffset, r.Info.SegmentBase}
		}
		i = j
	}
}

// withoutProducer reports whether records are well-framed batches none of
// which carries a producer id.
func withoutProducer(records []byte) bool {
	if len(records) == 0 {
		return false
	}
	for rest := records; len(rest) > 0; {
		batch, next, err := recordbatch.Next(rest)
		if err != nil {
			return false
		}
		h, err := recordbatch.ParseHeader(batch)
		if err != nil || h.ProducerID >= 0 {
			return false
		}
		rest = next
	}
	return true
}
