package commitlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sort"

	"golang.org/x/sys/unix"

	"github.com/runnel-dev/runnel/internal/diskfs"
)

// Index files are arrays of fixed-size big-endian entries, as in Kafka:
//
//	.index      relative offset (uint32) → byte position in the .log (uint32)
//	.timeindex  largest timestamp so far (int64) → relative offset (uint32)
//
// The active segment's index files are preallocated to Options.MaxIndexBytes and
// memory-mapped read-write; a closed segment's are trimmed to their entries and
// mapped read-only. Both are derived from the log and rebuilt when damaged.
const (
	offsetIndexEntrySize = 8
	timeIndexEntrySize   = 12
)

// indexFile is one memory-mapped index file. Access is guarded by the Log's
// mutex: appends under the write lock, lookups under at least the read lock.
type indexFile struct {
	path      string
	f         *os.File
	fs        diskfs.FS
	data      []byte // the mapping; nil when nothing is mapped
	entrySize int
	n         int // valid entries
	writable  bool
	// reserved is how many bytes from the start have disk blocks reserved
	// (writable files): a store through the mapping into a hole of a file
	// on a full disk kills the process with SIGBUS, so entries are written
	// only below it. noReserve is set on file systems that cannot reserve.
	reserved  int64
	noReserve bool
}

// indexReserveChunk is how far ahead index blocks are reserved.
const indexReserveChunk = 16 << 10

// openIndexFile opens (creating if needed) an index file. A writable one is grown
// to maxBytes and mapped read-write; a read-only one is mapped at its own size.
// The number of entries is taken from the file size; valid reports whether that
// size is a whole number of entries.
func openIndexFile(fs diskfs.FS, path string, entrySize int, writable bool, maxBytes int) (ix *indexFile, valid bool, err error) {
	f, err := fs.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, false, fmt.Errorf("open index: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, false, fmt.Errorf("stat index: %w", err)
	}
	size := st.Size()
	ix = &indexFile{path: path, f: f, fs: fs, entrySize: entrySize}
	valid = size%int64(entrySize) == 0
	ix.n = int(size / int64(entrySize))
	if writable {
		err = ix.mapWritable(maxBytes)
	} else {
		err = ix.mapReadOnly()
	}
	if err != nil {
		f.Close()
		return nil, false, err
	}
	return ix, valid, nil
}

func (ix *indexFile) unmap() error {
	if ix.data == nil {
		return nil
	}
	err := unix.Munmap(ix.data)
	ix.data = nil
	if err != nil {
		return fmt.Errorf("munmap %s: %w", ix.path, err)
	}
	return nil
}

// mapWritable grows the file to maxBytes (whole entries) and maps it read-write.
func (ix *indexFile) mapWritable(maxBytes int) error {
	if err := ix.unmap(); err != nil {
		return err
	}
	size := maxBytes - maxBytes%ix.entrySize
	if ix.n*ix.entrySize > size {
		ix.n = size / ix.entrySize
	}
	if err := ix.fs.Truncate(ix.f, int64(size)); err != nil {
		return fmt.Errorf("preallocate %s: %w", ix.path, err)
	}
	data, err := unix.Mmap(int(ix.f.Fd()), 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("mmap %s: %w", ix.path, err)
	}
	// The entries there were written, so their blocks exist.
	ix.data, ix.writable, ix.reserved = data, true, int64(ix.n*ix.entrySize)
	return nil
}

// reserve makes sure disk blocks exist for the first n entries, reserving a
// chunk ahead when they do not. It fails when the disk is full: the entry
// must then not be written.
func (ix *indexFile) reserve(n int) error {
	need := int64(n * ix.entrySize)
	if ix.noReserve || need <= ix.reserved {
		return nil
	}
	to := min(max(need, ix.reserved+indexReserveChunk), int64(len(ix.data)))
	if need > to {
		return fmt.Errorf("index %s: %d entries do not fit", ix.path, n)
	}
	err := ix.fs.Allocate(ix.f, ix.reserved, to-ix.reserved)
	if errors.Is(err, diskfs.ErrNoAllocate) {
		ix.noReserve = true
		return nil
	}
	if err != nil {
		return fmt.Errorf("reserve index %s: %w", ix.path, err)
	}
	ix.reserved = to
	return nil
}

// mapReadOnly maps the file's valid entries read-only.
func (ix *indexFile) mapReadOnly() error {
	if err := ix.unmap(); err != nil {
		return err
	}
	ix.writable = false
	size := ix.n * ix.entrySize
	if size == 0 {
		return nil
	}
	data, err := unix.Mmap(int(ix.f.Fd()), 0, size, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("mmap %s: %w", ix.path, err)
	}
	ix.data = data
	return nil
}

// seal trims the file to its entries and remaps it read-only (segment closed).
func (ix *indexFile) seal() error {
	if err := ix.unmap(); err != nil {
		return err
	}
	if err := ix.fs.Truncate(ix.f, int64(ix.n*ix.entrySize)); err != nil {
		return fmt.Errorf("trim %s: %w", ix.path, err)
	}
	return ix.mapReadOnly()
}

func (ix *indexFile) full() bool { return (ix.n+1)*ix.entrySize > len(ix.data) }

func (ix *indexFile) entry(i int) []byte {
	return ix.data[i*ix.entrySize : (i+1)*ix.entrySize]
}

