package commitlog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/internal/diskfs/faultfs"
	"github.com/runnel-dev/runnel/internal/testfs"
	"github.com/runnel-dev/runnel/internal/testwait"
)

// appendN appends n batches of 2 records and fails the test on an error.
func appendN(t testing.TB, l *Log, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		if _, err := l.Append(simpleBatch(t, 2, 100, int64(i)), 1); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
}

// checkDense reads the whole log back and checks it holds exactly offsets
// [0, end) in whole, valid batches.
func checkDense(t testing.TB, l *Log, end int64) {
	t.Helper()
	if got := l.LogEndOffset(); got != end {
		t.Fatalf("log end %d, want %d", got, end)
	}
	recs, skipped := readEverything(t, l)
	if len(skipped) != 0 || int64(len(recs)) != end {
		t.Fatalf("read %d records (skipped %+v), want %d", len(recs), skipped, end)
	}
	for i, r := range recs {
		if r.Offset != int64(i) {
			t.Fatalf("record %d has offset %d", i, r.Offset)
		}
	}
}

// TestFullDiskWriteResumesWhenSpaceIsBack fills the disk in the middle of a
// write (half of it lands, then ENOSPC): the append fails with ErrLogFailed,
// later appends are refused at once, the half-written bytes are never
// served, and once the disk has room again the log cuts them, checks its
// tail and takes writes again, without a restart. Nothing acknowledged is
// lost, nothing half-written is served, now or after a reopen.
func TestFullDiskWriteResumesWhenSpaceIsBack(t *testing.T) {
	dir := t.TempDir()
	ffs := &faultfs.FS{}
	opts := quiet(Options{FS: ffs, IndexIntervalBytes: 256})
	l := openTestLog(t, dir, opts)
	appendN(t, l, 10)
	seg := l.Segments()[0]
	ffs.Set(faultfs.Fault{Op: faultfs.OpWrite, Name: "*" + logSuffix, Err: syscall.ENOSPC, Partial: true})
	_, err := l.Append(simpleBatch(t, 2, 100, 0), 1)
	if !errors.Is(err, ErrLogFailed) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("append on a full disk: %v", err)
	}
	if err := l.StorageError(); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("StorageError: %v", err)
	}
	start := time.Now()
	for i := 0; i < 5; i++ {
		if _, err := l.Append(simpleBatch(t, 2, 100, 0), 1); !errors.Is(err, ErrLogFailed) {
			t.Fatalf("append while failed: %v", err)
		}
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("refused appends took %v: they must be answered at once", d)
	}
	checkDense(t, l, 20)
	if st, _ := os.Stat(seg.Path); st.Size() != seg.Size {
		t.Fatalf("segment is %d bytes after a failed write, want %d", st.Size(), seg.Size)
	}

	ffs.Clear()
	testwait.For(t, 10*time.Second, 20*time.Millisecond, func() error {
		_, err := l.Append(simpleBatch(t, 2, 100, 0), 1)
		return err
	})
	if err := l.StorageError(); err != nil {
		t.Fatalf("StorageError after recovery: %v", err)
	}
	appendN(t, l, 3)
	checkDense(t, l, 28)
	if n := l.WriteFailures(); n < 1 {
		t.Fatalf("write failures %d", n)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	l = openTestLog(t, dir, quiet(Options{})) // re-read whole, as after a crash
	checkDense(t, l, 28)
}

// TestFullDiskIsRetriedInTheBackground frees the disk without any append
// following: the log's own retry clears the storage error, so readiness and
// metrics see it recover.
func TestFullDiskIsRetriedInTheBackground(t *testing.T) {
	ffs := &faultfs.FS{}
	l := openTestLog(t, t.TempDir(), quiet(Options{FS: ffs}))
	appendN(t, l, 2)
	// A full disk fails writes and reservations alike.
	ffs.Set(faultfs.Fault{Op: faultfs.OpWrite, Err: syscall.ENOSPC}, faultfs.Fault{Op: faultfs.OpAllocate, Err: syscall.ENOSPC})
	if _, err := l.Append(simpleBatch(t, 2, 100, 0), 1); !errors.Is(err, ErrLogFailed) {
		t.Fatalf("append on a full disk: %v", err)
	}
	// Still full: retries keep failing, the error stays.
	testwait.For(t, 10*time.Second, 20*time.Millisecond, func() error {
		if ffs.Hits() < 2 {
			return fmt.Errorf("%d failed operations: no retry yet", ffs.Hits())
		}
		return nil
	})
	if l.StorageError() == nil {
		t.Fatal("storage error cleared while the disk is still full")
	}
	ffs.Clear()
	testwait.For(t, 10*time.Second, 20*time.Millisecond, func() error { return l.StorageError() })
	appendN(t, l, 1)
	checkDense(t, l, 6)
}

// TestFullDiskIndexReservation fails the reservation of index blocks: the
// append is refused before any byte of it is written, so that no store into
// a memory-mapped index can ever find the disk full (which would kill the
// process with SIGBUS).
func TestFullDiskIndexReservation(t *testing.T) {
	ffs := &faultfs.FS{}
	opts := quiet(Options{FS: ffs, IndexIntervalBytes: 1})
	l := openTestLog(t, t.TempDir(), opts)
	// Past the first reserved chunk of the time index.
	for i := 0; i < indexReserveChunk/timeIndexEntrySize+10; i++ {
		if i == indexReserveChunk/timeIndexEntrySize-5 {
			ffs.Set(faultfs.Fault{Op: faultfs.OpAllocate, Name: "*" + timeIndexSuffix, Err: syscall.ENOSPC})
		}
		if _, err := l.Append(simpleBatch(t, 1, 1, int64(i)), 1); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("append %d: %v", i, err)
			}
			seg := l.Segments()[0]
			if st, _ := os.Stat(seg.Path); st.Size() != seg.Size || seg.NextOffset != int64(i) {
				t.Fatalf("a refused append left %d bytes (want %d), log end %d (want %d)", st.Size(), seg.Size, seg.NextOffset, i)
			}
			ffs.Clear()
			return
		}
	}
	t.Fatal("no append failed although index blocks could not be reserved")
}

