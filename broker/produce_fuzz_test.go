package broker_test

import (
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/broker/recordbatch"
	"github.com/runnel-dev/runnel/broker/recordbatch/recordbatchtest"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the checked-in fuzz seed corpus under testdata/fuzz")

// fuzzCompressors are franz-go's own compressors, by the codec number (1 to
// 4, as in the attributes) a fuzz input may ask the harness to compress its
// records section with. They are made once: each holds pooled encoders (and
// zstd's goroutines) for the life of the process.
var fuzzCompressors = func() map[uint8]kgo.Compressor {
	m := map[uint8]kgo.Compressor{}
	for n, codec := range map[uint8]kgo.CompressionCodec{
		1: kgo.GzipCompression(), 2: kgo.SnappyCompression(), 3: kgo.Lz4Compression(), 4: kgo.ZstdCompression(),
	} {
		c, err := kgo.DefaultCompressor(codec)
		if err != nil {
			panic(err)
		}
		m[n] = c
	}
	return m
}()

// fuzzBatch assembles the batch a fuzz input stands for: header (padded or
// cut to 61 bytes) and body as the records section. With compress 1 to 4
// the body is compressed with that codec by franz-go's compressor and the
// attributes name it. Unless raw is set the framing is made right (magic 2,
// batch length, CRC-32C), so that the broker's checks of what is inside a
// well-framed batch are what the fuzzer explores.
func fuzzBatch(header, body []byte, compress uint8, raw bool) []byte {
	h := make([]byte, recordbatch.HeaderSize)
	copy(h, header)
	if c, ok := fuzzCompressors[compress]; ok {
		if out, typ := c.Compress(new(bytes.Buffer), body); typ > 0 {
			body = out
			binary.BigEndian.PutUint16(h[hdrAttributes:], binary.BigEndian.Uint16(h[hdrAttributes:])&^7|uint16(typ))
		}
	}
	if raw {
		return append(h, body...)
	}
	h[hdrMagic] = recordbatch.Magic
	return reframe(h, body, nil)
}

// produceSeed is one input of FuzzProduceHandler: see fuzzBatch.
type produceSeed struct {
	header, body []byte
	compress     uint8
	raw          bool
}

// produceSeeds are the fuzz seeds: batches a real client writes, for each
// codec, and poison ones.
func produceSeeds(tb testing.TB) []produceSeed {
	recs := []recordbatch.Record{
		{Timestamp: 1_700_000_000_000, Key: []byte("k"), Value: []byte("value"), Headers: []recordbatch.RecordHeader{{Key: "h", Value: []byte("v")}}},
		{Timestamp: 1_700_000_000_005, Value: []byte("second")},
		{Timestamp: 1_699_999_999_000},
	}
	plain, err := recordbatch.Build(recordbatch.BuildOptions{}, recs)
	if err != nil {
		tb.Fatal(err)
	}
	hdr, body := plain[:recordbatch.HeaderSize], plain[recordbatch.HeaderSize:]
	idem, err := recordbatch.Build(recordbatch.BuildOptions{Producer: &recordbatch.Producer{ID: 1, Epoch: 0, BaseSequence: 0}}, recs)
	if err != nil {
		tb.Fatal(err)
	}
	dup := append(append(bytes.Clone(body[:len(body)/3]), body[:len(body)/3]...), body[len(body)/3:]...)
	seeds := []produceSeed{
		{hdr, body, 0, false},
		{idem[:recordbatch.HeaderSize], idem[recordbatch.HeaderSize:], 0, false},
		{hdr, body, 0, true},
		{hdr, dup, 0, false},
		{hdr, body[:len(body)-3], 0, false},
		{hdr, []byte("garbage that is no records section"), 1, false},
	}
	for c := uint8(1); c <= 4; c++ {
		seeds = append(seeds, produceSeed{hdr, body, c, false})
	}
	return seeds
}

// FuzzProduceHandler produces fuzzed batches over the Kafka port through
// the real broker handler and checks what the produce path promises: a
// batch that is acknowledged can be fetched back and decoded by franz-go's
// consumer code, all its records at the acknowledged offsets; one that is
// refused leaves nothing in the log; no batch gets UNKNOWN_SERVER_ERROR.
func FuzzProduceHandler(f *testing.F) {
	for _, s := range produceSeeds(f) {
		f.Add(s.header, s.body, s.compress, s.raw)
	}
	c := brokertest.StartBroker(f, brokertest.Options{})
	c.CreateTopic("fuzz", 1, nil)
	raw := newRawKafka(c)
	raw.client(9) // created here: the fuzz function may not register cleanups
	f.Fuzz(func(t *testing.T, header, body []byte, compress uint8, rawFraming bool) {
		batch := fuzzBatch(header, body, compress, rawFraming)
		sent := bytes.Clone(batch)
		before := logEnd(t, c.Broker, "fuzz", 0)
		rp := raw.produce(t, 9, "fuzz", 0, batch)
		after := logEnd(t, c.Broker, "fuzz", 0)
		if rp.ErrorCode != 0 {
			if rp.ErrorCode == kerr.UnknownServerError.Code {
				t.Fatalf("UNKNOWN_SERVER_ERROR: %s", msgOf(rp.ErrorMessage))
			}
			if after != before {
				t.Fatalf("refused (%v) but the log end moved from %d to %d", kerr.ErrorForCode(rp.ErrorCode), before, after)
			}
			return
		}
		h, err := recordbatch.ParseHeader(sent)
		if err != nil {
			t.Fatalf("acknowledged a batch without a header: %v", err)
		}
		n := int64(h.NumRecords)
		dup := rp.BaseOffset < before // an idempotent retry, answered with the original's offset
		if !dup && (rp.BaseOffset != before || after != before+n) {
			t.Fatalf("acknowledged %d records at %d; log end went from %d to %d", n, rp.BaseOffset, before, after)
		}
		fp := raw.fetch(t, "fuzz", 0, rp.BaseOffset, int32(len(sent)))
		got, err := recordbatchtest.FranzGoDecode(fp.RecordBatches, rp.BaseOffset)
		if err != nil || int64(len(got)) < n {
			t.Fatalf("franz-go decodes %d of %d acknowledged records at %d: %v", len(got), n, rp.BaseOffset, err)
		}
		for i, r := range got[:n] {
			if r.Offset != rp.BaseOffset+int64(i) {
				t.Fatalf("record %d at offset %d, want %d", i, r.Offset, rp.BaseOffset+int64(i))
			}
		}
		if dup {
			return
		}
		want, err := recordbatch.DecodeRecords(nil, sent, recordbatch.DecodeOptions{})
		if err != nil {
			t.Fatalf("acknowledged batch does not decode as sent: %v", err)
		}
		for i, w := range want {
			if g := got[i]; !bytes.Equal(g.Key, w.Key) || !bytes.Equal(g.Value, w.Value) || len(g.Headers) != len(w.Headers) {
				t.Fatalf("record %d reads back differently", i)
			}
		}
	})
}

// TestWriteProduceFuzzCorpus regenerates testdata/fuzz/FuzzProduceHandler
// when run with -update-corpus; otherwise it checks that the corpus is
// present.
func TestWriteProduceFuzzCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzProduceHandler")
	if !*updateCorpus {
		if entries, err := os.ReadDir(dir); err != nil || len(entries) == 0 {
			t.Fatalf("seed corpus %s missing (run go test -run TestWriteProduceFuzzCorpus -update-corpus): %v", dir, err)
		}
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, s := range produceSeeds(t) {
		content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n[]byte(%q)\nbyte(%q)\nbool(%v)\n", s.header, s.body, s.compress, s.raw)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
