package recordbatch

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
)

var allCodecs = []Codec{CodecNone, CodecGzip, CodecSnappy, CodecLZ4, CodecZstd}

// randBytes returns nil, empty or random bytes of up to max length. Half the
// non-empty ones are compressible text so that codecs have work to do.
func randBytes(rng *rand.Rand, max int) []byte {
	switch rng.IntN(8) {
	case 0:
		return nil
	case 1:
		return []byte{}
	}
	n := rng.IntN(max + 1)
	b := make([]byte, n)
	if rng.IntN(2) == 0 {
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
	} else {
		for i := range b {
			b[i] = "abcdefgh ,."[rng.IntN(11)]
		}
	}
	return b
}

// randRecords returns 1..maxN records with random keys, values, headers and
// timestamps (not necessarily increasing). One in ten sets carries a value
// large enough to span several snappy and lz4 blocks.
func randRecords(rng *rand.Rand, maxN int) []Record {
	n := 1 + rng.IntN(maxN)
	recs := make([]Record, n)
	ts := int64(1_700_000_000_000) + rng.Int64N(1_000_000)
	big := rng.IntN(10) == 0
	for i := range recs {
		r := &recs[i]
		r.Timestamp = ts + rng.Int64N(20_000) - 5_000
		r.Key = randBytes(rng, 40)
		valMax := 300
		if big && i == 0 {
			valMax = 200 << 10
		}
		r.Value = randBytes(rng, valMax)
		if rng.IntN(3) == 0 {
			r.Headers = make([]RecordHeader, rng.IntN(4))
			for j := range r.Headers {
				r.Headers[j] = RecordHeader{Key: fmt.Sprintf("h%d", rng.IntN(100)), Value: randBytes(rng, 20)}
			}
		}
	}
	return recs
}

// equalBytes is bytes.Equal that also tells null from empty.
func equalBytes(a, b []byte) bool {
	return (a == nil) == (b == nil) && bytes.Equal(a, b)
}

// checkRecords compares decoded records with the ones a batch was built
// from, including the fields the decoder derives.
func checkRecords(t *testing.T, h Header, want, got []Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("decoded %d records, want %d", len(got), len(want))
	}
	for i := range want {
		w, g := &want[i], &got[i]
		if g.OffsetDelta != int32(i) || g.Offset != h.BaseOffset+int64(i) {
			t.Errorf("record %d: offsetDelta %d offset %d, want %d and %d", i, g.OffsetDelta, g.Offset, i, h.BaseOffset+int64(i))
		}
		wantTS := w.Timestamp
		if h.TimestampType() == TimestampLogAppend {
			wantTS = h.MaxTimestamp
		}
		if g.Timestamp != wantTS || g.TimestampDelta != w.Timestamp-h.BaseTimestamp {
			t.Errorf("record %d: timestamp %d delta %d, want %d and %d", i, g.Timestamp, g.TimestampDelta, wantTS, w.Timestamp-h.BaseTimestamp)
		}
		if g.Attributes != w.Attributes {
			t.Errorf("record %d: attributes %d, want %d", i, g.Attributes, w.Attributes)
		}
		if !equalBytes(g.Key, w.Key) {
			t.Errorf("record %d: key %q (nil %v), want %q (nil %v)", i, g.Key, g.Key == nil, w.Key, w.Key == nil)
		}
		if !equalBytes(g.Value, w.Value) {
			t.Errorf("record %d: value of %d bytes (nil %v), want %d bytes (nil %v)", i, len(g.Value), g.Value == nil, len(w.Value), w.Value == nil)
		}
		if len(g.Headers) != len(w.Headers) {
			t.Errorf("record %d: %d headers, want %d", i, len(g.Headers), len(w.Headers))
			continue
		}
		for j := range w.Headers {
			if g.Headers[j].Key != w.Headers[j].Key || !equalBytes(g.Headers[j].Value, w.Headers[j].Value) {
				t.Errorf("record %d header %d: %q=%q, want %q=%q", i, j, g.Headers[j].Key, g.Headers[j].Value, w.Headers[j].Key, w.Headers[j].Value)
			}
		}
	}
}

// mustBuild builds a batch or fails the test.
func mustBuild(tb testing.TB, opts BuildOptions, recs []Record) []byte {
	tb.Helper()
	b, err := Build(opts, recs)
	if err != nil {
		tb.Fatalf("Build: %v", err)
	}
	return b
}

// simpleRecords returns n records with small keys and values.
func simpleRecords(n, valueSize int) []Record {
	recs := make([]Record, n)
	for i := range recs {
		v := bytes.Repeat([]byte{byte('a' + i%26)}, valueSize)
		recs[i] = Record{Timestamp: 1_700_000_000_000 + int64(i), Key: fmt.Appendf(nil, "key-%d", i), Value: v}
	}
	return recs
}
