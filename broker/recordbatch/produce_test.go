package recordbatch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// produceNow is the broker clock of the produce tests.
var produceNow = time.UnixMilli(1_700_000_000_000)

func TestValidateProducedAcceptsWellFormedBatches(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 9))
	rules := DefaultProduceRules(produceNow)
	for i := range 200 {
		recs := randRecords(rng, 50)
		codec := allCodecs[i%len(allCodecs)]
		opts := BuildOptions{Codec: codec}
		if i%3 == 0 {
			opts.Producer = &Producer{ID: 5, Epoch: 1, BaseSequence: int32(i)}
		}
		b := mustBuild(t, opts, recs)
		orig := bytes.Clone(b)
		p, err := ValidateProduced(b, rules)
		if err != nil {
			t.Fatalf("batch %d (%s): %v", i, codec, err)
		}
		if !bytes.Equal(b, orig) {
			t.Fatalf("batch %d: ValidateProduced modified its input", i)
		}
		want := int64(NoTimestamp)
		for _, r := range recs {
			want = max(want, r.Timestamp)
		}
		if p.MaxTimestamp != want || p.Header.MaxTimestamp != want || p.Header.NumRecords != int32(len(recs)) {
			t.Fatalf("batch %d: max timestamp %d (header %d), %d records; want %d and %d", i, p.MaxTimestamp, p.Header.MaxTimestamp, p.Header.NumRecords, want, len(recs))
		}
	}
	// A raw (unframed) snappy block, as franz-go writes it.
	if _, err := ValidateProduced(rawSnappyBatch(t, simpleRecords(10, 50)), rules); err != nil {
		t.Fatalf("raw snappy: %v", err)
	}
}

func TestValidateProducedUncompressedAllocatesNothing(t *testing.T) {
	b := mustBuild(t, BuildOptions{}, []Record{
		{Timestamp: 1, Key: []byte("k"), Value: []byte("v"), Headers: []RecordHeader{{Key: "h", Value: []byte("x")}}},
		{Timestamp: 2, Value: bytes.Repeat([]byte("y"), 300)},
	})
	rules := DefaultProduceRules(produceNow)
	if n := testing.AllocsPerRun(100, func() {
		if _, err := ValidateProduced(b, rules); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("%v allocations per uncompressed batch, want 0", n)
	}
}

// TestValidateProducedMalformedRecords runs every malformed batch of the
// reader's tests through the produce check: each is refused as an invalid
// record (not as damage) and names the record at fault when there is one.
func TestValidateProducedMalformedRecords(t *testing.T) {
	rules := DefaultProduceRules(produceNow)
	for _, tc := range malformedBatches() {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ValidateProduced(tc.batch, rules)
			if tc.produce == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, tc.produce) || errors.Is(err, ErrCorrupt) {
				t.Fatalf("got %v, want %v", err, tc.produce)
			}
			var be *BatchError
			if !errors.As(err, &be) {
				t.Fatalf("%T is no *BatchError", err)
			}
			if tc.produce == ErrInvalidRecord && (len(be.Records) != 1 || be.Records[0].Message == "") {
				t.Fatalf("records at fault %+v, want the one malformed record", be.Records)
			}
		})
	}
}

// offsetDeltaBatch is an uncompressed batch of records with the given offset
// deltas, its header consistent with their count.
func offsetDeltaBatch(deltas ...int) []byte {
	var body []byte
	for _, d := range deltas {
		body = append(body, rec(byte(0), 0, d, -1, 1, "v", 0)...)
	}
	return plainBatch(int32(len(deltas)), body)
}

// compressedBody is a batch whose records section is body compressed with
// codec, the header otherwise made for count records.
func compressedBody(t *testing.T, codec Codec, count int32, body []byte) []byte {
	t.Helper()
	z, err := appendCompressed(nil, codec, body)
	if err != nil {
		t.Fatal(err)
	}
	b := plainBatch(count, z)
	fixup(b, func(h []byte) { h[offAttributes+1] |= byte(codec) })
	return b
}

