package recordbatch

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/broker/recordbatch/recordbatchtest"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the checked-in fuzz seed corpus under testdata/fuzz")

// fuzzLimit keeps fuzzed decompression small so that iterations stay fast.
const fuzzLimit = 1 << 20

// seedBatches returns valid batches of every codec plus broken ones, named
// for the corpus files.
func seedBatches(tb testing.TB) map[string][]byte {
	seeds := map[string][]byte{}
	recs := []Record{
		{Timestamp: 10, Key: []byte("k"), Value: []byte("value")},
		{Timestamp: 9, Value: []byte{}, Headers: []RecordHeader{{Key: "h", Value: []byte("v")}, {Key: "n"}}},
		{Timestamp: 12, Key: []byte{}},
	}
	for _, codec := range allCodecs {
		b := mustBuild(tb, BuildOptions{BaseOffset: 5, Codec: codec, Producer: &Producer{ID: 1, Epoch: 2, BaseSequence: 3}}, recs)
		seeds["valid-"+codec.String()] = b
	}
	seeds["valid-snappy-raw"] = rawSnappyBatch(tb, recs)
	plain := seeds["valid-none"]
	flip := bytes.Clone(plain)
	flip[offCRC] ^= 1
	seeds["bad-crc"] = flip
	seeds["truncated"] = plain[:len(plain)-4]
	seeds["header-only"] = plain[:HeaderSize]
	magic := bytes.Clone(plain)
	magic[offMagic] = 1
	seeds["bad-magic"] = magic
	count := bytes.Clone(plain)
	fixup(count, func(h []byte) { h[offRecordCount+3] = 7 })
	seeds["bad-count"] = count
	seeds["bad-record-length"] = plainBatch(1, rec(byte(0), 0, 0, 90, "k", -1, 0))
	seeds["two-batches"] = append(bytes.Clone(plain), seeds["valid-zstd"]...)
	seeds["dup-offset-deltas"] = plainBatch(2, append(rec(byte(0), 0, 0, -1, 1, "a", 0), rec(byte(0), 0, 0, -1, 1, "b", 0)...))
	seeds["gzip-garbage"] = compressedGarbage(CodecGzip, 1, []byte("not a gzip stream at all"))
	lat := bytes.Clone(plain)
	fixup(lat, func(h []byte) { h[offAttributes+1] |= byte(AttrLogAppendTime) })
	seeds["log-append-time"] = lat
	return seeds
}

func addSeeds(f *testing.F) {
	for _, b := range seedBatches(f) {
		f.Add(b)
	}
}

func FuzzValidate(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		orig := bytes.Clone(b)
		h, err := Validate(b, 1<<20)
		if !bytes.Equal(b, orig) {
			t.Fatal("Validate modified its input")
		}
		if err != nil {
			if !isPackageError(err) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			return
		}
		if h.Size() != len(b) || h.NumRecords < 1 || !h.Codec().Valid() {
			t.Fatalf("accepted inconsistent header %+v for %d bytes", h, len(b))
		}
		// A valid batch survives the log's header stamps.
		SetBaseOffset(b, 99)
		SetPartitionLeaderEpoch(b, 7)
		if _, err := Validate(b, 1<<20); err != nil {
			t.Fatalf("stamping broke a valid batch: %v", err)
		}
	})
}

func FuzzDecodeRecords(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		h, _ := ParseHeader(b)
		recs, err := DecodeRecords(nil, b, DecodeOptions{MaxDecompressedBytes: fuzzLimit})
		if err != nil {
			if !isPackageError(err) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			return
		}
		if len(recs) != int(h.NumRecords) {
			t.Fatalf("decoded %d records, header says %d", len(recs), h.NumRecords)
		}
		// Whatever decodes re-encodes to records that decode the same.
		if len(recs) == 0 || h.TimestampType() == TimestampLogAppend {
			return
		}
		rebuilt, err := Build(BuildOptions{BaseOffset: h.BaseOffset, Codec: CodecNone}, recs)
		if err != nil {
			t.Fatalf("Build of decoded records: %v", err)
		}
		again, err := DecodeRecords(nil, rebuilt, DecodeOptions{})
		if err != nil {
			t.Fatalf("decode of rebuilt batch: %v", err)
		}
		for i := range recs {
			a, b := recs[i], again[i]
			if a.Timestamp != b.Timestamp || !equalBytes(a.Key, b.Key) || !equalBytes(a.Value, b.Value) || len(a.Headers) != len(b.Headers) {
				t.Fatalf("record %d changed across rebuild", i)
			}
		}
	})
}

