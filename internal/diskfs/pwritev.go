package diskfs

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// MaxIovecs is Linux's IOV_MAX, the most buffers one pwritev(2) takes.
const MaxIovecs = 1024

// pwritev writes bufs back to back at off with as few pwritev(2) calls as
// they need; it returns the bytes written, fewer than the total only with an
// error. It reslices the elements of bufs as it goes. One pwritev costs less
// per byte than a pwrite each: one entry into the kernel, one inode lock and
// timestamp update.
func pwritev(f *os.File, bufs [][]byte, off int64) (int64, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, fmt.Errorf("pwritev %s: %w", f.Name(), err)
	}
	var (
		written int64
		werr    error
	)
	// A regular file is not pollable, so Write calls the function once; it
	// holds a reference to the descriptor, which a concurrent Close cannot
	// free meanwhile.
	cerr := rc.Write(func(fd uintptr) bool {
		for len(bufs) > 0 {
			n, err := unix.Pwritev(int(fd), bufs[:min(len(bufs), MaxIovecs)], off+written)
			if n > 0 {
				written += int64(n)
				for rest := n; rest > 0; {
					if rest < len(bufs[0]) {
						bufs[0] = bufs[0][rest:]
						break
					}
					rest -= len(bufs[0])
					bufs = bufs[1:]
				}
			}
			switch {
			case err == unix.EINTR:
			case err != nil:
				werr = &os.PathError{Op: "pwritev", Path: f.Name(), Err: err}
				return true
			case n == 0 && len(bufs) > 0:
				werr = &os.PathError{Op: "pwritev", Path: f.Name(), Err: io.ErrShortWrite}
				return true
			}
		}
		return true
	})
	if werr == nil && cerr != nil {
		werr = fmt.Errorf("pwritev %s: %w", f.Name(), cerr)
	}
	return written, werr
}
