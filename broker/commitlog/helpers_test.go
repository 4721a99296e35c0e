package commitlog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/broker/recordbatch"
)

// testRecord is what a test appends and expects back.
type testRecord struct {
	key, value []byte
	ts         int64
}

// genBatch builds one batch of n records whose contents are derived from seq, so
// any record can be recomputed from its sequence number.
func genBatch(t testing.TB, rng *rand.Rand, seq int64, n int, codec recordbatch.Codec, baseTS int64) ([]byte, []testRecord) {
	t.Helper()
	recs := make([]recordbatch.Record, n)
	want := make([]testRecord, n)
	for i := range recs {
		vlen := rng.IntN(300)
		if rng.IntN(20) == 0 {
			vlen = rng.IntN(5000)
		}
		v := bytes.Repeat([]byte{byte(seq + int64(i))}, vlen)
		k := []byte(fmt.Sprintf("k%d", seq+int64(i)))
		if rng.IntN(5) == 0 {
			k = nil
		}
		ts := baseTS + int64(i)
		recs[i] = recordbatch.Record{Key: k, Value: v, Timestamp: ts}
		if rng.IntN(4) == 0 {
			recs[i].Headers = []recordbatch.RecordHeader{{Key: "h", Value: []byte("x")}}
		}
		want[i] = testRecord{k, v, ts}
	}
	b, err := recordbatch.Build(recordbatch.BuildOptions{Codec: codec}, recs)
	if err != nil {
		t.Fatalf("build batch: %v", err)
	}
	return b, want
}

// simpleBatch builds an uncompressed batch of n records with values of size
// vsize and timestamp ts.
func simpleBatch(t testing.TB, n, vsize int, ts int64) []byte {
	t.Helper()
	recs := make([]recordbatch.Record, n)
	for i := range recs {
		recs[i] = recordbatch.Record{Value: bytes.Repeat([]byte{'v'}, vsize), Timestamp: ts}
	}
	b, err := recordbatch.Build(recordbatch.BuildOptions{}, recs)
	if err != nil {
		t.Fatalf("build batch: %v", err)
	}
	return b
}

func openTestLog(t testing.TB, dir string, o Options) *Log {
	t.Helper()
	l, err := Open(dir, o)
	if err != nil {
		t.Fatalf("open log: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// readAll decodes every record from offset to the log end.
func readAll(t testing.TB, l *Log, from int64) []recordbatch.Record {
	t.Helper()
	r := l.NewReader(from, ToLogEnd)
	var out []recordbatch.Record
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("read at %d: %v", r.Offset(), err)
		}
		out = append(out, rec)
	}
}

// checkRecords asserts that got holds want[from:] with dense offsets.
func checkRecords(t testing.TB, got []recordbatch.Record, want []testRecord, from int64) {
	t.Helper()
	if len(got) != len(want)-int(from) {
		t.Fatalf("read %d records from %d, want %d", len(got), from, len(want)-int(from))
	}
	for i, r := range got {
		off := from + int64(i)
		w := want[off]
		if r.Offset != off || !bytes.Equal(r.Key, w.key) || (r.Key == nil) != (w.key == nil) || !bytes.Equal(r.Value, w.value) || r.Timestamp != w.ts {
			t.Fatalf("record %d: got offset %d key %q len(value) %d ts %d; want key %q len(value) %d ts %d",
				off, r.Offset, r.Key, len(r.Value), r.Timestamp, w.key, len(w.value), w.ts)
		}
	}
}

// fakeClock is a settable clock for retention and segment.ms tests.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time          { return c.now }
func (c *fakeClock) Advance(d time.Duration) { c.now = c.now.Add(d) }
