package commitlog

import (
	"fmt"
	"os"
	"strings"
	"sync"
)

// FSOp names an operation of FS, for FaultFS.
type FSOp int

// The operations of FS.
const (
	OpWrite FSOp = iota
	OpTruncate
	OpSync
	OpAllocate
)

func (op FSOp) String() string {
	switch op {
	case OpWrite:
		return "write"
	case OpTruncate:
		return "truncate"
	case OpSync:
		return "sync"
	case OpAllocate:
		return "allocate"
	}
	return fmt.Sprintf("op(%d)", int(op))
}

// Fault is one failure FaultFS injects.
type Fault struct {
	Op FSOp
	// PathSuffix limits the fault to files whose name ends with it, such
	// as ".log" or ".index"; empty matches every file.
	PathSuffix string
	// Err is what the operation returns, such as syscall.ENOSPC.
	Err error
	// Partial makes a failing write write half of its bytes first, as a
	// disk that fills up in the middle of a write does.
	Partial bool
}

// FaultFS wraps an FS and fails the operations its faults match until they
// are cleared: for tests of full disks and failing devices. The zero value
// wraps OSFS and injects nothing.
type FaultFS struct {
	// Inner is the FS that does the work (OSFS when nil).
	Inner FS

	mu     sync.Mutex
	faults []Fault
	hits   int
}

// Set replaces the injected faults.
func (f *FaultFS) Set(faults ...Fault) {
	f.mu.Lock()
	f.faults = append([]Fault(nil), faults...)
	f.mu.Unlock()
}

// Clear removes every fault: the disk has room again.
func (f *FaultFS) Clear() { f.Set() }

// Hits returns how many operations failed by a fault.
func (f *FaultFS) Hits() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits
}

func (f *FaultFS) inner() FS {
	if f.Inner == nil {
		return OSFS{}
	}
	return f.Inner
}

// fault returns the fault matching op on file, if any.
func (f *FaultFS) fault(op FSOp, file *os.File) (Fault, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, ft := range f.faults {
		if ft.Op == op && strings.HasSuffix(file.Name(), ft.PathSuffix) {
			f.hits++
			return ft, true
		}
	}
	return Fault{}, false
}

// WriteAt implements FS.
func (f *FaultFS) WriteAt(file *os.File, bufs [][]byte, off int64) (int64, error) {
	ft, ok := f.fault(OpWrite, file)
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
	return written, &os.PathError{Op: "write", Path: file.Name(), Err: ft.Err}
}

// Truncate implements FS.
func (f *FaultFS) Truncate(file *os.File, size int64) error {
	if ft, ok := f.fault(OpTruncate, file); ok {
		return &os.PathError{Op: "truncate", Path: file.Name(), Err: ft.Err}
	}
	return f.inner().Truncate(file, size)
}

// Sync implements FS.
func (f *FaultFS) Sync(file *os.File) error {
	if ft, ok := f.fault(OpSync, file); ok {
		return &os.PathError{Op: "sync", Path: file.Name(), Err: ft.Err}
	}
	return f.inner().Sync(file)
}

// Allocate implements FS.
func (f *FaultFS) Allocate(file *os.File, off, n int64) error {
	if ft, ok := f.fault(OpAllocate, file); ok {
		return &os.PathError{Op: "fallocate", Path: file.Name(), Err: ft.Err}
	}
	return f.inner().Allocate(file, off, n)
}
