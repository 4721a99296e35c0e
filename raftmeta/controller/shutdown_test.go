package controller

import (
	"errors"
	"slices"
	"testing"

	"github.com/runnel-dev/runnel/raftmeta/metadata"
)

// TestControlledShutdown: a broker asking to shut down leaves every ISR,
// its leaderships move to other ISR members (a partition with no other one
// goes leaderless), it is refused as a new ISR member and in preferred
// elections, and it is told it may go once it leads nothing. Registering
// again makes it eligible.
func TestControlledShutdown(t *testing.T) {
	e := newEnv(t)
	for _, id := range []int32{1, 2, 3} {
		e.register(id, "")
	}
	e.createTopic("rf3", 6, 3, nil)
	e.createTopic("rf1", 3, 1, nil)
	var victim int32 = 2
	resp, err := e.c.Heartbeat(e.ctx, HeartbeatRequest{ID: victim, Epoch: e.epoch[victim], WantShutDown: true})
	if err != nil {
		t.Fatal(err)
	}
	if !resp.ShouldShutDown || resp.Leaderships != 0 || resp.Fenced {
		t.Fatalf("response %+v, want ShouldShutDown", resp)
	}
	for _, name := range []string{"rf3", "rf1"} {
		top, _ := e.img().Topic(name)
		for _, p := range top.Partitions {
			if p.Leader == victim {
				t.Fatalf("%s/%d still led by the shutting-down broker", name, p.Index)
			}
			if name == "rf3" && slices.Contains(p.ISR, victim) {
				t.Fatalf("%s/%d: ISR %v keeps the shutting-down broker", name, p.Index, p.ISR)
			}
			if name == "rf1" && p.Replicas[0] == victim && (p.Leader != metadata.NoLeader || !slices.Equal(p.ISR, []int32{victim})) {
				t.Fatalf("%s/%d: %+v, want leaderless keeping its only ISR member", name, p.Index, p)
			}
		}
	}
	// Its partitions' leaders cannot add it back, nor can an election pick it.
	top, _ := e.img().Topic("rf3")
	for _, p := range top.Partitions {
		if p.Replicas[0] != victim {
			continue
		}
		_, err := e.c.AlterPartition(e.ctx, AlterPartitionRequest{BrokerID: p.Leader, BrokerEpoch: e.epoch[p.Leader], TopicID: top.ID,
			Partition: p.Index, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch, ISR: append(slices.Clone(p.ISR), victim)})
		if !errors.Is(err, metadata.ErrIneligibleReplica) {
			t.Fatalf("adding the shutting-down broker to an ISR: %v", err)
		}
		break
	}
	if n, _ := e.c.RebalanceLeaders(e.ctx); n != 0 {
		t.Fatalf("rebalance moved %d partitions to the shutting-down broker", n)
	}
	// The same answer on the next heartbeat; a plain heartbeat does not
	// make it eligible, a new registration does.
	e.heartbeat(victim)
	if !e.c.shuttingDown(victim) {
		t.Fatal("a plain heartbeat ended the shutdown")
	}
	e.register(victim, "")
	if e.c.shuttingDown(victim) {
		t.Fatal("a new registration did not end the shutdown")
	}
}
