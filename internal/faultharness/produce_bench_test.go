package faultharness

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/internal/producebench"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Sizes of BenchmarkReplicatedProduceProcesses: each phase produces
// perfRecords records of perfValueBytes to a topic of perfPartitions
// partitions (one led by each broker), the latency run perfPacedRecords,
// with at most perfBuffered records buffered in the client.
const (
	perfRecords      = 300000
	perfPacedRecords = 100000
	perfBuffered     = 20000
	perfValueBytes   = 1024
	perfPartitions   = 3
	// perfProfileSeconds is how long each broker's CPU is profiled when
	// RUNNEL_BENCH_PROFILE_DIR asks for profiles.
	perfProfileSeconds = 6
)

// BenchmarkReplicatedProduceProcesses produces 1 KiB incompressible
// records with franz-go to three "runnel broker" processes (no proxies
// between them), alternating in each iteration between a topic with
// replication factor 1 produced with acks=1 and one with replication
// factor 3 and min.insync.replicas=2 produced with acks=all (idempotent),
// in the order rf1, rf3, rf3, rf1, half the records each time, both with
// up to 5 requests in flight per broker. It reports both throughputs,
// their ratio, the p50, p99 and maximum latency of acks=all produces paced
// at half the acks=all rate, and the replicated bytes two ways: what
// followers appended and what leaders sent them with sendfile.
//
//	go test -run '^$' -bench BenchmarkReplicatedProduceProcesses -benchtime 1x ./internal/faultharness
//
// With RUNNEL_BENCH_PROFILE_DIR set, the brokers serve pprof and, after
// the measurement, each broker's CPU profile of a further acks=all phase is
// written to that directory as broker-N-rf3.pprof (and -rf1 for acks=1).
func BenchmarkReplicatedProduceProcesses(b *testing.B) {
	profDir := os.Getenv("RUNNEL_BENCH_PROFILE_DIR")
	var args []string
	if profDir != "" {
		args = append(args, "--pprof")
	}
	b.Logf("load average at start: %s", loadAverage())
	c := StartUnproxiedCluster(b, 3, args...)
	const rf1, rf3 = "perf-rf1", "perf-rf3"
	c.CreateTopic(rf1, perfPartitions, 1, nil)
	c.CreateTopic(rf3, perfPartitions, 3, map[string]string{"min.insync.replicas": "2"})
	common := []kgo.Opt{kgo.MaxBufferedRecords(perfBuffered), kgo.ProducerLinger(0),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProduceRequestTimeout(30 * time.Second)}
	one := c.Client(append(common, kgo.DefaultProduceTopic(rf1), kgo.RequiredAcks(kgo.LeaderAck()),
		kgo.DisableIdempotentWrite(), kgo.MaxProduceRequestsInflightPerBroker(5))...)
	all := c.Client(append(common, kgo.DefaultProduceTopic(rf3), kgo.RequiredAcks(kgo.AllISRAcks()))...)
	value := make([]byte, perfValueBytes)
	rand.Read(value) // incompressible
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	phase := func(cl *kgo.Client, n int) time.Duration {
		took, err := producebench.Flood(ctx, cl, n, value)
		if err != nil {
			b.Fatal(err)
		}
		return took
	}
	phase(one, perfBuffered) // warm up connections, metadata, producer ids
	phase(all, perfBuffered)
	var t1, t3 time.Duration
	b.ResetTimer()
	for range b.N {
		// A-B-B-A, so that a drift of the machine (page cache filling,
		// writeback starting) weighs on both alike.
		t1 += phase(one, perfRecords/2)
		t3 += phase(all, perfRecords/2)
		t3 += phase(all, perfRecords/2)
		t1 += phase(one, perfRecords/2)
	}
	b.StopTimer()
	n := float64(b.N * perfRecords)
	lat, err := producebench.Paced(ctx, all, perfPacedRecords, value, n/t3.Seconds()/2)
	if err != nil {
		b.Fatal(err)
	}
	sent, appended := replicatedBytes(ctx, b, c)
	b.ReportMetric(n/t1.Seconds(), "rf1-acks1-records/s")
	b.ReportMetric(n*perfValueBytes/t1.Seconds()/1e6, "rf1-acks1-MB/s")
	b.ReportMetric(n/t3.Seconds(), "rf3-acksall-records/s")
	b.ReportMetric(n*perfValueBytes/t3.Seconds()/1e6, "rf3-acksall-MB/s")
	b.ReportMetric(t1.Seconds()/t3.Seconds(), "rf3/rf1")
	b.ReportMetric(float64(lat.P50.Microseconds())/1000, "rf3-acksall-p50-ms@half-rate")
	b.ReportMetric(float64(lat.P99.Microseconds())/1000, "rf3-acksall-p99-ms@half-rate")
	b.ReportMetric(float64(lat.Max.Microseconds())/1000, "rf3-acksall-max-ms@half-rate")
	b.ReportMetric(sent/1e6, "replica-sendfile-MB")
	b.ReportMetric(appended/1e6, "replica-appended-MB")
	b.ReportMetric(sent-appended, "replica-sendfile-minus-appended-bytes")
	b.ReportMetric(0, "ns/op")
	b.Logf("load average at end: %s", loadAverage())
	if profDir != "" {
		profile(ctx, b, c, profDir, "rf3", func() { phase(all, perfRecords) })
		profile(ctx, b, c, profDir, "rf1", func() { phase(one, perfRecords) })
	}
}

// replicatedBytes returns the bytes leaders sent followers with sendfile
// and the bytes followers appended, over every broker, once the two agree
// (the followers caught up) or after 30 s.
func replicatedBytes(ctx context.Context, b *testing.B, c *Cluster) (sent, appended float64) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		var err error
		if sent, err = c.MetricSum(ctx, "runnel_broker_replica_fetch_sendfile_bytes_total"); err != nil {
			b.Fatal(err)
		}
		if appended, err = c.MetricSum(ctx, "runnel_broker_replica_appended_bytes_total"); err != nil {
			b.Fatal(err)
		}
		if sent == appended || time.Now().After(deadline) {
			return sent, appended
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// profile runs work while every broker records a CPU profile of
// perfProfileSeconds, written to dir/broker-N-name.pprof; work is repeated
// until the profiles are done.
func profile(ctx context.Context, b *testing.B, c *Cluster, dir, name string, work func()) {
	var wg sync.WaitGroup
	done := make(chan struct{})
	for _, br := range c.Brokers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fetchProfile(ctx, br, filepath.Join(dir, fmt.Sprintf("broker-%d-%s.pprof", br.ID, name))); err != nil {
				b.Error(err)
			}
		}()
	}
	go func() { wg.Wait(); close(done) }()
	for {
		work()
		select {
		case <-done:
			return
		default:
		}
	}
}

// fetchProfile writes broker br's CPU profile of perfProfileSeconds to path.
func fetchProfile(ctx context.Context, br *Broker, path string) error {
	url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", br.Metrics, perfProfileSeconds)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s profile: %w", br.Name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s profile: %s", br.Name, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("%s profile: %w", br.Name, err)
	}
	return f.Close()
}

// loadAverage is /proc/loadavg's first three fields, or why not.
func loadAverage() string {
	buf, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return err.Error()
	}
	return strings.Join(strings.Fields(string(buf))[:3], " ")
}
