package controller

import (
	"slices"
	"testing"

	"github.com/runnel-dev/runnel/raftmeta/metadata"
)

// reassign runs one partition reassignment request and returns its result.
func (e *env) reassign(topic string, r PartitionReassignment) PartitionResult {
	e.t.Helper()
	res, err := e.c.ReassignPartitions(e.ctx, ReassignRequest{Topics: map[string][]PartitionReassignment{topic: {r}}})
	if err != nil || len(res) != 1 {
		e.t.Fatalf("reassign %s %+v: %v %+v", topic, r, err, res)
	}
	return res[0]
}

// TestReassignPartition: moving a partition from [1 2] to [3 2] adds 3 as a
// replica (the leader epoch moves, so the leader takes the new follower),
// keeps 1 until 3 is in the ISR, and then, in the commit that adds 3 to the
// ISR, drops 1 and hands leadership to 3 or 2.
func TestReassignPartition(t *testing.T) {
	e := newEnv(t)
	for _, id := range []int32{1, 2, 3} {
		e.register(id, "")
	}
	top := e.createTopic("t", 1, 2, nil)
	p := top.Partitions[0]
	old := p.Replicas
	var fresh int32 = 6 - old[0] - old[1]
	target := []int32{fresh, old[1]}

	if r := e.reassign("t", PartitionReassignment{Partition: 0, Replicas: []int32{fresh, fresh}}); r.Error != InvalidReplicaAssignment {
		t.Fatalf("duplicate target: %+v", r)
	}
	if r := e.reassign("t", PartitionReassignment{Partition: 0, Replicas: []int32{9}}); r.Error != InvalidReplicaAssignment {
		t.Fatalf("unknown broker: %+v", r)
	}
	if r := e.reassign("t", PartitionReassignment{Partition: 3, Replicas: target}); r.Error != UnknownTopicOrPartition {
		t.Fatalf("unknown partition: %+v", r)
	}
	if r := e.reassign("t", PartitionReassignment{Partition: 0, Cancel: true}); r.Error != NoReassignmentInProgress {
		t.Fatalf("cancel with none: %+v", r)
	}
	if r := e.reassign("t", PartitionReassignment{Partition: 0, Replicas: target}); r.Error != "" {
		t.Fatalf("start: %+v", r)
	}
	got := e.partition("t", 0)
	if !slices.Equal(got.Replicas, []int32{fresh, old[1], old[0]}) || !slices.Equal(got.AddingReplicas, []int32{fresh}) ||
		!slices.Equal(got.RemovingReplicas, []int32{old[0]}) || got.LeaderEpoch != p.LeaderEpoch+1 || got.Leader != p.Leader {
		t.Fatalf("started: %+v (before %+v)", got, p)
	}
	// The leader adds the new replica once it caught up: that completes it.
	e.shrinkISR("t", 0, append(slices.Clone(got.ISR), fresh))
	done := e.partition("t", 0)
	if done.Reassigning() || !slices.Equal(done.Replicas, target) || slices.Contains(done.ISR, old[0]) ||
		done.Leader == old[0] || !slices.Contains(target, done.Leader) {
		t.Fatalf("completed: %+v", done)
	}
}

// TestReassignCancelAndShrink: a reassignment cancelled goes back to the
// old replicas (their order need not survive, as in Kafka); one that only removes replicas in the ISR completes at
// once.
func TestReassignCancelAndShrink(t *testing.T) {
	e := newEnv(t)
	for _, id := range []int32{1, 2, 3, 4} {
		e.register(id, "")
	}
	top := e.createTopic("t", 1, 3, nil)
	old := top.Partitions[0].Replicas
	var fresh int32
	for _, b := range []int32{1, 2, 3, 4} {
		if !slices.Contains(old, b) {
			fresh = b
		}
	}
	if r := e.reassign("t", PartitionReassignment{Partition: 0, Replicas: []int32{fresh, old[1], old[2]}}); r.Error != "" {
		t.Fatalf("start: %+v", r)
	}
	if r := e.reassign("t", PartitionReassignment{Partition: 0, Cancel: true}); r.Error != "" {
		t.Fatalf("cancel: %+v", r)
	}
	got := e.partition("t", 0)
	if got.Reassigning() || !sameSet(got.Replicas, old) || !sameSet(got.ISR, old) {
		t.Fatalf("cancelled: %+v", got)
	}
	// Shrink to two replicas already in the ISR: done in one commit.
	if r := e.reassign("t", PartitionReassignment{Partition: 0, Replicas: []int32{old[2], old[1]}}); r.Error != "" {
		t.Fatalf("shrink: %+v", r)
	}
	got = e.partition("t", 0)
	if got.Reassigning() || !slices.Equal(got.Replicas, []int32{old[2], old[1]}) || slices.Contains(got.ISR, old[0]) || got.Leader == metadata.NoLeader {
		t.Fatalf("after shrink: %+v", got)
	}
	// Same replicas again: nothing to do.
	before := e.img().Version()
	if r := e.reassign("t", PartitionReassignment{Partition: 0, Replicas: []int32{old[2], old[1]}}); r.Error != "" || e.img().Version() != before {
		t.Fatalf("no-op reassignment: %+v, version %d -> %d", r, before, e.img().Version())
	}
}
