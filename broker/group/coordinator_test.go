package group

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// memLog is an in-memory __consumer_offsets for coordinator tests.
type memLog struct {
	mu    sync.Mutex
	parts map[int32][]Record
	fail  error
}

func (l *memLog) Append(_ context.Context, p int32, records []Record) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail != nil {
		return -1, l.fail
	}
	if l.parts == nil {
		l.parts = map[int32][]Record{}
	}
	l.parts[p] = append(l.parts[p], records...)
	return int64(len(l.parts[p]) - 1), nil
}

func (l *memLog) Replay(_ context.Context, p int32, fn func(int64, Record)) error {
	l.mu.Lock()
	recs := append([]Record(nil), l.parts[p]...)
	l.mu.Unlock()
	for i, r := range recs {
		fn(int64(i), r)
	}
	return nil
}

// newTestCoordinator leads the only partition of a one-partition
// __consumer_offsets and waits until it is loaded.
func newTestCoordinator(t *testing.T, l Log, cfg Config) *Coordinator {
	t.Helper()
	c, err := New(cfg, l)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	c.Sync(1, map[int32]int32{0: 0})
	deadline := time.Now().Add(10 * time.Second)
	for !c.Owns("x") {
		if time.Now().After(deadline) {
			t.Fatal("partition 0 never loaded")
		}
		time.Sleep(time.Millisecond)
	}
	return c
}

func joinReq(group, member string) *kmsg.JoinGroupRequest {
	r := kmsg.NewPtrJoinGroupRequest()
	r.Version = 9
	r.Group, r.MemberID, r.ProtocolType = group, member, "consumer"
	r.SessionTimeoutMillis, r.RebalanceTimeoutMillis = 10000, 10000
	r.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte{1}}}
	return r
}

// TestJoinSyncProtocolErrors walks one member through KIP-394's
// MEMBER_ID_REQUIRED, a join, a sync, and the fencing errors of stale
// generations and unknown members.
func TestJoinSyncProtocolErrors(t *testing.T) {
	c := newTestCoordinator(t, &memLog{}, Config{InitialRebalanceDelay: -1})
	ctx := context.Background()
	bad := joinReq("g", "")
	bad.SessionTimeoutMillis = 10
	if r := c.JoinGroup(ctx, bad, "c", "/h"); r.ErrorCode != kerr.InvalidSessionTimeout.Code {
		t.Fatalf("session timeout below the minimum: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	r := c.JoinGroup(ctx, joinReq("g", ""), "c", "/h")
	if r.ErrorCode != kerr.MemberIDRequired.Code || r.MemberID == "" {
		t.Fatalf("first join: %v member %q, want MEMBER_ID_REQUIRED with an id", kerr.ErrorForCode(r.ErrorCode), r.MemberID)
	}
	id := r.MemberID
	r = c.JoinGroup(ctx, joinReq("g", id), "c", "/h")
	if r.ErrorCode != 0 || r.Generation != 1 || r.LeaderID != id || len(r.Members) != 1 {
		t.Fatalf("join: %v gen %d leader %q members %d", kerr.ErrorForCode(r.ErrorCode), r.Generation, r.LeaderID, len(r.Members))
	}
	if r := c.JoinGroup(ctx, joinReq("g", "nobody"), "c", "/h"); r.ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("unknown member join: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	sync := kmsg.NewPtrSyncGroupRequest()
	sync.Group, sync.MemberID, sync.Generation = "g", id, 1
	sync.GroupAssignment = []kmsg.SyncGroupRequestGroupAssignment{{MemberID: id, MemberAssignment: []byte("a")}}
	synced := c.SyncGroup(ctx, sync)
	if synced.ErrorCode != 0 || string(synced.MemberAssignment) != "a" || synced.Protocol == nil || *synced.Protocol != "range" {
		t.Fatalf("sync: %v %q protocol %v", kerr.ErrorForCode(synced.ErrorCode), synced.MemberAssignment, synced.Protocol)
	}
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Group, hb.MemberID, hb.Generation = "g", id, 0
	if h := c.Heartbeat(hb); h.ErrorCode != kerr.IllegalGeneration.Code {
		t.Fatalf("stale heartbeat: %v", kerr.ErrorForCode(h.ErrorCode))
	}
	hb.Generation = 1
	if h := c.Heartbeat(hb); h.ErrorCode != 0 {
		t.Fatalf("heartbeat: %v", kerr.ErrorForCode(h.ErrorCode))
	}
	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.Group, commit.MemberID, commit.Generation = "g", id, 0
	commit.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 5}}}}
	if cr := c.OffsetCommit(commit); cr.Topics[0].Partitions[0].ErrorCode != kerr.IllegalGeneration.Code {
		t.Fatalf("stale commit: %v", kerr.ErrorForCode(cr.Topics[0].Partitions[0].ErrorCode))
	}
	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.Version, leave.Group = 3, "g"
	leave.Members = []kmsg.LeaveGroupRequestMember{{MemberID: id}, {MemberID: "nobody"}}
	lr := c.LeaveGroup(leave)
	if lr.Members[0].ErrorCode != 0 || lr.Members[1].ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("leave: %+v", lr.Members)
	}
	d := c.DescribeGroups(&kmsg.DescribeGroupsRequest{Groups: []string{"g"}})
	if d.Groups[0].State != string(Empty) {
		t.Fatalf("after the last member left the group is %s", d.Groups[0].State)
	}
	// A response is encoded after the coordinator's lock is released: it
	// shares nothing the group changes later.
	if *synced.Protocol != "range" {
		t.Fatalf("the sync answer's protocol changed to %q when the group emptied", *synced.Protocol)
	}
}

