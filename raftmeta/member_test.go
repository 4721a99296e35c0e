package raftmeta

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/runnel-dev/runnel/internal/testwait"
	"github.com/runnel-dev/runnel/raftmeta/controller"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
	"github.com/runnel-dev/runnel/raftmeta/raftnode/raftnodetest"
)

// registerFake registers broker id through m and returns its epoch.
func registerFake(t *testing.T, m *Member, id int32, rack string) uint64 {
	t.Helper()
	resp, err := m.RegisterBroker(testCtx(t, 10*time.Second), controller.RegisterBrokerRequest{
		ID: id, Addr: fmt.Sprintf("b%d:9092", id), Rack: rack, Incarnation: uuid.New()})
	if err != nil {
		t.Fatalf("register %d: %v", id, err)
	}
	return resp.Epoch
}

// TestForwarding: requests sent to followers reach the controller; answers
// come back with sentinels intact; the follower reads its own writes.
func TestForwarding(t *testing.T) {
	c := newTCluster(t, 3, func(uint64) Config { return Config{SessionTimeout: time.Minute} })
	ctrl := c.waitController(10 * time.Second)
	follower := c.member(ctrl%3 + 1)
	ctx := testCtx(t, 30*time.Second)

	epochs := map[int32]uint64{}
	for id := int32(101); id <= 103; id++ {
		epochs[id] = registerFake(t, follower, id, fmt.Sprintf("r%d", id))
	}
	img, changed := follower.Watch()
	top, err := follower.CreateTopic(ctx, controller.CreateTopicRequest{Name: "orders", Partitions: 3, ReplicationFactor: 3})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	default:
		t.Fatal("Watch channel not closed by the new topic")
	}
	if _, ok := follower.Image().Topic("orders"); !ok || img.Version() >= follower.Image().Version() {
		t.Fatal("follower does not read its own write")
	}

	_, err = follower.CreateTopic(ctx, controller.CreateTopicRequest{Name: "orders", Partitions: 1, ReplicationFactor: 1})
	var re *RemoteError
	if !errors.Is(err, metadata.ErrTopicExists) || !errors.As(err, &re) || re.Node != ctrl {
		t.Fatalf("duplicate topic: %v", err)
	}
	if _, err := follower.CreateTopic(ctx, controller.CreateTopicRequest{Name: "bad name", Partitions: 1, ReplicationFactor: 1}); !errors.Is(err, metadata.ErrInvalidTopicName) {
		t.Fatalf("bad name: %v", err)
	}
	if _, err := follower.CreateTopic(ctx, controller.CreateTopicRequest{Name: "big", Partitions: 1, ReplicationFactor: 4}); !errors.Is(err, metadata.ErrInvalidReplicationFactor) {
		t.Fatalf("rf 4 with 3 brokers: %v", err)
	}

	// AlterPartition with a stale partition epoch is refused across the
	// network.
	p := top.Partitions[0]
	req := controller.AlterPartitionRequest{BrokerID: p.Leader, BrokerEpoch: epochs[p.Leader], TopicID: top.ID, Partition: 0,
		LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch, ISR: []int32{p.Leader}}
	got, err := follower.AlterPartition(ctx, req)
	if err != nil || got.PartitionEpoch != p.PartitionEpoch+1 || !slices.Equal(got.ISR, []int32{p.Leader}) {
		t.Fatalf("AlterPartition: %v %+v", err, got)
	}
	if _, err := follower.AlterPartition(ctx, req); !errors.Is(err, metadata.ErrStalePartitionEpoch) {
		t.Fatalf("stale AlterPartition: %v", err)
	}
	req.LeaderEpoch++
	req.PartitionEpoch = got.PartitionEpoch
	if _, err := follower.AlterPartition(ctx, req); !errors.Is(err, controller.ErrFencedLeaderEpoch) {
		t.Fatalf("wrong leader epoch: %v", err)
	}

	if _, err := follower.CreatePartitions(ctx, controller.CreatePartitionsRequest{Name: "orders", Count: 2}); !errors.Is(err, metadata.ErrInvalidPartitions) {
		t.Fatalf("decrease: %v", err)
	}
	if top, err := follower.CreatePartitions(ctx, controller.CreatePartitionsRequest{Name: "orders", Count: 5}); err != nil || len(top.Partitions) != 5 {
		t.Fatalf("increase: %v", err)
	}
	if err := follower.AlterConfigs(ctx, controller.AlterConfigsRequest{Name: "orders", Set: map[string]string{"bogus": "1"}}); !errors.Is(err, metadata.ErrInvalidConfig) {
		t.Fatalf("bogus config: %v", err)
	}
	if err := follower.AlterConfigs(ctx, controller.AlterConfigsRequest{Name: "orders", Set: map[string]string{metadata.ConfigRetentionMs: "1000"}}); err != nil {
		t.Fatal(err)
	}

	// Producer id blocks allocated concurrently through every member never
	// overlap.
	var (
		mu     sync.Mutex
		blocks []controller.ProducerIDBlock
		wg     sync.WaitGroup
	)
	for _, id := range c.running() {
		m := c.member(id)
		wg.Go(func() {
			for range 5 {
				b, err := m.AllocateProducerIDs(ctx, controller.AllocateProducerIDsRequest{BrokerID: 101, BrokerEpoch: epochs[101]})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				blocks = append(blocks, b)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.SortFunc(blocks, func(a, b controller.ProducerIDBlock) int { return int(a.First - b.First) })
	for i := 1; i < len(blocks); i++ {
		if blocks[i].First < blocks[i-1].First+int64(blocks[i-1].Count) {
			t.Fatalf("overlapping producer id blocks %+v %+v", blocks[i-1], blocks[i])
		}
	}

	// Only the partition's leader at its leader epoch records remote
	// segments: a record from another replica (a deposed leader) is
	// refused across the network.
	p0 := follower.Image().Topics()[0].Partitions[0]
	other := p0.Replicas[0]
	if other == p0.Leader {
		other = p0.Replicas[1]
	}
	seg := controller.RemoteSegmentRequest{TopicID: top.ID, Partition: 0, BrokerID: other, Segment: metadata.RemoteSegment{EndOffset: 9, ObjectKey: "orders/0/0", Size: 1, LeaderEpoch: p0.LeaderEpoch}}
	if err := follower.AddRemoteSegment(ctx, seg); !errors.Is(err, metadata.ErrFencedRemoteUpload) {
		t.Fatalf("segment from a replica that does not lead: %v", err)
	}
	seg.BrokerID = p0.Leader
	seg.Segment.LeaderEpoch = p0.LeaderEpoch + 1
	if err := follower.AddRemoteSegment(ctx, seg); !errors.Is(err, metadata.ErrFencedRemoteUpload) {
		t.Fatalf("segment at another leader epoch: %v", err)
	}
	seg.Segment.LeaderEpoch = p0.LeaderEpoch
	if err := follower.AddRemoteSegment(ctx, seg); err != nil {
		t.Fatal(err)
	}
	if err := follower.AddRemoteSegment(ctx, seg); !errors.Is(err, metadata.ErrRemoteSegmentExists) {
		t.Fatalf("duplicate segment: %v", err)
	}
	seg.LeaderEpoch = p0.LeaderEpoch
	if err := follower.RemoveRemoteSegment(ctx, seg); err != nil {
		t.Fatal(err)
	}
	if err := follower.MoveRemoteLogStart(ctx, controller.RemoteLogStartRequest{TopicID: top.ID, Offset: 5, BrokerID: p0.Leader, LeaderEpoch: p0.LeaderEpoch}); err != nil {
		t.Fatal(err)
	}
	if p, _ := follower.Image().Partition(top.ID, 0); p.RemoteLogStart != 5 {
		t.Fatalf("remote log start %d after the move, want 5", p.RemoteLogStart)
	}

	if err := follower.DeleteTopic(ctx, "orders"); err != nil {
		t.Fatal(err)
	}
	if _, ok := follower.Image().Topic("orders"); ok {
		t.Fatal("deleted topic still visible on the follower")
	}
	if err := follower.DeleteTopic(ctx, "orders"); !errors.Is(err, metadata.ErrUnknownTopic) {
		t.Fatalf("delete twice: %v", err)
	}
	c.waitConverged(10 * time.Second)
}

// TestMembership: a learner joins, catches up, is promoted to voter, and is
// removed again.
func TestMembership(t *testing.T) {
	c := newTCluster(t, 1, func(uint64) Config { return Config{SessionTimeout: time.Minute} })
	c.waitController(10 * time.Second)
	leader := c.member(1)
	registerFake(t, leader, 101, "")
	ctx := testCtx(t, 30*time.Second)
	if _, err := leader.CreateTopic(ctx, controller.CreateTopicRequest{Name: "a", Partitions: 2, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	learner, err := Open(Config{NodeID: 2, ClusterID: raftnodetest.ClusterID, Dir: filepath.Join(t.TempDir(), "meta"), Listener: ln,
		Learner: true, Voters: c.voters, TickInterval: 20 * time.Millisecond, Logger: quietLogger(), SessionTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer learner.Close()
	if err := leader.AddLearner(ctx, 2, learner.Addr()); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 10*time.Second, 20*time.Millisecond, func() error {
		if learner.Image().Hash() != leader.Image().Hash() {
			return errors.New("learner has not caught up")
		}
		return nil
	})
	// A learner forwards admin requests like any member.
	if _, err := learner.CreateTopic(ctx, controller.CreateTopicRequest{Name: "b", Partitions: 1, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
	if err := leader.AddVoter(ctx, 2, learner.Addr()); err != nil {
		t.Fatal(err)
	}
	if err := leader.RemoveVoter(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := leader.CreateTopic(ctx, controller.CreateTopicRequest{Name: "c", Partitions: 1, ReplicationFactor: 1}); err != nil {
		t.Fatalf("single voter after removal: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	bad := []Config{
		{},
		{NodeID: 1, BrokerID: -1},
		{NodeID: 1, SessionTimeout: time.Second, HeartbeatInterval: 2 * time.Second},
		{NodeID: 1, RequestTimeout: -1},
	}
	for _, cfg := range bad {
		if err := cfg.Validate(); err == nil {
			t.Errorf("Validate(%+v) accepted", cfg)
		}
	}
	cfg := Config{NodeID: 7}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.BrokerID != 7 || cfg.SessionTimeout != controller.DefaultSessionTimeout || cfg.HeartbeatInterval != DefaultHeartbeatInterval {
		t.Fatalf("defaults: %+v", cfg)
	}
	if _, err := Open(Config{NodeID: 1}); err == nil {
		t.Fatal("Open without Dir succeeded")
	}
}

func TestWireErrors(t *testing.T) {
	for code, sentinel := range errorCodes {
		w := toWire(fmt.Errorf("context: %w", sentinel))
		if w.Code != code {
			t.Errorf("%v encodes as %q, want %q", sentinel, w.Code, code)
		}
		if err := fromWire(w, 3); !errors.Is(err, sentinel) {
			t.Errorf("%q does not decode to %v", code, sentinel)
		}
	}
	if err := fromWire(toWire(errors.New("boom")), 3); !errors.Is(err, ErrController) {
		t.Errorf("unknown error decodes to %v", err)
	}
}
