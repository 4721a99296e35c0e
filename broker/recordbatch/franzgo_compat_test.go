package recordbatch

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/broker/recordbatch/recordbatchtest"
	"github.com/twmb/franz-go/pkg/kgo"
)

// kgoCodecs pairs each codec with franz-go's producer setting for it.
type kgoCodec struct {
	codec Codec
	kgo   kgo.CompressionCodec
}

var kgoCodecs = []kgoCodec{
	{CodecNone, kgo.NoCompression()},
	{CodecGzip, kgo.GzipCompression()},
	{CodecSnappy, kgo.SnappyCompression()},
	{CodecLZ4, kgo.Lz4Compression()},
	{CodecZstd, kgo.ZstdCompression()},
}

// kgoCases runs every codec through franz-go's default producer path and
// its streaming compression path, which frames the streams differently.
var kgoCases = func() []kgoCase {
	var cases []kgoCase
	for _, c := range kgoCodecs {
		cases = append(cases, kgoCase{c.codec.String(), c, false})
		if c.codec != CodecNone {
			cases = append(cases, kgoCase{c.codec.String() + "-streaming", c, true})
		}
	}
	return cases
}()

type kgoCase struct {
	name      string
	kgoCodec  kgoCodec
	streaming bool
}

// kgoRecords returns records of every shape franz-go can send: null and
// empty keys and values, headers with null and empty values, and enough
// bytes in total to span several snappy and lz4 blocks.
func kgoRecords() []*kgo.Record {
	base := time.UnixMilli(1_700_000_000_000)
	var recs []*kgo.Record
	for i := range 400 {
		r := &kgo.Record{
			Key:       fmt.Appendf(nil, "key-%d", i),
			Value:     bytes.Repeat(fmt.Appendf(nil, "value %d; ", i), 1+i%30),
			Timestamp: base.Add(time.Duration(i*7%50) * time.Millisecond),
		}
		switch i % 7 {
		case 1:
			r.Key = nil
		case 2:
			r.Key, r.Value = []byte{}, []byte{}
		case 3:
			r.Value = nil
		case 4:
			r.Headers = []kgo.RecordHeader{{Key: "trace", Value: []byte("abc")}, {Key: "null"}, {Key: "empty", Value: []byte{}}}
		}
		recs = append(recs, r)
	}
	return recs
}

func TestFranzGoProducedBatches(t *testing.T) {
	sent := kgoRecords()
	want := make([]Record, len(sent))
	for i, r := range sent {
		want[i] = Record{Timestamp: r.Timestamp.UnixMilli(), Key: r.Key, Value: r.Value}
		for _, h := range r.Headers {
			want[i].Headers = append(want[i].Headers, RecordHeader{Key: h.Key, Value: h.Value})
		}
	}
	for _, tc := range kgoCases {
		c := tc.kgoCodec
		t.Run(tc.name, func(t *testing.T) {
			// Fresh records each time: franz-go keeps per-produce state in them.
			requests := recordbatchtest.CaptureKgoBatches(t, c.kgo, kgoRecords(), tc.streaming)
			if len(requests) == 0 {
				t.Fatal("captured no produce requests")
			}
			var got []Record
			var headers []Header
			inCodec, xerial := 0, 0
			for _, records := range requests {
				for buf := records; len(buf) > 0; {
					batch, rest, err := Next(buf)
					if err != nil {
						t.Fatalf("Next: %v", err)
					}
					buf = rest
					h, err := Validate(batch, 1<<20)
					if err != nil {
						t.Fatalf("Validate of franz-go batch: %v", err)
					}
					// The produce path accepts it as sent: the max timestamp
					// franz-go wrote is the records' own.
					p, err := ValidateProduced(batch, DefaultProduceRules(time.UnixMilli(1_700_000_000_000)))
					if err != nil || p.MaxTimestamp != h.MaxTimestamp {
						t.Fatalf("ValidateProduced of franz-go batch: max timestamp %d, header %d: %v", p.MaxTimestamp, h.MaxTimestamp, err)
					}
					// franz-go sends a batch uncompressed when compressing
					// does not shrink it (the lone first record).
					if h.Codec() != c.codec && h.Codec() != CodecNone {
						t.Fatalf("batch codec %s, want %s", h.Codec(), c.codec)
					}
					if h.Codec() == c.codec {
						inCodec++
					}
					if h.ProducerID < 0 {
						t.Fatalf("franz-go is idempotent by default, batch has producer id %d", h.ProducerID)
					}
					start := len(got)
					if got, err = DecodeRecords(got, batch, DecodeOptions{}); err != nil {
						t.Fatalf("DecodeRecords: %v", err)
					}
					checkRecords(t, h, want[start:len(got)], got[start:])

					// The log's header stamps keep the batch valid.
					stamped := bytes.Clone(batch)
					SetBaseOffset(stamped, 12345)
					SetPartitionLeaderEpoch(stamped, 3)
					if sh, err := Validate(stamped, 0); err != nil || sh.BaseOffset != 12345 || sh.PartitionLeaderEpoch != 3 {
						t.Fatalf("after stamping: %+v, %v", sh, err)
					}
					if recs, err := DecodeRecords(nil, stamped, DecodeOptions{}); err != nil || recs[0].Offset != 12345 {
						t.Fatalf("after stamping: first record %+v, %v", recs[0], err)
					}

					// Uncompressed, Build writes exactly what franz-go wrote.
					if c.codec == CodecNone {
						opts := BuildOptions{
							BaseOffset:           h.BaseOffset,
							PartitionLeaderEpoch: h.PartitionLeaderEpoch,
							Producer:             &Producer{ID: h.ProducerID, Epoch: h.ProducerEpoch, BaseSequence: h.BaseSequence},
						}
						if ours := mustBuild(t, opts, want[start:len(got)]); !bytes.Equal(ours, batch) {
							t.Fatalf("Build differs from franz-go's batch:\nours %x\nkgo  %x", ours[:HeaderSize], batch[:HeaderSize])
						}
					}
					if h.Codec() == CodecSnappy && bytes.HasPrefix(batch[HeaderSize:], xerialMagic) {
						xerial++
					}
					headers = append(headers, h)
				}
			}
			if len(got) != len(want) {
				t.Fatalf("decoded %d records across %d batches, want %d", len(got), len(headers), len(want))
			}
			if inCodec == 0 {
				t.Fatalf("no batch used codec %s", c.codec)
			}
			// franz-go writes raw snappy blocks normally and the Java
			// client's xerial framing when streaming: both must be seen.
			if c.codec == CodecSnappy && (xerial > 0) != tc.streaming {
				t.Fatalf("%d of %d snappy batches xerial-framed, streaming %v", xerial, inCodec, tc.streaming)
			}
			t.Logf("%s: %d produce records fields, %d batches", tc.name, len(requests), len(headers))
		})
	}
}
