package commitlog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/internal/diskfs"
	"github.com/runnel-dev/runnel/internal/diskfs/faultfs"
	"github.com/runnel-dev/runnel/internal/testwait"
)

// TestLogDiskFaultAtChosenPoint fails the log's disk at a chosen point in
// each way a write can fail: a segment write that fills the disk halfway,
// a failing fsync, the next segment that cannot be created when the log
// rolls, index blocks that cannot be reserved, the leader-epoch-checkpoint
// that cannot be renamed into place, the directory fsync after a roll. The
// append that meets the fault fails with ErrLogFailed and the cause; every
// later append is refused while the disk keeps failing, its retries
// included; once the disk works again the log's own retry lets writes in;
// and the log, read now and after a reopen that re-reads it whole, holds
// every acknowledged record, densely, and nothing half-written.
func TestLogDiskFaultAtChosenPoint(t *testing.T) {
	for _, tc := range []struct {
		name  string
		opts  Options
		fault faultfs.Fault
		// written: the failing append's batches were written before the
		// failure (an fsync or a checkpoint after them failed), so the log
		// may hold more than was acknowledged.
		written bool
		// epochs: each append starts a new leader epoch, which rewrites the
		// leader-epoch-checkpoint.
		epochs bool
	}{
		{name: "segment write, disk full", fault: faultfs.Fault{Op: faultfs.OpWrite, Name: "*.log", After: 20, Err: syscall.ENOSPC, Partial: true}},
		{name: "segment fsync", opts: Options{FlushMessages: 1}, fault: faultfs.Fault{Op: faultfs.OpSync, Name: "*.log", After: 3, Err: syscall.EIO}, written: true},
		{name: "next segment not created", fault: faultfs.Fault{Op: faultfs.OpOpen, Name: "*.log", Err: syscall.ENOSPC}},
		{name: "index blocks not reserved", opts: Options{IndexIntervalBytes: 1}, fault: faultfs.Fault{Op: faultfs.OpAllocate, Name: "*.index", After: 2, Err: syscall.ENOSPC}},
		{name: "leader epoch checkpoint rename", fault: faultfs.Fault{Op: faultfs.OpRename, Name: leaderEpochFile, After: 2, Err: syscall.EIO}, written: true, epochs: true},
		{name: "directory fsync after a roll", fault: faultfs.Fault{Op: faultfs.OpSyncDir, Err: syscall.EIO}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ffs := &faultfs.FS{}
			opts := tc.opts
			opts.FS, opts.SegmentBytes = ffs, 1024
			l := openTestLog(t, dir, quiet(opts))
			epoch := int32(1)
			acked := int64(0)
			appendOne := func() error {
				if tc.epochs {
					epoch++
				}
				info, err := l.Append(simpleBatch(t, 2, 100, 0), epoch)
				if err == nil {
					acked = info.LastOffset + 1
				}
				return err
			}
			for i := 0; i < 5; i++ {
				if err := appendOne(); err != nil {
					t.Fatal(err)
				}
			}

			ffs.Set(tc.fault)
			var err error
			deadline := time.Now().Add(10 * time.Second)
			for err == nil && time.Now().Before(deadline) {
				err = appendOne()
			}
			if !errors.Is(err, ErrLogFailed) || !errors.Is(err, tc.fault.Err) {
				t.Fatalf("append on a failing disk: %v, want ErrLogFailed and %v", err, tc.fault.Err)
			}
			failedAt := ffs.Hits()
			// Refused while the disk fails, across the log's retries.
			testwait.For(t, 10*time.Second, 20*time.Millisecond, func() error {
				if err := appendOne(); !errors.Is(err, ErrLogFailed) {
					t.Fatalf("append while the disk fails: %v, want ErrLogFailed", err)
				}
				if ffs.Hits() < failedAt+2 {
					return fmt.Errorf("%d failed operations: no retry failed yet", ffs.Hits())
				}
				return nil
			})
			if l.StorageError() == nil {
				t.Fatal("StorageError is nil while the disk fails")
			}
			checkHolds(t, l, acked, tc.written)

			ffs.Clear()
			testwait.For(t, 10*time.Second, 20*time.Millisecond, appendOne)
			for i := 0; i < 3; i++ {
				if err := appendOne(); err != nil {
					t.Fatal(err)
				}
			}
			checkHolds(t, l, acked, tc.written)
			if err := l.Close(); err != nil {
				t.Fatalf("close: %v", err)
			}
			l = openTestLog(t, dir, quiet(Options{SegmentBytes: 1024})) // re-read whole, as after a crash
			checkHolds(t, l, acked, tc.written)
			if got := l.LatestEpoch(); got != epoch {
				t.Fatalf("latest epoch %d after the reopen, want %d", got, epoch)
			}
		})
	}
}

