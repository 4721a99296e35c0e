package raftmeta

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/internal/testwait"
	"github.com/runnel-dev/runnel/raftmeta/controller"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
)

// TestBrokerFencedWithinSessionTimeout: three members that are also
// brokers. One broker stops (its process dies); within the session timeout
// plus 2 s it is fenced and every partition it led has a new leader from the
// ISR, except where no ISR member is left: that partition goes leaderless
// unless its topic allows unclean election. When the broker comes back it is
// unfenced and leads its leaderless partitions again.
//
// The broker runs either on a plain member or on the controller's member; in
// the second case a new controller takes over and fences it after giving
// every broker a fresh session.
func TestBrokerFencedWithinSessionTimeout(t *testing.T) {
	t.Run("broker", func(t *testing.T) { testBrokerFenced(t, false) })
	t.Run("controller", func(t *testing.T) { testBrokerFenced(t, true) })
}

func testBrokerFenced(t *testing.T, victimIsController bool) {
	const session = 1500 * time.Millisecond
	c := newTCluster(t, 3, func(id uint64) Config {
		return Config{
			AdvertisedAddr:    fmt.Sprintf("127.0.0.1:%d", 9090+id),
			Rack:              fmt.Sprintf("rack%d", id),
			SessionTimeout:    session,
			HeartbeatInterval: 200 * time.Millisecond,
		}
	})
	ctrl, m := c.waitBrokers(10 * time.Second)
	ctx := testCtx(t, 30*time.Second)
	rf3, err := m.CreateTopic(ctx, controller.CreateTopicRequest{Name: "rf3", Partitions: 3, ReplicationFactor: 3})
	if err != nil {
		t.Fatal(err)
	}
	rf1, err := m.CreateTopic(ctx, controller.CreateTopicRequest{Name: "rf1", Partitions: 3, ReplicationFactor: 1})
	if err != nil {
		t.Fatal(err)
	}
	clean, err := m.CreateTopic(ctx, controller.CreateTopicRequest{Name: "clean", Partitions: 3, ReplicationFactor: 2})
	if err != nil {
		t.Fatal(err)
	}
	unclean, err := m.CreateTopic(ctx, controller.CreateTopicRequest{Name: "unclean", Partitions: 3, ReplicationFactor: 2,
		Config: map[string]string{metadata.ConfigUncleanLeaderElection: "true"}})
	if err != nil {
		t.Fatal(err)
	}

	victim := ctrl
	if !victimIsController {
		victim = ctrl%3 + 1
	}
	// observer is a member that stays up.
	observer := victim%3 + 1
	vb := int32(victim)
	// The victim's partitions of "clean" and "unclean" shrink their ISR to
	// the victim alone, as a leader does when its followers fall behind.
	// The request goes through the victim's own member, forwarded to the
	// controller.
	vm := c.member(victim)
	for _, top := range []*metadata.Topic{clean, unclean} {
		for _, p := range top.Partitions {
			if p.Leader != vb {
				continue
			}
			if _, err := vm.AlterPartition(ctx, controller.AlterPartitionRequest{BrokerID: vb, BrokerEpoch: vm.BrokerEpoch(), TopicID: top.ID,
				Partition: p.Index, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch, ISR: []int32{vb}}); err != nil {
				t.Fatalf("shrink ISR of %s/%d: %v", top.Name, p.Index, err)
			}
		}
	}
	testwait.For(t, 5*time.Second, 10*time.Millisecond, func() error {
		if vm.Image().Version() < m.Image().Version() {
			return fmt.Errorf("victim behind")
		}
		return nil
	})
	before := m.Image()
	led := 0
	for _, top := range before.Topics() {
		for _, p := range top.Partitions {
			if p.Leader == vb {
				led++
			}
		}
	}
	if led == 0 {
		t.Fatal("victim leads nothing; placement did not balance leaders")
	}

	start := time.Now()
	c.stop(victim)
	var fencedAfter time.Duration
	testwait.For(t, session+5*time.Second, 10*time.Millisecond, func() error {
		img := c.member(observer).Image()
		if b, _ := img.Broker(vb); !b.Fenced {
			return fmt.Errorf("broker %d not fenced yet", vb)
		}
		for _, top := range img.Topics() {
			for _, p := range top.Partitions {
				if p.Leader == vb {
					return fmt.Errorf("%s/%d still led by the fenced broker", top.Name, p.Index)
				}
			}
		}
		fencedAfter = time.Since(start)
		return nil
	})
	t.Logf("broker %d (controller: %v) fenced and its %d partitions moved %v after it stopped (session timeout %v)",
		vb, victimIsController, led, fencedAfter.Round(time.Millisecond), session)
	if fencedAfter > session+2*time.Second {
		t.Errorf("fencing took %v, more than session timeout + 2s", fencedAfter)
	}

	after := c.member(observer).Image()
	for _, top := range after.Topics() {
		old, _ := before.TopicByID(top.ID)
		for i, p := range top.Partitions {
			o := old.Partitions[i]
			if p.Leader != metadata.NoLeader && !slices.Contains(p.ISR, p.Leader) {
				t.Errorf("%s/%d: leader %d outside ISR %v", top.Name, i, p.Leader, p.ISR)
			}
			if o.Leader != vb {
				continue
			}
			switch {
			case top.ID == rf1.ID || top.ID == clean.ID:
				// No other ISR member: leaderless, the victim kept as the last ISR member.
				if p.Leader != metadata.NoLeader || !slices.Equal(p.ISR, []int32{vb}) {
					t.Errorf("%s/%d: %+v, want leaderless with ISR [%d]", top.Name, i, p, vb)
				}
			case top.ID == unclean.ID:
				if p.Leader == metadata.NoLeader || p.Leader == vb || !slices.Equal(p.ISR, []int32{p.Leader}) {
					t.Errorf("%s/%d: %+v, want an unclean leader with ISR of itself", top.Name, i, p)
				}
			case top.ID == rf3.ID:
				if !slices.Contains(o.ISR, p.Leader) || slices.Contains(p.ISR, vb) {
					t.Errorf("%s/%d: leader %d not from old ISR %v, or ISR %v still has the victim", top.Name, i, p.Leader, o.ISR, p.ISR)
				}
			}
			if p.LeaderEpoch <= o.LeaderEpoch && p.Leader != metadata.NoLeader {
				t.Errorf("%s/%d: leader epoch %d not bumped from %d", top.Name, i, p.LeaderEpoch, o.LeaderEpoch)
			}
			if p.PartitionEpoch <= o.PartitionEpoch {
				t.Errorf("%s/%d: partition epoch %d not bumped from %d", top.Name, i, p.PartitionEpoch, o.PartitionEpoch)
			}
		}
	}

	// The broker restarts from its directory: a new incarnation registers,
	// is unfenced, and leads the partitions that waited for it.
	c.start(victim)
	testwait.For(t, 10*time.Second, 20*time.Millisecond, func() error {
		img := c.member(observer).Image()
		if b, _ := img.Broker(vb); b.Fenced {
			return fmt.Errorf("broker %d still fenced", vb)
		}
		for _, name := range []string{"rf1", "clean"} {
			top, _ := img.Topic(name)
			for i, p := range top.Partitions {
				if p.Leader == metadata.NoLeader {
					return fmt.Errorf("%s/%d still leaderless", name, i)
				}
			}
		}
		return nil
	})
	c.waitConverged(10 * time.Second)
}
