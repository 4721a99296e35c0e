package group

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// describe848Text is a consumer group's description as text: epochs,
// members with their epochs, partitions and targets.
func describe848Text(t *testing.T, c *Coordinator, group string) string {
	t.Helper()
	req := kmsg.NewPtrConsumerGroupDescribeRequest()
	req.Groups = []string{group}
	d := c.ConsumerGroupDescribe(req).Groups[0]
	if d.ErrorCode != 0 {
		t.Fatalf("describe %s: %v", group, kerr.ErrorForCode(d.ErrorCode))
	}
	s := fmt.Sprintf("%s epoch %d assignment %d", d.State, d.Epoch, d.AssignmentEpoch)
	for _, m := range d.Members {
		s += fmt.Sprintf("; %s@%d %v target %v", m.MemberID, m.MemberEpoch, m.Assignment.TopicPartitions, m.TargetAssignment.TopicPartitions)
	}
	return s
}

// lastValues is the last value of each key in partition 0 of l (nil for a
// tombstone), as compaction would keep it.
func lastValues(l *memLog) map[string][]byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string][]byte{}
	for _, r := range l.parts[0] {
		out[string(r.Key)] = r.Value
	}
	return out
}

// TestConsumerGroup848Load: a new coordinator rebuilds a consumer group
// from the log mid-revocation (members, epochs, partitions, pending
// revocations, target, group epoch); the members go on at their epochs
// with their partitions, a partition still being released is not handed
// on before its owner lets it go, and a member that leaves is tombstoned.
func TestConsumerGroup848Load(t *testing.T) {
	l := &memLog{}
	c1 := newTestCoordinator(t, l, config848())
	ea, _ := beat(t, c1, hb848("a", 0), nil)
	eb, _ := beat(t, c1, hb848("b", 0), nil)
	if _, keep := beat(t, c1, hb848("a", ea, 0, 1, 2, 3, 4, 5), nil); !slices.Equal(keep, []int32{0, 1, 2}) {
		t.Fatalf("a keeps %v, want 0-2", keep)
	}
	before := describe848Text(t, c1, "g")
	c1.Close()

	c2 := newTestCoordinator(t, l, config848())
	if after := describe848Text(t, c2, "g"); after != before {
		t.Fatalf("loaded group differs:\n before %s\n after  %s", before, after)
	}
	// b gets nothing while a has not released 3-5, here as before.
	if e, got := beat(t, c2, hb848("b", eb), nil); e != eb || len(got) != 0 {
		t.Fatalf("b on the new coordinator: epoch %d partitions %v, want %d and none", e, got, eb)
	}
	ea2, keep := beat(t, c2, hb848("a", ea, 0, 1, 2), nil)
	if ea2 <= ea || !slices.Equal(keep, []int32{0, 1, 2}) {
		t.Fatalf("a after releasing: epoch %d partitions %v, want above %d and 0-2", ea2, keep, ea)
	}
	if _, got := beat(t, c2, hb848("b", eb), nil); !slices.Equal(got, []int32{3, 4, 5}) {
		t.Fatalf("b after a released: %v, want 3-5", got)
	}

	// a leaves: its three records are tombstoned, the group's stay.
	leave := hb848("a", leaveEpoch)
	beat(t, c2, leave, nil)
	last := lastValues(l)
	for _, typ := range []int16{cgMemberMetadataType, cgTargetMemberType, cgCurrentAssignmentType} {
		if v, ok := last[string(key848{typ: typ, group: "g", member: "a"}.encode())]; !ok || v != nil {
			t.Errorf("record type %d of the member that left: %x (present %v), want a tombstone", typ, v, ok)
		}
		if v := last[string(key848{typ: typ, group: "g", member: "b"}.encode())]; v == nil {
			t.Errorf("record type %d of b is missing", typ)
		}
	}
	meta, err := decodeCGMetadataValue(last[string(key848{typ: cgMetadataType, group: "g"}.encode())])
	if err != nil || meta.epoch <= ea2 {
		t.Fatalf("group epoch record %+v, %v; want an epoch above %d", meta, err, ea2)
	}
}

