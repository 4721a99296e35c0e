// Package recordbatchtest helps tests obtain RecordBatch bytes written by a real
// Kafka client (franz-go), so codecs and logs are checked against what
// producers actually send rather than against our own encoder.
package recordbatchtest

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// CaptureKgoBatches produces recs with a real franz-go client into an
// in-process kfake cluster and returns the records fields of the produce
// requests it sent, byte for byte (each holds one or more batches).
//
// With streaming set, the client uses franz-go's streaming compression with
// small batches: the first record goes alone (the client merges only after it
// has seen a produce response), and the rest are cut into many small batches
// that the client merges through a streaming compressor, which writes
// multi-block gzip, lz4 and zstd streams and xerial-framed snappy.
func CaptureKgoBatches(t testing.TB, codec kgo.CompressionCodec, recs []*kgo.Record, streaming bool) [][]byte {
	t.Helper()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()

	var (
		mu       sync.Mutex
		captured [][]byte
	)
	cluster.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		mu.Lock()
		defer mu.Unlock()
		for _, topic := range req.(*kmsg.ProduceRequest).Topics {
			for _, p := range topic.Partitions {
				captured = append(captured, bytes.Clone(p.Records))
			}
		}
		return nil, nil, false // let kfake answer
	})

	opts := []kgo.Opt{
		kgo.SeedBrokers(cluster.ListenAddrs()...),
		kgo.DefaultProduceTopic("t"),
		kgo.ProducerBatchCompression(codec),
		kgo.ManualFlushing(),
	}
	if streaming {
		opts = append(opts, kgo.StreamingCompression(), kgo.ProducerBatchMaxBytes(4<<10))
	}
	client, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, len(recs))
	produce := func(recs []*kgo.Record) {
		for _, r := range recs {
			wg.Add(1)
			client.Produce(ctx, r, func(_ *kgo.Record, err error) {
				defer wg.Done()
				if err != nil {
					errs <- err
				}
			})
		}
		if err := client.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if streaming {
		produce(recs[:1])
		recs = recs[1:]
	}
	produce(recs)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("produce: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	return captured
}