func FuzzNext(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, buf []byte) {
		total := 0
		for rest := buf; ; {
			batch, r, err := Next(rest)
			if err == io.EOF {
				if total != len(buf) {
					t.Fatalf("io.EOF after %d of %d bytes", total, len(buf))
				}
				return
			}
			if err != nil {
				if !isPackageError(err) || batch != nil || len(r) != len(rest) {
					t.Fatalf("bad failure: %v, batch %d bytes, rest %d of %d", err, len(batch), len(r), len(rest))
				}
				return
			}
			if len(batch) < HeaderSize || len(batch)+len(r) != len(rest) {
				t.Fatalf("batch %d bytes + rest %d != %d", len(batch), len(r), len(rest))
			}
			if _, err := ParseHeader(batch); err != nil {
				t.Fatalf("Next returned a batch ParseHeader refuses: %v", err)
			}
			total += len(batch)
			rest = r
		}
	})
}

// fuzzRules are the produce rules of FuzzValidateProduced: Kafka's defaults
// at a fixed clock, decompression bounded by fuzzLimit.
func fuzzRules() ProduceRules {
	r := DefaultProduceRules(time.UnixMilli(1_700_000_000_000))
	r.Decode.MaxDecompressedBytes = fuzzLimit
	return r
}

// FuzzValidateProduced checks the produce-path validation on fuzzed bytes as
// they are, and again with the framing and CRC made right so that the
// fuzzer explores what is inside a batch with a valid checksum. Whatever it
// accepts must decode, in this package and in franz-go's consumer, into
// exactly the records the header promises, offset deltas 0..n-1, timestamps
// in the topic's window.
func FuzzValidateProduced(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		checkProduced(t, b)
		if len(b) >= HeaderSize {
			fixed := bytes.Clone(b)
			fixed[offMagic] = Magic
			fixup(fixed, func([]byte) {})
			checkProduced(t, fixed)
		}
	})
}

func checkProduced(t *testing.T, b []byte) {
	rules := fuzzRules()
	orig := bytes.Clone(b)
	p, err := ValidateProduced(b, rules)
	if !bytes.Equal(b, orig) {
		t.Fatal("ValidateProduced modified its input")
	}
	if err != nil {
		if !isPackageError(err) {
			t.Fatalf("error %v wraps no sentinel", err)
		}
		var be *BatchError
		if !errors.As(err, &be) || len(be.Records) > MaxRecordErrors {
			t.Fatalf("error %v: %T naming %d records", err, err, len(be.Records))
		}
		return
	}
	h := p.Header
	recs, err := DecodeRecords(nil, b, DecodeOptions{MaxDecompressedBytes: fuzzLimit})
	if err != nil || len(recs) != int(h.NumRecords) {
		t.Fatalf("accepted batch decodes to %d records (header %d): %v", len(recs), h.NumRecords, err)
	}
	w := rules.window(&h)
	for i, r := range recs {
		if r.OffsetDelta != int32(i) || !w.accepts(r.Timestamp) || r.Timestamp > p.MaxTimestamp {
			t.Fatalf("accepted record %d: offset delta %d timestamp %d (max %d)", i, r.OffsetDelta, r.Timestamp, p.MaxTimestamp)
		}
	}
	// The broker stamps the max timestamp and offsets; the batch stays
	// acceptable and franz-go's consumer reads exactly these records.
	stamped := bytes.Clone(b)
	sh := p.Header
	SetMaxTimestamp(stamped, &sh, TimestampCreate, p.MaxTimestamp)
	if again, err := ValidateProduced(stamped, rules); err != nil || again.Header.MaxTimestamp != p.MaxTimestamp || again.Header != sh {
		t.Fatalf("after stamping: %+v (the stamped header says %+v), %v", again.Header, sh, err)
	}
	SetBaseOffset(stamped, 1000)
	got, err := recordbatchtest.FranzGoDecode(stamped, 1000)
	if err != nil || len(got) != len(recs) {
		t.Fatalf("franz-go decodes %d of %d records: %v", len(got), len(recs), err)
	}
	for i, g := range got {
		r := recs[i]
		if g.Offset != 1000+int64(i) || !bytes.Equal(g.Key, r.Key) || !bytes.Equal(g.Value, r.Value) || len(g.Headers) != len(r.Headers) {
			t.Fatalf("franz-go record %d at offset %d differs from ours", i, g.Offset)
		}
	}
}

func isPackageError(err error) bool {
	for _, s := range []error{ErrCorrupt, ErrTruncated, ErrTooLarge, ErrUnsupportedMagic, ErrInvalidRecordCount, ErrUnknownCodec, ErrInvalidRecord, ErrInvalidTimestamp} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// TestWriteSeedCorpus regenerates testdata/fuzz when run with
// -update-corpus; otherwise it checks that the corpus is present.
func TestWriteSeedCorpus(t *testing.T) {
	for _, target := range []string{"FuzzValidate", "FuzzDecodeRecords", "FuzzNext", "FuzzValidateProduced"} {
		dir := filepath.Join("testdata", "fuzz", target)
		if !*updateCorpus {
			entries, err := os.ReadDir(dir)
			if err != nil || len(entries) == 0 {
				t.Fatalf("seed corpus %s missing (run go test -run TestWriteSeedCorpus -update-corpus): %v", dir, err)
			}
			continue
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, b := range seedBatches(t) {
			content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
			if err := os.WriteFile(filepath.Join(dir, "seed-"+name), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