// TestOffsetsExpireAndReload commits offsets of an Empty group, reloads
// them from the log, expires them after the retention and checks that the
// tombstones written make a reload find nothing.
func TestOffsetsExpireAndReload(t *testing.T) {
	l := &memLog{}
	c := newTestCoordinator(t, l, Config{OffsetsRetention: time.Hour})
	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.Group, commit.Generation = "simple", -1
	commit.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 5}, {Partition: 1, Offset: 7}}}}
	for _, p := range c.OffsetCommit(commit).Topics[0].Partitions {
		if p.ErrorCode != 0 {
			t.Fatalf("commit: %v", kerr.ErrorForCode(p.ErrorCode))
		}
	}
	fetch := func(c *Coordinator) []int64 {
		req := kmsg.NewPtrOffsetFetchRequest()
		req.Version = 8
		req.Groups = []kmsg.OffsetFetchRequestGroup{{Group: "simple", Topics: []kmsg.OffsetFetchRequestGroupTopic{{Topic: "t", Partitions: []int32{0, 1}}}}}
		var out []int64
		for _, p := range c.OffsetFetch(req).Groups[0].Topics[0].Partitions {
			out = append(out, p.Offset)
		}
		return out
	}
	if got := fetch(c); got[0] != 5 || got[1] != 7 {
		t.Fatalf("fetched %v, want [5 7]", got)
	}
	c.Close()
	c2 := newTestCoordinator(t, l, Config{OffsetsRetention: time.Hour})
	if got := fetch(c2); got[0] != 5 || got[1] != 7 {
		t.Fatalf("after reload fetched %v, want [5 7]", got)
	}
	if n := c2.ExpireOffsets(time.Now().Add(30 * time.Minute)); n != 0 {
		t.Fatalf("expired %d offsets before the retention", n)
	}
	if n := c2.ExpireOffsets(time.Now().Add(2 * time.Hour)); n != 2 {
		t.Fatalf("expired %d offsets, want 2", n)
	}
	if got := fetch(c2); got[0] != -1 || got[1] != -1 {
		t.Fatalf("after expiry fetched %v, want none", got)
	}
	c2.Close()
	c3 := newTestCoordinator(t, l, Config{OffsetsRetention: time.Hour})
	if got := fetch(c3); got[0] != -1 || got[1] != -1 {
		t.Fatalf("after expiry and reload fetched %v, want none", got)
	}
}

// TestNotCoordinator answers NOT_COORDINATOR for groups of partitions not
// led here, and after the partition is given up.
func TestNotCoordinator(t *testing.T) {
	c := newTestCoordinator(t, &memLog{}, Config{})
	c.Sync(1, map[int32]int32{})
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Group = "g"
	if h := c.Heartbeat(hb); h.ErrorCode != kerr.NotCoordinator.Code {
		t.Fatalf("heartbeat after unload: %v", kerr.ErrorForCode(h.ErrorCode))
	}
}

