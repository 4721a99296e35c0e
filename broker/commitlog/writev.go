package commitlog

import (
	"os"

	"github.com/runnel-dev/runnel/internal/diskfs"
)

// writeSets writes the sets' bytes back to back at off through fs, using
// *iov (kept by the caller between calls) for the buffer list. One set is
// one pwrite; several are one pwritev, which costs less per byte than a
// pwrite each (one entry into the kernel, one inode lock and timestamp
// update). It returns the bytes written, which are fewer than the total only
// with an error.
func writeSets(fs diskfs.FS, f *os.File, sets []recordSet, off int64, iov *[][]byte) (int64, error) {
	bufs := (*iov)[:0]
	for i := range sets {
		bufs = append(bufs, sets[i].buf)
	}
	n, err := fs.WriteAt(f, bufs, off)
	clear(bufs) // keep no producer's bytes alive
	*iov = bufs[:0]
	return n, err
}
