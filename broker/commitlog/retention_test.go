package commitlog

import (
	"errors"
	"testing"
	"time"
)

func TestRetentionByTime(t *testing.T) {
	clock := &fakeClock{now: time.UnixMilli(1_000_000)}
	l := openTestLog(t, t.TempDir(), Options{SegmentBytes: 4096, RetentionTime: time.Hour, Now: clock.Now})
	// 10 segments; segment i holds timestamps around 1_000_000 + i*60s.
	for i := 0; i < 10; i++ {
		ts := clock.now.UnixMilli() + int64(i)*60_000
		for l.LogEndOffset() < int64(i+1)*10 {
			if _, err := l.Append(simpleBatch(t, 1, 40, ts), 0); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.Roll(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.Append(simpleBatch(t, 1, 40, clock.now.UnixMilli()), 0); err != nil {
		t.Fatal(err) // the active segment, with an old timestamp: never deleted
	}
	segs := l.Segments()
	if len(segs) != 11 {
		t.Fatalf("want 11 segments, got %d", len(segs))
	}
	// At +1h+30s, segments with max timestamp < now-1h are those at +0s only.
	clock.Advance(time.Hour + 30*time.Second)
	if n, err := l.DeleteExpired(); err != nil || n != 1 {
		t.Fatalf("deleted %d (%v), want 1", n, err)
	}
	clock.Advance(5 * time.Minute) // now +1h5m30s: +60..+300s expire too (5 more)
	if n, err := l.DeleteExpired(); err != nil || n != 5 {
		t.Fatalf("deleted %d (%v), want 5", n, err)
	}
	if got := l.LogStartOffset(); got != 60 {
		t.Fatalf("log start %d, want 60", got)
	}
	clock.Advance(24 * time.Hour)
	if n, _ := l.DeleteExpired(); n != 4 {
		t.Fatalf("deleted %d, want the 4 remaining closed segments", n)
	}
	if segs := l.Segments(); len(segs) != 1 || !segs[0].Active {
		t.Fatalf("active segment must stay: %+v", segs)
	}
	_, err := l.Read(50, 100, ToLogEnd)
	var oor *OffsetOutOfRangeError
	if !errors.As(err, &oor) || oor.LogStartOffset != 100 || oor.LogEndOffset != 101 {
		t.Fatalf("read below start: %v", err)
	}
}

func TestRetentionBySize(t *testing.T) {
	l := openTestLog(t, t.TempDir(), Options{SegmentBytes: 1000, RetentionBytes: 2500})
	now := time.Now().UnixMilli()
	batch := len(simpleBatch(t, 1, 100, now))
	for i := 0; i < 50; i++ {
		if _, err := l.Append(simpleBatch(t, 1, 100, now), 0); err != nil {
			t.Fatal(err)
		}
	}
	perSeg := 1000 / batch
	before := l.Segments()
	n, err := l.DeleteExpired()
	if err != nil {
		t.Fatal(err)
	}
	after := l.Segments()
	// Oldest segments go while the rest stays at or above 2500 bytes.
	var size int64
	for _, s := range after {
		size += s.Size
	}
	if n != len(before)-len(after) || size < 2500 || size-after[0].Size >= 2500 {
		t.Fatalf("deleted %d, left %d bytes in %d segments", n, size, len(after))
	}
	if after[0].BaseOffset != int64(n*perSeg) || l.LogStartOffset() != after[0].BaseOffset {
		t.Fatalf("log start %d, first segment %d, want %d", l.LogStartOffset(), after[0].BaseOffset, n*perSeg)
	}
}

func TestDeleteRecordsBefore(t *testing.T) {
	l := openTestLog(t, t.TempDir(), Options{SegmentBytes: 1000})
	for i := 0; i < 40; i++ {
		l.Append(simpleBatch(t, 1, 100, 0), 0)
	}
	if _, err := l.DeleteRecordsBefore(5); !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("delete past the high watermark: %v", err)
	}
	l.SetHighWatermark(40)
	segs := l.Segments()
	mid := segs[2].BaseOffset + 1
	if start, err := l.DeleteRecordsBefore(mid); err != nil || start != mid {
		t.Fatalf("delete records: %d %v", start, err)
	}
	if got := l.Segments(); got[0].BaseOffset != segs[2].BaseOffset {
		t.Fatalf("first segment %d, want %d", got[0].BaseOffset, segs[2].BaseOffset)
	}
	if _, err := l.Read(mid-1, 100, ToLogEnd); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read below new start: %v", err)
	}
	if recs := readAll(t, l, mid); len(recs) != int(40-mid) || recs[0].Offset != mid {
		t.Fatalf("read from new start: %d records", len(recs))
	}
}

// TestCloseAfterDeletingQueuedSegments deletes segments that may still be
// queued for the background flush; Close must not fail on them.
func TestCloseAfterDeletingQueuedSegments(t *testing.T) {
	for range 20 {
		l := openTestLog(t, t.TempDir(), Options{SegmentBytes: 1000})
		for i := 0; i < 40; i++ {
			l.Append(simpleBatch(t, 1, 100, 0), 0)
		}
		l.SetHighWatermark(40)
		if _, err := l.DeleteRecordsBefore(39); err != nil {
			t.Fatal(err)
		}
		if err := l.Close(); err != nil {
			t.Fatalf("close: %v", err)
		}
	}
}
