package commitlog

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// FS is the seam through which a log changes the files it holds open:
// writes, truncations, fsyncs and block reservations of segment logs and
// indexes. Reads, opening and removal go to the operating system directly.
// OSFS is the real one; FaultFS fails chosen operations for tests (disk
// full, I/O errors). Implementations must be safe for concurrent use.
type FS interface {
	// WriteAt writes bufs back to back at off (pwrite, or pwritev for
	// several) and returns the bytes written, fewer only with an error. It
	// may reslice the elements of bufs, never their bytes.
	WriteAt(f *os.File, bufs [][]byte, off int64) (int64, error)
	// Truncate sets the size of f.
	Truncate(f *os.File, size int64) error
	// Sync flushes f to stable storage (fsync).
	Sync(f *os.File) error
	// Allocate reserves disk blocks for bytes [off, off+n) of f without
	// changing its size (fallocate with FALLOC_FL_KEEP_SIZE), so that a
	// later write there, through a memory mapping too, cannot find the
	// disk full. A file system that cannot reserve returns ErrNoAllocate.
	Allocate(f *os.File, off, n int64) error
}

// ErrNoAllocate means the file system cannot reserve blocks ahead of writes
// (fallocate is not supported); the log then writes without reserving.
var ErrNoAllocate = errors.New("file system cannot reserve blocks")

// OSFS is the FS of the operating system.
type OSFS struct{}

// WriteAt implements FS with pwrite or pwritev.
func (OSFS) WriteAt(f *os.File, bufs [][]byte, off int64) (int64, error) {
	if len(bufs) == 1 {
		n, err := f.WriteAt(bufs[0], off)
		return int64(n), err
	}
	return pwritev(f, bufs, off)
}

// Truncate implements FS.
func (OSFS) Truncate(f *os.File, size int64) error { return f.Truncate(size) }

// Sync implements FS.
func (OSFS) Sync(f *os.File) error { return f.Sync() }

// Allocate implements FS with fallocate(2).
func (OSFS) Allocate(f *os.File, off, n int64) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return fmt.Errorf("fallocate %s: %w", f.Name(), err)
	}
	var ferr error
	cerr := rc.Control(func(fd uintptr) {
		for {
			ferr = unix.Fallocate(int(fd), unix.FALLOC_FL_KEEP_SIZE, off, n)
			if ferr != unix.EINTR {
				return
			}
		}
	})
	switch {
	case cerr != nil:
		return fmt.Errorf("fallocate %s: %w", f.Name(), cerr)
	case ferr == unix.EOPNOTSUPP || ferr == unix.ENOSYS:
		return ErrNoAllocate
	case ferr != nil:
		return &os.PathError{Op: "fallocate", Path: f.Name(), Err: ferr}
	}
	return nil
}
