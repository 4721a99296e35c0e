package commitlog

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/broker/recordbatch"
)

// compactOptions are small segments for compaction tests.
func compactOptions(clock *fakeClock) Options {
	o := Options{SegmentBytes: 16 << 10, IndexIntervalBytes: 512, Compact: true, CompactOnly: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if clock != nil {
		o.Now = clock.Now
	}
	return o
}

// compactModel is what a full read of a compacted log must give: the last
// value of every key (nil for a tombstone), by key.
type compactModel map[string][]byte

// appendRandom appends n batches of random keys (from keys distinct ones),
// values and tombstones with random codecs, recording the last value of
// each key in model.
func appendRandom(t testing.TB, l *Log, rng *rand.Rand, model compactModel, n, keys int, ts int64) {
	t.Helper()
	codecs := []recordbatch.Codec{recordbatch.CodecNone, recordbatch.CodecGzip, recordbatch.CodecSnappy, recordbatch.CodecLZ4, recordbatch.CodecZstd}
	for range n {
		recs := make([]recordbatch.Record, 1+rng.IntN(8))
		for i := range recs {
			k := fmt.Sprintf("key-%d", rng.IntN(keys))
			var v []byte
			if rng.IntN(6) != 0 {
				v = fmt.Appendf(nil, "v-%d-%s", rng.Int64(), bytes.Repeat([]byte{'x'}, rng.IntN(200)))
			}
			recs[i] = recordbatch.Record{Key: []byte(k), Value: v, Timestamp: ts}
			model[k] = v
		}
		b, err := recordbatch.Build(recordbatch.BuildOptions{Codec: codecs[rng.IntN(len(codecs))]}, recs)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Append(b, 1); err != nil {
			t.Fatal(err)
		}
	}
}

// checkCompacted reads l whole and checks that it holds exactly one record
// per key of model (the last value; tombstones only when keepTombstones)
// with ascending offsets, and that the batches' offsets are dense.
func checkCompacted(t testing.TB, l *Log, model compactModel, keepTombstones bool) {
	t.Helper()
	recs := readAll(t, l, l.LogStartOffset())
	got := map[string][]byte{}
	prev := int64(-1)
	for _, r := range recs {
		if r.Offset <= prev {
			t.Fatalf("offset %d after %d", r.Offset, prev)
		}
		prev = r.Offset
		if _, dup := got[string(r.Key)]; dup {
			t.Fatalf("key %q appears twice (again at offset %d)", r.Key, r.Offset)
		}
		got[string(r.Key)] = r.Value
	}
	for k, v := range model {
		gv, ok := got[k]
		if v == nil && !keepTombstones {
			if ok {
				t.Fatalf("tombstoned key %q still has a record (value %q)", k, gv)
			}
			continue
		}
		if !ok {
			t.Fatalf("key %q lost (want %q)", k, v)
		}
		if !bytes.Equal(gv, v) || (gv == nil) != (v == nil) {
			t.Fatalf("key %q = %q, want %q", k, gv, v)
		}
	}
	if len(got) > len(model) {
		t.Fatalf("%d keys read, %d written", len(got), len(model))
	}
}

// waitSynced waits until the flusher fsynced the log up to off: the
// cleaner leaves segments past the recovery point alone.
func waitSynced(t testing.TB, l *Log, off int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for l.Offsets().RecoveryPoint < off {
		if time.Now().After(deadline) {
			t.Fatalf("recovery point %d never reached %d", l.Offsets().RecoveryPoint, off)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func mustClean(t testing.TB, c *Cleaner, l *Log) CleanStats {
	t.Helper()
	st, err := c.Clean(context.Background(), l, true)
	if err != nil {
		t.Fatalf("clean: %v", err)
	}
	return st
}

func TestCleanKeepsLastValuePerKey(t *testing.T) {
	for seed := range uint64(6) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
			dir := t.TempDir()
			l := openTestLog(t, dir, compactOptions(clock))
			l.SetHighWatermark(1 << 62)
			c, err := NewCleaner(CleanerOptions{DedupeBufferSize: int64(1024+rng.IntN(4096)) * offsetMapSlotBytes})
			if err != nil {
				t.Fatal(err)
			}
			model := compactModel{}
			keys := 10 + rng.IntN(300)
			for round := range 4 {
				appendRandom(t, l, rng, model, 100+rng.IntN(200), keys, clock.now.UnixMilli())
				l.SetHighWatermark(1 << 62)
				leo := l.LogEndOffset()
				if err := l.Roll(); err != nil {
					t.Fatal(err)
				}
				waitSynced(t, l, leo)
				// Until its map covers everything, a run cleans part.
				for i := 0; i < 20; i++ {
					if st := mustClean(t, c, l); st.EndOffset >= leo || !st.Cleaned {
						break
					}
				}
				if got := l.LogEndOffset(); got != leo {
					t.Fatalf("round %d: log end %d after cleaning, was %d", round, got, leo)
				}
				t.Logf("round %d: %d keys, log %d bytes", round, len(model), l.Size())
				checkCompacted(t, l, model, true)
				clock.Advance(time.Hour)
			}
			// Past delete.retention.ms, a run drops the tombstones.
			clock.Advance(DefaultDeleteRetention)
			mustClean(t, c, l)
			// A horizon set by the last run is still ahead: once more.
			clock.Advance(DefaultDeleteRetention + time.Minute)
			mustClean(t, c, l)
			checkCompacted(t, l, model, false)

			// Reopened (crash: no clean shutdown), it reads the same.
			leo := l.LogEndOffset()
			l.Close()
			o := compactOptions(clock)
			l2 := openTestLog(t, dir, o)
			if l2.LogEndOffset() != leo {
				t.Fatalf("reopened log ends at %d, want %d", l2.LogEndOffset(), leo)
			}
			if rs := l2.UnreadableRanges(); len(rs) != 0 {
				t.Fatalf("reopened compacted log has unreadable ranges %v", rs)
			}
			checkCompacted(t, l2, model, false)
		})
	}
}

// TestCleanedLogReads reads a compacted log at every offset, removed ones
// included: a reader from a removed offset gets the next record kept (the
// batch holding the offset, emptied or not, is served, so a consumer moves
// past the gap); OffsetForTimestamp, the leader epochs and the log's bounds
// are unchanged; and a new follower copies the compacted batches as they
// are (AppendReplica) and reads the same records.
func TestCleanedLogReads(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	l := openTestLog(t, t.TempDir(), compactOptions(clock))
	model := compactModel{}
	for i := range 5 {
		appendRandom(t, l, rng, model, 60, 40, clock.now.UnixMilli()+int64(i)*1000)
	}
	l.SetHighWatermark(1 << 62)
	end := l.LogEndOffset()
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	waitSynced(t, l, end)
	epochBefore, endBefore := l.EndOffsetForEpoch(1)
	st := mustClean(t, newTestCleaner(t), l)
	if st.RecordsRemoved == 0 {
		t.Fatal("nothing removed")
	}
	kept := readAll(t, l, 0)
	if len(kept) >= int(end) {
		t.Fatalf("%d records kept of %d", len(kept), end)
	}
	for off := int64(0); off < end; off++ {
		r := l.NewReader(off, ToHighWatermark)
		rec, err := r.Next()
		i := sortSearchOffset(kept, off)
		if i == len(kept) {
			if err != io.EOF {
				t.Fatalf("read from %d past the last kept record: %v %v", off, rec.Offset, err)
			}
			continue
		}
		if err != nil || rec.Offset != kept[i].Offset {
			t.Fatalf("read from %d: offset %d (%v), want %d", off, rec.Offset, err, kept[i].Offset)
		}
		res, err := l.Read(off, 1, ToHighWatermark)
		if err != nil || len(res.Slices) == 0 {
			t.Fatalf("fetch at %d: %v %+v", off, err, res)
		}
		res.Release()
	}
	if e, o := l.EndOffsetForEpoch(1); e != epochBefore || o != endBefore {
		t.Fatalf("EndOffsetForEpoch(1) = %d %d after cleaning, %d %d before", e, o, epochBefore, endBefore)
	}
	if off, _, found, err := l.OffsetForTimestamp(clock.now.UnixMilli()+2500, ToHighWatermark); err != nil || !found || off < kept[0].Offset {
		t.Fatalf("OffsetForTimestamp: %d %v %v", off, found, err)
	}

	follower := openTestLog(t, t.TempDir(), compactOptions(clock))
	for off := int64(0); off < end; {
		buf, _, err := l.ReadBatches(off, 4096, ToHighWatermark)
		if err != nil {
			t.Fatal(err)
		}
		info, err := follower.AppendReplica(buf)
		if err != nil {
			t.Fatalf("follower append at %d: %v", off, err)
		}
		off = info.LastOffset + 1
	}
	if follower.LogEndOffset() != end {
		t.Fatalf("follower ends at %d, leader at %d", follower.LogEndOffset(), end)
	}
	got := readAll(t, follower, 0)
	if len(got) != len(kept) {
		t.Fatalf("follower reads %d records, leader %d", len(got), len(kept))
	}
	for i := range got {
		if got[i].Offset != kept[i].Offset || !bytes.Equal(got[i].Value, kept[i].Value) {
			t.Fatalf("follower record %d: offset %d, leader's %d", i, got[i].Offset, kept[i].Offset)
		}
	}
}

// newTestCleaner is a cleaner with the default options.
func newTestCleaner(t *testing.T) *Cleaner {
	t.Helper()
	cl, err := NewCleaner(CleanerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// sortSearchOffset returns the index of the first record at or after off.
func sortSearchOffset(recs []recordbatch.Record, off int64) int {
	return sort.Search(len(recs), func(i int) bool { return recs[i].Offset >= off })
}

// TestCleanWhileAppendingAndReading runs the cleaner over and over while
// records are appended (rolling often) and readers read the log from its
// start: no read fails or goes backwards, and at the end the log holds the
// last value of every key.
func TestCleanWhileAppendingAndReading(t *testing.T) {
	l := openTestLog(t, t.TempDir(), compactOptions(nil))
	model := compactModel{}
	done := make(chan struct{})
	errs := make(chan error, 4)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		cl, _ := NewCleaner(CleanerOptions{})
		for {
			select {
			case <-done:
				return
			default:
			}
			if _, err := cl.Clean(context.Background(), l, true); err != nil {
				errs <- err
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			r := l.NewReader(0, ToHighWatermark)
			prev := int64(-1)
			for {
				rec, err := r.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					errs <- fmt.Errorf("read at %d: %w", r.Offset(), err)
					return
				}
				if rec.Offset <= prev {
					errs <- fmt.Errorf("offset %d after %d", rec.Offset, prev)
					return
				}
				prev = rec.Offset
			}
		}
	}()
	rng := rand.New(rand.NewPCG(21, 22))
	for range 40 {
		appendRandom(t, l, rng, model, 20, 50, time.Now().UnixMilli())
		l.SetHighWatermark(l.LogEndOffset())
		if rng.IntN(3) == 0 {
			if err := l.Roll(); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(done)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	checkLastValues(t, l, model)
}
