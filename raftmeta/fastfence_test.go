package raftmeta

import (
	"fmt"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/internal/testwait"
	"github.com/runnel-dev/runnel/raftmeta/controller"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
)

// TestDeadBrokerFencedBeforeSessionTimeout: with the default 9 s session
// timeout, a broker whose process is gone (its connections closed) is
// fenced, and its partitions moved to other ISR members, about
// ConnLostGrace after it stopped, long before its session would expire;
// also when it ran the controller, so that a new one takes over first.
func TestDeadBrokerFencedBeforeSessionTimeout(t *testing.T) {
	t.Run("broker", func(t *testing.T) { testDeadBrokerFenced(t, false) })
	t.Run("controller", func(t *testing.T) { testDeadBrokerFenced(t, true) })
}

func testDeadBrokerFenced(t *testing.T, victimIsController bool) {
	c := newTCluster(t, 3, func(id uint64) Config {
		return Config{AdvertisedAddr: fmt.Sprintf("127.0.0.1:%d", 9090+id)}
	})
	ctrl, m := c.waitBrokers(10 * time.Second)
	// Every broker's heartbeat has reached the controller from its node.
	time.Sleep(2*DefaultHeartbeatInterval + 200*time.Millisecond)
	ctx := testCtx(t, 30*time.Second)
	if _, err := m.CreateTopic(ctx, controller.CreateTopicRequest{Name: "rf3", Partitions: 6, ReplicationFactor: 3}); err != nil {
		t.Fatal(err)
	}
	victim := ctrl%3 + 1
	if victimIsController {
		victim = ctrl
	}
	observer := victim%3 + 1
	vb := int32(victim)
	start := time.Now()
	c.stop(victim)
	var took time.Duration
	testwait.For(t, 20*time.Second, 10*time.Millisecond, func() error {
		img := c.member(observer).Image()
		if b, _ := img.Broker(vb); !b.Fenced {
			return fmt.Errorf("broker %d not fenced", vb)
		}
		top, _ := img.Topic("rf3")
		for _, p := range top.Partitions {
			if p.Leader == vb || p.Leader == metadata.NoLeader {
				return fmt.Errorf("partition %d led by %d", p.Index, p.Leader)
			}
		}
		took = time.Since(start)
		return nil
	})
	t.Logf("broker %d (controller: %v) fenced and its leaderships moved %v after it stopped (session timeout %v)",
		vb, victimIsController, took.Round(time.Millisecond), controller.DefaultSessionTimeout)
	if took >= controller.DefaultSessionTimeout {
		t.Errorf("fencing took %v: the lost connection was not noticed before the session timeout", took)
	}
}
