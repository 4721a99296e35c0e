package recordbatch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/klauspost/compress/s2"
)

// plainBatch wraps a hand-written records section in a header declaring
// count records, with correct lengths and CRC.
func plainBatch(count int32, records []byte) []byte {
	b := make([]byte, HeaderSize, HeaderSize+len(records))
	b[offMagic] = Magic
	binary.BigEndian.PutUint32(b[offRecordCount:], uint32(count))
	binary.BigEndian.PutUint32(b[offLastOffsetDelta:], uint32(count-1))
	b = append(b, records...)
	fixup(b, func([]byte) {})
	return b
}

// rec encodes one record body from varint fields and raw bytes, prefixed
// with its length.
func rec(parts ...any) []byte {
	var body []byte
	for _, p := range parts {
		switch p := p.(type) {
		case int:
			body = binary.AppendVarint(body, int64(p))
		case byte:
			body = append(body, p)
		case []byte:
			body = append(body, p...)
		case string:
			body = append(body, p...)
		}
	}
	return append(binary.AppendVarint(nil, int64(len(body))), body...)
}

// malformedCase is a batch with a valid CRC and something wrong inside, with
// what the reader (DecodeRecords) and the produce path (ValidateProduced)
// refuse it with. nil means accepted.
type malformedCase struct {
	name          string
	batch         []byte
	want, produce error
	message       string
}

// malformedBatches are the cases of TestDecodeMalformedRecords and
// TestValidateProducedMalformedRecords.
func malformedBatches() []malformedCase {
	ok := rec(byte(0), 0, 0, 1, "k", 1, "v", 0)
	return []malformedCase{
		{"well formed", plainBatch(1, ok), nil, nil, ""},
		{"two well formed", plainBatch(2, append(append([]byte{}, ok...), rec(byte(0), 0, 1, -1, -1, 0)...)), nil, nil, ""},
		{"fewer records than count", plainBatch(2, append(append([]byte{}, ok...), make([]byte, 0)...)), ErrInvalidRecordCount, ErrInvalidRecordCount, "cannot fit"},
		{"count past records at a record boundary", plainBatch(2, rec(byte(0), 0, 0, 10, "0123456789", -1, 0)), ErrInvalidRecordCount, ErrInvalidRecordCount, "ends after 1 records"},
		{"count past records", plainBatch(2, append(append([]byte{}, ok...), ok[:7]...)), ErrCorrupt, ErrInvalidRecord, ""},
		{"records past count", plainBatch(1, append(append([]byte{}, ok...), ok...)), ErrCorrupt, ErrInvalidRecordCount, "bytes follow the last of 1 records"},
		{"negative record length", plainBatch(1, append(binary.AppendVarint(nil, -5), make([]byte, 8)...)), ErrCorrupt, ErrInvalidRecord, "length -5"},
		{"record length past end", plainBatch(1, append(binary.AppendVarint(nil, 100), make([]byte, 8)...)), ErrCorrupt, ErrInvalidRecord, "length 100 with 8 bytes left"},
		{"empty record", plainBatch(1, append(binary.AppendVarint(nil, 0), make([]byte, 7)...)), ErrCorrupt, ErrInvalidRecord, ""},
		{"varint too long", plainBatch(1, rec(byte(0), 0, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, -1, -1, 0)), ErrCorrupt, ErrInvalidRecord, "offsetDelta varint"},
		{"varint overflows int32", plainBatch(1, rec(byte(0), 0, []byte{0xff, 0xff, 0xff, 0xff, 0x1f}, -1, -1, 0)), ErrCorrupt, ErrInvalidRecord, "offsetDelta varint"},
		{"varlong too long", plainBatch(1, rec(byte(0), bytes.Repeat([]byte{0xff}, 10), 0, -1, -1, 0)), ErrCorrupt, ErrInvalidRecord, "timestampDelta varint"},
		{"unterminated varint", plainBatch(1, rec(byte(0), 0, 0, -1, -1, []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80})), ErrCorrupt, ErrInvalidRecord, "headerCount varint"},
		{"key length -2", plainBatch(1, rec(byte(0), 0, 0, -2, -1, 0, "xxxx")), ErrCorrupt, ErrInvalidRecord, "key length -2"},
		{"key past record", plainBatch(1, rec(byte(0), 0, 0, 50, "k", -1, 0)), ErrCorrupt, ErrInvalidRecord, "key length 50"},
		{"value past record", plainBatch(1, rec(byte(0), 0, 0, -1, 9, "vv", 0, 0, 0)), ErrCorrupt, ErrInvalidRecord, "value length 9"},
		{"huge header count", plainBatch(1, rec(byte(0), 0, 0, -1, -1, 1<<30)), ErrCorrupt, ErrInvalidRecord, "header count 1073741824"},
		{"negative header count", plainBatch(1, rec(byte(0), 0, 0, -1, -1, -1, 0, 0)), ErrCorrupt, ErrInvalidRecord, "header count -1"},
		{"null header key", plainBatch(1, rec(byte(0), 0, 0, -1, -1, 1, -1, -1)), ErrCorrupt, ErrInvalidRecord, "null key"},
		{"bytes after last field", plainBatch(1, rec(byte(0), 0, 0, -1, -1, 0, "junk")), ErrCorrupt, ErrInvalidRecord, "4 bytes follow its last field"},
		{"negative count", plainBatch(-1, ok), ErrInvalidRecordCount, ErrInvalidRecordCount, "negative"},
		{"count cannot fit", plainBatch(1<<30, ok), ErrInvalidRecordCount, ErrInvalidRecordCount, "cannot fit"},
	}
}

