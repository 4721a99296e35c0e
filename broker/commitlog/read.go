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

// FileSlice is a region of a file: Size bytes at Position. The log's reads
// return runs of whole batches in one segment file as FileSlices, and the
// Kafka server sends them with sendfile(2) (kafkaserver.Response.Splice).
// Use File through SyscallConn or ReadAt at the explicit position, never
// its shared file position, so that one file backs many slices and
// connections at once. A slice of a ReadResult stays readable, bytes
// unchanged, until the result is released, whatever retention,
// DeleteRecords or Close do meanwhile; only truncation (a follower cutting
// its divergent tail) shortens a file under a reader.
type FileSlice struct {
	File        *os.File
	Position    int64 // byte position of the first batch in File
	Size        int64 // bytes of whole batches
	FirstOffset int64 // base offset of the first batch (may be below the requested offset)
	NextOffset  int64 // offset after the last batch
}

// ReadResult is where the batches of a read are, with the log's offsets at the
// time of the read. It holds a reference to the file of each slice: call
// Release when the slices are sent or dropped.
type ReadResult struct {
	Slices         []FileSlice
	NextOffset     int64 // offset after the last returned batch; the start when nothing was returned
	LogStartOffset int64
	LogEndOffset   int64
	HighWatermark  int64

	held []*segment // the segments whose files the slices keep open
}

// Release drops the result's references to the slices' files; a file whose
// segment left the log meanwhile is closed by the last of them. The slices
// must not be used afterwards. It is safe to call on a result without
// slices and more than once on the same result, never on two copies of one.
func (r *ReadResult) Release() {
	for _, s := range r.held {
		s.releaseRead()
	}
	r.held = nil
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
// log start or past the log end is an *OffsetOutOfRangeError. A read stops
// before an unreadable range; one at an offset inside it gets an
// *UnreadableRangeError. The first read of a segment an open trusted after
// a quick check re-reads it whole first, and a read that runs into damage no
// check found (bytes changed on disk since) re-reads its segment: damage
// found either way is quarantined before anything of it is served. The
// result holds references that keep the slices' files open (see FileSlice):
// Release it. A result with an error has no slices.
func (l *Log) Read(offset int64, maxBytes int64, bound Bound) (ReadResult, error) {
	for tries := 0; ; tries++ {
		res, check, err := l.read(offset, maxBytes, bound)
		if err != nil {
			res.Release()
			res.Slices = nil
		}
		if check == nil || tries == 2 {
			return res, err
		}
		res.Release()
		if _, ierr := l.inspect(check); ierr != nil {
			l.logger.Error("cannot re-read a segment to check it", "segment", check.prefix+logSuffix, "error", ierr)
			if err == nil {
				err = fmt.Errorf("check segment %d: %w", check.base, ierr)
			}
			return res, err
		}
	}
}

// quarantined reports whether s is quarantined after re-reading it (a read
// found damage in it). A failure to re-read is logged.
func (l *Log) quarantined(s *segment) bool {
	q, err := l.inspect(s)
	if err != nil {
		l.logger.Error("cannot re-read a segment a read found damaged", "segment", s.prefix+logSuffix, "error", err)
	}
	return q
}

// read is Read without re-reading segments: it returns the segment to check
// before reading again, when it needs one not verified yet (reading nothing
// else) or when a read failed on bad bytes in it.
func (l *Log) read(offset int64, maxBytes int64, bound Bound) (res ReadResult, check *segment, err error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return ReadResult{}, nil, ErrClosed
	}
	leo := l.activeLocked().next
	res = ReadResult{NextOffset: offset, LogStartOffset: l.logStart, LogEndOffset: leo, HighWatermark: l.hw}
	if offset < l.logStart || offset > leo {
		return res, nil, &OffsetOutOfRangeError{Offset: offset, LogStartOffset: l.logStart, LogEndOffset: leo}
	}
	limit := leo
	if bound == ToHighWatermark {
		limit = l.hw
	}
	budget := maxBytes
	for i := l.segmentForLocked(offset); i < len(l.segments) && offset < limit; i++ {
		s := l.segments[i]
		if s.damage != nil && offset >= s.next {
			if len(res.Slices) == 0 {
				err = l.unreadableAtLocked(offset)
			}
			break
		}
		if offset >= s.next {
			continue
		}
		if !s.verified {
			if len(res.Slices) == 0 {
				return res, s, nil
			}
			break // the next read checks it
		}
		fail := func(err error) (ReadResult, *segment, error) {
			if isIOError(err) {
				return res, nil, err
			}
			return res, s, err
		}
		start, first, err := s.translate(offset)
		if err != nil {
			return fail(err)
		}
		end, next := s.size, s.next
		if limit < s.next {
			if end, next, err = s.translate(limit); err != nil {
				return fail(err)
			}
		}
		if end <= start || (len(res.Slices) > 0 && budget <= 0) {
			break
		}
		if end-start > budget {
			// Whole batches within the budget; the read's first batch always goes.
			if end, next, err = s.boundaryAtOrBelow(start, start+max(budget, 0)); err != nil {
				return fail(err)
			}
			if end == start {
				if len(res.Slices) > 0 {
					break
				}
				if end, next, err = s.batchEnd(start); err != nil {
					return fail(err)
				}
			}
		}
		s.acquire()
		res.held = append(res.held, s)
		res.Slices = append(res.Slices, FileSlice{File: s.log, Position: start, Size: end - start, FirstOffset: first, NextOffset: next})
		budget -= end - start
		offset, res.NextOffset = next, next
		if end < s.size || s.damage != nil {
			break
		}
	}
	return res, nil, err
}

