package commitlog

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/runnel-dev/runnel/broker/recordbatch"
	"github.com/runnel-dev/runnel/internal/diskfs"
)

// TestAppendBatchesMatchesAppend appends the same batches, some of them
// corrupt, with AppendBatches in groups (after validating them, as its
// callers do) and with Append one by one, to logs with small segments: both
// logs get the same offsets, the same records and the same segments (rolls
// fall between the same batches), AppendBatches stamps the offsets it
// assigned into the batches and their headers, and a corrupt batch fails
// alone.
func TestAppendBatchesMatchesAppend(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	opts := Options{SegmentBytes: 20 << 10, IndexIntervalBytes: 1024}
	grouped := openTestLog(t, t.TempDir(), opts)
	serial := openTestLog(t, t.TempDir(), opts)
	var want []testRecord
	for round := 0; round < 40; round++ {
		n := 1 + rng.IntN(9)
		var valid []ValidBatch
		var validRecs [][]testRecord
		var copies [][]byte
		for i := range n {
			b, r := genBatch(t, rng, int64(len(want)+i*100), 1+rng.IntN(10), 0, 1000)
			corrupt := rng.IntN(6) == 0
			if corrupt {
				b[len(b)-1] ^= 0xff // breaks the CRC
			}
			copies = append(copies, append([]byte(nil), b...))
			h, err := recordbatch.Validate(b, 0)
			if corrupt != (err != nil) {
				t.Fatalf("round %d batch %d: corrupt %v, validation %v", round, i, corrupt, err)
			}
			if err == nil {
				valid = append(valid, ValidBatch{Bytes: b, Header: h})
				validRecs = append(validRecs, r)
			}
		}
		infos := make([]AppendInfo, len(valid))
		if got, err := grouped.AppendBatches(valid, 5, infos); got != len(valid) || err != nil {
			t.Fatalf("round %d: %d of %d batches written: %v", round, got, len(valid), err)
		}
		k := 0
		for i, c := range copies {
			info, err := serial.Append(c, 5)
			var ib *InvalidBatchError
			if errors.As(err, &ib) {
				continue // the corrupt one, which validation kept from AppendBatches
			}
			if err != nil {
				t.Fatalf("round %d batch %d: Append %v", round, i, err)
			}
			if infos[k] != info {
				t.Fatalf("round %d batch %d: AppendBatches wrote %+v, Append %+v", round, i, infos[k], info)
			}
			if info.FirstOffset != int64(len(want)) || info.LastOffset != int64(len(want)+len(validRecs[k])-1) {
				t.Fatalf("round %d batch %d: offsets %d..%d, want from %d", round, i, info.FirstOffset, info.LastOffset, len(want))
			}
			if h, _ := recordbatch.ParseHeader(valid[k].Bytes); h != valid[k].Header || h.BaseOffset != info.FirstOffset || h.PartitionLeaderEpoch != 5 {
				t.Fatalf("round %d batch %d: stamped header %+v, batch %+v, want base offset %d epoch 5", round, i, valid[k].Header, h, info.FirstOffset)
			}
			want = append(want, validRecs[k]...)
			k++
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

// TestAppendBatchesManySets writes more batches than one pwritev takes
// (IOV_MAX).
func TestAppendBatchesManySets(t *testing.T) {
	l := openTestLog(t, t.TempDir(), Options{})
	batches := make([]ValidBatch, diskfs.MaxIovecs+300)
	for i := range batches {
		batches[i] = validBatch(t, simpleBatch(t, 1, i%50, int64(i)))
	}
	infos := make([]AppendInfo, len(batches))
	if n, err := l.AppendBatches(batches, 0, infos); n != len(batches) || err != nil {
		t.Fatalf("%d of %d batches written: %v", n, len(batches), err)
	}
	for i, info := range infos {
		if info.FirstOffset != int64(i) {
			t.Fatalf("batch %d: %+v", i, info)
		}
	}
	got := readAll(t, l, 0)
	if len(got) != len(batches) {
		t.Fatalf("read %d records, want %d", len(got), len(batches))
	}
	for i, r := range got {
		if r.Offset != int64(i) || len(r.Value) != i%50 || r.Timestamp != int64(i) {
			t.Fatalf("record %d: offset %d, %d value bytes, timestamp %d", i, r.Offset, len(r.Value), r.Timestamp)
		}
	}
}

// TestAppendBatchesRefused writes nothing to a closed log (ErrClosed) and
// nothing of a call whose batch does not match its header
// (ErrInvalidRequest).
func TestAppendBatchesRefused(t *testing.T) {
	l := openTestLog(t, t.TempDir(), Options{})
	good := validBatch(t, simpleBatch(t, 1, 10, 1))
	bad := validBatch(t, simpleBatch(t, 2, 10, 1))
	bad.Bytes = bad.Bytes[:len(bad.Bytes)-1]
	infos := make([]AppendInfo, 2)
	if n, err := l.AppendBatches([]ValidBatch{good, bad}, 0, infos); n != 0 || !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("batch shorter than its header: %d written, %v; want none, ErrInvalidRequest", n, err)
	}
	if end := l.LogEndOffset(); end != 0 {
		t.Fatalf("log end %d after a refused call", end)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if n, err := l.AppendBatches([]ValidBatch{good}, 0, infos); n != 0 || !errors.Is(err, ErrClosed) {
		t.Fatalf("closed log: %d written, %v; want none, ErrClosed", n, err)
	}
}

// validBatch validates b as AppendBatches' callers do.
func validBatch(t testing.TB, b []byte) ValidBatch {
	t.Helper()
	h, err := recordbatch.Validate(b, 0)
	if err != nil {
		t.Fatal(err)
	}
	return ValidBatch{Bytes: b, Header: h}
}
