package raftnode

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/runnel-dev/runnel/internal/diskfs"
)

// wal is the write-ahead log: a directory of segment files named
// <seq>-<firstIndex>.wal (16 hex digits each) holding CRC-32C framed records.
//
// Records of one Ready are encoded into buf and written with one write and at most
// one fdatasync (flush). Entries are written before the HardState of the same
// Ready, so a cut tail never leaves a commit index pointing past the log. Every new
// segment starts with the latest snapshot marker and HardState, so any suffix of
// segments can be replayed on its own and older segments can be deleted whole.
//
// After a failed write or sync the wal refuses all further writes (sticky err):
// the file's tail is unknown until the next open cuts it.
type wal struct {
	fs        diskfs.FS
	dir       string
	segBytes  int64
	maxRecord int
	logger    *slog.Logger

	segs []walSegment // sorted by seq; the last is the active one
	f    *os.File     // active segment
	size int64        // bytes in the active segment

	buf       []byte
	iov       [1][]byte // buf as the buffer list of a write, without an allocation
	err       error
	lastIndex uint64               // index of the last entry written
	hs        *pb.HardState        // last HardState written
	snap      *pb.SnapshotMetadata // last snapshot marker written

	// onSync, if set, observes each fdatasync's duration in seconds.
	onSync func(seconds float64)
}

type walSegment struct {
	seq   uint64
	first uint64 // lastIndex+1 when the segment was created: entries of older segments are below it
	name  string
}

// walState is what replay found.
type walState struct {
	hs   *pb.HardState
	snap *pb.SnapshotMetadata // latest snapshot marker, nil if none
	ents []*pb.Entry          // contiguous, possibly starting below snap
}

func segmentName(seq, first uint64) string { return fmt.Sprintf("%016x-%016x.wal", seq, first) }

func parseSegmentName(name string) (seq, first uint64, ok bool) {
	if !strings.HasSuffix(name, ".wal") {
		return 0, 0, false
	}
	if _, err := fmt.Sscanf(name, "%016x-%016x.wal", &seq, &first); err != nil {
		return 0, 0, false
	}
	return seq, first, segmentName(seq, first) == name
}

// openWAL replays the log in dir (creating dir if needed), cuts a torn tail of
// the last segment (see tornTail) and opens the last segment for appending.
// Any other damage is a *CorruptError naming the file and offset: the node must
// not start on a log that lost records it may have acknowledged.
func openWAL(fsys diskfs.FS, dir string, segBytes int64, maxRecord int, logger *slog.Logger) (*wal, *walState, error) {
	if err := fsys.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("wal: create dir: %w", err)
	}
	w := &wal{fs: fsys, dir: dir, segBytes: segBytes, maxRecord: maxRecord, logger: logger}
	des, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("wal: list dir: %w", err)
	}
	for _, de := range des {
		if seq, first, ok := parseSegmentName(de.Name()); ok {
			w.segs = append(w.segs, walSegment{seq: seq, first: first, name: de.Name()})
		} else if strings.HasSuffix(de.Name(), diskfs.TempSuffix) {
			_ = fsys.Remove(filepath.Join(dir, de.Name()))
		}
	}
	sort.Slice(w.segs, func(i, j int) bool { return w.segs[i].seq < w.segs[j].seq })

	st := &walState{}
	for i, seg := range w.segs {
		path := filepath.Join(dir, seg.name)
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, nil, fmt.Errorf("wal: read segment: %w", err)
		}
		// Only the first segment of a new log is created empty; every other
		// one is created holding the snapshot marker and HardState.
		createdEmpty := seg.seq == 1
		if len(data) == 0 && (!createdEmpty || len(w.segs) > 1) {
			return nil, nil, &CorruptError{File: path, Offset: 0, Problem: "the file is empty, but it was created holding the log's hard state"}
		}
		off, cause, written := replaySegment(data, maxRecord, st)
		if cause == nil {
			continue
		}
		problem := fmt.Sprintf("%v, in a record whose checksum is valid", cause)
		torn := false
		if !written {
			torn, problem = tornTail(data, off, cause, createdEmpty, maxRecord)
		}
		if i != len(w.segs)-1 {
			return nil, nil, &CorruptError{File: path, Offset: int64(off), Problem: problem + ", and it is not the last WAL file"}
		}
		if !torn {
			return nil, nil, &CorruptError{File: path, Offset: int64(off), Problem: problem}
		}
		kept := fmt.Sprintf("%s.tail-%d.broken", path, off)
		logger.Warn("wal: cutting a write torn by a crash at the end of the log; its bytes are kept", "segment", seg.name, "offset", off, "bytes", len(data)-off, "kept_in", kept, "err", cause)
		if err := diskfs.WriteFileAtomic(fsys, kept, data[off:], 0o644); err != nil {
			return nil, nil, fmt.Errorf("wal: keep the cut tail: %w", err)
		}
		if err := cutFile(fsys, path, int64(off)); err != nil {
			return nil, nil, err
		}
	}
	w.hs = st.hs
	w.snap = st.snap
	if n := len(st.ents); n > 0 {
		w.lastIndex = st.ents[n-1].GetIndex()
	} else if st.snap != nil {
		w.lastIndex = st.snap.GetIndex()
	}
	if len(w.segs) == 0 {
		if err := w.createSegment(1, w.lastIndex+1); err != nil {
			return nil, nil, err
		}
	} else {
		seg := w.segs[len(w.segs)-1]
		f, err := fsys.OpenFile(filepath.Join(dir, seg.name), os.O_WRONLY, 0o644)
		if err != nil {
			return nil, nil, fmt.Errorf("wal: open segment: %w", err)
		}
		fi, err := f.Stat()
		if err != nil {
			_ = f.Close()
			return nil, nil, fmt.Errorf("wal: stat segment: %w", err)
		}
		w.f, w.size = f, fi.Size()
	}
	return w, st, nil
}

