package raftnode_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/internal/diskfs/faultfs"
	"github.com/runnel-dev/runnel/internal/testwait"
	"github.com/runnel-dev/runnel/raftmeta/raftnode"
	"github.com/runnel-dev/runnel/raftmeta/raftnode/raftnodetest"
)

// TestDiskFaultStopsNodeAndRestartKeepsAcknowledged fails the node's disk
// at a chosen point: a WAL write that fills the disk halfway through, a
// failing fdatasync, a snapshot file that cannot be written or renamed into
// place. The node stops on its own (Err names the failure), refuses every
// later proposal, and once restarted on a working disk it holds every entry
// it acknowledged before the failure.
func TestDiskFaultStopsNodeAndRestartKeepsAcknowledged(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault faultfs.Fault
	}{
		{"wal write, disk full", faultfs.Fault{Op: faultfs.OpWrite, Name: "*.wal", After: 5, Err: syscall.ENOSPC, Partial: true}},
		{"wal fdatasync", faultfs.Fault{Op: faultfs.OpSync, Name: "*.wal", After: 5, Err: syscall.EIO}},
		{"snapshot write", faultfs.Fault{Op: faultfs.OpWrite, Name: "*.snap.tmp", Err: syscall.ENOSPC}},
		{"snapshot rename", faultfs.Fault{Op: faultfs.OpRename, Name: "*.snap", Err: syscall.EIO}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ffs := &faultfs.FS{}
			c := raftnodetest.NewCluster(t, raftnodetest.Options{Voters: 1, Configure: func(cfg *raftnode.Config) {
				cfg.FS = ffs
				cfg.SnapshotEntries, cfg.SnapshotCatchUpEntries = 8, 2
			}})
			c.WaitLeader(waitTimeout)
			n := c.Node(1)
			acked := map[string]uint64{}
			propose := func(i int) error {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				key := fmt.Sprintf("k%d", i)
				idx, err := n.Propose(ctx, fmt.Appendf(nil, "%s=%d", key, i))
				if err == nil {
					acked[key] = idx
				}
				return err
			}
			for i := 0; i < 3; i++ {
				if err := propose(i); err != nil {
					t.Fatal(err)
				}
			}
			ffs.Set(tc.fault)
			var err error
			for i := 3; i < 200 && err == nil; i++ {
				err = propose(i)
			}
			if err == nil {
				t.Fatal("the node took 200 proposals on a failing disk")
			}
			select {
			case <-n.Done():
			case <-time.After(waitTimeout):
				t.Fatal("the node did not stop after its disk failed")
			}
			if !errors.Is(n.Err(), tc.fault.Err) {
				t.Fatalf("Err() = %v, want %v", n.Err(), tc.fault.Err)
			}
			if err := propose(1000); !errors.Is(err, raftnode.ErrStopped) {
				t.Fatalf("proposal after the failure: %v, want ErrStopped", err)
			}
			if len(acked) < 3 {
				t.Fatalf("only %d proposals acknowledged", len(acked))
			}

			c.Stop(1)
			ffs.Clear()
			n = c.Start(1)
			c.WaitLeader(waitTimeout)
			kv := c.KV(1)
			testwait.For(t, waitTimeout, 10*time.Millisecond, func() error {
				for key, idx := range acked {
					if _, ok := kv.Get(key); !ok {
						return fmt.Errorf("acknowledged %s (index %d) is missing after the restart; applied %d", key, idx, n.AppliedIndex())
					}
				}
				return nil
			})
			if err := propose(2000); err != nil {
				t.Fatalf("proposal after the restart: %v", err)
			}
			// Half a record reached the WAL: the restart cut it as a torn
			// write and kept its bytes.
			kept, _ := filepath.Glob(filepath.Join(c.Member(1).Dir, "wal", "*.broken"))
			if tc.fault.Partial != (len(kept) == 1) {
				t.Fatalf("kept torn tails %v after a fault with Partial %v", kept, tc.fault.Partial)
			}
		})
	}
}
