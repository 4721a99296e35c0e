package diskfs_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/runnel-dev/runnel/internal/diskfs"
	"github.com/runnel-dev/runnel/internal/diskfs/faultfs"
)

func TestWriteFileAtomicReplacesWhole(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "checkpoint")
	for _, data := range [][]byte{[]byte("first\n"), []byte("second, longer\n"), {}} {
		if err := diskfs.WriteFileAtomic(diskfs.OS{}, path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("read %q, %v; want %q", got, err, data)
		}
	}
	if _, err := os.Stat(path + diskfs.TempSuffix); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temporary file left behind: %v", err)
	}
}

func TestWriteFileAtomicPermissions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secret")
	if err := diskfs.WriteFileAtomic(diskfs.OS{}, path, []byte("s"), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", st.Mode().Perm())
	}
}

// TestWriteFileAtomicFailures fails each step of the write in turn: the
// caller gets the error, the old contents stay whole, and no temporary file
// is left, except that a failed fsync of the directory comes after the
// rename (the new contents are in place, their durability unknown).
func TestWriteFileAtomicFailures(t *testing.T) {
	for _, tc := range []struct {
		fault   faultfs.Fault
		newData bool
	}{
		{fault: faultfs.Fault{Op: faultfs.OpOpen, Err: syscall.EACCES}},
		{fault: faultfs.Fault{Op: faultfs.OpWrite, Err: syscall.ENOSPC, Partial: true}},
		{fault: faultfs.Fault{Op: faultfs.OpSync, Err: syscall.EIO}},
		{fault: faultfs.Fault{Op: faultfs.OpRename, Err: syscall.EIO}},
		{fault: faultfs.Fault{Op: faultfs.OpSyncDir, Err: syscall.EIO}, newData: true},
	} {
		t.Run(tc.fault.Op.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "file")
			old, data := []byte("old contents\n"), []byte("new contents, longer than the old\n")
			if err := os.WriteFile(path, old, 0o644); err != nil {
				t.Fatal(err)
			}
			fsys := &faultfs.FS{}
			fsys.Set(tc.fault)
			err := diskfs.WriteFileAtomic(fsys, path, data, 0o644)
			if !errors.Is(err, tc.fault.Err) {
				t.Fatalf("error %v, want %v", err, tc.fault.Err)
			}
			want := old
			if tc.newData {
				want = data
			}
			if got, _ := os.ReadFile(path); !bytes.Equal(got, want) {
				t.Fatalf("file holds %q, want %q", got, want)
			}
			if _, err := os.Stat(path + diskfs.TempSuffix); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("temporary file left behind: %v", err)
			}
			fsys.Clear()
			if err := diskfs.WriteFileAtomic(fsys, path, data, 0o644); err != nil {
				t.Fatalf("write after the fault cleared: %v", err)
			}
			if got, _ := os.ReadFile(path); !bytes.Equal(got, data) {
				t.Fatalf("file holds %q after the retry", got)
			}
		})
	}
}

// TestWriteAtVectored writes more buffers than one pwritev takes.
func TestWriteAtVectored(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var bufs [][]byte
	var want []byte
	for i := 0; i < 2500; i++ {
		b := bytes.Repeat([]byte{byte(i)}, 1+i%7)
		bufs = append(bufs, b)
		want = append(want, b...)
	}
	n, err := diskfs.OS{}.WriteAt(f, bufs, 10)
	if err != nil || n != int64(len(want)) {
		t.Fatalf("wrote %d, %v; want %d", n, err, len(want))
	}
	got := make([]byte, len(want))
	if _, err := f.ReadAt(got, 10); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read back differs (%v)", err)
	}
}