// TestFailedFsyncIsWrittenAgain fails an fsync (flush.messages=1): the log
// refuses writes, and its retry writes the bytes since the last good fsync
// again before it fsyncs, since after a failed fsync the kernel may have
// dropped them from the page cache's dirty set. The recovery point never
// passes data whose fsync failed.
func TestFailedFsyncIsWrittenAgain(t *testing.T) {
	ffs := &faultfs.FS{}
	dir := t.TempDir()
	l := openTestLog(t, dir, quiet(Options{FS: ffs, FlushMessages: 1}))
	appendN(t, l, 3)
	if rp := l.Offsets().RecoveryPoint; rp != 6 {
		t.Fatalf("recovery point %d, want 6", rp)
	}
	ffs.Set(faultfs.Fault{Op: faultfs.OpSync, Name: "*" + logSuffix, Err: syscall.EIO})
	if _, err := l.Append(simpleBatch(t, 2, 100, 0), 1); !errors.Is(err, syscall.EIO) {
		t.Fatalf("append with a failing fsync: %v", err)
	}
	if rp := l.Offsets().RecoveryPoint; rp != 6 {
		t.Fatalf("recovery point moved to %d past a failed fsync", rp)
	}
	// The retry writes the unsynced bytes again: a failing write fails it.
	ffs.Set(faultfs.Fault{Op: faultfs.OpWrite, Name: "*" + logSuffix, Err: syscall.EIO})
	testwait.For(t, 10*time.Second, 20*time.Millisecond, func() error {
		if err := l.Flush(); !errors.Is(err, syscall.EIO) || ffs.Hits() < 2 {
			return fmt.Errorf("flush: %v after %d failed operations, want the rewrite to fail", err, ffs.Hits())
		}
		return nil
	})
	ffs.Clear()
	testwait.For(t, 10*time.Second, 20*time.Millisecond, l.Flush)
	l.mu.RLock()
	s := l.activeLocked()
	synced, failed := s.synced, s.syncFailed
	l.mu.RUnlock()
	if failed || synced != s.size {
		t.Fatalf("after the retry: synced %d of %d bytes, failed %v", synced, s.size, failed)
	}
	appendN(t, l, 1)
	if rp := l.Offsets().RecoveryPoint; rp != 10 {
		t.Fatalf("recovery point %d, want 10", rp)
	}
	checkDense(t, l, 10)
}

// TestDiskFullOnTmpfs fills a real file system: a 4 MiB tmpfs mounted by the
// test (as root). The log refuses writes with ENOSPC and never dies of
// SIGBUS on its memory-mapped indexes; once a file is removed it writes
// again, and after a reopen it holds exactly what was acknowledged.
func TestDiskFullOnTmpfs(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "disk")
	testfs.MountTmpfs(t, dir, "4m")
	filler := filepath.Join(dir, "filler")
	if err := os.WriteFile(filler, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	logDir := filepath.Join(dir, "log")
	opts := quiet(Options{SegmentBytes: 512 << 10, IndexIntervalBytes: 4096})
	l := openTestLog(t, logDir, opts)
	acked := int64(0)
	var err error
	for i := 0; i < 1000; i++ {
		var info AppendInfo
		if info, err = l.Append(simpleBatch(t, 8, 4000, int64(i)), 1); err != nil {
			break
		}
		acked = info.LastOffset + 1
	}
	if !errors.Is(err, ErrLogFailed) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("filling the disk: %v after %d records", err, acked)
	}
	checkDense(t, l, acked)
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 10*time.Second, 20*time.Millisecond, func() error {
		_, err := l.Append(simpleBatch(t, 8, 4000, 0), 1)
		return err
	})
	acked += 8
	checkDense(t, l, acked)
	if err := l.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	l = openTestLog(t, logDir, opts)
	checkDense(t, l, acked)
}

// TestFullDiskNeverKillsWithSIGBUS fills a real file system just as an
// index entry is due on a page of the memory-mapped index that has no block
// yet (a sparse hole): a store there kills the process with SIGBUS unless
// the block was reserved beforehand. The log's append must come back, with
// an error or without.
func TestFullDiskNeverKillsWithSIGBUS(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "disk")
	testfs.MountTmpfs(t, dir, "2m")
	opts := quiet(Options{IndexIntervalBytes: 1}) // an index entry per batch
	l := openTestLog(t, filepath.Join(dir, "log"), opts)
	// 512 entries fill the first 4 KiB page of the offset index.
	for i := 0; i < 4096/offsetIndexEntrySize; i++ {
		if _, err := l.Append(simpleBatch(t, 1, 1, int64(i)), 1); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	for err == nil {
		_, err = f.Write(make([]byte, 4096))
	}
	f.Close()
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("filling the disk: %v", err)
	}
	// The batch fits in the log's last page; its index entry starts a page.
	if _, err := l.Append(simpleBatch(t, 1, 1, 0), 1); err != nil && !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("append on a full disk: %v", err)
	}
	os.Remove(filepath.Join(dir, "filler"))
	testwait.For(t, 10*time.Second, 20*time.Millisecond, func() error {
		_, err := l.Append(simpleBatch(t, 1, 1, 0), 1)
		return err
	})
}
