package producerstate

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/runnel-dev/runnel/internal/diskfs"
)

// Snapshot file layout, version 1, big-endian (Kafka's producer snapshot
// keeps only each producer's last batch; this one keeps all retained
// batches, so that duplicates of any of them are still recognized after a
// restart):
//
//	version        uint16  snapshotVersion
//	crc            uint32  CRC-32C (Castagnoli) of every byte after this field
//	offset         int64   log end offset the state covers; also in the file name
//	count          uint32  number of producers, then count times, by ascending id:
//	  id             int64
//	  epoch          int16
//	  last offset    int64
//	  last timestamp int64
//	  batches        uint8  at most RetainedBatches, then each, oldest first:
//	    first seq      int32
//	    last seq       int32
//	    first offset   int64
//	    last offset    int64
//	    max timestamp  int64
const (
	snapshotVersion   = 1
	snapshotSuffix    = ".snapshot"
	crcStart          = 6 // the CRC covers the bytes from here
	snapshotHeaderLen = 18
	producerLen       = 27
	batchLen          = 32
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// encodeSnapshot returns the snapshot of producers at offset.
func encodeSnapshot(offset int64, producers map[int64]*entry) []byte {
	ids := make([]int64, 0, len(producers))
	size := snapshotHeaderLen
	for id, e := range producers {
		ids = append(ids, id)
		size += producerLen + batchLen*len(e.batches)
	}
	slices.Sort(ids)
	be := binary.BigEndian
	b := make([]byte, crcStart, size)
	be.PutUint16(b, snapshotVersion)
	b = be.AppendUint64(b, uint64(offset))
	b = be.AppendUint32(b, uint32(len(ids)))
	for _, id := range ids {
		e := producers[id]
		b = be.AppendUint64(b, uint64(id))
		b = be.AppendUint16(b, uint16(e.epoch))
		b = be.AppendUint64(b, uint64(e.lastOffset))
		b = be.AppendUint64(b, uint64(e.lastTimestamp))
		b = append(b, byte(len(e.batches)))
		for _, m := range e.batches {
			b = be.AppendUint32(b, uint32(m.FirstSeq))
			b = be.AppendUint32(b, uint32(m.LastSeq))
			b = be.AppendUint64(b, uint64(m.FirstOffset))
			b = be.AppendUint64(b, uint64(m.LastOffset))
			b = be.AppendUint64(b, uint64(m.MaxTimestamp))
		}
	}
	be.PutUint32(b[2:], crc32.Checksum(b[crcStart:], castagnoli))
	return b
}

// DecodeSnapshot decodes the contents of a snapshot file: the offset the
// state covers and the producers, by ascending id. Any damage (a bad version
// or CRC, a length that does not add up, a field out of range, entries out of
// order) yields an error wrapping ErrCorruptSnapshot. It is meant for tools;
// Load reads snapshots itself.
func DecodeSnapshot(b []byte) (offset int64, producers []ProducerState, err error) {
	offset, m, err := decodeSnapshot(b)
	if err != nil {
		return 0, nil, err
	}
	producers = make([]ProducerState, 0, len(m))
	for id, e := range m {
		producers = append(producers, e.state(id))
	}
	slices.SortFunc(producers, func(a, b ProducerState) int { return cmp.Compare(a.ID, b.ID) })
	return offset, producers, nil
}

// snapReader reads big-endian fields and remembers whether it ran short.
type snapReader struct {
	b   []byte
	bad bool
}

func (r *snapReader) take(n int) []byte {
	if len(r.b) < n {
		r.bad = true
		r.b = nil
		return make([]byte, n)
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *snapReader) u8() uint8   { return r.take(1)[0] }
func (r *snapReader) i16() int16  { return int16(binary.BigEndian.Uint16(r.take(2))) }
func (r *snapReader) i32() int32  { return int32(binary.BigEndian.Uint32(r.take(4))) }
func (r *snapReader) u32() uint32 { return binary.BigEndian.Uint32(r.take(4)) }
func (r *snapReader) i64() int64  { return int64(binary.BigEndian.Uint64(r.take(8))) }

// decodeSnapshot checks and decodes a snapshot. It accepts exactly what
// encodeSnapshot writes, so a decoded snapshot re-encodes to the same bytes.
func decodeSnapshot(b []byte) (int64, map[int64]*entry, error) {
	if len(b) < snapshotHeaderLen {
		return 0, nil, corrupt("%d bytes is shorter than the %d-byte header", len(b), snapshotHeaderLen)
	}
	if v := binary.BigEndian.Uint16(b); v != snapshotVersion {
		return 0, nil, corrupt("unsupported version %d, want %d", v, snapshotVersion)
	}
	if want, got := binary.BigEndian.Uint32(b[2:]), crc32.Checksum(b[crcStart:], castagnoli); want != got {
		return 0, nil, corrupt("CRC-32C is %#08x, stored %#08x", got, want)
	}
	r := &snapReader{b: b[crcStart:]}
	offset := r.i64()
	count := r.u32()
	if offset < 0 {
		return 0, nil, corrupt("negative offset %d", offset)
	}
	if int64(count) > int64(len(r.b)/producerLen) {
		return 0, nil, corrupt("%d producers cannot fit in %d bytes", count, len(r.b))
	}
	producers := make(map[int64]*entry, count)
	prevID := int64(-1)
	for i := uint32(0); i < count; i++ {
		id := r.i64()
		e := &entry{epoch: r.i16(), lastOffset: r.i64(), lastTimestamp: r.i64()}
		n := int(r.u8())
		if r.bad {
			return 0, nil, corrupt("producer %d of %d is cut short", i, count)
		}
		if id <= prevID {
			return 0, nil, corrupt("producer id %d follows %d", id, prevID)
		}
		prevID = id
		if e.lastOffset < 0 || e.lastOffset >= offset {
			return 0, nil, corrupt("producer %d: last offset %d outside [0, %d)", id, e.lastOffset, offset)
		}
		if n > RetainedBatches {
			return 0, nil, corrupt("producer %d: %d batches, at most %d are kept", id, n, RetainedBatches)
		}
		if n > 0 {
			e.batches = make([]BatchMetadata, 0, n)
		}
		for j := 0; j < n; j++ {
			m := BatchMetadata{FirstSeq: r.i32(), LastSeq: r.i32(), FirstOffset: r.i64(), LastOffset: r.i64(), MaxTimestamp: r.i64()}
			if r.bad {
				return 0, nil, corrupt("producer %d: batch %d is cut short", id, j)
			}
			if err := checkBatch(m, e, j); err != nil {
				return 0, nil, corrupt("producer %d: batch %d: %v", id, j, err)
			}
			e.batches = append(e.batches, m)
		}
		producers[id] = e
	}
	if len(r.b) != 0 {
		return 0, nil, corrupt("%d bytes after the last producer", len(r.b))
	}
	return offset, producers, nil
}

// checkBatch checks that m, the j-th batch of e, could have been recorded by
// entry.apply: offsets in order and within the producer's, and sequences
// matching the offset span.
func checkBatch(m BatchMetadata, e *entry, j int) error {
	switch {
	case m.FirstSeq < 0 || m.LastSeq < 0:
		return fmt.Errorf("negative sequence [%d, %d]", m.FirstSeq, m.LastSeq)
	case m.FirstOffset < 0 || m.LastOffset < m.FirstOffset || m.LastOffset > e.lastOffset:
		return fmt.Errorf("offsets [%d, %d] outside [0, %d]", m.FirstOffset, m.LastOffset, e.lastOffset)
	case m.LastOffset-m.FirstOffset > math.MaxInt32:
		return fmt.Errorf("offsets [%d, %d] span more than a batch can", m.FirstOffset, m.LastOffset)
	case lastSequence(m.FirstSeq, int32(m.LastOffset-m.FirstOffset)) != m.LastSeq:
		return fmt.Errorf("sequences [%d, %d] do not match offsets [%d, %d]", m.FirstSeq, m.LastSeq, m.FirstOffset, m.LastOffset)
	case j > 0 && m.FirstOffset <= e.batches[j-1].LastOffset:
		return fmt.Errorf("first offset %d does not follow %d", m.FirstOffset, e.batches[j-1].LastOffset)
	}
	return nil
}

// TakeSnapshot writes the state to <dir>/<endOffset>.snapshot, where
// endOffset is the log end offset: the state must hold exactly the log's
// batches below it. The broker calls it under the append lock when a segment
// rolls and on clean shutdown, so that loading replays at most a segment. The
// file is written whole (diskfs.WriteFileAtomic: temporary file, fsync,
// rename, fsync of the directory). Only the newest two snapshots are kept;
// any above endOffset are stale and deleted.
func (m *Manager) TakeSnapshot(endOffset int64) error {
	m.mu.RLock()
	if endOffset < m.mapEnd {
		end := m.mapEnd
		m.mu.RUnlock()
		return fmt.Errorf("%w: snapshot at %d, batches applied up to %d", ErrSnapshotBehind, endOffset, end)
	}
	data := encodeSnapshot(endOffset, m.producers)
	count := len(m.producers)
	m.mu.RUnlock()

	path := snapshotPath(m.dir, endOffset)
	if err := diskfs.WriteFileAtomic(m.opts.FS, path, data, 0o644); err != nil {
		return fmt.Errorf("take producer snapshot: %w", err)
	}
	snaps, err := listSnapshots(m.opts.FS, m.dir)
	if err != nil {
		return fmt.Errorf("take producer snapshot: %w", err)
	}
	// Snapshots above the log end describe batches the log no longer holds
	// (the caller truncated the log without TruncateTo); older ones than
	// the newest two are not needed.
	n, _ := slices.BinarySearch(snaps, endOffset+1) // snaps[:n] are at or below endOffset
	gone := slices.Concat(snaps[:max(0, n-keptSnapshots)], snaps[n:])
	for _, off := range gone {
		if err := removeFile(m.opts.FS, snapshotPath(m.dir, off)); err != nil {
			return fmt.Errorf("take producer snapshot: %w", err)
		}
	}
	if len(gone) > 0 {
		if err := m.opts.FS.SyncDir(m.dir); err != nil {
			return fmt.Errorf("take producer snapshot: %w", err)
		}
	}
	m.opts.Logger.Debug("wrote producer snapshot", "file", path, "producers", count, "bytes", len(data))
	return nil
}

// removeSnapshotsAbove deletes the snapshots of offsets above offset.
func (m *Manager) removeSnapshotsAbove(offset int64) error {
	snaps, err := listSnapshots(m.opts.FS, m.dir)
	if err != nil {
		return err
	}
	removed := false
	for _, off := range snaps {
		if off > offset {
			if err := removeFile(m.opts.FS, snapshotPath(m.dir, off)); err != nil {
				return err
			}
			removed = true
		}
	}
	if removed {
		return m.opts.FS.SyncDir(m.dir)
	}
	return nil
}

// readSnapshot reads and decodes the snapshot at offset. Damage, including a
// file whose contents name another offset, wraps ErrCorruptSnapshot.
func readSnapshot(dir string, offset int64) (map[int64]*entry, error) {
	path := snapshotPath(dir, offset)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read producer snapshot: %w", err)
	}
	got, producers, err := decodeSnapshot(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if got != offset {
		return nil, fmt.Errorf("%s: %w", path, corrupt("holds offset %d", got))
	}
	return producers, nil
}

func snapshotPath(dir string, offset int64) string {
	return filepath.Join(dir, fmt.Sprintf("%020d%s", offset, snapshotSuffix))
}

// listSnapshots returns the offsets of the snapshots in dir, ascending, and
// removes temporary files left by a crash during TakeSnapshot.
func listSnapshots(fsys diskfs.FS, dir string) ([]int64, error) {
	ents, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list producer snapshots: %w", err)
	}
	var offs []int64
	for _, e := range ents {
		name := e.Name()
		if strings.HasSuffix(name, snapshotSuffix+diskfs.TempSuffix) {
			if err := removeFile(fsys, filepath.Join(dir, name)); err != nil {
				return nil, err
			}
			continue
		}
		if off, ok := snapshotOffset(name); ok {
			offs = append(offs, off)
		}
	}
	slices.Sort(offs)
	return offs, nil
}

// snapshotOffset parses the name of a snapshot file, <offset, 20 digits>.snapshot.
func snapshotOffset(name string) (int64, bool) {
	base, ok := strings.CutSuffix(name, snapshotSuffix)
	if !ok || len(base) != 20 {
		return 0, false
	}
	off, err := strconv.ParseInt(base, 10, 64)
	return off, err == nil && off >= 0
}

func removeFile(fsys diskfs.FS, path string) error {
	if err := fsys.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	return nil
}
