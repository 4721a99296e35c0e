package commitlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/runnel-dev/runnel/broker/recordbatch"
	"github.com/runnel-dev/runnel/internal/diskfs"
)

// File name suffixes of a segment's files.
const (
	logSuffix       = ".log"
	indexSuffix     = ".index"
	timeIndexSuffix = ".timeindex"
)

// segmentName is the 20-digit base offset that names a segment's files.
func segmentName(base int64) string { return fmt.Sprintf("%020d", base) }

// segment is one log file with its two indexes. All fields are guarded by the
// Log's mutex; size and next only grow under the write lock.
type segment struct {
	base   int64
	prefix string // path without suffix
	log    *os.File
	fs     diskfs.FS
	index  offsetIndex
	tindex timeIndex

	size int64 // bytes of whole, readable batches at the start of the log file
	next int64 // offset after the last readable batch

	maxTimestamp         int64 // largest batch max timestamp, -1 when none
	offsetOfMaxTimestamp int64
	bytesSinceIndex      int64
	rollStart            time.Time // first append (for segment.ms); zero while empty

	// synced is how many bytes of the log file an fsync made durable;
	// syncFailed says an fsync failed since, so the bytes past synced may
	// not be on disk even though the page cache serves them.
	synced     int64
	syncFailed bool
	// damage is set when the segment holds data it cannot read: the batches
	// from size (offset next) on are quarantined, never served, never cut.
	damage *quarantine
	// verified says every batch below size was checked whole (CRC
	// included) or written by this process. A segment an open trusted
	// after a quick check is verified by the first read that needs it
	// (Log.inspect, one at a time under verifyMu).
	verified bool
	verifyMu sync.Mutex

	deleted atomic.Bool // set when retention or truncation removed the segment

	// refs counts the references to the log file: the log's own, dropped
	// when the segment is closed or removed, and one per reader that uses
	// the file without the log's lock (acquire). The last closes it.
	refs   atomic.Int32
	closed atomic.Bool // close ran: the log's own reference is gone
}

// createSegment makes a new empty active segment at base.
func createSegment(dir string, base int64, o Options) (*segment, error) {
	prefix := filepath.Join(dir, segmentName(base))
	f, err := o.FS.OpenFile(prefix+logSuffix, os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create segment %d: %w", base, err)
	}
	s := &segment{base: base, prefix: prefix, log: f, fs: o.FS, next: base, maxTimestamp: -1, offsetOfMaxTimestamp: -1, verified: true}
	s.refs.Store(1)
	for _, suf := range []string{indexSuffix, timeIndexSuffix} {
		if err := o.FS.Remove(prefix + suf); err != nil && !errors.Is(err, os.ErrNotExist) {
			f.Close()
			return nil, fmt.Errorf("create segment %d: %w", base, err)
		}
	}
	if err := s.openIndexes(true, int(o.MaxIndexBytes)); err != nil {
		f.Close()
		return nil, err
	}
	return s, nil
}

