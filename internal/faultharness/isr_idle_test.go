package faultharness

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// A follower that cannot fetch (its link to the leader cut, raft intact)
// leaves the ISR even when nothing is being written, and stays out until it
// fetches again: a follower is in sync because it keeps fetching, not
// because the last offset it fetched still equals the high watermark. An
// acks=all write meanwhile, with min.insync.replicas=2 and the other
// follower cut too, is refused with NOT_ENOUGH_REPLICAS.
func TestISRIdleFollowerStaysOut(t *testing.T) {
	t.Parallel()
	c := StartCluster(t, ClusterOptions{Brokers: 3, BrokerArgs: []string{"--replica-lag-time-max", lagMax.String()}})
	const topic = "idle"
	c.CreateTopic(topic, 1, 3, map[string]string{"min.insync.replicas": "2"})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	all := c.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RequiredAcks(kgo.AllISRAcks()))
	produceValues(ctx, t, all, topic, numbered("before", 5)...)
	leader, err := c.Leader(ctx, topic, 0)
	if err != nil {
		t.Fatal(err)
	}
	isrOf := func(ctx context.Context) ([]int32, error) {
		_, isr, err := PartitionFrom(ctx, c.Broker(leader).Kafka, topic, 0)
		return isr, err
	}
	for id := 1; id <= 3; id++ {
		if id != leader {
			c.Net.CutLink(Kafka, id, leader)
		}
	}
	c.waitFor(lagMax+5*time.Second, func(ctx context.Context) error {
		isr, err := isrOf(ctx)
		if err == nil && len(isr) != 1 {
			err = fmt.Errorf("ISR %v with both followers' fetches cut", isr)
		}
		return err
	})
	// Still out for two more lag periods: nobody fetched.
	deadline := time.Now().Add(2 * lagMax)
	for time.Now().Before(deadline) {
		rctx, rcancel := context.WithTimeout(ctx, 2*time.Second)
		isr, err := isrOf(rctx)
		rcancel()
		if err != nil {
			t.Fatal(err)
		}
		if len(isr) != 1 {
			t.Fatalf("followers that cannot fetch are back in the ISR %v", isr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	code, _, err := ProduceDirect(ctx, c.Broker(leader).Kafka, topic, 0, -1, []byte("refused"))
	if err != nil || code != kerr.NotEnoughReplicas.Code {
		t.Errorf("acks=all with the ISR at 1 of min.insync.replicas=2: code %d, %v; want NOT_ENOUGH_REPLICAS", code, err)
	}
	c.Net.HealAll()
	c.waitFor(60*time.Second, func(ctx context.Context) error {
		isr, err := isrOf(ctx)
		if err == nil && (len(isr) != 3 || !slices.Contains(isr, int32(leader))) {
			err = fmt.Errorf("ISR %v after healing", isr)
		}
		return err
	})
}
