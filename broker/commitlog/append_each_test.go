package commitlog

import (
	"errors"
	"math/rand/v2"
	"testing"
)

// TestAppendEachMatchesAppend appends the same record sets, some of them
// corrupt, with AppendEach in groups and with Append one by one, to logs with
// small segments: both logs get the same offsets, the same records and the
// same segments (rolls fall between the same sets), and a corrupt set fails
// alone.
func TestAppendEachMatchesAppend(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	opts := Options{SegmentBytes: 20 << 10, IndexIntervalBytes: 1024}
	grouped := openTestLog(t, t.TempDir(), opts)
	serial := openTestLog(t, t.TempDir(), opts)
	var want []testRecord
	for round := 0; round < 40; round++ {
		n := 1 + rng.IntN(9)
		sets := make([][]byte, n)
		copies := make([][]byte, n)
		var recs [][]testRecord
		corrupt := map[int]bool{}
		for i := range sets {
			var b []byte
			var r []testRecord
			for k := rng.IntN(3); k >= 0; k-- { // one to three batches per set
				bb, rr := genBatch(t, rng, int64(len(want)+i*100+k*10), 1+rng.IntN(10), 0, 1000)
				b = append(b, bb...)
				r = append(r, rr...)
			}
			if rng.IntN(6) == 0 {
				b[len(b)-1] ^= 0xff // breaks the last batch's CRC
				corrupt[i] = true
			}
			sets[i], copies[i] = b, append([]byte(nil), b...)
			recs = append(recs, r)
		}
		res := grouped.AppendEach(sets, 5)
		if len(res) != n {
			t.Fatalf("round %d: %d results for %d sets", round, len(res), n)
		}
		for i := range sets {
			info, err := serial.Append(copies[i], 5)
			if corrupt[i] {
				var ib *InvalidBatchError
				if !errors.As(res[i].Err, &ib) || !errors.As(err, &ib) {
					t.Fatalf("round %d set %d: corrupt set gave %v (Append: %v), want *InvalidBatchError", round, i, res[i].Err, err)
				}
				continue
			}
			if err != nil || res[i].Err != nil {
				t.Fatalf("round %d set %d: AppendEach %v, Append %v", round, i, res[i].Err, err)
			}
			got := res[i].Info
			if got != info {
				t.Fatalf("round %d set %d: AppendEach wrote %+v, Append %+v", round, i, got, info)
			}
			if got.FirstOffset != int64(len(want)) || got.LastOffset != int64(len(want)+len(recs[i])-1) {
				t.Fatalf("round %d set %d: offsets %d..%d, want from %d", round, i, got.FirstOffset, got.LastOffset, len(want))
			}
			want = append(want, recs[i]...)
		}
	}
	checkRecords(t, readAll(t, grouped, 0), want, 0)
	gs, ss := grouped.Segments(), serial.Segments()
	if len(gs) < 5 || len(gs) != len(ss) {
		t.Fatalf("grouped log has %d segments, serial %d (want several, the same)", len(gs), len(ss))
	}
	for i := range gs {
		if gs[i].BaseOffset != ss[i].BaseOffset || gs[i].Size != ss[i].Size {
			t.Fatalf("segment %d: grouped base %d size %d, serial base %d size %d", i, gs[i].BaseOffset, gs[i].Size, ss[i].BaseOffset, ss[i].Size)
		}
	}
}

// TestAppendEachManySets writes more sets than one pwritev takes (IOV_MAX).
func TestAppendEachManySets(t *testing.T) {
	l := openTestLog(t, t.TempDir(), Options{})
	const iovMax = 1024 // Linux's IOV_MAX
	sets := make([][]byte, iovMax+300)
	for i := range sets {
		sets[i] = simpleBatch(t, 1, i%50, int64(i))
	}
	for i, r := range l.AppendEach(sets, 0) {
		if r.Err != nil || r.Info.FirstOffset != int64(i) {
			t.Fatalf("set %d: %+v", i, r)
		}
	}
	got := readAll(t, l, 0)
	if len(got) != len(sets) {
		t.Fatalf("read %d records, want %d", len(got), len(sets))
	}
	for i, r := range got {
		if r.Offset != int64(i) || len(r.Value) != i%50 || r.Timestamp != int64(i) {
			t.Fatalf("record %d: offset %d, %d value bytes, timestamp %d", i, r.Offset, len(r.Value), r.Timestamp)
		}
	}
}

// TestAppendEachClosed fails every set of a closed log with ErrClosed, and
// an invalid set with its own error.
func TestAppendEachClosed(t *testing.T) {
	l := openTestLog(t, t.TempDir(), Options{})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	res := l.AppendEach([][]byte{simpleBatch(t, 1, 10, 1), nil, simpleBatch(t, 2, 10, 1)}, 0)
	if !errors.Is(res[0].Err, ErrClosed) || !errors.Is(res[2].Err, ErrClosed) {
		t.Fatalf("closed log: %v, %v; want ErrClosed", res[0].Err, res[2].Err)
	}
	if !errors.Is(res[1].Err, ErrEmptyAppend) {
		t.Fatalf("empty set: %v, want ErrEmptyAppend", res[1].Err)
	}
}