func TestValidateProducedRefuses(t *testing.T) {
	valid := mustBuild(t, BuildOptions{}, simpleRecords(3, 10))
	rules := DefaultProduceRules(produceNow)
	now := produceNow.UnixMilli()
	withHeader := func(b []byte, edit func(h []byte)) []byte {
		b = bytes.Clone(b)
		fixup(b, edit)
		return b
	}
	tsBatch := func(stamps ...int64) []byte {
		recs := make([]Record, len(stamps))
		for i, ts := range stamps {
			recs[i] = Record{Timestamp: ts, Value: []byte("v")}
		}
		return mustBuild(t, BuildOptions{}, recs)
	}
	garbage := bytes.Repeat([]byte{0x5a, 0xa5, 0x00, 0xff}, 50)
	bomb := mustBuild(t, BuildOptions{Codec: CodecZstd}, []Record{{Value: make([]byte, 2<<20)}})
	badRecordsCompressed := compressedBody(t, CodecLZ4, 1, offsetDeltaBatch(0, 1)[HeaderSize:HeaderSize+7])

	cases := []struct {
		name    string
		batch   []byte
		rules   func(*ProduceRules)
		want    error
		records []int32 // the records named at fault
		message string
	}{
		{"crc", append(bytes.Clone(valid[:len(valid)-1]), valid[len(valid)-1]^1), nil, ErrCorrupt, nil, "crc mismatch"},
		{"gzip garbage", compressedGarbage(CodecGzip, 3, garbage), nil, ErrCorrupt, nil, "gzip"},
		{"snappy garbage", compressedGarbage(CodecSnappy, 3, garbage), nil, ErrCorrupt, nil, "snappy"},
		{"lz4 garbage", compressedGarbage(CodecLZ4, 3, garbage), nil, ErrCorrupt, nil, "lz4"},
		{"zstd garbage", compressedGarbage(CodecZstd, 3, garbage), nil, ErrCorrupt, nil, "zstd"},
		{"decompresses past the limit", bomb, func(r *ProduceRules) { r.Decode.MaxDecompressedBytes = 1 << 20 }, ErrTooLarge, nil, "more than 1048576"},
		{"compressed malformed records", badRecordsCompressed, nil, ErrInvalidRecord, []int32{0}, "record 0"},
		{"compressed count mismatch", compressedBody(t, CodecGzip, 3, offsetDeltaBatch(0, 1)[HeaderSize:]), nil, ErrInvalidRecordCount, nil, "record count 3"},
		{"duplicate offset deltas", offsetDeltaBatch(0, 0, 1), nil, ErrInvalidRecord, []int32{1}, "offset delta 0"},
		{"decreasing offset deltas", offsetDeltaBatch(1, 0), nil, ErrInvalidRecord, []int32{0}, "offset delta 1"},
		{"offset deltas with a gap", offsetDeltaBatch(0, 2, 3), nil, ErrInvalidRecord, []int32{1}, "offset delta 2"},
		{"compressed offset deltas", compressedBody(t, CodecZstd, 2, offsetDeltaBatch(0, 5)[HeaderSize:]), nil, ErrInvalidRecord, []int32{1}, "offset delta 5"},
		{"count disagrees with last offset delta", withHeader(valid, func(h []byte) { binary.BigEndian.PutUint32(h[offLastOffsetDelta:], 5) }), nil, ErrInvalidRecordCount, nil, "lastOffsetDelta 5"},
		{"control batch", withHeader(valid, func(h []byte) { h[offAttributes+1] |= byte(AttrControl) }), nil, ErrInvalidRecord, nil, "control batch"},
		{"producer id without sequence", mustBuild(t, BuildOptions{Producer: &Producer{ID: 3, Epoch: 0, BaseSequence: -1}}, simpleRecords(1, 1)), nil, ErrInvalidRecord, nil, "needs a sequence"},
		{"log append time from a producer", withHeader(valid, func(h []byte) { h[offAttributes+1] |= byte(AttrLogAppendTime) }), nil, ErrInvalidTimestamp, []int32{0, 1, 2}, "LogAppendTime"},
		{"over an hour ahead", tsBatch(now, now+time.Hour.Milliseconds()+1, now-5, now+2*time.Hour.Milliseconds()), nil, ErrInvalidTimestamp, []int32{1, 3}, "2 of 4 records have a timestamp outside [any, 1700003600000]"},
		{"too old for before.max", tsBatch(now-2000, now-500), func(r *ProduceRules) { r.TimestampBeforeMax = 1000 }, ErrInvalidTimestamp, []int32{0}, "outside [1699999999000, 1700003600000]"},
		{"after.max 0", tsBatch(now, now+1), func(r *ProduceRules) { r.TimestampAfterMax = 0 }, ErrInvalidTimestamp, []int32{1}, "1 of 2"},
		{"extreme timestamps", tsBatch(math.MinInt64+1, math.MaxInt64), nil, ErrInvalidTimestamp, []int32{1}, "1 of 2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := rules
			if tc.rules != nil {
				tc.rules(&r)
			}
			orig := bytes.Clone(tc.batch)
			_, err := ValidateProduced(tc.batch, r)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.message) {
				t.Fatalf("got %v, want %v mentioning %q", err, tc.want, tc.message)
			}
			if !bytes.Equal(tc.batch, orig) {
				t.Fatal("ValidateProduced modified its input")
			}
			var be *BatchError
			if !errors.As(err, &be) {
				t.Fatalf("%T is no *BatchError", err)
			}
			var got []int32
			for _, re := range be.Records {
				got = append(got, re.Index)
				if re.Message == "" {
					t.Errorf("record %d named without a message", re.Index)
				}
			}
			if !equalIndexes(got, tc.records) {
				t.Fatalf("records at fault %v, want %v", got, tc.records)
			}
		})
	}
}

