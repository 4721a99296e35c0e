package raftnode

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/runnel-dev/runnel/internal/diskfs"
)

// writeTestWAL writes n entries, each with a HardState committing it, into one
// segment, closes it and returns the segment's path and the offset where each
// entry's record starts.
func writeTestWAL(t *testing.T, dir string, n int) (string, []int) {
	t.Helper()
	w, _ := openTestWAL(t, dir, 1<<20)
	path := filepath.Join(dir, w.segs[0].name)
	var offs []int
	for i := uint64(1); i <= uint64(n); i++ {
		offs = append(offs, int(w.size)+len(w.buf))
		w.saveEntries([]*pb.Entry{ent(i, 1, fmt.Sprintf("entry %d with some data", i))})
		w.saveHardState(hardState(1, 1, i))
		if err := w.flush(true); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.close(); err != nil {
		t.Fatal(err)
	}
	return path, offs
}

func damageFile(t *testing.T, path string, f func([]byte) []byte) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b = f(b)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return b
}

// wantRefusal opens the WAL in dir and checks that it refuses with a
// *CorruptError naming path and offset, leaving the file as it was.
func wantRefusal(t *testing.T, dir, path string, offset int64, content []byte) {
	t.Helper()
	_, _, err := openWAL(diskfs.OS{}, dir, 1<<20, 1<<20, discard)
	var ce *CorruptError
	if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("damaged WAL opened: %v", err)
	}
	if ce.File != path || ce.Offset != offset {
		t.Fatalf("refusal names %s at %d, want %s at %d", ce.File, ce.Offset, path, offset)
	}
	msg := err.Error()
	for _, want := range []string{path, fmt.Sprintf("byte offset %d", offset), "from a peer", "snapshot", "README"} {
		if !strings.Contains(msg, want) {
			t.Fatalf("refusal %q does not say %q", msg, want)
		}
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, content) {
		t.Fatal("the refused WAL file was changed")
	}
}

// TestWALRefusesDamageBeforeValidRecords: a flipped bit anywhere in a record
// that has valid records after it is corruption, never a torn tail: the WAL
// refuses to open, naming the file and the offset of the damaged record, and
// leaves the file alone. A flip in the length field that makes the record
// seem to run past the end of the file (which etcd would cut as torn) is
// caught by the valid records after it.
func TestWALRefusesDamageBeforeValidRecords(t *testing.T) {
	entLen := len(appendRecord(nil, recEntry, mustMarshal(ent(11, 1, "entry 11 with some data"))))
	for name, pos := range map[string]func(rec int) int{
		"payload":       func(rec int) int { return rec + recordHeaderLen + 5 },
		"checksum":      func(rec int) int { return rec + 5 },
		"type":          func(rec int) int { return rec + recordHeaderLen },
		"length":        func(rec int) int { return rec },
		"length high":   func(rec int) int { return rec + 3 },
		"record's last": func(rec int) int { return rec + entLen - 1 },
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path, offs := writeTestWAL(t, dir, 20)
			rec := offs[10]
			b := damageFile(t, path, func(b []byte) []byte {
				b[pos(rec)] ^= 0x40
				return b
			})
			wantRefusal(t, dir, path, int64(rec), b)
		})
	}
}

// TestWALDamagedLastRecordWrittenWhole: the last record is whole (its length
// matches the file) but its checksum fails and none of its sectors is zero: a
// crash cannot do that (etcd's decoder says ErrCRCMismatch, not a torn
// write), so the WAL refuses rather than drop a record that may have been
// acknowledged.
func TestWALDamagedLastRecordWrittenWhole(t *testing.T) {
	dir := t.TempDir()
	path, _ := writeTestWAL(t, dir, 5)
	b, _ := os.ReadFile(path)
	// The last record is the HardState committing entry 5.
	last := len(b) - len(appendRecord(nil, recHardState, mustMarshal(hardState(1, 1, 5))))
	b = damageFile(t, path, func(b []byte) []byte {
		b[len(b)-2] ^= 1
		return b
	})
	wantRefusal(t, dir, path, int64(last), b)
}

