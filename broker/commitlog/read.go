package commitlog

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/runnel-dev/runnel/broker/recordbatch"
)

// Bound says how far a read may go.
type Bound int

const (
	// ToHighWatermark reads committed records only (consumers).
	ToHighWatermark Bound = iota
	// ToLogEnd reads everything appended (followers, tools).
	ToLogEnd
)

// FileSlice is a run of whole batches in one segment file: what a broker hands
// to sendfile(2). File stays valid until retention or truncation closes it; use
// it through SyscallConn or ReadAt (never its shared file position), and treat
// os.ErrClosed as the data having been deleted.
type FileSlice struct {
	File        *os.File
	Position    int64 // byte position of the first batch in File
	Size        int64 // bytes of whole batches
	FirstOffset int64 // base offset of the first batch (may be below the requested offset)
	NextOffset  int64 // offset after the last batch
}

// ReadResult is where the batches of a read are, with the log's offsets at the
// time of the read.
type ReadResult struct {
	Slices         []FileSlice
	NextOffset     int64 // offset after the last returned batch; the start when nothing was returned
	LogStartOffset int64
	LogEndOffset   int64
	HighWatermark  int64
}

// Size returns the bytes in all slices.
func (r *ReadResult) Size() int64 {
	var n int64
	for _, s := range r.Slices {
		n += s.Size
	}
	return n
}

// Read locates the whole batches holding offset and the ones after it, up to
// maxBytes and the bound, without reading them. The batch holding offset is
// always returned whole, even when it alone exceeds maxBytes (so a consumer can
// always progress). Reading at the bound returns nothing; an offset below the
// log start or past the log end is an *OffsetOutOfRangeError.
func (l *Log) Read(offset int64, maxBytes int64, bound Bound) (ReadResult, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return ReadResult{}, ErrClosed
	}
	leo := l.activeLocked().next
	res := ReadResult{NextOffset: offset, LogStartOffset: l.logStart, LogEndOffset: leo, HighWatermark: l.hw}
	if offset < l.logStart || offset > leo {
		return res, &OffsetOutOfRangeError{Offset: offset, LogStartOffset: l.logStart, LogEndOffset: leo}
	}
	limit := leo
	if bound == ToHighWatermark {
		limit = l.hw
	}
	budget := maxBytes
	for i := l.segmentForLocked(offset); i < len(l.segments) && offset < limit; i++ {
		s := l.segments[i]
		if offset >= s.next {
			continue
		}
		start, first, err := s.translate(offset)
		if err != nil {
			return res, err
		}
		end, next := s.size, s.next
		if limit < s.next {
			if end, next, err = s.translate(limit); err != nil {
				return res, err
			}
		}
		if end <= start || (len(res.Slices) > 0 && budget <= 0) {
			break
		}
		if end-start > budget {
			// Whole batches within the budget; the read's first batch always goes.
			if end, next, err = s.boundaryAtOrBelow(start, start+max(budget, 0)); err != nil {
				return res, err
			}
			if end == start {
				if len(res.Slices) > 0 {
					break
				}
				if end, next, err = s.batchEnd(start); err != nil {
					return res, err
				}
			}
		}
		res.Slices = append(res.Slices, FileSlice{File: s.log, Position: start, Size: end - start, FirstOffset: first, NextOffset: next})
		budget -= end - start
		offset, res.NextOffset = next, next
		if end < s.size {
			break
		}
	}
	return res, nil
}

// segmentForLocked returns the index of the segment holding offset (the last
// one whose base is at or below it).
func (l *Log) segmentForLocked(offset int64) int {
	i := sort.Search(len(l.segments), func(i int) bool { return l.segments[i].base > offset })
	return max(i-1, 0)
}

// ReadBatches copies the batches of a Read into memory: for tools, tests and
// readers that need the bytes rather than a sendfile.
func (l *Log) ReadBatches(offset int64, maxBytes int64, bound Bound) ([]byte, ReadResult, error) {
	res, err := l.Read(offset, maxBytes, bound)
	if err != nil {
		return nil, res, err
	}
	buf := make([]byte, res.Size())
	n := 0
	for _, s := range res.Slices {
		if _, err := s.File.ReadAt(buf[n:n+int(s.Size)], s.Position); err != nil {
			if errors.Is(err, os.ErrClosed) {
				// Deleted under us by retention: report the new bounds.
				o := l.Offsets()
				return nil, res, &OffsetOutOfRangeError{Offset: offset, LogStartOffset: o.LogStart, LogEndOffset: o.LogEnd}
			}
			return nil, res, fmt.Errorf("read batches at offset %d: %w", offset, err)
		}
		n += int(s.Size)
	}
	return buf, res, nil
}

// Reader decodes records from a log, in offset order, starting at a chosen
// offset. It is not safe for concurrent use; the log may be appended to while
// it reads.
type Reader struct {
	l       *Log
	next    int64
	bound   Bound
	chunk   int64
	buf     []byte
	it      *recordbatch.RecordIter
	decode  recordbatch.DecodeOptions
	pending []byte // batches not yet decoded
	after   int64  // offset after the batch being decoded
}

// NewReader returns a Reader yielding the records at and after offset, up to the
// bound as it moves.
func (l *Log) NewReader(offset int64, bound Bound) *Reader {
	return &Reader{l: l, next: offset, bound: bound, chunk: 1 << 20}
}