// replaySegment decodes the records of one segment into st. It returns the
// offset of the first record it could not take and why (nil cause: all of
// data was read). written reports that the record's checksum was valid, so it
// was written whole and its contents are wrong.
func replaySegment(data []byte, maxRecord int, st *walState) (off int, cause error, written bool) {
	for off < len(data) {
		typ, payload, n, err := decodeRecord(data[off:], maxRecord)
		if err != nil {
			return off, err, false
		}
		if err := st.apply(typ, payload); err != nil {
			return off, err, true
		}
		off += n
	}
	return off, nil, false
}

// sectorSize is the unit a disk writes atomically, as etcd's WAL assumes.
const sectorSize = 512

// tornTail decides whether the bad record at off, in the last segment, is a
// write cut short by a crash, which may be cut, or damage, which may not; if
// damage, it says why. The rules are etcd's decoder's (isTornEntry), plus a
// look for valid records after the bad one:
//
//   - A valid record after it means the log went on past the damage: records
//     after a torn write are never written, so this is corruption.
//   - The first record of a file that was created holding records (written to
//     a temp file, synced and renamed) cannot be torn.
//   - A record whose length runs past the end of the file is a header written
//     without (all of) its body: torn. Garbage appended after the last record
//     mostly looks like this, and is cut like a torn write (as etcd does): it
//     holds no record, so nothing acknowledged is in it.
//   - A record written whole with a bad checksum is torn only if one of its
//     sectors is all zeros: a sector the disk never wrote. A flipped bit or
//     garbage of the record's own size is corruption.
func tornTail(data []byte, off int, cause error, createdEmpty bool, maxRecord int) (bool, string) {
	if next := nextValidRecord(data, off+1, maxRecord); next >= 0 {
		return false, fmt.Sprintf("%v, and a valid record follows at byte offset %d, so the log went on after the damage", cause, next)
	}
	if off == 0 && !createdEmpty {
		return false, fmt.Sprintf("%v, in the first record of a file created holding it, which a crash cannot tear", cause)
	}
	if errors.Is(cause, errTornRecord) {
		return true, ""
	}
	start, end := off, len(data)
	if len(data)-off >= recordHeaderLen {
		if n := int64(binary.LittleEndian.Uint32(data[off:])); n > 0 && int64(off+recordHeaderLen)+n <= int64(len(data)) {
			start, end = off+recordHeaderLen, off+recordHeaderLen+int(n)
		}
	}
	for s := start; s < end; {
		e := min(end, (s/sectorSize+1)*sectorSize)
		if allZero(data[s:e]) {
			return true, ""
		}
		s = e
	}
	return false, fmt.Sprintf("%v, in a record written whole (none of its sectors is unwritten), which a crash does not cause", cause)
}