// openSegment opens an existing segment's files. Its size is the log file size;
// next is unknown (-1) until the caller sets or recovers it. indexesOK is false
// when an index file is not a whole number of entries.
func openSegment(dir string, base int64, active bool, o Options) (s *segment, indexesOK bool, err error) {
	prefix := filepath.Join(dir, segmentName(base))
	f, err := o.FS.OpenFile(prefix+logSuffix, os.O_RDWR, 0o644)
	if err != nil {
		return nil, false, fmt.Errorf("open segment %d: %w", base, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, false, fmt.Errorf("stat segment %d: %w", base, err)
	}
	s = &segment{base: base, prefix: prefix, log: f, fs: o.FS, size: st.Size(), next: -1, maxTimestamp: -1, offsetOfMaxTimestamp: -1}
	s.refs.Store(1)
	// A log closed cleanly or recovered was fsynced; one that was not is
	// re-read and fsynced by recovery before it counts.
	s.synced = s.size
	ix, ok1, err := openIndexFile(o.FS, prefix+indexSuffix, offsetIndexEntrySize, active, int(o.MaxIndexBytes))
	if err != nil {
		f.Close()
		return nil, false, err
	}
	tx, ok2, err := openIndexFile(o.FS, prefix+timeIndexSuffix, timeIndexEntrySize, active, int(o.MaxIndexBytes))
	if err != nil {
		ix.close()
		f.Close()
		return nil, false, err
	}
	s.index, s.tindex = offsetIndex{ix}, timeIndex{tx}
	if ts, rel, ok := s.tindex.last(); ok {
		s.maxTimestamp, s.offsetOfMaxTimestamp = ts, base+int64(rel)
	}
	return s, ok1 && ok2, nil
}

func (s *segment) openIndexes(writable bool, maxBytes int) error {
	ix, _, err := openIndexFile(s.fs, s.prefix+indexSuffix, offsetIndexEntrySize, writable, maxBytes)
	if err != nil {
		return err
	}
	tx, _, err := openIndexFile(s.fs, s.prefix+timeIndexSuffix, timeIndexEntrySize, writable, maxBytes)
	if err != nil {
		ix.close()
		return err
	}
	s.index, s.tindex = offsetIndex{ix}, timeIndex{tx}
	return nil
}

// rel converts an absolute offset to one relative to the segment base.
func (s *segment) rel(offset int64) uint32 { return uint32(offset - s.base) }

// fits reports whether records more records with bytes more bytes can go into
// this segment without breaking the 32-bit relative offsets and positions.
func (s *segment) fits(records int64, bytes int64, o Options) bool {
	return s.fitsAfter(0, 0, records, bytes, o)
}

// fitsAfter is fits for records and bytes that would follow pendingRecords
// and pendingBytes not yet written: what a later set of one vectored append
// would see had the sets before it been appended one by one.
func (s *segment) fitsAfter(pendingRecords, pendingBytes, records, bytes int64, o Options) bool {
	if s.size+pendingBytes == 0 {
		return s.next-s.base+records <= math.MaxInt32
	}
	return s.size+pendingBytes+bytes <= o.SegmentBytes &&
		s.next-s.base+pendingRecords+records <= math.MaxInt32 &&
		!s.index.full() && !s.tindex.full()
}

// reserveIndexes makes sure n more entries can be written to each index
// without finding the disk full.
func (s *segment) reserveIndexes(n int) error {
	if err := s.index.reserve(s.index.n + n); err != nil {
		return err
	}
	return s.tindex.reserve(s.tindex.n + n)
}

// noteBatch updates indexes and timestamps for a batch written at pos. It
// fails only when the disk has no room for an index entry (appends reserve
// room before they write, so there it cannot fail).
func (s *segment) noteBatch(h *recordbatch.Header, pos int64, o Options) error {
	if h.MaxTimestamp > s.maxTimestamp {
		s.maxTimestamp, s.offsetOfMaxTimestamp = h.MaxTimestamp, h.LastOffset()
	}
	if s.bytesSinceIndex > int64(o.IndexIntervalBytes) || pos == 0 {
		if err := s.reserveIndexes(1); err != nil {
			return err
		}
		if !s.index.full() {
			s.index.append(s.rel(h.BaseOffset), uint32(pos))
		}
		s.tindex.maybeAppend(s.maxTimestamp, s.rel(s.offsetOfMaxTimestamp))
		s.bytesSinceIndex = 0
	}
	s.bytesSinceIndex += int64(h.Size())
	return nil
}

// readBatchAt reads the whole batch at pos (ending at or before end) into *buf,
// growing it when needed.
func readBatchAt(f *os.File, pos, end int64, buf *[]byte) (recordbatch.Header, []byte, error) {
	if end-pos < recordbatch.HeaderSize {
		return recordbatch.Header{}, nil, errTornTail
	}
	if len(*buf) < scanChunk {
		*buf = make([]byte, scanChunk)
	}
	b := *buf
	n, err := f.ReadAt(b[:min(int64(len(b)), end-pos)], pos)
	if n < recordbatch.HeaderSize {
		if err == nil || err == io.EOF {
			err = errTornTail
		}
		return recordbatch.Header{}, nil, err
	}
	h, err := recordbatch.ParseHeader(b[:n])
	if err != nil {
		return h, nil, err
	}
	size := int64(h.Size())
	if pos+size > end {
		return h, nil, errTornTail
	}
	if size > int64(n) {
		if size > int64(len(b)) {
			b = make([]byte, size)
			*buf = b
		}
		if _, err := f.ReadAt(b[:size], pos); err != nil {
			return h, nil, err
		}
	}
	return h, b[:size], nil
}

// walkTail walks the batch headers after the last index entry to the end of
// the readable bytes, checking that each starts where the one before ended
// (the first at the entry's own offset). It calls fn, when set, with each
// and returns the offset after the last.
func (s *segment) walkTail(fn func(h *recordbatch.Header)) (int64, error) {
	var pos int64
	next := s.base
	if s.index.n > 0 {
		rel, p := s.index.at(s.index.n - 1)
		pos, next = int64(p), s.base+int64(rel)
	}
	if pos >= s.size && s.size != 0 {
		return 0, fmt.Errorf("segment %d: no batch found after the last index entry", s.base)
	}
	sc := newHeaderScanner(s.log, pos, s.size)
	defer sc.release()
	for {
		h, p, err := sc.next()
		if err == io.EOF {
			return next, nil
		}
		if err != nil {
			return 0, err
		}
		if h.BaseOffset != next {
			return 0, fmt.Errorf("batch at %d has base offset %d, expected %d", p, h.BaseOffset, next)
		}
		if fn != nil {
			fn(&h)
		}
		next = h.NextOffset()
	}
}

// loadTail sets next (and timestamps) of a cleanly closed segment by walking
// the batch headers after its last index entry. It fails if the walk finds
// damage.
func (s *segment) loadTail() error {
	next, err := s.walkTail(func(h *recordbatch.Header) {
		if h.MaxTimestamp > s.maxTimestamp {
			s.maxTimestamp, s.offsetOfMaxTimestamp = h.MaxTimestamp, h.LastOffset()
		}
		s.bytesSinceIndex += int64(h.Size())
	})
	if err != nil {
		return err
	}
	s.next = next
	return nil
}

// checkTail checks that the batch headers after the last index entry still
// end exactly at size, with offset next.
func (s *segment) checkTail() error {
	next, err := s.walkTail(nil)
	if err == nil && next != s.next {
		err = fmt.Errorf("segment %d: batches end at offset %d, the log end is %d", s.base, next, s.next)
	}
	return err
}

// checkIndexes sanity-checks both indexes against the log size and next offset.
func (s *segment) checkIndexes() error {
	nextRel := int64(-1)
	if s.next >= 0 {
		nextRel = s.next - s.base
	}
	if err := s.index.check(s.size, nextRel); err != nil {
		return err
	}
	if s.size > 0 && s.index.n == 0 {
		return fmt.Errorf("index %s is empty for a non-empty log", s.index.path)
	}
	if s.index.n > 0 {
		if r, p := s.index.at(0); r != 0 || p != 0 {
			return fmt.Errorf("index %s does not start at the segment base", s.index.path)
		}
	}
	if s.size >= 8 {
		// The first batch must start at the base the file is named by,
		// or every offset the index gives would be off.
		var b [8]byte
		if _, err := s.log.ReadAt(b[:], 0); err != nil {
			return fmt.Errorf("read the first batch of %s: %w", s.prefix+logSuffix, err)
		}
		if first := int64(binary.BigEndian.Uint64(b[:])); first != s.base {
			return fmt.Errorf("log %s starts at offset %d, not at its base %d", s.prefix+logSuffix, first, s.base)
		}
	}
	return s.tindex.check(nextRel)
}

// translate returns the position of the first batch whose last offset is at or
// after offset, and that batch's base offset; (size, next) when there is none.
func (s *segment) translate(offset int64) (pos int64, base int64, err error) {
	if offset >= s.next {
		return s.size, s.next, nil
	}
	p, nextEntry := s.index.lookupSpan(s.rel(offset))
	sc := newHeaderScanner(s.log, int64(p), s.size)
	defer sc.release()
	// The batch holding offset starts before the next index entry. When that
	// entry is near (small batches), one read up to it finds the batch; when far
	// (one large batch per entry), the first header is the one, so read little.
	sc.until = nextEntry
	if span := nextEntry - int64(p); nextEntry > 0 && span <= 2*scanChunkSmall {
		sc.want = int(span) + recordbatch.HeaderSize
	}
	for {
		h, p, err := sc.next()
		if err == io.EOF {
			return s.size, s.next, nil
		}
		if err != nil {
			return 0, 0, fmt.Errorf("segment %d: %w", s.base, err)
		}
		if h.LastOffset() >= offset {
			return p, h.BaseOffset, nil
		}
	}
}

// boundaryAtOrBelow returns the last batch boundary at or below limit, not
// before from, and the offset starting there (from itself when the batch at from
// crosses limit).
func (s *segment) boundaryAtOrBelow(from, limit int64) (pos int64, offset int64, err error) {
	start := from
	if limit > from {
		_, p := s.index.lookupPosition(uint32(min(limit, math.MaxUint32)))
		start = max(from, int64(p))
	}
	sc := newHeaderScanner(s.log, start, s.size)
	defer sc.release()
	pos, offset = from, -1
	for {
		h, p, err := sc.next()
		if err == io.EOF {
			return s.size, s.next, nil
		}
		if err != nil {
			return 0, 0, fmt.Errorf("segment %d: %w", s.base, err)
		}
		if offset < 0 {
			offset = h.BaseOffset
			pos = p
		}
		end := p + int64(h.Size())
		if end > limit {
			return pos, offset, nil
		}
		pos, offset = end, h.NextOffset()
	}
}

// batchEnd returns the end position and next offset of the batch at pos.
func (s *segment) batchEnd(pos int64) (int64, int64, error) {
	sc := newHeaderScanner(s.log, pos, s.size)
	defer sc.release()
	h, p, err := sc.next()
	if err != nil {
		return 0, 0, fmt.Errorf("segment %d: batch at %d: %w", s.base, pos, err)
	}
	return p + int64(h.Size()), h.NextOffset(), nil
}

// seal closes the segment for appends: a final time index entry, indexes trimmed
// to their entries and mapped read-only.
func (s *segment) seal() error {
	if s.maxTimestamp >= 0 && s.offsetOfMaxTimestamp >= s.base && s.tindex.writable {
		if s.tindex.full() {
			s.tindex.truncate(s.tindex.n - 1)
		}
		if err := s.tindex.reserve(s.tindex.n + 1); err != nil {
			return err
		}
		s.tindex.maybeAppend(s.maxTimestamp, s.rel(s.offsetOfMaxTimestamp))
	}
	if err := s.index.seal(); err != nil {
		return err
	}
	return s.tindex.seal()
}

// sync fsyncs the log and both indexes. The caller records what it made
// durable (markSynced) under the Log's write lock.
func (s *segment) sync() error {
	if err := s.fs.Sync(s.log); err != nil {
		return fmt.Errorf("sync segment %d: %w", s.base, err)
	}
	if err := s.index.sync(); err != nil {
		return err
	}
	return s.tindex.sync()
}

// markSynced records the outcome of a sync that began when the log held size
// bytes. The caller holds the Log's write lock.
func (s *segment) markSynced(size int64, err error) {
	if err != nil {
		s.syncFailed = true
		return
	}
	if !s.syncFailed {
		s.synced = max(s.synced, size)
	}
}

// truncateTo cuts the segment before the batch holding offset: afterwards next
// is that batch's base offset (at most offset).
func (s *segment) truncateTo(offset int64) error {
	pos, base, err := s.translate(offset)
	if err != nil {
		return err
	}
	if pos >= s.size {
		return nil
	}
	if err := s.fs.Truncate(s.log, pos); err != nil {
		return fmt.Errorf("truncate segment %d: %w", s.base, err)
	}
	s.size, s.next = pos, base
	s.synced = min(s.synced, pos)
	s.index.truncate(s.index.entriesBelow(uint32(pos)))
	s.tindex.truncate(s.tindex.entriesBelow(s.rel(base)))
	s.maxTimestamp, s.offsetOfMaxTimestamp = -1, -1
	if ts, rel, ok := s.tindex.last(); ok {
		s.maxTimestamp, s.offsetOfMaxTimestamp = ts, s.base+int64(rel)
	}
	s.bytesSinceIndex = 0
	if s.index.n > 0 {
		_, p := s.index.at(s.index.n - 1)
		s.bytesSinceIndex = pos - int64(p)
	}
	if s.size == 0 {
		s.rollStart = time.Time{}
	}
	return nil
}

// close closes the indexes and drops the log's own reference to the log
// file, which closes once no reader holds one. It runs once; later calls do
// nothing.
func (s *segment) close() error {
	if s.log == nil || s.closed.Swap(true) {
		return nil // a placeholder left by a failed TruncateFullyAndStartAt, or closed
	}
	err := s.index.close()
	if e := s.tindex.close(); err == nil {
		err = e
	}
	if e := s.release(); err == nil {
		err = e
	}
	return err
}

// acquire takes a reference to the log file for a reader that goes on
// without the log's lock: a fetch response that sendfile sends later, a
// scan. Call it under the log's lock while s is part of the log. Retention,
// DeleteRecords, truncation and Close take segments out of the log under
// the lock, then close them, so the file of a segment a reader still holds
// stays open, its bytes readable (the file is unlinked at once and its
// blocks freed when the last reference goes).
func (s *segment) acquire() { s.refs.Add(1) }

// releaseRead drops a reader's reference. Should it be the last, a failure
// to close the file is not the reader's to report: the segment left the log
// by then, and its bytes were written while it was part of it.
func (s *segment) releaseRead() { _ = s.release() }

// release drops a reference: the last one closes the log file.
func (s *segment) release() error {
	if s.refs.Add(-1) != 0 {
		return nil
	}
	if err := s.log.Close(); err != nil {
		return fmt.Errorf("close segment %d: %w", s.base, err)
	}
	return nil
}

// remove closes and deletes the segment's files.
func (s *segment) remove() error {
	s.deleted.Store(true)
	err := s.close()
	if e := removeSegmentFiles(s.fs, s.prefix); err == nil {
		err = e
	}
	return err
}

// removeSegmentFiles deletes the files of the segment at prefix (path without
// suffix); missing files are not an error.
func removeSegmentFiles(fs diskfs.FS, prefix string) error {
	for _, suf := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
		if err := fs.Remove(prefix + suf); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove %s: %w", prefix+suf, err)
		}
	}
	return nil
}