// TestWALTornTails: what a crash can leave at the end of the log is cut, the
// cut bytes are kept in a .broken file, and the log reopens with every record
// before them.
func TestWALTornTails(t *testing.T) {
	cases := map[string]struct {
		damage func(b []byte, offs []int) []byte
		keep   int // entries left
	}{
		// The last record (HardState of entry 5) cut short.
		"cut last record": {func(b []byte, offs []int) []byte { return b[:len(b)-3] }, 5},
		// Entry 5's record and its HardState cut to a few header bytes.
		"cut in a header": {func(b []byte, offs []int) []byte { return b[:offs[4]+5] }, 4},
		// Garbage after the last record whose first word, read as a length,
		// runs past the end of the file: a header written without its body.
		// etcd cuts this as ErrUnexpectedEOF; it holds no record, so nothing
		// acknowledged is lost by cutting it.
		"garbage appended": {func(b []byte, offs []int) []byte {
			return append(b, 0xde, 0xad, 0xbe, 0xef, 0x13, 0x37, 0x42, 0x42, 0x99, 0x01, 0x02)
		}, 5},
		// The file grew but the sectors of the last write were never written:
		// zeros, as a power cut on many file systems leaves.
		"zeros appended": {func(b []byte, offs []int) []byte { return append(b, make([]byte, 1000)...) }, 5},
		// A whole record whose second sector the disk never wrote.
		"unwritten sector": {func(b []byte, offs []int) []byte {
			rec := appendRecord(nil, recEntry, mustMarshal(ent(6, 1, strings.Repeat("x", 2000))))
			start := len(b)
			b = append(b, rec...)
			s := (start/sectorSize + 2) * sectorSize
			clear(b[s : s+sectorSize])
			return b
		}, 5},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path, offs := writeTestWAL(t, dir, 5)
			orig, _ := os.ReadFile(path)
			b := damageFile(t, path, func(b []byte) []byte { return tc.damage(b, offs) })
			w, st, err := openWAL(diskfs.OS{}, dir, 1<<20, 1<<20, discard)
			if err != nil {
				t.Fatalf("torn tail refused: %v", err)
			}
			checkEntries(t, st.ents, 1, uint64(tc.keep))
			info, _ := os.Stat(path)
			cut := info.Size()
			if !bytes.Equal(orig[:cut], b[:cut]) || cut > int64(len(b)) {
				t.Fatal("the cut changed bytes before the tail")
			}
			kept, err := os.ReadFile(fmt.Sprintf("%s.tail-%d.broken", path, cut))
			if err != nil || !bytes.Equal(kept, b[cut:]) {
				t.Fatalf("the cut bytes were not kept: %v", err)
			}
			// The log goes on from the cut.
			w.saveEntries([]*pb.Entry{ent(uint64(tc.keep)+1, 2, "after")})
			if err := w.close(); err != nil {
				t.Fatal(err)
			}
			_, st = openTestWAL(t, dir, 1<<20)
			checkEntries(t, st.ents, 1, uint64(tc.keep)+1)
		})
	}
}

// TestWALAppendedGarbageOfRecordSize: garbage after the last record whose
// first word is a length that fits in the file is a record written whole with
// a bad checksum and no unwritten sector: corruption by etcd's rule, so it is
// refused, not cut.
func TestWALAppendedGarbageOfRecordSize(t *testing.T) {
	dir := t.TempDir()
	path, _ := writeTestWAL(t, dir, 5)
	info, _ := os.Stat(path)
	b := damageFile(t, path, func(b []byte) []byte {
		return append(b, 0x08, 0, 0, 0, 0x11, 0x22, 0x33, 0x44, 2, 9, 9, 9, 9, 9, 9, 9)
	})
	wantRefusal(t, dir, path, info.Size(), b)
}

// TestWALFileCreatedWithHeaderCannotBeTorn: every segment after the first is
// created holding the snapshot marker and HardState (temp file, fsync,
// rename), so an emptied one, or one whose first record is zeroed, is damage.
func TestWALFileCreatedWithHeaderCannotBeTorn(t *testing.T) {
	for name, damage := range map[string]func([]byte) []byte{
		"emptied":              func(b []byte) []byte { return b[:0] },
		"first record zeroed":  func(b []byte) []byte { clear(b[:recordHeaderLen+4]); return b },
		"first record cut off": func(b []byte) []byte { return b[:5] },
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			w, _ := openTestWAL(t, dir, 256)
			for i := uint64(1); i <= 30; i++ {
				w.saveEntries([]*pb.Entry{ent(i, 1, "0123456789012345678901234567890123456789")})
				w.saveHardState(hardState(1, 1, i))
				if err := w.flush(false); err != nil {
					t.Fatal(err)
				}
			}
			last := filepath.Join(dir, w.segs[len(w.segs)-1].name)
			if err := w.close(); err != nil {
				t.Fatal(err)
			}
			b := damageFile(t, last, damage)
			wantRefusal(t, dir, last, 0, b)
		})
	}
}
