package group

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var testTopicID = [16]byte{1, 2, 3}

// config848 is a coordinator knowing one topic "t" of six partitions.
func config848() Config {
	return Config{InitialRebalanceDelay: -1, ConsumerSessionTimeout: 10 * time.Second, ConsumerHeartbeatInterval: time.Second,
		Topics: func() []TopicInfo { return []TopicInfo{{Name: "t", ID: testTopicID, Partitions: 6}} }}
}

// hb848 is a full heartbeat of member at epoch owning partitions of "t".
func hb848(member string, epoch int32, owned ...int32) *kmsg.ConsumerGroupHeartbeatRequest {
	r := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	r.Version = 1
	r.Group, r.MemberID, r.MemberEpoch, r.RebalanceTimeoutMillis = "g", member, epoch, 60000
	r.SubscribedTopicNames = []string{"t"}
	assignor := assignorUniform
	r.ServerAssignor = &assignor
	r.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	if len(owned) > 0 {
		r.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{{TopicID: testTopicID, Partitions: owned}}
	}
	return r
}

// beat sends req and fails the test on an error other than want.
func beat(t *testing.T, c *Coordinator, req *kmsg.ConsumerGroupHeartbeatRequest, want error) (epoch int32, assigned []int32) {
	t.Helper()
	r := c.ConsumerGroupHeartbeat(req, "client", "/127.0.0.1")
	if r.ErrorCode != codeOf(want) {
		t.Fatalf("heartbeat of %s at epoch %d: %v, want %v", req.MemberID, req.MemberEpoch, kerr.ErrorForCode(r.ErrorCode), want)
	}
	if r.Assignment != nil {
		for _, tp := range r.Assignment.Topics {
			assigned = append(assigned, tp.Partitions...)
		}
	}
	slices.Sort(assigned)
	return r.MemberEpoch, assigned
}