// TestConsumerGroup848LoadedSessions: loaded members' sessions start at
// the load; one that never heartbeats the new coordinator is removed
// after the session timeout and its partitions go to the others.
func TestConsumerGroup848LoadedSessions(t *testing.T) {
	l := &memLog{}
	cfg := config848()
	c1 := newTestCoordinator(t, l, cfg)
	ea, _ := beat(t, c1, hb848("a", 0), nil)
	eb, _ := beat(t, c1, hb848("b", 0), nil)
	beat(t, c1, hb848("a", ea, 0, 1, 2, 3, 4, 5), nil) // told to release 3-5
	beat(t, c1, hb848("a", ea, 0, 1, 2), nil)          // released
	eb, got := beat(t, c1, hb848("b", eb), nil)
	if len(got) != 3 {
		t.Fatalf("b holds %v", got)
	}
	c1.Close()
	cfg.ConsumerSessionTimeout, cfg.ConsumerHeartbeatInterval = 300*time.Millisecond, 100*time.Millisecond
	c2 := newTestCoordinator(t, l, cfg)
	deadline := time.Now().Add(10 * time.Second)
	for len(got) != 6 {
		if time.Now().After(deadline) {
			t.Fatalf("b holds %v long after a's session timed out", got)
		}
		time.Sleep(50 * time.Millisecond)
		eb, got = beat(t, c2, hb848("b", eb, got...), nil)
	}
}

// TestConsumerGroup848WriteFailure: a heartbeat whose records are not
// written is answered with a coordinator error, and the partition is
// loaded again from the log, so the group is what the log says.
func TestConsumerGroup848WriteFailure(t *testing.T) {
	l := &memLog{}
	c := newTestCoordinator(t, l, config848())
	ea, _ := beat(t, c, hb848("a", 0), nil)
	before := describe848Text(t, c, "g")
	l.mu.Lock()
	l.fail = fmt.Errorf("append: %w", kerr.NotEnoughReplicas)
	l.mu.Unlock()
	r := c.ConsumerGroupHeartbeat(hb848("b", 0), "client", "/127.0.0.1")
	if err := kerr.ErrorForCode(r.ErrorCode); !errors.Is(err, kerr.NotCoordinator) {
		t.Fatalf("heartbeat with a failing log: %v, want NOT_COORDINATOR", err)
	}
	l.mu.Lock()
	l.fail = nil
	l.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for !c.Owns("g") {
		if time.Now().After(deadline) {
			t.Fatal("the partition was not loaded again")
		}
		time.Sleep(time.Millisecond)
	}
	if after := describe848Text(t, c, "g"); after != before {
		t.Fatalf("after the failed write the group is\n %s\nnot what the log holds\n %s", after, before)
	}
	if e, got := beat(t, c, hb848("a", ea, 0, 1, 2, 3, 4, 5), nil); e != ea || len(got) != 6 {
		t.Fatalf("a after the reload: epoch %d partitions %v", e, got)
	}
}

// TestConsumerGroup848DeleteTombstones: deleting an empty consumer group
// tombstones its epoch and target records, so compaction removes it, and
// a new coordinator finds no group.
func TestConsumerGroup848DeleteTombstones(t *testing.T) {
	l := &memLog{}
	c := newTestCoordinator(t, l, config848())
	beat(t, c, hb848("a", 0), nil)
	beat(t, c, hb848("a", leaveEpoch), nil)
	req := kmsg.NewPtrDeleteGroupsRequest()
	req.Groups = []string{"g"}
	if code := c.DeleteGroups(req).Groups[0].ErrorCode; code != 0 {
		t.Fatalf("delete: %v", kerr.ErrorForCode(code))
	}
	for k, v := range lastValues(l) {
		if is848Key([]byte(k)) && v != nil {
			t.Errorf("key %x still has a value after the group's deletion", k)
		}
	}
	c.Close()
	c2 := newTestCoordinator(t, l, config848())
	d := kmsg.NewPtrConsumerGroupDescribeRequest()
	d.Groups = []string{"g"}
	if code := c2.ConsumerGroupDescribe(d).Groups[0].ErrorCode; code != kerr.GroupIDNotFound.Code {
		t.Fatalf("deleted group described by a new coordinator: %v", kerr.ErrorForCode(code))
	}
}