// TestListGroupsFilters lists by state (v4) and type (v5).
func TestListGroupsFilters(t *testing.T) {
	c := newTestCoordinator(t, &memLog{}, Config{InitialRebalanceDelay: -1})
	ctx := context.Background()
	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.Group = "empty"
	commit.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 1}}}}
	c.OffsetCommit(commit)
	j := joinReq("busy", "")
	j.Version = 3 // no MEMBER_ID_REQUIRED before v4
	if r := c.JoinGroup(ctx, j, "c", "/h"); r.ErrorCode != 0 {
		t.Fatalf("join: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	list := func(states, types []string) []string {
		req := kmsg.NewPtrListGroupsRequest()
		req.Version, req.StatesFilter, req.TypesFilter = 5, states, types
		var out []string
		for _, g := range c.ListGroups(req).Groups {
			out = append(out, g.Group+"="+g.GroupState)
		}
		return out
	}
	if got := list(nil, nil); len(got) != 2 || got[0] != "busy=CompletingRebalance" || got[1] != "empty=Empty" {
		t.Fatalf("all groups: %v", got)
	}
	if got := list([]string{"empty"}, nil); len(got) != 1 || got[0] != "empty=Empty" {
		t.Fatalf("Empty groups: %v", got)
	}
	if got := list(nil, []string{"consumer"}); len(got) != 0 {
		t.Fatalf("consumer-type (KIP-848) groups: %v, want none", got)
	}
}

// TestStaticMemberFenced replaces a static member by a new instance with
// the same group.instance.id: the old member id is fenced, the new one
// keeps the generation (no rebalance of a Stable group).
func TestStaticMemberFenced(t *testing.T) {
	c := newTestCoordinator(t, &memLog{}, Config{InitialRebalanceDelay: -1})
	ctx := context.Background()
	inst := "instance-1"
	j := joinReq("s", "")
	j.InstanceID = &inst
	first := c.JoinGroup(ctx, j, "c", "/h")
	if first.ErrorCode != 0 {
		t.Fatalf("static join: %v", kerr.ErrorForCode(first.ErrorCode))
	}
	sync := kmsg.NewPtrSyncGroupRequest()
	sync.Group, sync.MemberID, sync.Generation, sync.InstanceID = "s", first.MemberID, first.Generation, &inst
	sync.GroupAssignment = []kmsg.SyncGroupRequestGroupAssignment{{MemberID: first.MemberID, MemberAssignment: []byte("p0")}}
	if s := c.SyncGroup(ctx, sync); s.ErrorCode != 0 {
		t.Fatalf("sync: %v", kerr.ErrorForCode(s.ErrorCode))
	}
	second := c.JoinGroup(ctx, j, "c", "/h")
	if second.ErrorCode != 0 || second.MemberID == first.MemberID || second.Generation != first.Generation {
		t.Fatalf("rejoin: %v member %q generation %d (first %q %d)", kerr.ErrorForCode(second.ErrorCode), second.MemberID, second.Generation, first.MemberID, first.Generation)
	}
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Group, hb.MemberID, hb.Generation, hb.InstanceID = "s", first.MemberID, first.Generation, &inst
	if h := c.Heartbeat(hb); h.ErrorCode != kerr.FencedInstanceID.Code {
		t.Fatalf("old instance's heartbeat: %v, want FENCED_INSTANCE_ID", kerr.ErrorForCode(h.ErrorCode))
	}
	sync.MemberID, sync.GroupAssignment = second.MemberID, nil
	if s := c.SyncGroup(ctx, sync); s.ErrorCode != 0 || string(s.MemberAssignment) != "p0" {
		t.Fatalf("new instance's sync: %v %q, want its old assignment", kerr.ErrorForCode(s.ErrorCode), s.MemberAssignment)
	}
}

// TestCommitRetentionTime: an OffsetCommit v2-v4 retention time expires
// the offset on its own, before offsets.retention.minutes.
func TestCommitRetentionTime(t *testing.T) {
	l := &memLog{}
	c := newTestCoordinator(t, l, Config{OffsetsRetention: time.Hour})
	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.Version, commit.Group, commit.RetentionTimeMillis = 2, "old-client", 1000
	commit.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 3}}}}
	if p := c.OffsetCommit(commit).Topics[0].Partitions[0]; p.ErrorCode != 0 {
		t.Fatalf("commit: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	if n := c.ExpireOffsets(time.Now()); n != 0 {
		t.Fatalf("expired %d offsets at once", n)
	}
	if n := c.ExpireOffsets(time.Now().Add(2 * time.Second)); n != 1 {
		t.Fatalf("expired %d offsets after their 1 s retention, want 1", n)
	}
}
