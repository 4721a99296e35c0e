package commitlog

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/broker/recordbatch"
)

// TestAppendReadProperty appends many random batch shapes (sizes, codecs, record
// counts) across segment rolls and checks every record reads back, from random
// offsets, before and after clean and unclean reopens.
func TestAppendReadProperty(t *testing.T) {
	codecs := []recordbatch.Codec{recordbatch.CodecNone, recordbatch.CodecGzip, recordbatch.CodecSnappy, recordbatch.CodecLZ4, recordbatch.CodecZstd}
	for seed := uint64(1); seed <= 4; seed++ {
		rng := rand.New(rand.NewPCG(seed, 99))
		dir := t.TempDir()
		opts := Options{SegmentBytes: int64(2048 + rng.IntN(64<<10)), IndexIntervalBytes: int32(rng.IntN(8192))}
		l, err := Open(dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		var want []testRecord
		for i := 0; i < 300; i++ {
			b, recs := genBatch(t, rng, int64(len(want)), 1+rng.IntN(40), codecs[rng.IntN(len(codecs))], int64(1000+len(want)))
			info, err := l.Append(b, 3)
			if err != nil {
				t.Fatalf("seed %d append %d: %v", seed, i, err)
			}
			if info.FirstOffset != int64(len(want)) || info.LastOffset != int64(len(want)+len(recs)-1) {
				t.Fatalf("append offsets %d..%d, want from %d", info.FirstOffset, info.LastOffset, len(want))
			}
			want = append(want, recs...)
		}
		if n := len(l.Segments()); n < 3 {
			t.Fatalf("seed %d: expected several segments, got %d", seed, n)
		}
		check := func(stage string) {
			for k := 0; k < 20; k++ {
				from := int64(rng.IntN(len(want)))
				checkRecords(t, readAll(t, l, from), want, from)
			}
			checkRecords(t, readAll(t, l, 0), want, 0)
			if end := l.LogEndOffset(); end != int64(len(want)) {
				t.Fatalf("%s: log end %d, want %d", stage, end, len(want))
			}
		}
		check("appended")
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		opts.CleanShutdown = true
		if l, err = Open(dir, opts); err != nil {
			t.Fatal(err)
		}
		check("clean reopen")
		l.Close()
		opts.CleanShutdown = false
		if l, err = Open(dir, opts); err != nil {
			t.Fatal(err)
		}
		check("full recovery")
		l.Close()
	}
}

// TestReadAtSegmentBoundaries checks offset lookups at the first and last
// offsets of every segment, and that Read slices are whole batches.
func TestReadAtSegmentBoundaries(t *testing.T) {
	l := openTestLog(t, t.TempDir(), Options{SegmentBytes: 4096, IndexIntervalBytes: 1})
	for i := 0; i < 100; i++ {
		if _, err := l.Append(simpleBatch(t, 5, 100, int64(i*10)), 0); err != nil {
			t.Fatal(err)
		}
	}
	l.SetHighWatermark(l.LogEndOffset())
	segs := l.Segments()
	if len(segs) < 5 {
		t.Fatalf("want several segments, got %d", len(segs))
	}
	for _, s := range segs {
		for _, off := range []int64{s.BaseOffset, s.NextOffset - 1} {
			res, err := l.Read(off, 1, ToHighWatermark)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Slices) != 1 {
				t.Fatalf("read %d: %d slices", off, len(res.Slices))
			}
			sl := res.Slices[0]
			if sl.FirstOffset > off || sl.NextOffset <= off || sl.NextOffset-sl.FirstOffset != 5 {
				t.Fatalf("read %d: batch %d..%d", off, sl.FirstOffset, sl.NextOffset)
			}
			buf := make([]byte, sl.Size)
			if _, err := sl.File.ReadAt(buf, sl.Position); err != nil {
				t.Fatal(err)
			}
			h, err := recordbatch.Validate(buf, 0)
			if err != nil || h.BaseOffset != sl.FirstOffset {
				t.Fatalf("read %d: slice is not the batch: %v base %d", off, err, h.BaseOffset)
			}
		}
	}
	// A large budget crosses segments and stops at the high watermark.
	l.SetHighWatermark(203)
	res, err := l.Read(0, 1<<30, ToHighWatermark)
	if err != nil {
		t.Fatal(err)
	}
	if res.NextOffset != 200 || res.Slices[len(res.Slices)-1].NextOffset != 200 {
		t.Fatalf("read to HW 203 ended at %d", res.NextOffset)
	}
	if len(res.Slices) < 2 {
		t.Fatalf("expected slices from several segments, got %d", len(res.Slices))
	}
	// A budget that fits two batches and a bit returns exactly two.
	res, err = l.Read(10, int64(2*len(simpleBatch(t, 5, 100, 0))+10), ToLogEnd)
	if err != nil || res.NextOffset != 20 {
		t.Fatalf("budget read ended at %d (%v), want 20", res.NextOffset, err)
	}
	// Reading at the high watermark returns nothing; past the end is out of range.
	if res, err := l.Read(200, 1000, ToHighWatermark); err != nil || len(res.Slices) != 0 {
		t.Fatalf("read at HW: %v %d slices", err, len(res.Slices))
	}
	_, err = l.Read(501, 1000, ToLogEnd)
	var oor *OffsetOutOfRangeError
	if !errors.As(err, &oor) || oor.LogEndOffset != 500 || oor.LogStartOffset != 0 || !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read past end: %v", err)
	}
}

