// Package faultfs wraps a diskfs.FS and fails chosen operations, for tests
// of what a store does when its disk fills up or its device fails: a write,
// an fsync, a rename or any other operation of diskfs.FS, on files whose
// name matches a pattern, from the n-th such operation on (as pebble's
// vfs/errorfs injects errors). A failed write can land half of its bytes
// first, as a disk that fills up in the middle of a write does.
package faultfs

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/runnel-dev/runnel/internal/diskfs"
)

// Op names an operation of diskfs.FS.
type Op int

// The operations of diskfs.FS. The zero Op, OpAny, matches every one of
// them: a device that fails everything.
const (
	OpAny Op = iota
	OpOpen
	OpWrite
	OpTruncate
	OpSync // Sync and Datasync
	OpAllocate
	OpRename
	OpRemove // Remove and RemoveAll
	OpMkdir
	OpReadDir
	OpSyncDir
)

var opNames = [...]string{"any", "open", "write", "truncate", "sync", "allocate", "rename", "remove", "mkdir", "readdir", "syncdir"}

func (op Op) String() string {
	if op >= 0 && int(op) < len(opNames) {
		return opNames[op]
	}
	return fmt.Sprintf("op(%d)", int(op))
}

// Fault is one failure FS injects.
type Fault struct {
	// Op is the operation that fails (OpAny: every one).
	Op Op
	// Name is a filepath.Match pattern for the base name of the file the
	// operation is on, such as "*.log" or "*.snapshot.tmp" (for Rename
	// either name may match; for the directory operations, the directory's
	// base name). Empty matches every file.
	Name string
	// After lets this many matching operations succeed before the fault
	// fires: the point at which the disk fills up or the device fails.
	After int
	// Times is how many operations the fault fails once it fires; zero
	// fails every matching operation until Set or Clear.
	Times int
	// Err is what the operation returns, such as syscall.ENOSPC or
	// syscall.EIO, wrapped in an *os.PathError or *os.LinkError.
	Err error
	// Partial makes a failing write write half of its bytes first, as a
	// disk that fills up in the middle of a write does.
	Partial bool
}

// armed is a Fault with its counts.
type armed struct {
	Fault
	seen, failed int
}

// FS wraps an FS and fails the operations its faults match. The zero value
// wraps diskfs.OS and injects nothing. It is safe for concurrent use.
type FS struct {
	// Inner is the FS that does the work (diskfs.OS when nil).
	Inner diskfs.FS

	mu     sync.Mutex
	faults []armed
	hits   int
}

var _ diskfs.FS = (*FS)(nil)

// Set replaces the injected faults, their counts starting from zero.
func (f *FS) Set(faults ...Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = f.faults[:0]
	for _, ft := range faults {
		f.faults = append(f.faults, armed{Fault: ft})
	}
}

// Clear removes every fault: the disk has room again, the device works.
func (f *FS) Clear() { f.Set() }

// Hits returns how many operations failed by a fault since f was made.
func (f *FS) Hits() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits
}

func (f *FS) inner() diskfs.FS {
	if f.Inner == nil {
		return diskfs.OS{}
	}
	return f.Inner
}

// fault returns the fault that fails op on the named files, if any. Every
// matching fault counts the operation.
func (f *FS) fault(op Op, names ...string) (Fault, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var hit *armed
	for i := range f.faults {
		a := &f.faults[i]
		if (a.Op != OpAny && a.Op != op) || !matches(a.Name, names) {
			continue
		}
		a.seen++
		if hit == nil && a.seen > a.After && (a.Times == 0 || a.failed < a.Times) {
			hit = a
		}
	}
	if hit == nil {
		return Fault{}, false
	}
	hit.failed++
	f.hits++
	return hit.Fault, true
}

func matches(pattern string, names []string) bool {
	if pattern == "" {
		return true
	}
	for _, n := range names {
		if ok, _ := filepath.Match(pattern, filepath.Base(n)); ok {
			return true
		}
	}
	return false
}

