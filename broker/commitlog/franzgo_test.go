package commitlog

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/broker/recordbatch"
	"github.com/runnel-dev/runnel/broker/recordbatch/recordbatchtest"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestFranzGoBatches appends batches produced by a real franz-go client, in
// every codec, and checks that the log stores them byte for byte (only the base
// offset and partition leader epoch, outside the CRC, are stamped) and that they
// decode back to the records sent.
func TestFranzGoBatches(t *testing.T) {
	codecs := map[string]kgo.CompressionCodec{
		"none": kgo.NoCompression(), "gzip": kgo.GzipCompression(), "snappy": kgo.SnappyCompression(),
		"lz4": kgo.Lz4Compression(), "zstd": kgo.ZstdCompression(),
	}
	for name, codec := range codecs {
		t.Run(name, func(t *testing.T) {
			var sent []*kgo.Record
			for i := 0; i < 300; i++ {
				sent = append(sent, &kgo.Record{
					Key:       fmt.Appendf(nil, "key-%d", i%17),
					Value:     bytes.Repeat(fmt.Appendf(nil, "event %d ", i), 1+i%20),
					Headers:   []kgo.RecordHeader{{Key: "n", Value: fmt.Appendf(nil, "%d", i)}},
					Timestamp: time.UnixMilli(1_700_000_000_000 + int64(i)),
				})
			}
			requests := recordbatchtest.CaptureKgoBatches(t, codec, sent, false)
			l := openTestLog(t, t.TempDir(), Options{SegmentBytes: 16 << 10})
			var original []byte
			for _, req := range requests {
				original = append(original, req...)
				if _, err := l.Append(bytes.Clone(req), 7); err != nil {
					t.Fatalf("append franz-go batch: %v", err)
				}
			}
			stored, _, err := l.ReadBatches(0, 1<<30, ToLogEnd)
			if err != nil {
				t.Fatal(err)
			}
			if len(stored) != len(original) {
				t.Fatalf("stored %d bytes, producer sent %d", len(stored), len(original))
			}
			for o, s := original, stored; len(o) > 0; {
				ob, orest, _ := recordbatch.Next(o)
				sb, srest, err := recordbatch.Next(s)
				if err != nil {
					t.Fatal(err)
				}
				// Bytes 0-7 (base offset) and 12-15 (leader epoch) are the log's to set.
				if !bytes.Equal(ob[16:], sb[16:]) || !bytes.Equal(ob[8:12], sb[8:12]) {
					t.Fatal("stored batch differs from the producer's beyond offset and epoch")
				}
				if h, _ := recordbatch.ParseHeader(sb); h.PartitionLeaderEpoch != 7 {
					t.Fatalf("leader epoch %d not stamped", h.PartitionLeaderEpoch)
				}
				o, s = orest, srest
			}
			got := readAll(t, l, 0)
			if len(got) != len(sent) {
				t.Fatalf("read %d records, sent %d", len(got), len(sent))
			}
			for i, r := range got {
				w := sent[i]
				if r.Offset != int64(i) || !bytes.Equal(r.Key, w.Key) || !bytes.Equal(r.Value, w.Value) ||
					r.Timestamp != w.Timestamp.UnixMilli() || len(r.Headers) != 1 || !bytes.Equal(r.Headers[0].Value, w.Headers[0].Value) {
					t.Fatalf("record %d differs: %+v", i, r)
				}
			}
		})
	}
}
