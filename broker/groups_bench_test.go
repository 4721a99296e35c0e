package broker_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/broker/group"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// BenchmarkOffsetCommit commits the offsets of 100 partitions per request
// (counted as 100 commits) to one coordinator, from 8 concurrent
// committers of different groups, and reports commits/s.
func BenchmarkOffsetCommit(b *testing.B) {
	c := brokertest.Start(b, 1, brokertest.Options{Groups: group.Config{NumPartitions: 8}})
	ctx := context.Background()
	cl := c.Client()
	const perRequest = 100
	newReq := func(g string, off int64) *kmsg.OffsetCommitRequest {
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Group, req.Generation = g, -1
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = "bench"
		for p := range perRequest {
			rp := kmsg.NewOffsetCommitRequestTopicPartition()
			rp.Partition, rp.Offset = int32(p), off
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		return req
	}
	var gid atomic.Int64
	commit := func(g string, off int64) error {
		resp, err := newReq(g, off).RequestWith(ctx, cl)
		if err != nil {
			return err
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					return err
				}
			}
		}
		return nil
	}
	// Warm up: __consumer_offsets exists and each group's coordinator is
	// loaded.
	for i := range 8 {
		for {
			findReq := kmsg.NewPtrFindCoordinatorRequest()
			findReq.CoordinatorKey = fmt.Sprint("bench-", i)
			if r, err := findReq.RequestWith(ctx, cl); err == nil && r.ErrorCode == 0 && commit(findReq.CoordinatorKey, 0) == nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	b.SetParallelism(8)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		g := fmt.Sprint("bench-", gid.Add(1)%8)
		var off int64
		for pb.Next() {
			off++
			if err := commit(g, off); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N*perRequest)/time.Since(start).Seconds(), "commits/s")
}

// BenchmarkRebalanceAfterLeave runs a 10-member group over 20 partitions
// (cooperative-sticky), lets one member leave once the group has settled,
// and reports the time from its LeaveGroup until the remaining members own
// every partition again.
//
// The classic protocol has no push: the other members learn of the
// rebalance from the REBALANCE_IN_PROGRESS answer to their next heartbeat,
// so the figure is on average half the client's heartbeat interval (Java's
// and franz-go's default 3 s) plus the join and sync round trips. The
// sub-benchmarks show both: the default interval, and a 50 ms one where
// the coordinator's own share dominates.
func BenchmarkRebalanceAfterLeave(b *testing.B) {
	for _, hb := range []time.Duration{3 * time.Second, 50 * time.Millisecond} {
		b.Run("heartbeat="+hb.String(), func(b *testing.B) {
			c := brokertest.Start(b, 1, brokertest.Options{Groups: group.Config{NumPartitions: 1, InitialRebalanceDelay: 100 * time.Millisecond}})
			c.CreateTopic("rb", 20, nil)
			var total time.Duration
			for i := 0; i < b.N; i++ {
				total += rebalanceOnce(b, c, fmt.Sprint("rb-", i), hb)
			}
			b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/rebalance")
		})
	}
}

// BenchmarkRebalanceAfterLeave848 is BenchmarkRebalanceAfterLeave for a
// KIP-848 group (server-side uniform assignor) with a 1 s
// group.consumer.heartbeat.interval.ms: members learn of their new
// partitions at their next heartbeat, so the interval bounds the time.
func BenchmarkRebalanceAfterLeave848(b *testing.B) {
	c := brokertest.Start(b, 1, brokertest.Options{Groups: group.Config{NumPartitions: 1, ConsumerHeartbeatInterval: time.Second}})
	c.CreateTopic("rb", 20, nil)
	var total time.Duration
	for i := 0; i < b.N; i++ {
		total += rebalanceOnce(b, c, fmt.Sprint("rb848-", i), time.Second, kgo.ServerSideBalancer())
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/rebalance")
}

// settleTime is how long the group is left alone at least once every
// partition is owned before a member leaves: past franz-go's check for a
// second cooperative rebalance, one heartbeat 500 ms after each
// assignment, which would otherwise be what notices the leave (the
// ~500 ms this benchmark reported before it let the group settle). A
// random part up to one heartbeat interval more puts the leave at a
// random point of the members' heartbeat cycle.
const settleTime = 1 * time.Second

func rebalanceOnce(b *testing.B, c *brokertest.Cluster, g string, heartbeat time.Duration, opts ...kgo.Opt) time.Duration {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	owned := map[int]map[int32]bool{} // member → partitions
	clients := make([]*kgo.Client, 10)
	for m := range clients {
		owned[m] = map[int32]bool{}
		clients[m] = c.Client(append([]kgo.Opt{kgo.ConsumerGroup(g), kgo.ConsumeTopics("rb"), kgo.HeartbeatInterval(heartbeat),
			kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, a map[string][]int32) {
				mu.Lock()
				defer mu.Unlock()
				for _, p := range a["rb"] {
					owned[m][p] = true
				}
			}),
			kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, r map[string][]int32) {
				mu.Lock()
				defer mu.Unlock()
				for _, p := range r["rb"] {
					delete(owned[m], p)
				}
			}),
			kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, r map[string][]int32) {
				mu.Lock()
				defer mu.Unlock()
				for _, p := range r["rb"] {
					delete(owned[m], p)
				}
			})}, opts...)...)
		go func(cl *kgo.Client) {
			for ctx.Err() == nil {
				cl.PollFetches(ctx)
			}
		}(clients[m])
	}
	covered := func(members []int) bool {
		mu.Lock()
		defer mu.Unlock()
		all := map[int32]bool{}
		for _, m := range members {
			for p := range owned[m] {
				all[p] = true
			}
		}
		return len(all) == 20
	}
	// balanced: every member owns its two partitions. Covering all 20
	// is not enough: a KIP-848 group covers them while its first members
	// still hold more than their share, before it moves them on.
	balanced := func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, ps := range owned {
			if len(ps) != 2 {
				return false
			}
		}
		return true
	}
	all := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	for !covered(all) || !balanced() {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(settleTime + rand.N(heartbeat))
	if !covered(all) {
		b.Fatal("the group rebalanced while left alone")
	}
	start := time.Now()
	clients[9].LeaveGroup()
	for !covered(all[:9]) {
		time.Sleep(time.Millisecond)
	}
	took := time.Since(start)
	for _, cl := range clients[:9] {
		cl.Close()
	}
	return took
}
