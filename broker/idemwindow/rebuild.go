package idemwindow

import (
	"errors"
	"fmt"

	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/runnel-dev/runnel/broker/recordbatch"
)

// rebuildChunk is how many bytes of batches Rebuild reads at a time.
const rebuildChunk = 1 << 20

// RecordBatches indexes the keyed batches of batches, concatenated batches
// whose offsets are already assigned (a follower's replicated append, or log
// bytes), each with its largest timestamp as its time. Batches older than
// the window are skipped. It returns the number of keys indexed, and stops at
// the first malformed batch with its error.
func (x *Index) RecordBatches(batches []byte) (int, error) {
	now := x.opts.Now().UnixMilli()
	n := 0
	for rest := batches; len(rest) > 0; {
		batch, next, err := recordbatch.Next(rest)
		if err != nil {
			return n, fmt.Errorf("idemwindow: batch at byte %d: %w", len(batches)-len(rest), err)
		}
		rest = next
		key, ok := KeyOf(batch)
		if !ok {
			continue
		}
		h, err := recordbatch.ParseHeader(batch)
		if err != nil {
			return n, fmt.Errorf("idemwindow: batch at byte %d: %w", len(batches)-len(rest)-len(batch), err)
		}
		e := Entry{BaseOffset: h.BaseOffset, LastOffset: h.LastOffset(), Time: h.MaxTimestamp}
		if x.expired(e, now) {
			continue
		}
		x.add(digestOf(key), e, now)
		n++
	}
	return n, nil
}

// Log is the part of a partition log Rebuild reads; *commitlog.Log
// implements it.
type Log interface {
	Dir() string
	Offsets() commitlog.Offsets
	Segments() []commitlog.SegmentInfo
	ReadBatches(offset, maxBytes int64, bound commitlog.Bound) ([]byte, commitlog.ReadResult, error)
}

var _ Log = (*commitlog.Log)(nil)

// Rebuild indexes the keys in the tail of l: from the newest segment back to
// the first one wholly older than the window, or until RebuildBytes are
// covered (within a segment the starting offset is interpolated, so the
// bound is approximate). Call it once when the partition opens, before any
// append. It returns the number of keys indexed.
func (x *Index) Rebuild(l Log) (int, error) {
	from := x.rebuildStart(l)
	n := 0
	for {
		buf, res, err := l.ReadBatches(from, rebuildChunk, commitlog.ToLogEnd)
		var oor *commitlog.OffsetOutOfRangeError
		if errors.As(err, &oor) && from < oor.LogStartOffset {
			from = oor.LogStartOffset // retention moved the start under us
			continue
		}
		if err != nil {
			return n, fmt.Errorf("idemwindow: rebuild %s from offset %d: %w", l.Dir(), from, err)
		}
		if len(buf) == 0 {
			return n, nil
		}
		k, err := x.RecordBatches(buf)
		n += k
		if err != nil {
			return n, fmt.Errorf("idemwindow: rebuild %s at offset %d: %w", l.Dir(), from, err)
		}
		if res.NextOffset <= from {
			return n, nil
		}
		from = res.NextOffset
	}
}

// rebuildStart picks the offset Rebuild reads from.
func (x *Index) rebuildStart(l Log) int64 {
	segs := l.Segments()
	o := l.Offsets()
	cutoff := x.opts.Now().UnixMilli() - x.window
	from := o.LogEnd
	var covered int64
	for i := len(segs) - 1; i >= 0; i-- {
		s := segs[i]
		if s.NextOffset <= o.LogStart {
			break // below the log start: deleted records
		}
		if s.NextOffset <= s.BaseOffset {
			continue // empty (a freshly rolled active segment)
		}
		if s.MaxTimestamp < cutoff {
			break // everything here and before is older than the window
		}
		if covered+s.Size > x.opts.RebuildBytes && s.Size > 0 {
			// Only the segment's tail fits: start where the remaining
			// bytes begin, assuming records of even size.
			left := x.opts.RebuildBytes - covered
			span := s.NextOffset - s.BaseOffset
			from = s.NextOffset - int64(float64(span)*float64(left)/float64(s.Size))
			break
		}
		covered += s.Size
		from = s.BaseOffset
	}
	return max(from, o.LogStart)
}