// checkHolds checks that l serves dense, whole records from 0 to its end,
// which is acked (or, when written, at least acked: a failed append may
// have left its batches).
func checkHolds(t testing.TB, l *Log, acked int64, written bool) {
	t.Helper()
	end := l.LogEndOffset()
	if end < acked || (!written && end != acked) {
		t.Fatalf("log end %d, %d records acknowledged", end, acked)
	}
	checkDense(t, l, end)
}

// TestStoreCheckpointDiskFault fails the store's checkpoint writes: the
// offset checkpoints cannot be renamed into place, then a data directory
// that fills up. Checkpoint reports it and leaves the files of the last
// good checkpoint whole, no temporary file behind; Close fails and writes
// no clean-shutdown marker, so the next open re-reads the logs as after a
// crash; nothing acknowledged is lost, and checkpoints work again on a
// working disk.
func TestStoreCheckpointDiskFault(t *testing.T) {
	for _, fault := range []faultfs.Fault{
		{Op: faultfs.OpRename, Name: recoveryPointFile, Err: syscall.EIO},
		{Op: faultfs.OpWrite, Name: "*-checkpoint.tmp", Err: syscall.ENOSPC, Partial: true},
	} {
		t.Run(fault.Op.String(), func(t *testing.T) {
			dir := t.TempDir()
			ffs := &faultfs.FS{}
			tp := TopicPartition{"orders", 0}
			st, err := OpenStoreWith(dir, StoreOptions{FS: ffs, Logger: quiet(Options{}).Logger})
			if err != nil {
				t.Fatal(err)
			}
			l, err := st.Open(tp, Options{})
			if err != nil {
				t.Fatal(err)
			}
			appendN(t, l, 5)
			if err := l.Flush(); err != nil {
				t.Fatal(err)
			}
			if err := st.Checkpoint(); err != nil {
				t.Fatal(err)
			}
			before := map[string][]byte{}
			for _, name := range []string{recoveryPointFile, replicationFile, logStartFile} {
				b, err := os.ReadFile(filepath.Join(dir, name))
				if err != nil {
					t.Fatal(err)
				}
				before[name] = b
			}

			ffs.Set(fault)
			appendN(t, l, 5)
			if err := l.Flush(); err != nil {
				t.Fatal(err)
			}
			if err := st.Checkpoint(); !errors.Is(err, fault.Err) {
				t.Fatalf("checkpoint on a failing disk: %v, want %v", err, fault.Err)
			}
			checkCheckpointsWhole(t, dir, before)
			if err := st.Close(); !errors.Is(err, fault.Err) {
				t.Fatalf("close on a failing disk: %v, want %v", err, fault.Err)
			}
			checkCheckpointsWhole(t, dir, before)
			if _, err := os.Stat(filepath.Join(dir, cleanShutdownFile)); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("clean-shutdown marker written although the checkpoints failed: %v", err)
			}

			ffs.Clear()
			st, err = OpenStoreWith(dir, StoreOptions{FS: ffs, Logger: quiet(Options{}).Logger})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if l, err = st.Open(tp, Options{}); err != nil {
				t.Fatal(err)
			}
			checkDense(t, l, 20)
			if err := st.Checkpoint(); err != nil {
				t.Fatalf("checkpoint on a working disk: %v", err)
			}
			points, err := readOffsetCheckpoint(filepath.Join(dir, recoveryPointFile))
			if err != nil || points[tp] != 20 {
				t.Fatalf("recovery point checkpoint %v, %v; want %s at 20", points, err, tp)
			}
		})
	}
}

// checkCheckpointsWhole checks that the offset checkpoints hold what they
// held before, and that no temporary file is left.
func checkCheckpointsWhole(t testing.TB, dir string, before map[string][]byte) {
	t.Helper()
	for name, want := range before {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(got) != string(want) {
			t.Fatalf("%s holds %q (%v), want %q", name, got, err, want)
		}
		if _, err := os.Stat(filepath.Join(dir, name) + diskfs.TempSuffix); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("temporary file of %s left: %v", name, err)
		}
	}
}
