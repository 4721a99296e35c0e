package recordbatch

import (
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestValidateFailures(t *testing.T) {
	good := mustBuild(t, BuildOptions{Codec: CodecNone}, simpleRecords(6, 50))
	clone := func() []byte { return append([]byte(nil), good...) }
	cases := []struct {
		name    string
		batch   func() []byte
		max     int
		want    error
		message string
	}{
		{"valid", clone, 0, nil, ""},
		{"valid at limit", clone, len(good), nil, ""},
		{"crc byte flipped", func() []byte { b := clone(); b[offCRC] ^= 0x40; return b }, 0, ErrCorrupt, "crc mismatch: stored 0x"},
		{"record byte flipped", func() []byte { b := clone(); b[len(b)-3] ^= 1; return b }, 0, ErrCorrupt, "crc mismatch"},
		{"attributes flipped", func() []byte { b := clone(); b[offAttributes+1] ^= 0x10; return b }, 0, ErrCorrupt, "crc mismatch"},
		{"magic 1", func() []byte { b := clone(); b[offMagic] = 1; return b }, 0, ErrUnsupportedMagic, "magic byte is 1, want 2"},
		{"batchLength below header", func() []byte {
			b := clone()
			binary.BigEndian.PutUint32(b[offBatchLength:], 48)
			return b
		}, 0, ErrCorrupt, "batchLength 48 is below the minimum 49"},
		{"batchLength negative", func() []byte {
			b := clone()
			binary.BigEndian.PutUint32(b[offBatchLength:], 0x80000000)
			return b
		}, 0, ErrCorrupt, "batchLength -2147483648"},
		{"batchLength past end", func() []byte {
			b := clone()
			binary.BigEndian.PutUint32(b[offBatchLength:], uint32(len(b)))
			return b
		}, 0, ErrTruncated, "needs"},
		{"trailing bytes", func() []byte { return append(clone(), 0) }, 0, ErrCorrupt, "1 bytes follow the batch"},
		{"cut short", func() []byte { return clone()[:len(good)-1] }, 0, ErrTruncated, ""},
		{"header only partly there", func() []byte { return clone()[:40] }, 0, ErrTruncated, "header needs 61 bytes, have 40"},
		{"empty", func() []byte { return nil }, 0, ErrTruncated, ""},
		{"too large", clone, len(good) - 1, ErrTooLarge, "limit is"},
		{"count mismatch", func() []byte {
			b := clone()
			fixup(b, func(h []byte) {
				binary.BigEndian.PutUint32(h[offRecordCount:], 3)
				binary.BigEndian.PutUint32(h[offLastOffsetDelta:], 5)
			})
			return b
		}, 0, ErrInvalidRecordCount, "record count 3 does not match lastOffsetDelta 5"},
		{"count zero", func() []byte {
			b := clone()
			fixup(b, func(h []byte) { binary.BigEndian.PutUint32(h[offRecordCount:], 0) })
			return b
		}, 0, ErrInvalidRecordCount, "record count 0 is below 1"},
		{"codec 5", func() []byte {
			b := clone()
			fixup(b, func(h []byte) { h[offAttributes+1] |= 5 })
			return b
		}, 0, ErrUnknownCodec, "codec 5"},
		{"codec 7", func() []byte {
			b := clone()
			fixup(b, func(h []byte) { h[offAttributes+1] |= 7 })
			return b
		}, 0, ErrUnknownCodec, "codec 7"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, err := Validate(tc.batch(), tc.max)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				if h.Size() != len(good) || h.NumRecords != 6 {
					t.Fatalf("header %+v", h)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Validate: %v, want %v", err, tc.want)
			}
			var be *BatchError
			if !errors.As(err, &be) || be.Kind != tc.want {
				t.Fatalf("error %v is not a *BatchError of kind %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.message) {
				t.Fatalf("message %q does not mention %q", err, tc.message)
			}
			if h != (Header{}) {
				t.Fatalf("failed Validate returned header %+v", h)
			}
		})
	}
}

func TestErrorUnwrapsCause(t *testing.T) {
	b := mustBuild(t, BuildOptions{Codec: CodecGzip}, simpleRecords(3, 10))
	b[len(b)-10] ^= 0xff // damage the gzip trailer, keep the CRC right
	putCRC(b)
	_, err := DecodeRecords(nil, b, DecodeOptions{})
	var be *BatchError
	if !errors.Is(err, ErrCorrupt) || !errors.As(err, &be) || be.Err == nil {
		t.Fatalf("got %v, want ErrCorrupt with a cause", err)
	}
	if !errors.Is(err, be.Err) {
		t.Fatal("errors.Is does not reach the cause")
	}
}

func TestParseHeader(t *testing.T) {
	b := mustBuild(t, BuildOptions{BaseOffset: 1000, PartitionLeaderEpoch: 9, Codec: CodecLZ4, Transactional: true}, simpleRecords(5, 10))
	h, err := ParseHeader(b[:HeaderSize])
	if err != nil {
		t.Fatal(err)
	}
	if h.BaseOffset != 1000 || h.PartitionLeaderEpoch != 9 || h.Codec() != CodecLZ4 || !h.IsTransactional() ||
		h.IsControl() || h.Size() != len(b) || h.LastOffset() != 1004 || h.NextOffset() != 1005 || h.Magic != Magic {
		t.Fatalf("header %+v", h)
	}
	for n := range HeaderSize {
		if _, err := ParseHeader(b[:n]); !errors.Is(err, ErrTruncated) {
			t.Fatalf("ParseHeader of %d bytes: %v, want ErrTruncated", n, err)
		}
	}
}

func TestSetHeaderFieldsKeepBatchValid(t *testing.T) {
	for _, codec := range allCodecs {
		b := mustBuild(t, BuildOptions{Codec: codec}, simpleRecords(10, 30))
		SetBaseOffset(b, 1<<40+7)
		SetPartitionLeaderEpoch(b, 42)
		h, err := Validate(b, 0)
		if err != nil {
			t.Fatalf("%s: %v", codec, err)
		}
		if h.BaseOffset != 1<<40+7 || h.PartitionLeaderEpoch != 42 {
			t.Fatalf("%s: header %+v", codec, h)
		}
		recs, err := DecodeRecords(nil, b, DecodeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if recs[9].Offset != 1<<40+16 {
			t.Fatalf("%s: last offset %d", codec, recs[9].Offset)
		}
	}
}

func TestValidateDoesNotAllocate(t *testing.T) {
	for _, codec := range allCodecs {
		b := mustBuild(t, BuildOptions{Codec: codec}, simpleRecords(100, 100))
		allocs := testing.AllocsPerRun(200, func() {
			if _, err := Validate(b, 1<<20); err != nil {
				t.Fatal(err)
			}
			if _, err := ParseHeader(b); err != nil {
				t.Fatal(err)
			}
			if err := VerifyCRC(b); err != nil {
				t.Fatal(err)
			}
			if _, _, err := Next(b); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Fatalf("%s: %v allocations per run, want 0", codec, allocs)
		}
	}
}

func TestNext(t *testing.T) {
	var buf []byte
	var sizes []int
	for i, codec := range allCodecs {
		b := mustBuild(t, BuildOptions{BaseOffset: int64(i * 100), Codec: codec}, simpleRecords(i+1, 40))
		buf = append(buf, b...)
		sizes = append(sizes, len(b))
	}
	rest := buf
	for i, size := range sizes {
		batch, r, err := Next(rest)
		if err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
		if len(batch) != size {
			t.Fatalf("batch %d: %d bytes, want %d", i, len(batch), size)
		}
		if h, err := Validate(batch, 0); err != nil || h.BaseOffset != int64(i*100) {
			t.Fatalf("batch %d: %+v %v", i, h, err)
		}
		rest = r
	}
	if _, _, err := Next(rest); err != io.EOF {
		t.Fatalf("end: %v, want io.EOF", err)
	}

	// Every cut inside the last batch is a torn tail.
	last := len(buf) - sizes[len(sizes)-1]
	for cut := last + 1; cut < len(buf); cut++ {
		rest := buf[:cut]
		for range sizes[:len(sizes)-1] {
			var err error
			if _, rest, err = Next(rest); err != nil {
				t.Fatalf("cut %d: %v", cut, err)
			}
		}
		batch, r, err := Next(rest)
		if !errors.Is(err, ErrTruncated) || batch != nil || len(r) != cut-last {
			t.Fatalf("cut %d: batch %d bytes, rest %d bytes, err %v; want ErrTruncated", cut, len(batch), len(r), err)
		}
	}

	// Garbage is corruption, not a torn tail, even when short.
	for _, garbage := range [][]byte{
		append(make([]byte, 16), 9),     // magic 9
		append(make([]byte, 12), 1, 2),  // batchLength 0 in a short buffer
		make([]byte, 100),               // batchLength 0
		append(buf[:16:16], 0, 0, 0, 0), // magic 0
	} {
		if _, _, err := Next(garbage); err == nil || errors.Is(err, ErrTruncated) {
			t.Fatalf("garbage %x: %v, want a non-truncation error", garbage, err)
		}
	}
}

func TestNames(t *testing.T) {
	for c, want := range map[Codec]string{CodecNone: "none", CodecGzip: "gzip", CodecSnappy: "snappy", CodecLZ4: "lz4", CodecZstd: "zstd", 5: "unknown(5)"} {
		if c.String() != want || c.Valid() != (c <= CodecZstd) {
			t.Errorf("codec %d: %q valid %v", int8(c), c.String(), c.Valid())
		}
	}
	if TimestampCreate.String() != "CreateTime" || TimestampLogAppend.String() != "LogAppendTime" {
		t.Error("timestamp type names")
	}
}
