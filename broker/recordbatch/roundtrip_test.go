package recordbatch

import (
	"errors"
	"io"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/klauspost/compress/s2"
)

func TestRoundTripRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := range 300 {
		codec := allCodecs[iter%len(allCodecs)]
		recs := randRecords(rng, 60)
		opts := BuildOptions{
			BaseOffset:           rng.Int64N(1 << 40),
			PartitionLeaderEpoch: rng.Int32N(100),
			Codec:                codec,
			LogAppendTime:        rng.IntN(5) == 0,
			Transactional:        rng.IntN(4) == 0,
		}
		if rng.IntN(2) == 0 {
			opts.Producer = &Producer{ID: rng.Int64N(1 << 30), Epoch: int16(rng.IntN(10)), BaseSequence: rng.Int32N(1000)}
		}
		b := mustBuild(t, opts, recs)
		h, err := Validate(b, 0)
		if err != nil {
			t.Fatalf("iter %d (%s): Validate: %v", iter, codec, err)
		}
		checkHeader(t, h, opts, recs)
		got, err := DecodeRecords(nil, b, DecodeOptions{})
		if err != nil {
			t.Fatalf("iter %d (%s): DecodeRecords: %v", iter, codec, err)
		}
		checkRecords(t, h, recs, got)

		// Rebuilding decoded records gives the same uncompressed bytes.
		if codec == CodecNone && !opts.LogAppendTime {
			again := mustBuild(t, opts, got)
			if string(again) != string(b) {
				t.Fatalf("iter %d: rebuilt batch differs", iter)
			}
		}
	}
}

func checkHeader(t *testing.T, h Header, opts BuildOptions, recs []Record) {
	t.Helper()
	maxTS := recs[0].Timestamp
	for _, r := range recs {
		maxTS = max(maxTS, r.Timestamp)
	}
	pid, epoch, seq := int64(-1), int16(-1), int32(-1)
	if opts.Producer != nil {
		pid, epoch, seq = opts.Producer.ID, opts.Producer.Epoch, opts.Producer.BaseSequence
	}
	switch {
	case h.BaseOffset != opts.BaseOffset, h.PartitionLeaderEpoch != opts.PartitionLeaderEpoch,
		h.Codec() != opts.Codec, h.IsTransactional() != opts.Transactional, h.IsControl() != opts.Control,
		(h.TimestampType() == TimestampLogAppend) != opts.LogAppendTime,
		h.NumRecords != int32(len(recs)), h.LastOffsetDelta != int32(len(recs)-1),
		h.LastOffset() != opts.BaseOffset+int64(len(recs)-1),
		h.BaseTimestamp != recs[0].Timestamp, h.MaxTimestamp != maxTS,
		h.ProducerID != pid, h.ProducerEpoch != epoch, h.BaseSequence != seq:
		t.Fatalf("header %+v does not match options %+v with %d records", h, opts, len(recs))
	}
}

func TestRoundTripEveryCodecShapes(t *testing.T) {
	shapes := map[string][]Record{
		"one null record":   {{Timestamp: 5}},
		"empty key value":   {{Timestamp: 5, Key: []byte{}, Value: []byte{}}},
		"headers null vals": {{Timestamp: 5, Headers: []RecordHeader{{Key: "a"}, {Key: "", Value: []byte{}}, {Key: "c", Value: []byte("v")}}}},
		"negative deltas":   {{Timestamp: 100}, {Timestamp: 50}, {Timestamp: -7}, {Timestamp: 1 << 50}},
		"many small":        simpleRecords(1000, 10),
		"few big":           simpleRecords(3, 300<<10),
	}
	for name, recs := range shapes {
		for _, codec := range allCodecs {
			t.Run(name+"/"+codec.String(), func(t *testing.T) {
				opts := BuildOptions{Codec: codec, Control: name == "one null record", Producer: &Producer{ID: 7, Epoch: 1}}
				b := mustBuild(t, opts, recs)
				h, err := Validate(b, 0)
				if err != nil {
					t.Fatal(err)
				}
				checkHeader(t, h, opts, recs)
				it, err := Records(b, DecodeOptions{})
				if err != nil {
					t.Fatal(err)
				}
				var got []Record
				for {
					r, err := it.Next()
					if err == io.EOF {
						break
					}
					if err != nil {
						t.Fatal(err)
					}
					got = append(got, r)
				}
				if _, err := it.Next(); err != io.EOF {
					t.Fatalf("Next after the end: %v, want io.EOF", err)
				}
				checkRecords(t, h, recs, got)
			})
		}
	}
}

