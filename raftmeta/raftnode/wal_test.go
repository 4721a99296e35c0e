package raftnode

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/runnel-dev/runnel/internal/diskfs"
)

var discard = slog.New(slog.DiscardHandler)

func ent(index, term uint64, data string) *pb.Entry {
	return &pb.Entry{Index: new(index), Term: new(term), Type: pb.EntryNormal.Enum(), Data: []byte(data)}
}

func hardState(term, vote, commit uint64) *pb.HardState {
	return &pb.HardState{Term: new(term), Vote: new(vote), Commit: new(commit)}
}

func openTestWAL(t *testing.T, dir string, segBytes int64) (*wal, *walState) {
	t.Helper()
	w, st, err := openWAL(diskfs.OS{}, dir, segBytes, 1<<20, discard)
	if err != nil {
		t.Fatal(err)
	}
	return w, st
}

func checkEntries(t *testing.T, ents []*pb.Entry, first, last uint64) {
	t.Helper()
	if len(ents) == 0 || ents[0].GetIndex() != first || ents[len(ents)-1].GetIndex() != last {
		var f, l uint64
		if len(ents) > 0 {
			f, l = ents[0].GetIndex(), ents[len(ents)-1].GetIndex()
		}
		t.Fatalf("entries %d..%d, want %d..%d", f, l, first, last)
	}
	for i, e := range ents {
		if e.GetIndex() != first+uint64(i) {
			t.Fatalf("entry %d has index %d", i, e.GetIndex())
		}
	}
}

func TestWALReplayRotateRelease(t *testing.T) {
	dir := t.TempDir()
	w, st := openTestWAL(t, dir, 4096)
	if st.hs != nil || len(st.ents) != 0 {
		t.Fatal("new WAL not empty")
	}
	for i := uint64(1); i <= 1000; i += 10 {
		var ents []*pb.Entry
		for j := i; j < i+10; j++ {
			ents = append(ents, ent(j, 1, "some entry data"))
		}
		w.saveEntries(ents)
		w.saveHardState(hardState(1, 1, i+9))
		if err := w.flush(true); err != nil {
			t.Fatal(err)
		}
	}
	if len(w.segs) < 5 {
		t.Fatalf("expected several segments, got %d", len(w.segs))
	}
	if err := w.close(); err != nil {
		t.Fatal(err)
	}

	w, st = openTestWAL(t, dir, 4096)
	checkEntries(t, st.ents, 1, 1000)
	if st.hs.GetCommit() != 1000 {
		t.Fatalf("commit %d", st.hs.GetCommit())
	}
	w.saveSnapshotMarker(&pb.SnapshotMetadata{Index: new(uint64(600)), Term: new(uint64(1))})
	if err := w.flush(true); err != nil {
		t.Fatal(err)
	}
	before := len(w.segs)
	if err := w.releaseTo(600); err != nil {
		t.Fatal(err)
	}
	if len(w.segs) >= before {
		t.Fatalf("releaseTo deleted nothing (%d segments)", len(w.segs))
	}
	if err := w.close(); err != nil {
		t.Fatal(err)
	}
	_, st = openTestWAL(t, dir, 4096)
	if st.snap.GetIndex() != 600 || st.hs.GetCommit() != 1000 {
		t.Fatalf("after release: marker %d commit %d", st.snap.GetIndex(), st.hs.GetCommit())
	}
	if first := st.ents[0].GetIndex(); first > 601 {
		t.Fatalf("entries after the snapshot were deleted: first %d", first)
	}
	checkEntries(t, st.ents, st.ents[0].GetIndex(), 1000)
}

func TestWALOverwriteSemantics(t *testing.T) {
	dir := t.TempDir()
	w, _ := openTestWAL(t, dir, 1<<20)
	var ents []*pb.Entry
	for i := uint64(1); i <= 10; i++ {
		ents = append(ents, ent(i, 1, "a"))
	}
	w.saveEntries(ents)
	w.saveEntries([]*pb.Entry{ent(6, 2, "b"), ent(7, 2, "b"), ent(8, 2, "b")})
	if err := w.close(); err != nil {
		t.Fatal(err)
	}
	_, st := openTestWAL(t, dir, 1<<20)
	checkEntries(t, st.ents, 1, 8)
	if st.ents[5].GetTerm() != 2 || st.ents[4].GetTerm() != 1 {
		t.Fatal("overwritten entries not replaced")
	}
}