func pathErr(op, path string, err error) error { return &os.PathError{Op: op, Path: path, Err: err} }

// OpenFile implements diskfs.FS.
func (f *FS) OpenFile(name string, flag int, perm os.FileMode) (*os.File, error) {
	if ft, ok := f.fault(OpOpen, name); ok {
		return nil, pathErr("open", name, ft.Err)
	}
	return f.inner().OpenFile(name, flag, perm)
}

// WriteAt implements diskfs.FS.
func (f *FS) WriteAt(file *os.File, bufs [][]byte, off int64) (int64, error) {
	ft, ok := f.fault(OpWrite, file.Name())
	if !ok {
		return f.inner().WriteAt(file, bufs, off)
	}
	var written int64
	if ft.Partial {
		var total int
		for _, b := range bufs {
			total += len(b)
		}
		half := make([]byte, 0, total/2)
		for _, b := range bufs {
			half = append(half, b[:min(len(b), cap(half)-len(half))]...)
		}
		written, _ = f.inner().WriteAt(file, [][]byte{half}, off)
	}
	return written, pathErr("write", file.Name(), ft.Err)
}

// Truncate implements diskfs.FS.
func (f *FS) Truncate(file *os.File, size int64) error {
	if ft, ok := f.fault(OpTruncate, file.Name()); ok {
		return pathErr("truncate", file.Name(), ft.Err)
	}
	return f.inner().Truncate(file, size)
}

// Sync implements diskfs.FS.
func (f *FS) Sync(file *os.File) error {
	if ft, ok := f.fault(OpSync, file.Name()); ok {
		return pathErr("sync", file.Name(), ft.Err)
	}
	return f.inner().Sync(file)
}

// Datasync implements diskfs.FS.
func (f *FS) Datasync(file *os.File) error {
	if ft, ok := f.fault(OpSync, file.Name()); ok {
		return pathErr("fdatasync", file.Name(), ft.Err)
	}
	return f.inner().Datasync(file)
}

// Allocate implements diskfs.FS.
func (f *FS) Allocate(file *os.File, off, n int64) error {
	if ft, ok := f.fault(OpAllocate, file.Name()); ok {
		return pathErr("fallocate", file.Name(), ft.Err)
	}
	return f.inner().Allocate(file, off, n)
}

// Rename implements diskfs.FS.
func (f *FS) Rename(oldpath, newpath string) error {
	if ft, ok := f.fault(OpRename, oldpath, newpath); ok {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: ft.Err}
	}
	return f.inner().Rename(oldpath, newpath)
}

// Remove implements diskfs.FS.
func (f *FS) Remove(name string) error {
	if ft, ok := f.fault(OpRemove, name); ok {
		return pathErr("remove", name, ft.Err)
	}
	return f.inner().Remove(name)
}

// RemoveAll implements diskfs.FS.
func (f *FS) RemoveAll(path string) error {
	if ft, ok := f.fault(OpRemove, path); ok {
		return pathErr("remove", path, ft.Err)
	}
	return f.inner().RemoveAll(path)
}

// MkdirAll implements diskfs.FS.
func (f *FS) MkdirAll(dir string, perm os.FileMode) error {
	if ft, ok := f.fault(OpMkdir, dir); ok {
		return pathErr("mkdir", dir, ft.Err)
	}
	return f.inner().MkdirAll(dir, perm)
}

// ReadDir implements diskfs.FS.
func (f *FS) ReadDir(dir string) ([]os.DirEntry, error) {
	if ft, ok := f.fault(OpReadDir, dir); ok {
		return nil, pathErr("readdirent", dir, ft.Err)
	}
	return f.inner().ReadDir(dir)
}

// SyncDir implements diskfs.FS.
func (f *FS) SyncDir(dir string) error {
	if ft, ok := f.fault(OpSyncDir, dir); ok {
		return pathErr("sync", dir, ft.Err)
	}
	return f.inner().SyncDir(dir)
}