// TestConsumerGroup848Expiry: an empty consumer group without offsets is
// deleted by the expiry pass, its records tombstoned; one with members
// stays.
func TestConsumerGroup848Expiry(t *testing.T) {
	l := &memLog{}
	c := newTestCoordinator(t, l, config848())
	beat(t, c, hb848("a", 0), nil)
	other := hb848("b", 0)
	other.Group = "busy"
	beat(t, c, other, nil)
	beat(t, c, hb848("a", leaveEpoch), nil)
	c.ExpireOffsets(time.Now())
	for k, v := range lastValues(l) {
		if key, err := decodeKey848([]byte(k)); err == nil && key.group == "g" && v != nil {
			t.Errorf("record type %d of the expired group still has a value", key.typ)
		}
	}
	d := kmsg.NewPtrConsumerGroupDescribeRequest()
	d.Groups = []string{"g", "busy"}
	r := c.ConsumerGroupDescribe(d)
	if r.Groups[0].ErrorCode != kerr.GroupIDNotFound.Code || r.Groups[1].ErrorCode != 0 {
		t.Fatalf("after expiry: g %v, busy %v; want g gone and busy kept",
			kerr.ErrorForCode(r.Groups[0].ErrorCode), kerr.ErrorForCode(r.Groups[1].ErrorCode))
	}
}

// checkLogCurrent fails when the log lacks a change of group: a whole
// diff of its state against what was queued must find nothing (the
// one-member diffs of heartbeats missed nothing).
func checkLogCurrent(t *testing.T, c *Coordinator, group, step string) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if recs := c.groups[group].changes848Locked(); len(recs) > 0 {
		t.Fatalf("%s: %d records of the group's state were never queued", step, len(recs))
	}
}

// TestConsumerGroup848MemberWrites: heartbeats write only their member's
// records when the epochs stand still, and nothing is missed, through
// joins, revocations, a static member leaving (epoch -2) and returning
// under a new id; a new coordinator loads the same group.
func TestConsumerGroup848MemberWrites(t *testing.T) {
	l := &memLog{}
	c := newTestCoordinator(t, l, config848())
	static := func(member string, epoch int32, owned ...int32) *kmsg.ConsumerGroupHeartbeatRequest {
		r := hb848(member, epoch, owned...)
		inst := "inst"
		r.InstanceID = &inst
		return r
	}
	ea, _ := beat(t, c, hb848("a", 0), nil)
	checkLogCurrent(t, c, "g", "a joined")
	es, _ := beat(t, c, static("s", 0), nil)
	checkLogCurrent(t, c, "g", "s joined")
	beat(t, c, hb848("a", ea, 0, 1, 2, 3, 4, 5), nil)
	checkLogCurrent(t, c, "g", "a told to revoke")
	ea, _ = beat(t, c, hb848("a", ea, 0, 1, 2), nil)
	checkLogCurrent(t, c, "g", "a released")
	es, got := beat(t, c, static("s", es), nil)
	checkLogCurrent(t, c, "g", "s assigned")
	beat(t, c, static("s", leaveStaticEpoch, got...), nil)
	checkLogCurrent(t, c, "g", "s left for a while")
	es2, got2 := beat(t, c, static("s2", 0), nil)
	checkLogCurrent(t, c, "g", "s back as s2")
	if es2 != es || !slices.Equal(got2, got) {
		t.Fatalf("returning static member: epoch %d partitions %v, want %d and %v", es2, got2, es, got)
	}
	beat(t, c, hb848("a", ea, 0, 1, 2), nil)
	checkLogCurrent(t, c, "g", "a heartbeat")
	before := describe848Text(t, c, "g")
	c.Close()
	c2 := newTestCoordinator(t, l, config848())
	if after := describe848Text(t, c2, "g"); after != before {
		t.Fatalf("loaded group differs:\n before %s\n after  %s", before, after)
	}
}
