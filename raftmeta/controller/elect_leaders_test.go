package controller

import (
	"errors"
	"testing"
	"time"
)

// TestElectLeadersPreferred: leadership goes back to the preferred replica
// only when it is an eligible ISR member; otherwise the partition answers
// why.
func TestElectLeadersPreferred(t *testing.T) {
	e := newEnv(t)
	for _, id := range []int32{1, 2, 3} {
		e.register(id, "")
	}
	top := e.createTopic("t", 3, 3, nil)
	pref := top.Partitions[0].Replicas[0]
	// Nothing to do while every partition is led by its preferred replica.
	res, err := e.c.ElectLeaders(e.ctx, ElectLeadersRequest{Type: ElectPreferred, Partitions: map[string][]int32{"t": {0}, "nope": {0}}})
	if err != nil {
		t.Fatal(err)
	}
	want := []PartitionResult{{Topic: "nope", Partition: 0, Error: UnknownTopicOrPartition}, {Topic: "t", Partition: 0, Error: ElectionNotNeeded}}
	checkResults(t, res, want)
	// The preferred replica is fenced: its partition moves away, and while
	// it is fenced a preferred election is refused.
	e.clock.Advance(testTimeout + time.Millisecond)
	for _, id := range []int32{1, 2, 3} {
		if id != pref {
			e.heartbeat(id)
		}
	}
	if err := e.c.ExpireSessions(e.ctx); err != nil {
		t.Fatal(err)
	}
	if e.partition("t", 0).Leader == pref {
		t.Fatal("fenced preferred replica still leads")
	}
	res, err = e.c.ElectLeaders(e.ctx, ElectLeadersRequest{Type: ElectPreferred, Partitions: map[string][]int32{"t": {0, 0}}})
	if err != nil {
		t.Fatal(err)
	}
	checkResults(t, res, []PartitionResult{{Topic: "t", Partition: 0, Error: PreferredLeaderNotAvailable}})
	// Back, unfenced, but not in the ISR until its leader adds it.
	e.heartbeat(pref)
	res, _ = e.c.ElectLeaders(e.ctx, ElectLeadersRequest{Type: ElectPreferred, Partitions: map[string][]int32{"t": {0}}})
	checkResults(t, res, []PartitionResult{{Topic: "t", Partition: 0, Error: PreferredLeaderNotAvailable}})
	p := e.partition("t", 0)
	e.shrinkISR("t", 0, append(p.ISR, pref))
	// All partitions: only those that needed an election are answered.
	res, err = e.c.ElectLeaders(e.ctx, ElectLeadersRequest{Type: ElectPreferred, All: true})
	if err != nil {
		t.Fatal(err)
	}
	checkResults(t, res, []PartitionResult{{Topic: "t", Partition: 0}})
	if got := e.partition("t", 0); got.Leader != pref || got.LeaderEpoch <= p.LeaderEpoch {
		t.Fatalf("after preferred election: %+v (before %+v)", got, p)
	}
	if _, err := e.c.ElectLeaders(e.ctx, ElectLeadersRequest{Type: 2, All: true}); !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("election type 2: %v", err)
	}
}

// TestElectLeadersUnclean: an unclean election gives a leaderless
// partition a leader, from the ISR if it can, else any eligible replica,
// even on a topic without unclean.leader.election.enable; a partition with
// a leader needs none.
func TestElectLeadersUnclean(t *testing.T) {
	e := newEnv(t)
	e.register(1, "a")
	e.register(2, "b")
	e.createTopic("led", 1, 2, nil)
	res, _ := e.c.ElectLeaders(e.ctx, ElectLeadersRequest{Type: ElectUnclean, Partitions: map[string][]int32{"led": {0}}})
	checkResults(t, res, []PartitionResult{{Topic: "led", Partition: 0, Error: ElectionNotNeeded}})
	_, other := e.strandOne("t")
	res, err := e.c.ElectLeaders(e.ctx, ElectLeadersRequest{Type: ElectUnclean, All: true})
	if err != nil {
		t.Fatal(err)
	}
	checkResults(t, res, []PartitionResult{{Topic: "t", Partition: 0}})
	if got := e.partition("t", 0); got.Leader != other {
		t.Fatalf("unclean election: %+v", got)
	}
	if value(t, e.c.metrics.unclean) != 1 {
		t.Fatal("unclean election not counted")
	}
	// No eligible replica at all.
	e.clock.Advance(testTimeout + time.Millisecond)
	if err := e.c.ExpireSessions(e.ctx); err != nil {
		t.Fatal(err)
	}
	res, _ = e.c.ElectLeaders(e.ctx, ElectLeadersRequest{Type: ElectUnclean, Partitions: map[string][]int32{"t": {0}}})
	checkResults(t, res, []PartitionResult{{Topic: "t", Partition: 0, Error: EligibleLeadersNotAvailable}})
}

// checkResults compares outcomes, ignoring messages.
func checkResults(t *testing.T, got, want []PartitionResult) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("results %+v, want %+v", got, want)
	}
	for i := range got {
		g := got[i]
		g.Message = ""
		if g != want[i] {
			t.Fatalf("result %d: %+v, want %+v (all: %+v)", i, got[i], want[i], got)
		}
	}
}