// TestConsumerGroupReconcile: a second member's partitions come only
// after the first released them, and epochs fence stale heartbeats.
func TestConsumerGroupReconcile(t *testing.T) {
	c := newTestCoordinator(t, &memLog{}, config848())
	ea, got := beat(t, c, hb848("a", 0), nil)
	if ea != 1 || !slices.Equal(got, []int32{0, 1, 2, 3, 4, 5}) {
		t.Fatalf("first member: epoch %d partitions %v, want 1 and all six", ea, got)
	}
	eb, got := beat(t, c, hb848("b", 0), nil)
	if eb != 2 || len(got) != 0 {
		t.Fatalf("second member before a released: epoch %d partitions %v, want 2 and none", eb, got)
	}
	// a is told to keep three, at its old epoch.
	ea2, keep := beat(t, c, hb848("a", ea, 0, 1, 2, 3, 4, 5), nil)
	if ea2 != ea || !slices.Equal(keep, []int32{0, 1, 2}) {
		t.Fatalf("a during revocation: epoch %d partitions %v, want epoch %d and 0-2", ea2, keep, ea)
	}
	// b still gets nothing: a has not released.
	if _, got := beat(t, c, hb848("b", eb), nil); len(got) != 0 {
		t.Fatalf("b got %v before a released them", got)
	}
	// A commit at a's epoch works while it revokes; a stale one does not.
	commitPartition := func(member string, epoch, partition int32) int16 {
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Version, req.Group, req.MemberID, req.Generation = 9, "g", member, epoch
		req.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: partition, Offset: 5}}}}
		return c.OffsetCommit(req).Topics[0].Partitions[0].ErrorCode
	}
	commit := func(member string, epoch int32) int16 { return commitPartition(member, epoch, keep[0]) }
	if code := commitPartition("a", ea, 5); code != 0 {
		t.Fatalf("commit of a partition being revoked at a's epoch: %v", kerr.ErrorForCode(code))
	}
	if code := commit("a", ea+5); code != kerr.StaleMemberEpoch.Code {
		t.Fatalf("commit at a wrong epoch: %v, want STALE_MEMBER_EPOCH", kerr.ErrorForCode(code))
	}
	if code := commit("", -1); code != kerr.UnknownMemberID.Code {
		t.Fatalf("commit from outside a live group: %v, want UNKNOWN_MEMBER_ID", kerr.ErrorForCode(code))
	}
	// a releases; it moves to the new epoch, and b gets the rest.
	ea3, _ := beat(t, c, hb848("a", ea, keep...), nil)
	if ea3 != 2 {
		t.Fatalf("a after releasing: epoch %d, want 2", ea3)
	}
	// KIP-1251: a commit at a's previous epoch is accepted for a partition
	// it still owns and refused for one it released.
	if code := commit("a", ea); code != 0 {
		t.Fatalf("commit of an owned partition at a's previous epoch: %v", kerr.ErrorForCode(code))
	}
	if code := commitPartition("a", ea, 5); code != kerr.StaleMemberEpoch.Code {
		t.Fatalf("commit of a released partition at a's previous epoch: %v, want STALE_MEMBER_EPOCH", kerr.ErrorForCode(code))
	}
	_, gotB := beat(t, c, hb848("b", eb), nil)
	if len(gotB) != 3 || slices.ContainsFunc(gotB, func(p int32) bool { return slices.Contains(keep, p) }) {
		t.Fatalf("b got %v, a keeps %v: want the other three", gotB, keep)
	}
	// Fencing: an epoch ahead, or an unknown member.
	beat(t, c, hb848("a", 9), kerr.FencedMemberEpoch)
	beat(t, c, hb848("zz", 2), kerr.UnknownMemberID)

	// OffsetFetch v9 checks the member's epoch.
	fetch := func(member string, epoch int32) int16 {
		req := kmsg.NewPtrOffsetFetchRequest()
		req.Version = 9
		rg := kmsg.NewOffsetFetchRequestGroup()
		rg.Group, rg.MemberID, rg.MemberEpoch = "g", &member, epoch
		req.Groups = append(req.Groups, rg)
		return c.OffsetFetch(req).Groups[0].ErrorCode
	}
	if code := fetch("a", ea3); code != 0 {
		t.Fatalf("fetch at a's epoch: %v", kerr.ErrorForCode(code))
	}
	if code := fetch("a", ea3-1); code != kerr.StaleMemberEpoch.Code {
		t.Fatalf("fetch at an old epoch: %v, want STALE_MEMBER_EPOCH", kerr.ErrorForCode(code))
	}

	// Leaving hands a's partitions to b.
	if e, _ := beat(t, c, hb848("a", -1), nil); e != -1 {
		t.Fatalf("leave answered epoch %d, want -1", e)
	}
	if e, got := beat(t, c, hb848("b", eb, gotB...), nil); e != 3 || len(got) != 6 {
		t.Fatalf("b after a left: epoch %d partitions %v, want 3 and all six", e, got)
	}
	d := c.ConsumerGroupDescribe(&kmsg.ConsumerGroupDescribeRequest{Groups: []string{"g"}}).Groups[0]
	if d.ErrorCode != 0 || d.State != consumerStable || len(d.Members) != 1 || d.Members[0].Assignment.TopicPartitions[0].Topic != "t" || d.Epoch != 3 {
		t.Fatalf("describe: %+v", d)
	}
}

// TestConsumerGroupTimeouts: a member that stops heartbeating leaves at
// its session timeout; one that does not release revoked partitions
// within its rebalance timeout is fenced.
func TestConsumerGroupTimeouts(t *testing.T) {
	cfg := config848()
	cfg.ConsumerSessionTimeout, cfg.ConsumerHeartbeatInterval = 300*time.Millisecond, 100*time.Millisecond
	c := newTestCoordinator(t, &memLog{}, cfg)
	beat(t, c, hb848("a", 0), nil)
	slow := hb848("b", 0)
	slow.RebalanceTimeoutMillis = 60000
	eb, _ := beat(t, c, slow, nil)
	// Only b heartbeats: a expires and b gets everything.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var got []int32
		eb, got = beat(t, c, hb848("b", eb), nil)
		if len(got) == 6 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("b holds %v long after a's session expired", got)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// a rejoining is a new member; b must release three and does not:
	// its 200 ms rebalance timeout fences it.
	quick := hb848("b", eb, 0, 1, 2, 3, 4, 5)
	quick.RebalanceTimeoutMillis = 200
	beat(t, c, quick, nil)
	ea, _ := beat(t, c, hb848("a", 0), nil)
	if _, got := beat(t, c, quick, nil); len(got) != 3 {
		t.Fatalf("b was not asked to release three: holds %v", got)
	}
	deadline = time.Now().Add(10 * time.Second)
	for {
		var got []int32
		ea, got = beat(t, c, hb848("a", ea), nil)
		if len(got) == 6 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a holds %v long after b's rebalance timeout", got)
		}
		time.Sleep(50 * time.Millisecond)
	}
	beat(t, c, hb848("b", eb), kerr.UnknownMemberID)
}