// nextValidRecord returns the offset of the first record at or after from that
// decodes and applies, or -1.
func nextValidRecord(data []byte, from, maxRecord int) int {
	for i := from; i+recordHeaderLen < len(data); i++ {
		typ, payload, _, err := decodeRecord(data[i:], maxRecord)
		if err == nil && (&walState{}).apply(typ, payload) == nil {
			return i
		}
	}
	return -1
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// apply folds one decoded record into the replay state with raft's log semantics:
// an entry at index i replaces everything from i on.
func (st *walState) apply(typ byte, payload []byte) error {
	switch typ {
	case recHardState:
		hs := &pb.HardState{}
		if err := proto.Unmarshal(payload, hs); err != nil {
			return fmt.Errorf("%w: hard state: %v", errCorruptRecord, err)
		}
		st.hs = hs
	case recSnapshot:
		m := &pb.SnapshotMetadata{}
		if err := proto.Unmarshal(payload, m); err != nil {
			return fmt.Errorf("%w: snapshot marker: %v", errCorruptRecord, err)
		}
		st.snap = m
	case recEntry:
		e := &pb.Entry{}
		if err := proto.Unmarshal(payload, e); err != nil {
			return fmt.Errorf("%w: entry: %v", errCorruptRecord, err)
		}
		i := e.GetIndex()
		if i == 0 {
			return fmt.Errorf("%w: entry with index 0", errCorruptRecord)
		}
		if n := len(st.ents); n > 0 {
			first, last := st.ents[0].GetIndex(), st.ents[n-1].GetIndex()
			switch {
			case i <= first:
				st.ents = st.ents[:0]
			case i <= last:
				st.ents = st.ents[:i-first]
			case i > last+1:
				// A gap: a snapshot was installed in between; the older entries are
				// covered by it.
				st.ents = st.ents[:0]
			}
		}
		st.ents = append(st.ents, e)
	}
	return nil
}

// cutFile truncates path to size and syncs it.
func cutFile(fsys diskfs.FS, path string, size int64) error {
	f, err := fsys.OpenFile(path, os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("wal: open for cut: %w", err)
	}
	defer f.Close()
	if err := fsys.Truncate(f, size); err != nil {
		return fmt.Errorf("wal: cut tail: %w", err)
	}
	if err := fsys.Sync(f); err != nil {
		return fmt.Errorf("wal: sync after cut: %w", err)
	}
	return nil
}

// createSegment writes a new segment holding the current snapshot marker and
// HardState (diskfs.WriteFileAtomic: temp file, fsync, rename, fsync dir) and
// makes it the active one.
func (w *wal) createSegment(seq, first uint64) error {
	var hdr []byte
	if w.snap != nil {
		hdr = appendRecord(hdr, recSnapshot, mustMarshal(w.snap))
	}
	if w.hs != nil {
		hdr = appendRecord(hdr, recHardState, mustMarshal(w.hs))
	}
	name := segmentName(seq, first)
	path := filepath.Join(w.dir, name)
	if err := diskfs.WriteFileAtomic(w.fs, path, hdr, 0o644); err != nil {
		return fmt.Errorf("wal: create segment: %w", err)
	}
	f, err := w.fs.OpenFile(path, os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("wal: open new segment: %w", err)
	}
	if w.f != nil {
		_ = w.f.Close()
	}
	w.f, w.size = f, int64(len(hdr))
	w.segs = append(w.segs, walSegment{seq: seq, first: first, name: name})
	return nil
}

func mustMarshal(m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		// Marshalling a well-formed generated message cannot fail.
		panic(fmt.Sprintf("raftnode: marshal %T: %v", m, err))
	}
	return b
}

// saveEntries queues entries; flush writes them.
func (w *wal) saveEntries(ents []*pb.Entry) {
	for _, e := range ents {
		w.buf = appendRecord(w.buf, recEntry, mustMarshal(e))
		w.lastIndex = e.GetIndex()
	}
}

// saveHardState queues a HardState; flush writes it.
func (w *wal) saveHardState(hs *pb.HardState) {
	w.buf = appendRecord(w.buf, recHardState, mustMarshal(hs))
	w.hs = hs
}

// saveSnapshotMarker queues a marker saying a snapshot at m.Index is on disk. The
// snapshot file must be durable before the marker is flushed.
func (w *wal) saveSnapshotMarker(m *pb.SnapshotMetadata) {
	w.buf = appendRecord(w.buf, recSnapshot, mustMarshal(m))
	w.snap = m
	if m.GetIndex() > w.lastIndex {
		w.lastIndex = m.GetIndex()
	}
}

// flush writes the queued records with one write, fdatasyncs when sync is set, and
// starts a new segment when the active one is full.
func (w *wal) flush(sync bool) error {
	if w.err != nil {
		return w.err
	}
	if len(w.buf) > 0 {
		w.iov[0] = w.buf
		n, err := w.fs.WriteAt(w.f, w.iov[:], w.size)
		w.iov[0] = nil
		w.size += n
		if err != nil {
			w.err = fmt.Errorf("wal: write: %w", err)
			return w.err
		}
		w.buf = w.buf[:0]
	}
	if sync {
		start := time.Now()
		if err := w.fs.Datasync(w.f); err != nil {
			w.err = fmt.Errorf("wal: fdatasync: %w", err)
			return w.err
		}
		if w.onSync != nil {
			w.onSync(time.Since(start).Seconds())
		}
	}
	if w.size >= w.segBytes {
		if err := w.fs.Sync(w.f); err != nil {
			w.err = fmt.Errorf("wal: sync full segment: %w", err)
			return w.err
		}
		last := w.segs[len(w.segs)-1]
		if err := w.createSegment(last.seq+1, w.lastIndex+1); err != nil {
			w.err = err
			return w.err
		}
	}
	return nil
}

// releaseTo deletes segments that only hold entries at or below index (and
// superseded records). The active segment is never deleted.
func (w *wal) releaseTo(index uint64) error {
	n := 0
	for n+1 < len(w.segs) && w.segs[n+1].first <= index+1 {
		n++
	}
	if n == 0 {
		return nil
	}
	for _, seg := range w.segs[:n] {
		if err := w.fs.Remove(filepath.Join(w.dir, seg.name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("wal: delete old segment: %w", err)
		}
	}
	w.segs = append(w.segs[:0], w.segs[n:]...)
	return w.fs.SyncDir(w.dir)
}

func (w *wal) close() error {
	if w.f == nil {
		return nil
	}
	var err error
	if w.err == nil {
		err = w.flush(true)
	}
	if cerr := w.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("wal: close: %w", cerr)
	}
	w.f = nil
	return err
}