// reset drops every entry (before a rebuild).
func (ix *indexFile) reset() { ix.n = 0 }

// truncate keeps the first n entries.
func (ix *indexFile) truncate(n int) {
	if n < ix.n {
		ix.n = n
	}
}

func (ix *indexFile) sync() error {
	if err := ix.fs.Sync(ix.f); err != nil {
		return fmt.Errorf("sync %s: %w", ix.path, err)
	}
	return nil
}

func (ix *indexFile) close() error {
	err := ix.unmap()
	if cerr := ix.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close %s: %w", ix.path, cerr)
	}
	return err
}

// offsetIndex maps relative offsets to log positions.
type offsetIndex struct{ *indexFile }

func (x offsetIndex) at(i int) (rel uint32, pos uint32) { return DecodeOffsetIndexEntry(x.entry(i)) }

// append adds an entry; the caller keeps entries increasing and checks full.
func (x offsetIndex) append(rel, pos uint32) {
	e := x.data[x.n*offsetIndexEntrySize:]
	binary.BigEndian.PutUint32(e, rel)
	binary.BigEndian.PutUint32(e[4:], pos)
	x.n++
}

// lookupSpan returns the position of the last entry whose relative offset is
// at most rel (0, the segment start, when there is none), and the position of
// the entry after it (-1 when there is none): the batch holding rel starts
// before that position.
func (x offsetIndex) lookupSpan(rel uint32) (pos uint32, nextPos int64) {
	i := sort.Search(x.n, func(i int) bool { r, _ := x.at(i); return r > rel })
	nextPos = -1
	if i < x.n {
		_, p := x.at(i)
		nextPos = int64(p)
	}
	if i == 0 {
		return 0, nextPos
	}
	_, pos = x.at(i - 1)
	return pos, nextPos
}

// lookupPosition returns the last entry whose position is at most pos, or (0, 0).
func (x offsetIndex) lookupPosition(pos uint32) (uint32, uint32) {
	i := sort.Search(x.n, func(i int) bool { _, p := x.at(i); return p > pos })
	if i == 0 {
		return 0, 0
	}
	return x.at(i - 1)
}

// entriesBelow counts the entries whose position is below pos (for truncation).
func (x offsetIndex) entriesBelow(pos uint32) int {
	return sort.Search(x.n, func(i int) bool { _, p := x.at(i); return p >= pos })
}

// check reports whether entries are strictly increasing, within logSize, and
// below the segment's next relative offset.
func (x offsetIndex) check(logSize int64, nextRel int64) error {
	prevRel, prevPos := int64(-1), int64(-1)
	for i := 0; i < x.n; i++ {
		r, p := x.at(i)
		if int64(r) <= prevRel || int64(p) <= prevPos || int64(p) >= logSize || (nextRel >= 0 && int64(r) >= nextRel) {
			return fmt.Errorf("index %s entry %d (%d → %d) is out of order or past the log", x.path, i, r, p)
		}
		prevRel, prevPos = int64(r), int64(p)
	}
	return nil
}

// timeIndex maps the largest timestamp so far to a relative offset.
type timeIndex struct{ *indexFile }

func (x timeIndex) at(i int) (ts int64, rel uint32) { return DecodeTimeIndexEntry(x.entry(i)) }

// last returns the newest entry; ok is false when the index is empty.
func (x timeIndex) last() (ts int64, rel uint32, ok bool) {
	if x.n == 0 {
		return 0, 0, false
	}
	ts, rel = x.at(x.n - 1)
	return ts, rel, true
}

// maybeAppend adds (ts, rel) when ts is larger than the last timestamp.
func (x timeIndex) maybeAppend(ts int64, rel uint32) {
	if last, lrel, ok := x.last(); ok && (ts <= last || rel < lrel) {
		return
	}
	if x.full() {
		return
	}
	e := x.data[x.n*timeIndexEntrySize:]
	binary.BigEndian.PutUint64(e, uint64(ts))
	binary.BigEndian.PutUint32(e[8:], rel)
	x.n++
}

// lookup returns the relative offset of the last entry with a timestamp below
// ts, or 0 when there is none: no record before it has a timestamp of ts or more.
func (x timeIndex) lookup(ts int64) uint32 {
	i := sort.Search(x.n, func(i int) bool { t, _ := x.at(i); return t >= ts })
	if i == 0 {
		return 0
	}
	_, rel := x.at(i - 1)
	return rel
}

// entriesBelow counts entries whose relative offset is below rel.
func (x timeIndex) entriesBelow(rel uint32) int {
	return sort.Search(x.n, func(i int) bool { _, r := x.at(i); return r >= rel })
}

// check reports whether timestamps and offsets never decrease and offsets stay
// below the segment's next relative offset.
func (x timeIndex) check(nextRel int64) error {
	prevTS, prevRel := int64(-1<<63), int64(-1)
	for i := 0; i < x.n; i++ {
		t, r := x.at(i)
		if t < prevTS || int64(r) < prevRel || (nextRel >= 0 && int64(r) >= nextRel) {
			return fmt.Errorf("time index %s entry %d (%d → %d) is out of order or past the log", x.path, i, t, r)
		}
		prevTS, prevRel = t, int64(r)
	}
	return nil
}
