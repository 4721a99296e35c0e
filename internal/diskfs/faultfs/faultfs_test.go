package faultfs

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestAfterAndTimes fails the third write to *.log files, once: writes to
// other files and the writes around it go through.
func TestAfterAndTimes(t *testing.T) {
	dir := t.TempDir()
	fsys := &FS{}
	fsys.Set(Fault{Op: OpWrite, Name: "*.log", After: 2, Times: 1, Err: syscall.ENOSPC})
	logf, err := fsys.OpenFile(filepath.Join(dir, "00.log"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	other, err := fsys.OpenFile(filepath.Join(dir, "00.index"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	var results []error
	for i := 0; i < 5; i++ {
		if _, err := fsys.WriteAt(other, [][]byte{{1}}, int64(i)); err != nil {
			t.Fatalf("write to a file the fault does not match: %v", err)
		}
		_, err := fsys.WriteAt(logf, [][]byte{{1}}, int64(i))
		results = append(results, err)
	}
	for i, err := range results {
		if (i == 2) != errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	var pe *os.PathError
	if !errors.As(results[2], &pe) || pe.Path != logf.Name() {
		t.Fatalf("error %v does not name the file", results[2])
	}
	if fsys.Hits() != 1 {
		t.Fatalf("hits %d, want 1", fsys.Hits())
	}
}

// TestPartialWrite lands half of a failing write, as a disk filling up does.
func TestPartialWrite(t *testing.T) {
	fsys := &FS{}
	f, err := fsys.OpenFile(filepath.Join(t.TempDir(), "f"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fsys.Set(Fault{Op: OpWrite, Err: syscall.ENOSPC, Partial: true})
	n, err := fsys.WriteAt(f, [][]byte{[]byte("abcd"), []byte("efgh")}, 0)
	if n != 4 || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("wrote %d, %v; want 4 and ENOSPC", n, err)
	}
	st, _ := f.Stat()
	if st.Size() != 4 {
		t.Fatalf("file has %d bytes, want 4", st.Size())
	}
}

// TestRenameMatchesEitherName and OpAny: a rename to a matching name fails,
// and a fault for any operation fails everything on matching files.
func TestRenameMatchesEitherName(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "x.snapshot.tmp"), filepath.Join(dir, "x.snapshot")
	if err := os.WriteFile(a, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	fsys := &FS{}
	fsys.Set(Fault{Op: OpRename, Name: "*.snapshot", Err: syscall.EIO})
	var le *os.LinkError
	if err := fsys.Rename(a, b); !errors.As(err, &le) || !errors.Is(err, syscall.EIO) {
		t.Fatalf("rename: %v", err)
	}
	fsys.Set(Fault{Name: "x.*", Err: syscall.EIO})
	if err := fsys.SyncDir(dir); err != nil {
		t.Fatalf("sync of a directory the fault does not match: %v", err)
	}
	if err := fsys.Remove(a); !errors.Is(err, syscall.EIO) {
		t.Fatalf("remove: %v", err)
	}
	fsys.Clear()
	if err := fsys.Rename(a, b); err != nil {
		t.Fatal(err)
	}
}
