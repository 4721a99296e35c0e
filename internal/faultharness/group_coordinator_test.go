package faultharness

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestGroupCoordinatorKill commits a group's offsets on three broker
// processes with RF=3 __consumer_offsets, kill -9s the group's
// coordinator, and checks that another broker coordinates the group with
// every committed offset, and a new member resumes exactly after them.
func TestGroupCoordinatorKill(t *testing.T) {
	c := StartCluster(t, ClusterOptions{Brokers: 3, BrokerArgs: []string{"--offsets-topic-partitions", "3", "--group-initial-rebalance-delay", "100ms"}})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c.CreateTopic("gk", 3, 3, nil)
	produce := func(first, n int) {
		cl := c.Client()
		for i := first; i < first+n; i++ {
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "gk", Value: []byte(fmt.Sprint(i))}).FirstErr(); err != nil {
				t.Fatalf("produce %d: %v", i, err)
			}
		}
	}
	// consume reads until want records came, commits and leaves.
	consume := func(want int) map[string]bool {
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.KafkaAddrs()...), kgo.ConsumerGroup("gk-group"), kgo.ConsumeTopics("gk"),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		seen := map[string]bool{}
		for len(seen) < want {
			fs := cl.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("consumed %d of %d: %v", len(seen), want, ctx.Err())
			}
			fs.EachRecord(func(r *kgo.Record) { seen[string(r.Value)] = true })
		}
		if err := cl.CommitUncommittedOffsets(ctx); err != nil {
			t.Fatalf("commit: %v", err)
		}
		return seen
	}
	coordinator := func(cl *kgo.Client) (int32, error) {
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.CoordinatorKey = "gk-group"
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return -1, err
		}
		return resp.NodeID, kerr.ErrorForCode(resp.ErrorCode)
	}
	produce(0, 300)
	if got := consume(300); len(got) != 300 {
		t.Fatalf("first member read %d records", len(got))
	}
	admin := c.Client()
	before, err := coordinator(admin)
	if err != nil {
		t.Fatal(err)
	}
	c.Broker(int(before)).Kill()
	if err := pollUntil(60*time.Second, func(context.Context) error {
		after, err := coordinator(c.Client())
		if err == nil && after == before {
			err = fmt.Errorf("coordinator still %d", after)
		}
		return err
	}); err != nil {
		t.Fatalf("no new coordinator after kill -9 of broker %d: %v", before, err)
	}
	produce(300, 150)
	got := consume(150)
	for v := range got {
		var i int
		fmt.Sscan(v, &i)
		if i < 300 {
			t.Fatalf("after the coordinator's kill -9 a new member read %d again: the committed offsets were lost", i)
		}
	}
}
