package commitlog

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"
	"time"
)

// TestOpenClosedSegment checks that a closed segment opened for upload
// gives the .log bytes, the index entries and the epochs up to its end, and
// stays readable after retention deleted it.
func TestOpenClosedSegment(t *testing.T) {
	dir := t.TempDir()
	l := openTestLog(t, dir, Options{RetentionBytes: 1})
	now := time.Now().UnixMilli()
	for i := range 3 {
		if _, err := l.Append(simpleBatch(t, 2, 50, now+int64(i)), 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	if err := l.AssignLeaderEpoch(3); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(simpleBatch(t, 1, 50, now), 3); err != nil {
		t.Fatal(err)
	}
	if _, err := l.OpenClosedSegment(6); !errors.Is(err, ErrNoClosedSegment) {
		t.Fatalf("active segment: %v", err)
	}
	if _, err := l.OpenClosedSegment(1); !errors.Is(err, ErrNoClosedSegment) {
		t.Fatalf("no segment at 1: %v", err)
	}
	c, err := l.OpenClosedSegment(0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Release()
	want, err := os.ReadFile(l.Segments()[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	if c.BaseOffset != 0 || c.EndOffset != 5 || c.Size != int64(len(want)) || c.MaxTimestamp != now+2 {
		t.Fatalf("segment %+v, log file %d bytes", c, len(want))
	}
	if len(c.Epochs) != 1 || c.Epochs[0] != (EpochEntry{0, 0}) {
		t.Fatalf("epochs %+v, want only epoch 0 (epoch 3 starts after the segment)", c.Epochs)
	}
	if len(c.Index) == 0 || len(c.Index)%offsetIndexEntrySize != 0 || len(c.TimeIndex)%timeIndexEntrySize != 0 {
		t.Fatalf("index %d bytes, time index %d bytes", len(c.Index), len(c.TimeIndex))
	}
	// Retention deletes the segment; the held copy still reads whole.
	if n, err := l.DeleteExpired(); err != nil || n != 1 {
		t.Fatalf("retention deleted %d: %v", n, err)
	}
	got, err := io.ReadAll(io.NewSectionReader(c.Log, 0, c.Size))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read after deletion: %v (%d bytes, want %d)", err, len(got), len(want))
	}
	if !bytes.Contains(EncodeLeaderEpochCheckpoint(c.Epochs), []byte("\n0 0\n")) {
		t.Fatalf("checkpoint %q", EncodeLeaderEpochCheckpoint(c.Epochs))
	}
}

// TestTieredRetention checks that a Tiered log deletes only segments that
// end at or below the remote end offset, whatever its retention says.
func TestTieredRetention(t *testing.T) {
	l := openTestLog(t, t.TempDir(), Options{RetentionBytes: 1, Tiered: true})
	now := time.Now().UnixMilli()
	for range 4 {
		if _, err := l.Append(simpleBatch(t, 10, 50, now), 0); err != nil {
			t.Fatal(err)
		}
		if err := l.Roll(); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := l.DeleteExpired(); err != nil || n != 0 {
		t.Fatalf("nothing uploaded: deleted %d (%v)", n, err)
	}
	l.SetRemoteEnd(18) // the second segment, [10,19], is not whole remote
	if n, err := l.DeleteExpired(); err != nil || n != 1 || l.LogStartOffset() != 10 {
		t.Fatalf("deleted %d (%v), log start %d; want 1 and 10", n, err, l.LogStartOffset())
	}
	// All uploaded: retention.bytes alone decides, and keeps the last
	// closed segment (without it the log would hold no byte).
	l.SetRemoteEnd(39)
	if n, err := l.DeleteExpired(); err != nil || n != 2 || l.LogStartOffset() != 30 {
		t.Fatalf("deleted %d (%v), log start %d; want 2 and 30", n, err, l.LogStartOffset())
	}
}
