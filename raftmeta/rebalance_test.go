package raftmeta

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/internal/testwait"
	"github.com/runnel-dev/runnel/raftmeta/controller"
)

// TestLeadersReturnToPreferredReplica: a broker stops and its leaderships
// move; it comes back and, once its partitions' leaders have put it back in
// their ISRs, the controller's periodic rebalance hands them back to it.
func TestLeadersReturnToPreferredReplica(t *testing.T) {
	c := newTCluster(t, 3, func(id uint64) Config {
		return Config{AdvertisedAddr: fmt.Sprintf("127.0.0.1:%d", 9090+id), SessionTimeout: 1500 * time.Millisecond,
			HeartbeatInterval: 200 * time.Millisecond, Rebalance: controller.Rebalance{Interval: 200 * time.Millisecond}}
	})
	ctrl, m := c.waitBrokers(10 * time.Second)
	ctx := testCtx(t, 60*time.Second)
	top, err := m.CreateTopic(ctx, controller.CreateTopicRequest{Name: "t", Partitions: 6, ReplicationFactor: 3})
	if err != nil {
		t.Fatal(err)
	}
	victim := ctrl%3 + 1
	vb := int32(victim)
	c.stop(victim)
	testwait.For(t, 20*time.Second, 20*time.Millisecond, func() error {
		tp, _ := m.Image().Topic("t")
		for _, p := range tp.Partitions {
			if p.Leader == vb || slices.Contains(p.ISR, vb) {
				return fmt.Errorf("partition %d: %+v", p.Index, p)
			}
		}
		return nil
	})
	c.start(victim)
	// The leaders add the returned broker to their ISRs, as replication
	// does once it has caught up.
	testwait.For(t, 30*time.Second, 50*time.Millisecond, func() error {
		tp, _ := m.Image().Topic("t")
		for _, p := range tp.Partitions {
			if slices.Contains(p.ISR, vb) {
				continue
			}
			lm := c.member(uint64(p.Leader))
			if lm == nil {
				return fmt.Errorf("partition %d led by stopped %d", p.Index, p.Leader)
			}
			_, err := lm.AlterPartition(ctx, controller.AlterPartitionRequest{BrokerID: p.Leader, BrokerEpoch: lm.BrokerEpoch(), TopicID: top.ID,
				Partition: p.Index, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch, ISR: append(slices.Clone(p.ISR), vb)})
			return fmt.Errorf("partition %d ISR %v: %v", p.Index, p.ISR, err)
		}
		return nil
	})
	testwait.For(t, 20*time.Second, 20*time.Millisecond, func() error {
		tp, _ := m.Image().Topic("t")
		for _, p := range tp.Partitions {
			if p.Leader != p.Replicas[0] {
				return fmt.Errorf("partition %d led by %d, preferred %d", p.Index, p.Leader, p.Replicas[0])
			}
		}
		return nil
	})
}