func TestDecodeMalformedRecords(t *testing.T) {
	for _, tc := range malformedBatches() {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeRecords(nil, tc.batch, DecodeOptions{})
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.message) {
				t.Fatalf("got %v, want %v mentioning %q", err, tc.want, tc.message)
			}
		})
	}
}

func TestDecodeZeroRecords(t *testing.T) {
	// Compaction can leave an empty batch behind; decoding it is not an
	// error, but validating it as producer input is.
	b := plainBatch(0, nil)
	recs, err := DecodeRecords(nil, b, DecodeOptions{})
	if err != nil || len(recs) != 0 {
		t.Fatalf("got %d records, %v", len(recs), err)
	}
	if _, err := Validate(b, 0); !errors.Is(err, ErrInvalidRecordCount) {
		t.Fatalf("Validate: %v, want ErrInvalidRecordCount", err)
	}
}

func TestDecodeAliasesDoNotOverlap(t *testing.T) {
	b := mustBuild(t, BuildOptions{}, []Record{{Key: []byte("k"), Value: []byte("v")}, {Key: []byte("k2")}})
	recs, err := DecodeRecords(nil, b, DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_ = append(recs[0].Key, 'X') // must not clobber the value that follows
	if string(recs[0].Value) != "v" {
		t.Fatalf("append to key overwrote value: %q", recs[0].Value)
	}
}

func TestDecompressionIsBounded(t *testing.T) {
	// 4 MiB of zeros compresses to a few KiB in every codec.
	recs := []Record{{Value: make([]byte, 4<<20)}}
	batches := map[string][]byte{"raw snappy": rawSnappyBatch(t, recs)}
	for _, codec := range allCodecs[1:] {
		batches[codec.String()] = mustBuild(t, BuildOptions{Codec: codec}, recs)
	}
	for name, b := range batches {
		if len(b) > 512<<10 {
			t.Fatalf("%s: %d bytes did not compress", name, len(b))
		}
		if _, err := DecodeRecords(nil, b, DecodeOptions{MaxDecompressedBytes: 1 << 20}); !errors.Is(err, ErrTooLarge) {
			t.Errorf("%s with a 1 MiB limit: %v, want ErrTooLarge", name, err)
		}
		if _, err := DecodeRecords(nil, b, DecodeOptions{MaxDecompressedBytes: 5 << 20}); err != nil {
			t.Errorf("%s with a 5 MiB limit: %v", name, err)
		}
	}
}

func TestSnappyLiesAboutLength(t *testing.T) {
	// A 6-byte block claiming 60 MiB must be refused before allocating.
	block := binary.AppendUvarint(nil, 60<<20)
	block = append(block, 0, 'x')
	b := plainBatch(1, block)
	fixup(b, func(h []byte) { h[offAttributes+1] |= byte(CodecSnappy) })
	_, err := DecodeRecords(nil, b, DecodeOptions{})
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("got %v, want ErrCorrupt", err)
	}
	// The same inside xerial framing.
	x := append([]byte(nil), xerialMagic...)
	x = append(x, 0, 0, 0, 1, 0, 0, 0, 1)
	x = binary.BigEndian.AppendUint32(x, uint32(len(block)))
	x = append(x, block...)
	b = plainBatch(1, x)
	fixup(b, func(h []byte) { h[offAttributes+1] |= byte(CodecSnappy) })
	if _, err := DecodeRecords(nil, b, DecodeOptions{}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("xerial: got %v, want ErrCorrupt", err)
	}
}

