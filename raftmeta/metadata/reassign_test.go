package metadata

import (
	"bytes"
	"slices"
	"testing"
)

// TestPartitionReassignment: a PartitionChanged with Reassign replaces the
// replica set and the reassignment in progress, bumps the leader epoch when
// the replicas change, and is refused when the sets do not fit together.
// Batches without it are still written as, and read from, version 1.
func TestPartitionReassignment(t *testing.T) {
	f := newFixture(t)
	f.threeBrokers()
	f.apply(register(4, "d"))
	f.apply(unfence(4, 5))
	f.apply(createTopic("t", topicID(1), ps(1, []int32{1, 2}, []int32{1, 2})))
	re := func(epoch, leader int32, isr []int32, r *Reassignment) Record {
		return Record{PartitionChanged: &PartitionChanged{ID: topicID(1), Partition: 0, PartitionEpoch: epoch, Leader: leader, ISR: isr, Reassign: r}}
	}
	// Start: [1,2] -> [3,2]: 3 adding, 1 removing.
	f.reject(ErrInvalidReplicas, re(0, 1, []int32{1, 2}, &Reassignment{Replicas: []int32{3, 2, 1}, Adding: []int32{3}, Removing: []int32{3}}))
	f.reject(ErrInvalidReplicas, re(0, 1, []int32{1, 2}, &Reassignment{Replicas: []int32{3, 2, 1}, Adding: []int32{5}}))
	f.reject(ErrInvalidReplicas, re(0, 1, []int32{1, 2}, &Reassignment{Replicas: []int32{1, 2}, Removing: []int32{1, 2}}))
	f.reject(ErrUnknownBroker, re(0, 1, []int32{1, 2}, &Reassignment{Replicas: []int32{9, 2, 1}, Adding: []int32{9}, Removing: []int32{1}}))
	f.reject(ErrInvalidISR, re(0, 1, []int32{1, 2}, &Reassignment{Replicas: []int32{3, 2}}))
	f.apply(re(0, 1, []int32{1, 2}, &Reassignment{Replicas: []int32{3, 2, 1}, Adding: []int32{3}, Removing: []int32{1}}))
	p, _ := f.img.Partition(topicID(1), 0)
	if !p.Reassigning() || !slices.Equal(p.Replicas, []int32{3, 2, 1}) || !slices.Equal(p.TargetReplicas(), []int32{3, 2}) ||
		p.LeaderEpoch != 1 || p.PartitionEpoch != 1 {
		t.Fatalf("started: %+v", p)
	}
	top, _ := f.img.Topic("t")
	if top.ReplicationFactor() != 2 {
		t.Fatalf("replication factor during reassignment: %d", top.ReplicationFactor())
	}
	// The added replica joins the ISR with a plain change: the leader epoch
	// stays.
	f.apply(re(1, 1, []int32{1, 2, 3}, nil))
	// Complete: replicas become the target, leader moves off the removed 1.
	f.apply(re(2, 2, []int32{2, 3}, &Reassignment{Replicas: []int32{3, 2}}))
	p, _ = f.img.Partition(topicID(1), 0)
	if p.Reassigning() || !slices.Equal(p.Replicas, []int32{3, 2}) || p.Leader != 2 || p.LeaderEpoch != 2 {
		t.Fatalf("completed: %+v", p)
	}

	// Encoding: version 2 only for batches with Reassign.
	plain := MustEncode(Batch{Records: []Record{re(3, 2, []int32{2}, nil)}})
	if !bytes.HasPrefix(plain, []byte(`{"v":1,`)) {
		t.Fatalf("plain batch encoded as %s", plain)
	}
	with := MustEncode(Batch{Records: []Record{re(3, 2, []int32{2}, &Reassignment{Replicas: []int32{2}})}})
	if !bytes.HasPrefix(with, []byte(`{"v":2,`)) {
		t.Fatalf("reassignment batch encoded as %s", with)
	}
	for _, data := range [][]byte{plain, with} {
		b, err := Decode(data)
		if err != nil || !bytes.Equal(MustEncode(b), data) {
			t.Fatalf("round trip of %s: %v", data, err)
		}
	}
}
