package broker_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/runnel-dev/runnel/broker"
	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/tiering"
)

// BenchmarkTierProduceP99S3 measures produce latency (acks=1, 64 KiB batches,
// one producer) at half the broker's maximum produce rate, on a topic
// without tiering and on one with remote.storage.enable whose 1 MiB
// segments are uploaded to a versitygw server meanwhile, in the same run.
// Reported: p99-plain-ms, p99-tiered-ms and their ratio, and the largest
// upload lag seen (runnel_tier_upload_lag_segments, sampled every 20 ms):
// small when uploads keep up with half the maximum rate.
func BenchmarkTierProduceP99S3(b *testing.B) { benchTierProduceP99(b, newS3TierStore(b)) }

// BenchmarkTierProduceP99Dir is BenchmarkTierProduceP99S3 with a directory
// store: the broker's own share of the cost, without an S3 server on the
// same machine; but the store's files go to the broker's own file system,
// whose journal its fsyncs and directory syncs share with the log's rolls.
func BenchmarkTierProduceP99Dir(b *testing.B) { benchTierProduceP99(b, newDirTierStore(b)) }

// BenchmarkTierProduceP99Tmpfs is BenchmarkTierProduceP99Dir with the store
// on tmpfs (/dev/shm): the upload work the broker itself does (reading the
// segment, checksums, the store calls, the metadata records) without the
// store's disk writes, which a real bucket does on other machines. On 2
// cores the S3 variant also runs versitygw's CPU and disk writes beside
// the broker; this one excludes them, and only them.
func BenchmarkTierProduceP99Tmpfs(b *testing.B) {
	if fi, err := os.Stat("/dev/shm"); err != nil || !fi.IsDir() {
		b.Skip("no /dev/shm")
	}
	dir, err := os.MkdirTemp("/dev/shm", "runnel-tier-bench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	s, err := tiering.OpenDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	benchTierProduceP99(b, s)
}

func benchTierProduceP99(b *testing.B, store tiering.Store) {
	br := brokertest.StartBroker(b, brokertest.Options{Tier: broker.TierConfig{Store: store, Prefix: "bench"}})
	rng := rand.New(rand.NewPCG(3, 4))
	batch := randomBatch(b, rng, 16, 4096)
	raw := newRawKafka(br)
	seg, on := "1048576", "true"
	produce := func(topic string, n int, every time.Duration) []time.Duration {
		lat := make([]time.Duration, 0, n)
		next := time.Now()
		for range n {
			if d := time.Until(next); d > 0 {
				time.Sleep(d)
			}
			next = next.Add(every)
			start := time.Now()
			if rp := raw.produce(b, 9, topic, 0, batch); rp.ErrorCode != 0 {
				b.Fatalf("produce: %v", kerr.ErrorForCode(rp.ErrorCode))
			}
			lat = append(lat, time.Since(start))
		}
		return lat
	}
	p99 := func(lat []time.Duration) time.Duration {
		slices.Sort(lat)
		return lat[len(lat)*99/100]
	}
	var plain, tiered time.Duration
	var maxLag float64
	stopLag, lagDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(lagDone)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			maxLag = max(maxLag, counterOrZero(b, br.Metrics, "runnel_tier_upload_lag_segments"))
			select {
			case <-stopLag:
				return
			case <-tick.C:
			}
		}
	}()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		warm := fmt.Sprintf("max-%d", i)
		br.CreateTopic(warm, 1, map[string]*string{"segment.bytes": &seg})
		start := time.Now()
		const burst = 500
		produce(warm, burst, 0)
		every := 2 * time.Since(start) / burst // half the maximum rate
		pt, tt := fmt.Sprintf("plain-%d", i), fmt.Sprintf("tiered-%d", i)
		br.CreateTopic(pt, 1, map[string]*string{"segment.bytes": &seg})
		br.CreateTopic(tt, 1, map[string]*string{"segment.bytes": &seg, "remote.storage.enable": &on})
		b.StartTimer()
		if i%2 == 0 { // alternate which goes first
			plain += p99(produce(pt, 1000, every))
			tiered += p99(produce(tt, 1000, every))
		} else {
			tiered += p99(produce(tt, 1000, every))
			plain += p99(produce(pt, 1000, every))
		}
	}
	b.StopTimer()
	close(stopLag)
	<-lagDone
	b.ReportMetric(maxLag, "max-upload-lag-segments")
	ms := func(d time.Duration) float64 { return float64(d) / float64(b.N) / 1e6 }
	b.ReportMetric(ms(plain), "p99-plain-ms")
	b.ReportMetric(ms(tiered), "p99-tiered-ms")
	b.ReportMetric(float64(tiered)/float64(plain), "tiered/plain")
}