func TestWALCutsTornTail(t *testing.T) {
	dir := t.TempDir()
	w, _ := openTestWAL(t, dir, 1<<20)
	w.saveEntries([]*pb.Entry{ent(1, 1, "a"), ent(2, 1, "b")})
	w.saveHardState(hardState(1, 1, 2))
	if err := w.close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, w.segs[len(w.segs)-1].name)
	info, _ := os.Stat(path)
	good := info.Size()
	// A record cut short by a crash.
	rec := appendRecord(nil, recEntry, mustMarshal(ent(3, 1, "c")))
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	_, _ = f.Write(rec[:len(rec)-2])
	_ = f.Close()

	w, st := openTestWAL(t, dir, 1<<20)
	checkEntries(t, st.ents, 1, 2)
	if info, _ := os.Stat(path); info.Size() != good {
		t.Fatalf("tail not cut: size %d, want %d", info.Size(), good)
	}
	w.saveEntries([]*pb.Entry{ent(3, 1, "c2")})
	if err := w.close(); err != nil {
		t.Fatal(err)
	}
	_, st = openTestWAL(t, dir, 1<<20)
	checkEntries(t, st.ents, 1, 3)
	if string(st.ents[2].GetData()) != "c2" {
		t.Fatal("entry written after the cut is wrong")
	}
}

func TestWALDamageInOlderSegmentIsAnError(t *testing.T) {
	dir := t.TempDir()
	w, _ := openTestWAL(t, dir, 256)
	for i := uint64(1); i <= 50; i++ {
		w.saveEntries([]*pb.Entry{ent(i, 1, "0123456789012345678901234567890123456789")})
		if err := w.flush(false); err != nil {
			t.Fatal(err)
		}
	}
	first := filepath.Join(dir, w.segs[0].name)
	if err := w.close(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(first)
	b[len(b)-3] ^= 0xff
	_ = os.WriteFile(first, b, 0o644)
	var ce *CorruptError
	if _, _, err := openWAL(diskfs.OS{}, dir, 256, 1<<20, discard); !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) || ce.File != first {
		t.Fatalf("damage in the middle of the log: %v", err)
	}
}

func TestWALStickyError(t *testing.T) {
	w, _ := openTestWAL(t, t.TempDir(), 1<<20)
	_ = w.f.Close() // writes now fail
	w.saveEntries([]*pb.Entry{ent(1, 1, "a")})
	err := w.flush(true)
	if err == nil {
		t.Fatal("write to a closed file succeeded")
	}
	if err2 := w.flush(false); !errors.Is(err2, err) && err2.Error() != err.Error() {
		t.Fatalf("error not sticky: %v then %v", err, err2)
	}
	w.f = nil
}

func TestSnapshotFiles(t *testing.T) {
	dir := t.TempDir()
	s, err := newSnapStore(diskfs.OS{}, dir, discard)
	if err != nil {
		t.Fatal(err)
	}
	mk := func(index uint64) *pb.Snapshot {
		return &pb.Snapshot{Data: []byte("state"), Metadata: &pb.SnapshotMetadata{
			Index: new(index), Term: new(uint64(1)), ConfState: &pb.ConfState{Voters: []uint64{1}}}}
	}
	for _, i := range []uint64{10, 20, 30} {
		if err := s.save(mk(i)); err != nil {
			t.Fatal(err)
		}
	}
	names, _ := s.names()
	if len(names) != snapKeep {
		t.Fatalf("kept %d snapshot files, want %d", len(names), snapKeep)
	}
	got, damaged, err := s.loadNewest()
	if err != nil || got.GetMetadata().GetIndex() != 30 || len(damaged) != 0 {
		t.Fatalf("newest: %v %v %v", got, damaged, err)
	}
	// A damaged newest file is skipped; the older one is used. It is set
	// aside only when the caller says the older one will do.
	path := filepath.Join(dir, names[0])
	b, _ := os.ReadFile(path)
	b[len(b)-1] ^= 1
	_ = os.WriteFile(path, b, 0o644)
	got, damaged, err = s.loadNewest()
	if err != nil || got.GetMetadata().GetIndex() != 20 {
		t.Fatalf("fallback: %v %v", got, err)
	}
	if len(damaged) != 1 || damaged[0].path != path || damaged[0].offset != snapHeaderLen {
		t.Fatalf("damaged files: %+v", damaged)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("damaged file renamed before the caller decided: %v", err)
	}
	s.setAside(damaged)
	if _, err := os.Stat(path + ".broken"); err != nil {
		t.Fatalf("damaged file not set aside: %v", err)
	}
}
