package idemwindow

import (
	"bytes"
	"testing"

	"github.com/runnel-dev/runnel/broker/kafkaext"
	"github.com/runnel-dev/runnel/broker/recordbatch"
)

func TestKeyOf(t *testing.T) {
	build := func(opts recordbatch.BuildOptions, recs ...recordbatch.Record) []byte {
		t.Helper()
		b, err := recordbatch.Build(opts, recs)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	hdr := func(k, v string) recordbatch.RecordHeader {
		return recordbatch.RecordHeader{Key: k, Value: []byte(v)}
	}
	keyed := recordbatch.Record{Key: []byte("k"), Value: []byte("v"), Headers: []recordbatch.RecordHeader{hdr("a", "1"), hdr(kafkaext.IdempotencyKeyHeader, "sub:key-1")}}
	plain := recordbatch.Record{Key: []byte("k"), Value: []byte("v"), Headers: []recordbatch.RecordHeader{hdr("a", "1")}}
	nullKey := recordbatch.Record{Value: []byte("v"), Headers: []recordbatch.RecordHeader{{Key: kafkaext.IdempotencyKeyHeader}}}

	cases := []struct {
		name  string
		batch []byte
		want  string
		found bool
	}{
		{"first record", build(recordbatch.BuildOptions{}, keyed, plain), "sub:key-1", true},
		{"null key and value fields", build(recordbatch.BuildOptions{}, recordbatch.Record{Headers: []recordbatch.RecordHeader{hdr(kafkaext.IdempotencyKeyHeader, "x")}}), "x", true},
		{"empty key value", build(recordbatch.BuildOptions{}, recordbatch.Record{Headers: []recordbatch.RecordHeader{hdr(kafkaext.IdempotencyKeyHeader, "")}}), "", true},
		{"second record only", build(recordbatch.BuildOptions{}, plain, keyed), "", false},
		{"no headers", build(recordbatch.BuildOptions{}, recordbatch.Record{Value: []byte("v")}), "", false},
		{"null header value", build(recordbatch.BuildOptions{}, nullKey), "", false},
		{"compressed", build(recordbatch.BuildOptions{Codec: recordbatch.CodecGzip}, keyed), "", false},
		{"control", build(recordbatch.BuildOptions{Control: true}, keyed), "", false},
		{"too short", []byte{1, 2, 3}, "", false},
	}
	for _, c := range cases {
		got, ok := KeyOf(c.batch)
		if ok != c.found || string(got) != c.want {
			t.Errorf("%s: KeyOf = %q, %v; want %q, %v", c.name, got, ok, c.want, c.found)
		}
		got, ok = FirstKey(append(bytes.Clone(c.batch), c.batch...))
		if ok != c.found || string(got) != c.want {
			t.Errorf("%s: FirstKey of two batches = %q, %v; want %q, %v", c.name, got, ok, c.want, c.found)
		}
	}

	// A key-shaped header name that is only a prefix does not count.
	b := build(recordbatch.BuildOptions{}, recordbatch.Record{Headers: []recordbatch.RecordHeader{hdr(kafkaext.IdempotencyKeyHeader[:10], "x"), hdr(kafkaext.IdempotencyKeyHeader+"s", "y")}})
	if k, ok := KeyOf(b); ok {
		t.Errorf("near-miss header names: got key %q", k)
	}

	// Every truncation of a keyed batch either finds the whole key or none,
	// and never reads out of bounds.
	full := build(recordbatch.BuildOptions{}, keyed)
	for n := range len(full) {
		if k, ok := KeyOf(full[:n]); ok && string(k) != "sub:key-1" {
			t.Fatalf("truncated to %d bytes: key %q", n, k)
		}
	}
}

func TestKeyOfAllocatesNothing(t *testing.T) {
	plain := keyedBatch(t, "", 3, 1, recordbatch.CodecNone)
	keyed := keyedBatch(t, "abc", 3, 1, recordbatch.CodecNone)
	for name, b := range map[string][]byte{"without key": plain, "with key": keyed} {
		if n := testing.AllocsPerRun(100, func() { FirstKey(b) }); n != 0 {
			t.Errorf("%s: %v allocations per FirstKey", name, n)
		}
	}
}

func FuzzKeyOf(f *testing.F) {
	f.Add(keyedBatch(f, "key", 2, 5, recordbatch.CodecNone))
	f.Add(keyedBatch(f, "", 1, 5, recordbatch.CodecNone))
	f.Add(keyedBatch(f, "key", 1, 5, recordbatch.CodecSnappy))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, ok := KeyOf(b)
		if ok && len(k) > len(b) {
			t.Fatalf("key of %d bytes from a %d-byte batch", len(k), len(b))
		}
		FirstKey(b)
	})
}

func BenchmarkFirstKey(b *testing.B) {
	for _, key := range []string{"", "tenant-7:order-123456"} {
		batch := keyedBatch(b, key, 10, 1, recordbatch.CodecNone)
		b.Run("key="+key, func(b *testing.B) {
			b.SetBytes(int64(len(batch)))
			for b.Loop() {
				FirstKey(batch)
			}
		})
	}
}