func TestOffsetForTimestamp(t *testing.T) {
	l := openTestLog(t, t.TempDir(), Options{SegmentBytes: 2048, IndexIntervalBytes: 512})
	// Batch i holds 4 records at timestamps 100*i + 0..3.
	for i := 0; i < 60; i++ {
		recs := make([]recordbatch.Record, 4)
		for j := range recs {
			recs[j] = recordbatch.Record{Value: []byte("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"), Timestamp: int64(100*i + j)}
		}
		b, err := recordbatch.Build(recordbatch.BuildOptions{}, recs)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Append(b, 0); err != nil {
			t.Fatal(err)
		}
	}
	l.SetHighWatermark(l.LogEndOffset())
	if len(l.Segments()) < 3 {
		t.Fatal("want several segments")
	}
	cases := []struct{ ts, off int64 }{{0, 0}, {-5, 0}, {2, 2}, {3, 3}, {4, 4}, {50, 4}, {100, 4}, {101, 5}, {3003, 123}, {5903, 239}}
	for _, s := range l.Segments() {
		// The first record of each segment, by its timestamp.
		batch := s.BaseOffset / 4
		cases = append(cases, struct{ ts, off int64 }{100 * batch, s.BaseOffset}, struct{ ts, off int64 }{100*batch - 1, s.BaseOffset})
	}
	for _, c := range cases {
		off, ts, found, err := l.OffsetForTimestamp(c.ts, ToHighWatermark)
		if err != nil || !found || off != c.off {
			t.Fatalf("offset for %d: %d (ts %d, found %v, %v), want %d", c.ts, off, ts, found, err, c.off)
		}
	}
	if _, _, found, _ := l.OffsetForTimestamp(5904, ToHighWatermark); found {
		t.Fatal("found an offset past the last timestamp")
	}
	if ts, off, ok := l.MaxTimestamp(); !ok || ts != 5903 || off != 239 {
		t.Fatalf("max timestamp %d at %d", ts, off)
	}
	l.SetHighWatermark(100)
	if _, _, found, _ := l.OffsetForTimestamp(3000, ToHighWatermark); found {
		t.Fatal("found an offset above the high watermark")
	}
}

func TestAppendRefusesBadBatches(t *testing.T) {
	dir := t.TempDir()
	l := openTestLog(t, dir, Options{MaxMessageBytes: 2000})
	good := simpleBatch(t, 2, 10, 1)
	if _, err := l.Append(append([]byte(nil), good...), 0); err != nil {
		t.Fatal(err)
	}
	bad := append([]byte(nil), good...)
	bad[len(bad)-1] ^= 0xff
	two := append(append([]byte(nil), good...), bad...)
	_, err := l.Append(two, 0)
	var ib *InvalidBatchError
	if !errors.As(err, &ib) || ib.Index != 1 || !errors.Is(err, recordbatch.ErrCorrupt) {
		t.Fatalf("corrupt second batch: %v", err)
	}
	if _, err := l.Append(simpleBatch(t, 3, 1000, 1), 0); !errors.Is(err, recordbatch.ErrTooLarge) {
		t.Fatalf("oversized batch: %v", err)
	}
	if _, err := l.Append(good[:30], 0); err == nil {
		t.Fatal("truncated batch accepted")
	}
	if _, err := l.Append(nil, 0); !errors.Is(err, ErrEmptyAppend) {
		t.Fatalf("empty append: %v", err)
	}
	if end := l.LogEndOffset(); end != 2 {
		t.Fatalf("refused appends wrote something: log end %d", end)
	}
	st, _ := os.Stat(filepath.Join(dir, segmentName(0)+logSuffix))
	if st.Size() != int64(len(good)) {
		t.Fatalf("segment size %d, want %d", st.Size(), len(good))
	}
}

func TestWaiters(t *testing.T) {
	l := openTestLog(t, t.TempDir(), Options{})
	done := make(chan error, 2)
	go func() { done <- l.WaitForEnd(context.Background(), 0) }()
	go func() { done <- l.WaitForHighWatermark(context.Background(), 1) }()
	select {
	case err := <-done:
		t.Fatalf("waiter returned before any append: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	if _, err := l.Append(simpleBatch(t, 2, 1, 1), 0); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		t.Fatalf("high watermark waiter woke on append: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	l.SetHighWatermark(2)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := l.WaitForEnd(ctx, 5); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("wait with deadline: %v", err)
	}
	go func() { done <- l.WaitForEnd(context.Background(), 10) }()
	time.Sleep(10 * time.Millisecond)
	l.Close()
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("waiter after close: %v", err)
	}
}

func TestSegmentRollByTime(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1000, 0)}
	l := openTestLog(t, t.TempDir(), Options{SegmentTime: time.Minute, Now: clock.Now})
	for i := 0; i < 3; i++ {
		if _, err := l.Append(simpleBatch(t, 1, 10, 1), 0); err != nil {
			t.Fatal(err)
		}
		clock.Advance(59 * time.Second)
	}
	// Appends at 0s and 59s share a segment; the one at 118s rolled.
	segs := l.Segments()
	if len(segs) != 2 || segs[1].BaseOffset != 2 {
		t.Fatalf("segments %+v", segs)
	}
}

func TestScanHeaders(t *testing.T) {
	l := openTestLog(t, t.TempDir(), Options{SegmentBytes: 1000})
	for i := 0; i < 30; i++ {
		l.Append(simpleBatch(t, 2, 100, int64(i)), 0)
	}
	var bases []int64
	if err := l.ScanHeaders(31, func(h recordbatch.Header) error { bases = append(bases, h.BaseOffset); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(bases) != 15 || bases[0] != 30 || bases[14] != 58 {
		t.Fatalf("scanned bases %v", bases)
	}
	stop := errors.New("stop")
	if err := l.ScanHeaders(0, func(recordbatch.Header) error { return stop }); err != stop {
		t.Fatalf("scan error %v", err)
	}
}