func equalIndexes(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// compressedGarbage is a batch of count records whose compressed records
// section is garbage, with a valid CRC.
func compressedGarbage(codec Codec, count int32, garbage []byte) []byte {
	b := plainBatch(count, garbage)
	fixup(b, func(h []byte) { h[offAttributes+1] |= byte(codec) })
	return b
}

func TestValidateProducedTimestampRules(t *testing.T) {
	now := produceNow.UnixMilli()
	old := mustBuild(t, BuildOptions{}, []Record{{Timestamp: 5, Value: []byte("a")}, {Timestamp: NoTimestamp, Value: []byte("b")}})
	future := mustBuild(t, BuildOptions{}, []Record{{Timestamp: now + 10*time.Hour.Milliseconds()}})

	// Kafka's defaults: any time before, an hour ahead.
	rules := DefaultProduceRules(produceNow)
	if p, err := ValidateProduced(old, rules); err != nil || p.MaxTimestamp != 5 {
		t.Fatalf("old records: %+v, %v", p, err)
	}
	if _, err := ValidateProduced(future, rules); !errors.Is(err, ErrInvalidTimestamp) {
		t.Fatalf("10 h ahead: %v, want ErrInvalidTimestamp", err)
	}
	// A record without a timestamp passes any window; alone it leaves the
	// max timestamp at NoTimestamp.
	tight := rules
	tight.TimestampBeforeMax, tight.TimestampAfterMax = 0, 0
	none := mustBuild(t, BuildOptions{}, []Record{{Timestamp: NoTimestamp}})
	if p, err := ValidateProduced(none, tight); err != nil || p.MaxTimestamp != NoTimestamp {
		t.Fatalf("no timestamp: %+v, %v", p, err)
	}
	// With LogAppendTime the broker's clock replaces the producer's.
	lat := rules
	lat.LogAppendTime = true
	lat.TimestampBeforeMax, lat.TimestampAfterMax = 0, 0
	if _, err := ValidateProduced(future, lat); err != nil {
		t.Fatalf("LogAppendTime topic: %v", err)
	}
	// No limits at all.
	open := rules
	open.TimestampAfterMax = NoTimestampLimit
	if _, err := ValidateProduced(future, open); err != nil {
		t.Fatalf("no after limit: %v", err)
	}
}

func TestValidateProducedNamesAtMostMaxRecordErrors(t *testing.T) {
	recs := make([]Record, 3*MaxRecordErrors)
	for i := range recs {
		recs[i] = Record{Timestamp: produceNow.Add(48 * time.Hour).UnixMilli()}
	}
	_, err := ValidateProduced(mustBuild(t, BuildOptions{}, recs), DefaultProduceRules(produceNow))
	var be *BatchError
	if !errors.As(err, &be) || len(be.Records) != MaxRecordErrors || !strings.Contains(be.Reason, "300 of 300") {
		t.Fatalf("got %v naming %d records", err, len(be.Records))
	}
}

func TestSetMaxTimestamp(t *testing.T) {
	b := mustBuild(t, BuildOptions{}, []Record{{Timestamp: 100, Value: []byte("a")}, {Timestamp: 300, Value: []byte("b")}})
	sh, err := ParseHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	if SetMaxTimestamp(b, &sh, TimestampCreate, 300) {
		t.Fatal("SetMaxTimestamp changed a batch that already had the values")
	}
	// A producer's wrong max timestamp is replaced by the records' own.
	if !SetMaxTimestamp(b, &sh, TimestampCreate, 250) {
		t.Fatal("no change reported")
	}
	h, err := Validate(b, 0)
	if err != nil || h.MaxTimestamp != 250 || h.TimestampType() != TimestampCreate || sh != h {
		t.Fatalf("after CreateTime stamp: %+v (stamped header %+v), %v", h, sh, err)
	}
	// LogAppendTime: the broker's clock stands for every record.
	if !SetMaxTimestamp(b, &sh, TimestampLogAppend, 999) {
		t.Fatal("no change reported")
	}
	recs, err := DecodeRecords(nil, b, DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.Timestamp != 999 {
			t.Fatalf("record timestamp %d after LogAppendTime stamp, want 999", r.Timestamp)
		}
	}
	if h, err := Validate(b, 0); err != nil || h.TimestampType() != TimestampLogAppend || h.Codec() != CodecNone || sh != h {
		t.Fatalf("after LogAppendTime stamp: %+v (stamped header %+v), %v", h, sh, err)
	}
}