func TestXerialMalformed(t *testing.T) {
	hdr := append(append([]byte(nil), xerialMagic...), 0, 0, 0, 1, 0, 0, 0, 1)
	good := s2.EncodeSnappy(nil, rec(byte(0), 0, 0, -1, -1, 0))
	cases := map[string][]byte{
		"short header":        hdr[:12],
		"short chunk length":  append(append([]byte(nil), hdr...), 0, 0),
		"negative chunk":      append(append([]byte(nil), hdr...), 0xff, 0xff, 0xff, 0xff, 1),
		"chunk past end":      binary.BigEndian.AppendUint32(append([]byte(nil), hdr...), 100),
		"chunk not snappy":    append(binary.BigEndian.AppendUint32(append([]byte(nil), hdr...), 3), 0xff, 0xff, 0xff),
		"good then truncated": append(append(binary.BigEndian.AppendUint32(append([]byte(nil), hdr...), uint32(len(good))), good...), 0, 0, 0, 9),
	}
	for name, section := range cases {
		b := plainBatch(1, section)
		fixup(b, func(h []byte) { h[offAttributes+1] |= byte(CodecSnappy) })
		if _, err := DecodeRecords(nil, b, DecodeOptions{}); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: got %v, want ErrCorrupt", name, err)
		}
	}
}

func TestCompressedStreamsDamaged(t *testing.T) {
	for _, codec := range allCodecs[1:] {
		b := mustBuild(t, BuildOptions{Codec: codec}, simpleRecords(20, 100))
		// Cut the compressed stream short, keeping the framing valid.
		cut := append([]byte(nil), b[:len(b)-5]...)
		fixup(cut, func([]byte) {})
		if _, err := DecodeRecords(nil, cut, DecodeOptions{}); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s cut short: %v, want ErrCorrupt", codec, err)
		}
		// Garbage instead of a stream.
		junk := append(append([]byte(nil), b[:HeaderSize]...), bytes.Repeat([]byte{0xa5}, 64)...)
		fixup(junk, func([]byte) {})
		if _, err := DecodeRecords(nil, junk, DecodeOptions{}); err == nil {
			t.Errorf("%s garbage: decoded without error", codec)
		}
	}
}

func TestVarintDecoders(t *testing.T) {
	for _, v := range []int64{0, 1, -1, 63, -64, 64, 1 << 20, -(1 << 20), 1<<31 - 1, -1 << 31} {
		enc := binary.AppendVarint(nil, v)
		got, n := varint(enc)
		if n != len(enc) || int64(got) != v {
			t.Errorf("varint(%x) = %d, %d; want %d, %d", enc, got, n, v, len(enc))
		}
	}
	for _, v := range []int64{0, -1, 1 << 40, -1 << 63, 1<<63 - 1} {
		enc := binary.AppendVarint(nil, v)
		got, n := varlong(enc)
		if n != len(enc) || got != v {
			t.Errorf("varlong(%x) = %d, %d; want %d, %d", enc, got, n, v, len(enc))
		}
	}
	if _, n := varint(binary.AppendVarint(nil, 1<<31)); n != 0 {
		t.Error("varint accepted a value past int32")
	}
	if _, n := varlong([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}); n != 0 {
		t.Error("varlong accepted a value past int64")
	}
}