func TestAppendBatch(t *testing.T) {
	prefix := []byte("prefix")
	out, err := AppendBatch(prefix, BuildOptions{Codec: CodecZstd}, simpleRecords(4, 20))
	if err != nil {
		t.Fatal(err)
	}
	if string(out[:len(prefix)]) != "prefix" {
		t.Fatal("prefix overwritten")
	}
	if _, err := Validate(out[len(prefix):], 0); err != nil {
		t.Fatal(err)
	}
	if _, err := AppendBatch(prefix, BuildOptions{}, nil); !errors.Is(err, ErrInvalidRecordCount) {
		t.Fatalf("no records: %v, want ErrInvalidRecordCount", err)
	}
	if _, err := AppendBatch(prefix, BuildOptions{Codec: 6}, simpleRecords(1, 1)); !errors.Is(err, ErrUnknownCodec) {
		t.Fatalf("codec 6: %v, want ErrUnknownCodec", err)
	}
}

// TestSnappyRawBlock checks that a records section compressed as one raw
// snappy block (the framing older Go clients send) decodes as well as the
// xerial framing.
func TestSnappyRawBlock(t *testing.T) {
	recs := simpleRecords(50, 100)
	b := rawSnappyBatch(t, recs)
	if _, err := Validate(b, 0); err != nil {
		t.Fatal(err)
	}
	got, err := DecodeRecords(nil, b, DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	h, _ := ParseHeader(b)
	checkRecords(t, h, recs, got)
}

// rawSnappyBatch builds an uncompressed batch and rewrites its records
// section as a single raw snappy block.
func rawSnappyBatch(tb testing.TB, recs []Record) []byte {
	tb.Helper()
	plain := mustBuild(tb, BuildOptions{}, recs)
	out := append([]byte(nil), plain[:HeaderSize]...)
	out = append(out, s2.EncodeSnappy(nil, plain[HeaderSize:])...)
	fixup(out, func(h []byte) { h[offAttributes+1] |= byte(CodecSnappy) })
	return out
}

// fixup applies edit to a batch's header, then rewrites its length and CRC.
func fixup(b []byte, edit func(h []byte)) {
	edit(b)
	be32(b[offBatchLength:], uint32(len(b)-lengthPrefix))
	putCRC(b)
}

func be32(b []byte, v uint32) { b[0], b[1], b[2], b[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v) }

// TestConcurrentDecode runs the pooled and shared codecs from several
// goroutines at once; run it with -race.
func TestConcurrentDecode(t *testing.T) {
	recs := simpleRecords(200, 64)
	var batches [][]byte
	for _, codec := range allCodecs {
		batches = append(batches, mustBuild(t, BuildOptions{Codec: codec}, recs))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				b := batches[(g+i)%len(batches)]
				if _, err := Validate(b, 0); err != nil {
					errs <- err
					return
				}
				got, err := DecodeRecords(nil, b, DecodeOptions{})
				if err != nil {
					errs <- err
					return
				}
				if len(got) != len(recs) || string(got[199].Value) != string(recs[199].Value) {
					errs <- errors.New("decoded records differ")
					return
				}
				if _, err := Build(BuildOptions{Codec: allCodecs[i%len(allCodecs)]}, recs); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
