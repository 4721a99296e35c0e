package commitlog

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
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