// segmentForLocked returns the index of the segment holding offset (the last
// one whose base is at or below it).
func (l *Log) segmentForLocked(offset int64) int {
	i := sort.Search(len(l.segments), func(i int) bool { return l.segments[i].base > offset })
	return max(i-1, 0)
}

// ReadBatches copies the batches of a Read into memory: for tools, tests and
// readers that need the bytes rather than a sendfile. The result's slices are released (its files may be closed) by the time it
// returns.
func (l *Log) ReadBatches(offset int64, maxBytes int64, bound Bound) ([]byte, ReadResult, error) {
	res, err := l.Read(offset, maxBytes, bound)
	if err != nil {
		return nil, res, err
	}
	defer res.Release()
	buf := make([]byte, res.Size())
	n := 0
	for _, s := range res.Slices {
		if _, err := s.File.ReadAt(buf[n:n+int(s.Size)], s.Position); err != nil {
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
// left the log, an *UnreadableRangeError at a range the log cannot read (a new
// Reader at its To goes on), and a recordbatch error for a batch whose records do not
// decode.
func (r *Reader) Next() (recordbatch.Record, error) {
	rec, err := r.nextRecord()
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, ErrOffsetOutOfRange) && !errors.Is(err, ErrUnreadable) && !errors.Is(err, ErrClosed) {
		// A batch that does not decode may sit in bytes damaged since the
		// log checked them: the log re-reads its segment.
		err = r.l.damageAt(r.next, err)
	}
	return rec, err
}

func (r *Reader) nextRecord() (recordbatch.Record, error) {
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

// damageAt re-reads the segment holding offset after cause, a failure to
// decode a batch there, and returns the *UnreadableRangeError for offset
// when the segment turns out damaged there; cause otherwise.
func (l *Log) damageAt(offset int64, cause error) error {
	l.mu.RLock()
	if l.closed || offset < l.logStart || offset >= l.activeLocked().next {
		l.mu.RUnlock()
		return cause
	}
	s := l.segments[l.segmentForLocked(offset)]
	l.mu.RUnlock()
	if !l.quarantined(s) {
		return cause
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if err := l.unreadableAtLocked(offset); err != nil {
		return err
	}
	return cause
}

// OffsetForTimestamp returns the offset and timestamp of the first record, at or
// after the log start and below the bound, whose timestamp is at least ts
// (Kafka's ListOffsets by timestamp). found is false when there is none.
// Unreadable ranges are passed over.
func (l *Log) OffsetForTimestamp(ts int64, bound Bound) (offset, timestamp int64, found bool, err error) {
	// Segments are tried in order: normally the first whose largest
	// timestamp reaches ts holds the answer.
	for after := int64(-1); ; {
		l.mu.RLock()
		limit := l.activeLocked().next
		if bound == ToHighWatermark {
			limit = l.hw
		}
		start := l.logStart
		var s *segment
		for _, seg := range l.segments {
			if seg.base > after && seg.next > start && seg.maxTimestamp >= ts {
				s = seg
				break
			}
		}
		if s == nil || s.base >= limit {
			l.mu.RUnlock()
			return 0, 0, false, nil
		}
		from := max(s.base+int64(s.tindex.lookup(ts)), start)
		pos, _, err := s.translate(from)
		f, end, wasQuarantined := s.log, s.size, s.damage != nil
		s.acquire()
		l.mu.RUnlock()
		if err == nil {
			offset, timestamp, found, err = offsetForTimestampIn(f, pos, end, ts, start, limit)
		}
		s.releaseRead()
		if err != nil {
			if isIOError(err) || wasQuarantined || !l.quarantined(s) {
				return 0, 0, false, fmt.Errorf("offset for timestamp: %w", err)
			}
			continue // s is cut to its readable batches now
		}
		if found {
			return offset, timestamp, true, nil
		}
		after = s.base
	}
}

// offsetForTimestampIn looks for the first record with a timestamp of at
// least ts, at or after offset start and below limit, in the batches of f
// from pos to end.
func offsetForTimestampIn(f *os.File, pos, end, ts, start, limit int64) (offset, timestamp int64, found bool, err error) {
	sc := newHeaderScanner(f, pos, end)
	defer sc.release()
	var buf []byte
	for {
		h, p, err := sc.next()
		if err == io.EOF {
			return 0, 0, false, nil
		}
		if err != nil {
			return 0, 0, false, err
		}
		if h.BaseOffset >= limit {
			return 0, 0, false, nil
		}
		if h.MaxTimestamp < ts || h.LastOffset() < start {
			continue
		}
		_, batch, err := readBatchAt(f, p, end, &buf)
		if err != nil {
			return 0, 0, false, err
		}
		it, err := recordbatch.Records(batch, recordbatch.DecodeOptions{})
		if err != nil {
			return 0, 0, false, err
		}
		for {
			rec, err := it.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return 0, 0, false, err
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
// state such as producer sequences from the log). Unreadable ranges are
// skipped. fn must not call back into the log; an error from fn stops the
// scan and is returned.
func (l *Log) ScanHeaders(offset int64, fn func(h recordbatch.Header) error) error {
	l.mu.RLock()
	type region struct {
		s        *segment
		f        *os.File
		pos, end int64
	}
	var regions []region
	defer func() {
		for _, r := range regions {
			r.s.releaseRead()
		}
	}()
	for i := l.segmentForLocked(offset); i < len(l.segments); i++ {
		s := l.segments[i]
		start := int64(0)
		if offset > s.base {
			p, _, err := s.translate(offset)
			if err != nil {
				wasQuarantined := s.damage != nil
				l.mu.RUnlock()
				if !isIOError(err) && !wasQuarantined && l.quarantined(s) {
					return l.ScanHeaders(offset, fn) // s is cut to its readable batches now
				}
				return err
			}
			start = p
		}
		s.acquire() // retention may take s out of the log while it is scanned
		regions = append(regions, region{s, s.log, start, s.size})
	}
	l.mu.RUnlock()
	for _, r := range regions {
		if err := scanRegion(r.f, r.pos, r.end, fn); err != nil {
			var fe fnError
			if errors.As(err, &fe) || isIOError(err) || !l.quarantined(r.s) {
				return unwrapFnError(err)
			}
			// The headers before the damage were good; the rest of the
			// segment is quarantined now.
		}
	}
	return nil
}

// fnError carries an error of ScanHeaders' callback through scanRegion.
type fnError struct{ err error }

func (e fnError) Error() string { return e.err.Error() }

func unwrapFnError(err error) error {
	var fe fnError
	if errors.As(err, &fe) {
		return fe.err
	}
	return err
}

// scanRegion calls fn with every batch header in [pos, end) of f.
func scanRegion(f *os.File, pos, end int64, fn func(h recordbatch.Header) error) error {
	sc := newHeaderScanner(f, pos, end)
	defer sc.release()
	for {
		h, _, err := sc.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := fn(h); err != nil {
			return fnError{err}
		}
	}
}
