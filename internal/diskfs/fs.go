package diskfs

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// FS is the seam through which a store changes files and directories.
// Implementations must be safe for concurrent use. Errors are those of the
// os package (*os.PathError, *os.LinkError), so errors.Is(err,
// syscall.ENOSPC) and os.ErrNotExist work on them.
type FS interface {
	// OpenFile opens or creates name as os.OpenFile does.
	OpenFile(name string, flag int, perm os.FileMode) (*os.File, error)
	// WriteAt writes bufs back to back at off (pwrite, or pwritev for
	// several) and returns the bytes written, fewer only with an error. It
	// may reslice the elements of bufs, never their bytes. f must not be
	// opened with O_APPEND.
	WriteAt(f *os.File, bufs [][]byte, off int64) (int64, error)
	// Truncate sets the size of f.
	Truncate(f *os.File, size int64) error
	// Sync flushes f's data and metadata to stable storage (fsync).
	Sync(f *os.File) error
	// Datasync flushes f's data, and the metadata needed to read it back,
	// to stable storage (fdatasync).
	Datasync(f *os.File) error
	// Allocate reserves disk blocks for bytes [off, off+n) of f without
	// changing its size (fallocate with FALLOC_FL_KEEP_SIZE), so that a
	// later write there, through a memory mapping too, cannot find the
	// disk full. A file system that cannot reserve returns ErrNoAllocate.
	Allocate(f *os.File, off, n int64) error
	// Rename renames oldpath to newpath, replacing newpath.
	Rename(oldpath, newpath string) error
	// Remove removes the file or empty directory name.
	Remove(name string) error
	// RemoveAll removes path and everything below it; a missing path is
	// not an error.
	RemoveAll(path string) error
	// MkdirAll creates dir and its missing parents.
	MkdirAll(dir string, perm os.FileMode) error
	// ReadDir lists dir, sorted by name.
	ReadDir(dir string) ([]os.DirEntry, error)
	// SyncDir fsyncs dir, so that creations, renames and removals of its
	// entries survive a crash.
	SyncDir(dir string) error
}

// ErrNoAllocate means the file system cannot reserve blocks ahead of writes
// (fallocate is not supported); the caller then writes without reserving.
var ErrNoAllocate = errors.New("file system cannot reserve blocks")

// OS is the FS of the operating system.
type OS struct{}

// OpenFile implements FS.
func (OS) OpenFile(name string, flag int, perm os.FileMode) (*os.File, error) {
	return os.OpenFile(name, flag, perm)
}

// WriteAt implements FS with pwrite, or pwritev for several buffers.
func (OS) WriteAt(f *os.File, bufs [][]byte, off int64) (int64, error) {
	if len(bufs) == 1 {
		n, err := f.WriteAt(bufs[0], off)
		return int64(n), err
	}
	return pwritev(f, bufs, off)
}

// Truncate implements FS.
func (OS) Truncate(f *os.File, size int64) error { return f.Truncate(size) }

// Sync implements FS.
func (OS) Sync(f *os.File) error { return f.Sync() }

// Datasync implements FS with fdatasync(2).
func (OS) Datasync(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return fmt.Errorf("fdatasync %s: %w", f.Name(), err)
	}
	var serr error
	if cerr := rc.Control(func(fd uintptr) {
		for {
			if serr = unix.Fdatasync(int(fd)); serr != unix.EINTR {
				return
			}
		}
	}); cerr != nil {
		return fmt.Errorf("fdatasync %s: %w", f.Name(), cerr)
	}
	if serr != nil {
		return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: serr}
	}
	return nil
}

// Allocate implements FS with fallocate(2).
func (OS) Allocate(f *os.File, off, n int64) error {
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

// Rename implements FS.
func (OS) Rename(oldpath, newpath string) error { return os.Rename(oldpath, newpath) }

// Remove implements FS.
func (OS) Remove(name string) error { return os.Remove(name) }

// RemoveAll implements FS.
func (OS) RemoveAll(path string) error { return os.RemoveAll(path) }

// MkdirAll implements FS.
func (OS) MkdirAll(dir string, perm os.FileMode) error { return os.MkdirAll(dir, perm) }

// ReadDir implements FS.
func (OS) ReadDir(dir string) ([]os.DirEntry, error) { return os.ReadDir(dir) }

// SyncDir implements FS.
func (OS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}
