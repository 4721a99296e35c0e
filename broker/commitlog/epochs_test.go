package commitlog

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/runnel-dev/runnel/internal/diskfs"
)

// TestDamagedEpochCheckpointIsRebuilt replaces the leader-epoch-checkpoint
// with the 8 bytes that wedged a partition in the outside tests, and
// separately deletes it: the log opens, the damaged file is kept aside, and
// the epochs are rebuilt from the batches' partition leader epochs, so
// OffsetForLeaderEpoch answers as before.
func TestDamagedEpochCheckpointIsRebuilt(t *testing.T) {
	for _, damage := range []string{"garbage", "deleted", "emptied"} {
		t.Run(damage, func(t *testing.T) {
			dir := t.TempDir()
			opts := quiet(Options{SegmentBytes: 2048})
			l := openTestLog(t, dir, opts)
			for i, epoch := range []int32{1, 1, 3, 3, 3, 4, 4, 7, 7, 7, 7, 7} {
				if _, err := l.Append(simpleBatch(t, 5, 100, int64(i)), epoch); err != nil {
					t.Fatal(err)
				}
			}
			wantEntries := append([]EpochEntry(nil), l.epochs.entries...)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, leaderEpochFile)
			switch damage {
			case "garbage":
				os.WriteFile(path, []byte("\x00\x01zz\n9\xff"), 0o644)
			case "deleted":
				os.Remove(path)
			case "emptied":
				os.WriteFile(path, nil, 0o644)
			}
			opts.CleanShutdown, opts.RecoveryPoint = true, 60
			l = openTestLog(t, dir, opts)
			if got := l.epochs.entries; len(got) != len(wantEntries) || len(got) != 4 {
				t.Fatalf("epochs %+v, want %+v", got, wantEntries)
			} else {
				for i := range got {
					if got[i] != wantEntries[i] {
						t.Fatalf("epochs %+v, want %+v", got, wantEntries)
					}
				}
			}
			if e, off := l.EndOffsetForEpoch(3); e != 3 || off != 25 {
				t.Fatalf("end offset for epoch 3: %d %d, want 3 25", e, off)
			}
			if damage != "deleted" {
				if _, err := os.Stat(path + corruptSuffix); err != nil {
					t.Fatalf("damaged checkpoint not kept aside: %v", err)
				}
			}
			// The rebuilt cache is on disk: a reopen reads it.
			l.Close()
			c, err := loadEpochCache(diskfs.OS{}, dir)
			if err != nil || len(c.entries) != 4 {
				t.Fatalf("rebuilt checkpoint: %+v %v", c, err)
			}
		})
	}
}