// TestConsumerGroupStatic: a static member leaving with epoch -2 keeps
// its partitions for its return under a new member id; a second live
// member cannot take its instance id.
func TestConsumerGroupStatic(t *testing.T) {
	c := newTestCoordinator(t, &memLog{}, config848())
	inst := "i1"
	join := func(member string) *kmsg.ConsumerGroupHeartbeatRequest {
		r := hb848(member, 0)
		r.InstanceID = &inst
		return r
	}
	e1, got := beat(t, c, join("s1"), nil)
	if len(got) != 6 {
		t.Fatalf("static member holds %v", got)
	}
	beat(t, c, join("s2"), kerr.UnreleasedInstanceID)
	leave := hb848("s1", leaveStaticEpoch)
	leave.InstanceID = &inst
	if e, _ := beat(t, c, leave, nil); e != leaveStaticEpoch {
		t.Fatalf("static leave answered epoch %d", e)
	}
	e2, got := beat(t, c, join("s2"), nil)
	if e2 != e1 || len(got) != 6 {
		t.Fatalf("returning static member: epoch %d partitions %v, want %d and all six", e2, got, e1)
	}
	beat(t, c, hb848("s1", e1), kerr.UnknownMemberID)
}

// TestGroupTypesCollide: a classic group and a consumer group of one id
// do not mix, as in Kafka.
func TestGroupTypesCollide(t *testing.T) {
	c := newTestCoordinator(t, &memLog{}, config848())
	beat(t, c, hb848("a", 0), nil)
	if r := c.JoinGroup(t.Context(), joinReq("g", ""), "c", "/h"); r.ErrorCode != kerr.InconsistentGroupProtocol.Code {
		t.Fatalf("classic join of a consumer group: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	if d := c.DescribeGroups(&kmsg.DescribeGroupsRequest{Groups: []string{"g"}}).Groups[0]; d.ErrorCode != 0 || d.State != string(Dead) {
		t.Fatalf("DescribeGroups of a consumer group: %v %s, want Dead as Kafka before v6", kerr.ErrorForCode(d.ErrorCode), d.State)
	}
	// A classic group with a member refuses consumer heartbeats.
	req := joinReq("classic", "m")
	req.MemberID = ""
	r := c.JoinGroup(t.Context(), req, "c", "/h")
	if r.ErrorCode != kerr.MemberIDRequired.Code {
		t.Fatalf("join: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	req.MemberID = r.MemberID
	if r := c.JoinGroup(t.Context(), req, "c", "/h"); r.ErrorCode != 0 {
		t.Fatalf("join: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	hb := hb848("x", 0)
	hb.Group = "classic"
	beat(t, c, hb, kerr.GroupIDNotFound)
	if d := c.ConsumerGroupDescribe(&kmsg.ConsumerGroupDescribeRequest{Groups: []string{"classic"}}).Groups[0]; d.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("ConsumerGroupDescribe of a classic group: %v", kerr.ErrorForCode(d.ErrorCode))
	}
	// Once the consumer group is empty, a classic member may take the id.
	beat(t, c, hb848("a", -1), nil)
	if r := c.JoinGroup(t.Context(), joinReq("g", ""), "c", "/h"); r.ErrorCode != kerr.MemberIDRequired.Code {
		t.Fatalf("classic join of an empty consumer group: %v", kerr.ErrorForCode(r.ErrorCode))
	}
}

// TestAssignors: uniform balances ±1 and keeps partitions where it can;
// range gives contiguous ranges.
func TestAssignors(t *testing.T) {
	topics := map[string]TopicInfo{"t": {Name: "t", ID: testTopicID, Partitions: 7}}
	in := assignInput{members: []string{"a", "b", "c"}, subs: map[string][]string{"a": {"t"}, "b": {"t"}, "c": {"t"}}, topics: topics}
	r := assign(assignorRange, in)
	want := map[string][]int32{"a": {0, 1, 2}, "b": {3, 4}, "c": {5, 6}}
	for m, ps := range want {
		if got := partitionsOf(r[m]); !slices.Equal(got, ps) {
			t.Fatalf("range gives %s %v, want %v", m, got, ps)
		}
	}
	u := assign(assignorUniform, in)
	total := 0
	for _, m := range in.members {
		if n := len(u[m]); n < 2 || n > 3 {
			t.Fatalf("uniform gives %s %d partitions", m, n)
		}
		total += len(u[m])
	}
	if total != 7 {
		t.Fatalf("uniform assigned %d of 7", total)
	}
	// c leaves: a and b keep what they had.
	in2 := assignInput{members: []string{"a", "b"}, subs: in.subs, topics: topics, previous: u}
	u2 := assign(assignorUniform, in2)
	for _, m := range in2.members {
		if len(u[m].minus(u2[m])) != 0 {
			t.Fatalf("uniform moved %s's partitions: %v then %v", m, partitionsOf(u[m]), partitionsOf(u2[m]))
		}
	}
	if len(u2["a"])+len(u2["b"]) != 7 || len(u2["a"]) < 3 || len(u2["b"]) < 3 {
		t.Fatalf("uniform after c left: a %v b %v", partitionsOf(u2["a"]), partitionsOf(u2["b"]))
	}
}

func partitionsOf(s tpSet) []int32 {
	var out []int32
	for _, tp := range sortedTPs(s) {
		out = append(out, tp.partition)
	}
	return out
}

// TestConsumerGroupOffsetDelete: offsets of a topic a consumer group's
// members subscribe to cannot be deleted; others can.
func TestConsumerGroupOffsetDelete(t *testing.T) {
	c := newTestCoordinator(t, &memLog{}, config848())
	e, _ := beat(t, c, hb848("a", 0), nil)
	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.Version, commit.Group, commit.MemberID, commit.Generation = 9, "g", "a", e
	commit.Topics = []kmsg.OffsetCommitRequestTopic{
		{Topic: "t", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 5}}},
		{Topic: "old", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 7}}},
	}
	for _, rt := range c.OffsetCommit(commit).Topics {
		if code := rt.Partitions[0].ErrorCode; code != 0 {
			t.Fatalf("commit %s: %v", rt.Topic, kerr.ErrorForCode(code))
		}
	}
	del := kmsg.NewPtrOffsetDeleteRequest()
	del.Group = "g"
	del.Topics = []kmsg.OffsetDeleteRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}}, {Topic: "old", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}}}
	r := c.OffsetDelete(del)
	if got := r.Topics[0].Partitions[0].ErrorCode; got != kerr.GroupSubscribedToTopic.Code {
		t.Fatalf("deleting a subscribed topic's offset: %v", kerr.ErrorForCode(got))
	}
	if got := r.Topics[1].Partitions[0].ErrorCode; got != 0 {
		t.Fatalf("deleting an unsubscribed topic's offset: %v", kerr.ErrorForCode(got))
	}
}

