package raftnode_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/raftmeta/raftnode/raftnodetest"
)

// BenchmarkPropose3Voters measures committed (and locally applied) records per
// second on 3 voters over loopback TCP, with 256 concurrent proposers spread over
// all three nodes. Each record is about 30 bytes.
func BenchmarkPropose3Voters(b *testing.B) {
	c := raftnodetest.NewCluster(b, raftnodetest.Options{Voters: 3})
	c.WaitLeader(waitTimeout)
	const workers = 256
	ids := c.Running()
	var next atomic.Int64
	var failed atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := c.Node(ids[w%len(ids)])
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				if _, err := proposeRetry(n, fmt.Appendf(nil, "key%d=value-%d", i%4096, i)); err != nil {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if f := failed.Load(); f > 0 {
		b.Fatalf("%d proposals failed", f)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "records/s")
}

// BenchmarkCommitLatency1000PerSec proposes b.N records at a fixed 1,000 records/s
// (open loop: one proposal started every millisecond whatever the previous ones do)
// on 3 voters and reports the commit latency percentiles seen by the proposer.
func BenchmarkCommitLatency1000PerSec(b *testing.B) {
	c := raftnodetest.NewCluster(b, raftnodetest.Options{Voters: 3})
	leader := c.WaitLeader(waitTimeout)
	n := c.Node(leader)
	lat := make([]time.Duration, b.N)
	var failed atomic.Int64
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		<-tick.C
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			start := time.Now()
			if _, err := n.Propose(ctx, fmt.Appendf(nil, "lat%d=%d", i%1024, i)); err != nil {
				failed.Add(1)
			}
			lat[i] = time.Since(start)
		}()
	}
	wg.Wait()
	b.StopTimer()
	if f := failed.Load(); f > 0 {
		b.Fatalf("%d proposals failed", f)
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(float64(len(lat))*p))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
}
