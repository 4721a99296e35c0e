package commitlog

import (
	"errors"
	"testing"
	"time"
)

func TestFlushMessages(t *testing.T) {
	l := openTestLog(t, t.TempDir(), Options{FlushMessages: 10})
	for i := 0; i < 4; i++ {
		l.Append(simpleBatch(t, 2, 10, 0), 0)
	}
	if rp := l.Offsets().RecoveryPoint; rp != 0 {
		t.Fatalf("recovery point %d before 10 records", rp)
	}
	l.Append(simpleBatch(t, 2, 10, 0), 0)
	if rp := l.Offsets().RecoveryPoint; rp != 10 {
		t.Fatalf("recovery point %d after 10 records, want 10", rp)
	}
}

func TestFlushInterval(t *testing.T) {
	l := openTestLog(t, t.TempDir(), Options{FlushInterval: 50 * time.Millisecond})
	l.Append(simpleBatch(t, 3, 10, 0), 0)
	deadline := time.Now().Add(5 * time.Second)
	for l.Offsets().RecoveryPoint != 3 {
		if time.Now().After(deadline) {
			t.Fatalf("recovery point %d: flush.ms never flushed", l.Offsets().RecoveryPoint)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRollMovesRecoveryPoint checks that rolled segments are fsynced in the
// background and the recovery point moves past them.
func TestRollMovesRecoveryPoint(t *testing.T) {
	l := openTestLog(t, t.TempDir(), Options{SegmentBytes: 1000})
	for i := 0; i < 20; i++ {
		l.Append(simpleBatch(t, 1, 200, 0), 0)
	}
	segs := l.Segments()
	last := segs[len(segs)-1].BaseOffset
	deadline := time.Now().Add(5 * time.Second)
	for l.Offsets().RecoveryPoint != last {
		if time.Now().After(deadline) {
			t.Fatalf("recovery point %d, want %d", l.Offsets().RecoveryPoint, last)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestWriteFailureIsSticky makes a real write fail (the segment file is closed
// under the log) and checks that the log refuses further writes, keeps serving
// reads of what it had, and recovers on reopen.
func TestWriteFailureIsSticky(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	l.Append(simpleBatch(t, 2, 10, 0), 0)
	l.mu.Lock()
	l.activeLocked().log.Close()
	l.mu.Unlock()
	if _, err := l.Append(simpleBatch(t, 2, 10, 0), 0); !errors.Is(err, ErrLogFailed) {
		t.Fatalf("append on a failing file: %v", err)
	}
	if _, err := l.Append(simpleBatch(t, 2, 10, 0), 0); !errors.Is(err, ErrLogFailed) {
		t.Fatalf("append after a failed write: %v", err)
	}
	if err := l.Flush(); !errors.Is(err, ErrLogFailed) {
		t.Fatalf("flush after a failed write: %v", err)
	}
	if l.LogEndOffset() != 2 {
		t.Fatalf("log end %d after failed writes", l.LogEndOffset())
	}
	l.Close()
	l = openTestLog(t, dir, Options{})
	if l.LogEndOffset() != 2 {
		t.Fatalf("log end after reopen %d, want 2", l.LogEndOffset())
	}
	if _, err := l.Append(simpleBatch(t, 2, 10, 0), 0); err != nil {
		t.Fatalf("append after reopen: %v", err)
	}
}

func TestOptionsValidate(t *testing.T) {
	bad := []Options{
		{SegmentBytes: 3 << 30},
		{RetentionTime: -5},
		{RetentionBytes: -7},
		{FlushMessages: -1},
		{MaxIndexBytes: 10},
		{RecoveryPoint: -1},
	}
	for _, o := range bad {
		if err := o.Validate(); err == nil {
			t.Errorf("options %+v accepted", o)
		}
		if _, err := Open(t.TempDir(), o); err == nil {
			t.Errorf("Open with %+v succeeded", o)
		}
	}
	if err := (Options{RetentionTime: Unlimited, RetentionBytes: Unlimited}).Validate(); err != nil {
		t.Fatalf("unlimited retention refused: %v", err)
	}
}

func TestSetOptions(t *testing.T) {
	l := openTestLog(t, t.TempDir(), Options{MaxMessageBytes: 100})
	if _, err := l.Append(simpleBatch(t, 1, 200, 0), 0); err == nil {
		t.Fatal("batch over max.message.bytes accepted")
	}
	if err := l.SetOptions(Options{MaxMessageBytes: 1000, SegmentBytes: 500}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if _, err := l.Append(simpleBatch(t, 1, 200, 0), 0); err != nil {
			t.Fatal(err)
		}
	}
	if len(l.Segments()) < 2 {
		t.Fatal("new segment.bytes not applied")
	}
	if err := l.SetOptions(Options{SegmentBytes: 1}); err == nil {
		t.Fatal("invalid options accepted")
	}
}