// Next returns the next record. It returns io.EOF when it has caught up with the
// bound (call again later for more), an *OffsetOutOfRangeError when its position
// left the log, and a recordbatch error for a damaged batch.
func (r *Reader) Next() (recordbatch.Record, error) {
	for {
		if r.it != nil {
			rec, err := r.it.Next()
			if err == io.EOF {
				// Past the batch even if its records stopped short of its
				// last offset, so a read never comes back to it.
				r.it, r.next = nil, max(r.next, r.after)
				continue
			}
			if err != nil {
				r.it = nil
				return rec, err
			}
			if rec.Offset < r.next {
				continue
			}
			r.next = rec.Offset + 1
			return rec, nil
		}
		if len(r.pending) == 0 {
			buf, _, err := r.l.ReadBatches(r.next, r.chunk, r.bound)
			if err != nil {
				return recordbatch.Record{}, err
			}
			if len(buf) == 0 {
				return recordbatch.Record{}, io.EOF
			}
			r.buf, r.pending = buf, buf
		}
		batch, rest, err := recordbatch.Next(r.pending)
		if err != nil {
			r.pending = nil
			return recordbatch.Record{}, err
		}
		r.pending = rest
		h, err := recordbatch.ParseHeader(batch)
		if err != nil {
			return recordbatch.Record{}, err
		}
		if h.LastOffset() < r.next {
			continue
		}
		if r.it, err = recordbatch.Records(batch, r.decode); err != nil {
			return recordbatch.Record{}, err
		}
		r.after = h.NextOffset()
	}
}

// Offset returns the offset of the next record Next will look for.
func (r *Reader) Offset() int64 { return r.next }

// OffsetForTimestamp returns the offset and timestamp of the first record, at or
// after the log start and below the bound, whose timestamp is at least ts
// (Kafka's ListOffsets by timestamp). found is false when there is none.
func (l *Log) OffsetForTimestamp(ts int64, bound Bound) (offset, timestamp int64, found bool, err error) {
	l.mu.RLock()
	limit := l.activeLocked().next
	if bound == ToHighWatermark {
		limit = l.hw
	}
	start := l.logStart
	var s *segment
	for _, seg := range l.segments {
		if seg.next > start && seg.maxTimestamp >= ts {
			s = seg
			break
		}
	}
	if s == nil {
		l.mu.RUnlock()
		return 0, 0, false, nil
	}
	from := max(s.base+int64(s.tindex.lookup(ts)), start)
	pos, _, err := s.translate(from)
	f, end := s.log, s.size
	l.mu.RUnlock()
	if err != nil {
		return 0, 0, false, err
	}
	sc := newHeaderScanner(f, pos, end)
	defer sc.release()
	var buf []byte
	for {
		h, p, err := sc.next()
		if err == io.EOF {
			return 0, 0, false, nil
		}
		if err != nil {
			return 0, 0, false, fmt.Errorf("offset for timestamp: %w", err)
		}
		if h.BaseOffset >= limit {
			return 0, 0, false, nil
		}
		if h.MaxTimestamp < ts || h.LastOffset() < start {
			continue
		}
		_, batch, err := readBatchAt(f, p, end, &buf)
		if err != nil {
			return 0, 0, false, fmt.Errorf("offset for timestamp: %w", err)
		}
		it, err := recordbatch.Records(batch, recordbatch.DecodeOptions{})
		if err != nil {
			return 0, 0, false, fmt.Errorf("offset for timestamp: %w", err)
		}
		for {
			rec, err := it.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return 0, 0, false, fmt.Errorf("offset for timestamp: %w", err)
			}
			if rec.Offset >= limit {
				return 0, 0, false, nil
			}
			if rec.Offset >= start && rec.Timestamp >= ts {
				return rec.Offset, rec.Timestamp, true, nil
			}
		}
	}
}

// MaxTimestamp returns the largest batch timestamp in the log and the last
// offset of the batch holding it (Kafka's ListOffsets MAX_TIMESTAMP); found is
// false for an empty log.
func (l *Log) MaxTimestamp() (ts, offset int64, found bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	ts, offset = -1, -1
	for _, s := range l.segments {
		if s.maxTimestamp > ts && s.offsetOfMaxTimestamp >= l.logStart {
			ts, offset, found = s.maxTimestamp, s.offsetOfMaxTimestamp, true
		}
	}
	return ts, offset, found
}

// ScanHeaders calls fn with the header of every batch from the one holding
// offset to the log end, in order, without reading records (for rebuilding
// state such as producer sequences from the log). fn must not call back into
// the log; an error from fn stops the scan and is returned.
func (l *Log) ScanHeaders(offset int64, fn func(h recordbatch.Header) error) error {
	l.mu.RLock()
	type region struct {
		f        *os.File
		pos, end int64
	}
	var regions []region
	for i := l.segmentForLocked(offset); i < len(l.segments); i++ {
		s := l.segments[i]
		start := int64(0)
		if offset > s.base {
			p, _, err := s.translate(offset)
			if err != nil {
				l.mu.RUnlock()
				return err
			}
			start = p
		}
		regions = append(regions, region{s.log, start, s.size})
	}
	l.mu.RUnlock()
	for _, r := range regions {
		sc := newHeaderScanner(r.f, r.pos, r.end)
		for {
			h, _, err := sc.next()
			if err == io.EOF {
				break
			}
			if err == nil {
				err = fn(h)
			}
			if err != nil {
				sc.release()
				return err
			}
		}
		sc.release()
	}
	return nil
}
