package faultharness

import (
	"context"
	"testing"
	"time"
)

// lagThenKillLeader cuts both followers of a partition off from its leader
// (Kafka traffic only: they stay alive, registered and in the ISR), produces
// for a few seconds, kills the leader with SIGKILL, heals, restarts it and
// checks the result.
func lagThenKillLeader(t *testing.T, tags ...string) *Report {
	c := StartCluster(t, ClusterOptions{Brokers: 3, Tags: tags})
	const topic = "lag"
	c.CreateTopic(topic, 1, 3, map[string]string{"min.insync.replicas": "2"})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	leader, err := c.Leader(ctx, topic, 0)
	if err != nil {
		t.Fatal(err)
	}
	for id := 1; id <= 3; id++ {
		if id != leader {
			c.Net.CutLink(Kafka, id, leader)
		}
	}
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	w := c.StartWorkload(wctx, topic, WorkloadOptions{KafkaProducers: 1, Consumers: 1, Rate: 500})
	time.Sleep(3 * time.Second)
	c.Broker(leader).Kill()
	c.Net.HealAll()
	t.Logf("killed leader %d after 3 s with its followers cut off; workload: %v", leader, w.Stop())
	t.Log(w.Summary())
	if err := c.Broker(leader).startListening(); err != nil {
		t.Fatal(err)
	}
	report, err := c.Verify(ctx, 0, topic, 1, w.History)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(report)
	return report
}

// TestCheckerCatchesUnsafeAcks shows the checker is not blind: a broker
// built with runnel_unsafe_acks answers acks=all at its local append, and
// when followers lag and the leader dies, acknowledged records are lost and
// the checker reports them. The same faults against the real build lose
// nothing (acks=all waits for the followers, which never get the records).
func TestCheckerCatchesUnsafeAcks(t *testing.T) {
	t.Run("unsafe", func(t *testing.T) {
		t.Parallel()
		r := lagThenKillLeader(t, "runnel_unsafe_acks")
		if r.Count(Lost) == 0 {
			t.Fatalf("acks at the local append, followers cut off, leader killed: no loss reported\n%s", r)
		}
	})
	t.Run("safe", func(t *testing.T) {
		t.Parallel()
		if r := lagThenKillLeader(t); len(r.Violations) > 0 {
			t.Fatalf("the real build broke acks=all:\n%s", r)
		}
	})
}
