package producerstate

import (
	"errors"
	"os"
	"slices"
	"syscall"
	"testing"

	"github.com/runnel-dev/runnel/internal/diskfs"
	"github.com/runnel-dev/runnel/internal/diskfs/faultfs"
)

// TestSnapshotDiskFault fails a snapshot at each step of its write: the
// data that fills the disk halfway, the fsync, the rename into place, the
// fsync of the directory. TakeSnapshot reports the failure; the snapshots
// on disk stay whole (the new one appears only once renamed into place) and
// no temporary file is left; the state in memory still answers every
// producer; a restart from the files rebuilds every producer's state,
// nothing lost; and snapshots on a working disk succeed again.
func TestSnapshotDiskFault(t *testing.T) {
	for _, tc := range []struct {
		fault   faultfs.Fault
		renamed bool // the new snapshot is in place despite the error
	}{
		{fault: faultfs.Fault{Op: faultfs.OpWrite, Name: "*.snapshot.tmp", Err: syscall.ENOSPC, Partial: true}},
		{fault: faultfs.Fault{Op: faultfs.OpSync, Name: "*.snapshot.tmp", Err: syscall.EIO}},
		{fault: faultfs.Fault{Op: faultfs.OpRename, Name: "*.snapshot", Err: syscall.EIO}},
		{fault: faultfs.Fault{Op: faultfs.OpSyncDir, Err: syscall.EIO}, renamed: true},
	} {
		t.Run(tc.fault.Op.String(), func(t *testing.T) {
			ffs := &faultfs.FS{}
			p := &partition{t: t, dir: t.TempDir(), ts: baseTime.UnixMilli(), fs: ffs}
			p.open()
			w := newWorkload(7)
			w.run(t, p, 40)
			old := p.snapshot()
			w.run(t, p, 40)
			end := p.log.LogEndOffset()

			ffs.Set(tc.fault)
			err := p.ps.TakeSnapshot(end)
			if !errors.Is(err, tc.fault.Err) {
				t.Fatalf("snapshot on a failing disk: %v, want %v", err, tc.fault.Err)
			}
			want := []int64{old}
			if tc.renamed {
				want = append(want, end)
			}
			if got := p.snapshots(); !slices.Equal(got, want) {
				t.Fatalf("snapshots %v after the failure, want %v", got, want)
			}
			if _, err := os.Stat(snapshotPath(p.dir, end) + diskfs.TempSuffix); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("temporary file left after the failure: %v", err)
			}
			w.verify(t, p)

			ffs.Clear()
			p.restart() // from the older snapshot and the log
			w.verify(t, p)
			w.run(t, p, 10)
			p.snapshot()
			w.run(t, p, 10)
			p.restart()
			w.verify(t, p)
		})
	}
}
