package broker_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/runnel-dev/runnel/broker"
	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/runnel-dev/runnel/tiering"
)

// BenchmarkTierUploadS3 compares, in the same run against the same
// versitygw server, the uploader's throughput (rolled segments of a topic
// on which remote.storage.enable is turned on, until all are recorded)
// with plain Store.Put calls of the same .log files one after another.
// Reported: upload-MB/s, put-MB/s and their ratio (log bytes only; the
// uploader also writes each segment's indexes, epochs and producer
// snapshot, and records it in the metadata).
func BenchmarkTierUploadS3(b *testing.B) { benchTierUpload(b, newS3TierStore) }

// BenchmarkTierUploadDir is BenchmarkTierUploadS3 on a directory store.
func BenchmarkTierUploadDir(b *testing.B) { benchTierUpload(b, newDirTierStore) }

// newDirTierStore returns a directory store in a temporary directory.
func newDirTierStore(tb testing.TB) tiering.Store {
	s, err := tiering.OpenDir(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func benchTierUpload(b *testing.B, newStore func(testing.TB) tiering.Store) {
	store := newStore(b)
	br := brokertest.StartBroker(b, brokertest.Options{Tier: broker.TierConfig{Store: store, Prefix: "bench"}})
	const segBytes, total = 8 << 20, 64 << 20
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	var upload, put time.Duration
	var logBytes int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		topic := fmt.Sprintf("bench-%d", i)
		sb := fmt.Sprint(segBytes)
		br.CreateTopic(topic, 1, map[string]*string{"segment.bytes": &sb})
		raw := newRawKafka(br)
		for range total / (1 << 20) {
			batch := randomBatch(b, rng, 240, 4096) // under max.message.bytes
			if rp := raw.produce(b, 9, topic, 0, batch); rp.ErrorCode != 0 {
				b.Fatalf("produce: %v", kerr.ErrorForCode(rp.ErrorCode))
			}
		}
		l, _ := br.Log(commitlog.TopicPartition{Topic: topic, Partition: 0})
		segs := l.Segments()
		closed := segs[:len(segs)-1]
		b.StartTimer()

		start := time.Now()
		for _, s := range closed {
			f, err := os.Open(s.Path)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := store.Put(ctx, fmt.Sprintf("plain/%s/%d", topic, s.BaseOffset), f, s.Size); err != nil {
				b.Fatal(err)
			}
			f.Close()
			logBytes += s.Size
		}
		put += time.Since(start)

		start = time.Now()
		if err := alterTopicConfig(br, topic, "remote.storage.enable", "true"); err != nil {
			b.Fatal(err)
		}
		want := closed[len(closed)-1].NextOffset - 1
		for remoteOf(b, br, topic).RemoteEndOffset() != want {
			time.Sleep(time.Millisecond)
		}
		upload += time.Since(start)
	}
	b.StopTimer()
	mbps := func(d time.Duration) float64 { return float64(logBytes) / d.Seconds() / 1e6 }
	b.ReportMetric(mbps(upload), "upload-MB/s")
	b.ReportMetric(mbps(put), "put-MB/s")
	b.ReportMetric(put.Seconds()/upload.Seconds(), "upload/put")
}