// TestConsumerGroupTopicsChange: a regex subscription takes topics as
// they appear, and a topic's new partitions are assigned.
func TestConsumerGroupTopicsChange(t *testing.T) {
	cfg := config848()
	var mu sync.Mutex
	topics := []TopicInfo{{Name: "t", ID: testTopicID, Partitions: 2}}
	cfg.Topics = func() []TopicInfo {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(topics)
	}
	c := newTestCoordinator(t, &memLog{}, cfg)
	req := hb848("a", 0)
	re := "t|u.*"
	req.SubscribedTopicNames, req.SubscribedTopicRegex = nil, &re
	e, got := beat(t, c, req, nil)
	if len(got) != 2 {
		t.Fatalf("regex member holds %v, want t's two partitions", got)
	}
	mu.Lock()
	topics[0].Partitions = 3
	topics = append(topics, TopicInfo{Name: "u1", ID: [16]byte{9}, Partitions: 2}, TopicInfo{Name: "x", ID: [16]byte{8}, Partitions: 4})
	mu.Unlock()
	again := hb848("a", e, got...)
	again.SubscribedTopicNames = nil // unchanged subscription
	e2, got := beat(t, c, again, nil)
	if e2 != e+1 || len(got) != 5 {
		t.Fatalf("after t grew and u1 appeared: epoch %d partitions %v, want %d and five", e2, got, e+1)
	}
}
