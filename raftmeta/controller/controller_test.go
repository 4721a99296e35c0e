package controller

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/runnel-dev/runnel/raftmeta/metadata"
)

func TestCreateTopic(t *testing.T) {
	e := newEnv(t)
	e.register(1, "a")
	e.register(2, "b")
	e.register(3, "c")
	top := e.createTopic("orders", 6, 3, map[string]string{metadata.ConfigRetentionMs: "60000"})
	// Linearizable: the image already has it.
	if got, ok := e.img().Topic("orders"); !ok || got.ID != top.ID || len(got.Partitions) != 6 {
		t.Fatalf("topic not in image after CreateTopic returned")
	}
	cases := []struct {
		req  CreateTopicRequest
		want error
	}{
		{CreateTopicRequest{Name: "orders", Partitions: 1, ReplicationFactor: 1}, metadata.ErrTopicExists},
		{CreateTopicRequest{Name: "bad/name", Partitions: 1, ReplicationFactor: 1}, metadata.ErrInvalidTopicName},
		{CreateTopicRequest{Name: "..", Partitions: 1, ReplicationFactor: 1}, metadata.ErrInvalidTopicName},
		{CreateTopicRequest{Name: "x", Partitions: 0, ReplicationFactor: 1}, metadata.ErrInvalidPartitions},
		{CreateTopicRequest{Name: "x", Partitions: 1, ReplicationFactor: 4}, metadata.ErrInvalidReplicationFactor},
		{CreateTopicRequest{Name: "x", Partitions: 1, ReplicationFactor: 0}, metadata.ErrInvalidReplicationFactor},
		{CreateTopicRequest{Name: "x", Partitions: 1, ReplicationFactor: 1, Config: map[string]string{"no.such.key": "1"}}, metadata.ErrInvalidConfig},
		{CreateTopicRequest{Name: "x", Partitions: 1, ReplicationFactor: 1, Config: map[string]string{metadata.ConfigMinInsyncReplicas: "zero"}}, metadata.ErrInvalidConfig},
	}
	for _, c := range cases {
		if _, err := e.c.CreateTopic(e.ctx, c.req); !errors.Is(err, c.want) {
			t.Errorf("CreateTopic(%+v): %v, want %v", c.req, err, c.want)
		}
	}

	// Leaders rotate across topics: three 1-partition topics get three
	// different leaders.
	seen := map[int32]bool{}
	for _, name := range []string{"t1", "t2", "t3"} {
		seen[e.createTopic(name, 1, 1, nil).Partitions[0].Leader] = true
	}
	if len(seen) != 3 {
		t.Errorf("leaders of successive topics not rotated: %v", seen)
	}

	if err := e.c.DeleteTopic(e.ctx, "orders"); err != nil {
		t.Fatal(err)
	}
	if err := e.c.DeleteTopic(e.ctx, "orders"); !errors.Is(err, metadata.ErrUnknownTopic) {
		t.Fatalf("second delete: %v", err)
	}
}

func TestCreatePartitionsAndAlterConfigs(t *testing.T) {
	e := newEnv(t)
	e.register(1, "a")
	e.register(2, "b")
	e.createTopic("t", 2, 2, nil)
	top, err := e.c.CreatePartitions(e.ctx, CreatePartitionsRequest{Name: "t", Count: 5})
	if err != nil || len(top.Partitions) != 5 || top.ReplicationFactor() != 2 {
		t.Fatalf("CreatePartitions: %v %+v", err, top)
	}
	if _, err := e.c.CreatePartitions(e.ctx, CreatePartitionsRequest{Name: "t", Count: 5}); !errors.Is(err, metadata.ErrInvalidPartitions) {
		t.Fatalf("no increase: %v", err)
	}
	if _, err := e.c.CreatePartitions(e.ctx, CreatePartitionsRequest{Name: "u", Count: 5}); !errors.Is(err, metadata.ErrUnknownTopic) {
		t.Fatalf("unknown topic: %v", err)
	}
	if err := e.c.AlterConfigs(e.ctx, AlterConfigsRequest{Name: "t", Set: map[string]string{metadata.ConfigRetentionMs: "60000"}}); err != nil {
		t.Fatal(err)
	}
	if top, _ := e.img().Topic("t"); top.Config[metadata.ConfigRetentionMs] != "60000" {
		t.Fatalf("config %v", top.Config)
	}
	for _, bad := range []string{"shred", "compact,shred", "compact,compact", ""} {
		if err := e.c.AlterConfigs(e.ctx, AlterConfigsRequest{Name: "t", Set: map[string]string{metadata.ConfigCleanupPolicy: bad}}); !errors.Is(err, metadata.ErrInvalidConfig) {
			t.Fatalf("cleanup.policy=%s: %v", bad, err)
		}
	}
	for _, good := range []string{"compact", "compact,delete", "delete,compact", "delete"} {
		if err := e.c.AlterConfigs(e.ctx, AlterConfigsRequest{Name: "t", Set: map[string]string{metadata.ConfigCleanupPolicy: good}}); err != nil {
			t.Fatalf("cleanup.policy=%s: %v", good, err)
		}
	}
	if err := e.c.AlterConfigs(e.ctx, AlterConfigsRequest{Name: "t", Delete: []string{metadata.ConfigRetentionMs, metadata.ConfigCleanupPolicy}}); err != nil {
		t.Fatal(err)
	}
	if top, _ := e.img().Topic("t"); len(top.Config) != 0 {
		t.Fatalf("config after delete %v", top.Config)
	}
}

// TestFencingElectsFromISR: a silent broker is fenced after the session
// timeout; partitions it led get leaders from their ISR and it leaves every
// ISR; epochs follow Kafka's rules.
func TestFencingElectsFromISR(t *testing.T) {
	e := newEnv(t)
	e.register(1, "a")
	e.register(2, "b")
	e.register(3, "c")
	e.createTopic("t", 3, 3, nil)
	before := e.img().Topics()[0]

	e.clock.Advance(testTimeout / 2)
	e.heartbeat(1, 2, 3)
	e.clock.Advance(testTimeout / 2)
	if err := e.c.ExpireSessions(e.ctx); err != nil {
		t.Fatal(err)
	}
	if e.broker(3).Fenced {
		t.Fatal("broker fenced before its session expired")
	}
	e.heartbeat(1, 2)
	e.clock.Advance(testTimeout/2 + time.Millisecond)
	if err := e.c.ExpireSessions(e.ctx); err != nil {
		t.Fatal(err)
	}
	if !e.broker(3).Fenced || e.broker(1).Fenced || e.broker(2).Fenced {
		t.Fatalf("fencing: %+v", e.img().Brokers())
	}
	for i, p := range before.Partitions {
		now := e.partition("t", int32(i))
		if slices.Contains(now.ISR, 3) {
			t.Errorf("partition %d: fenced broker still in ISR %v", i, now.ISR)
		}
		if now.Leader == 3 || !slices.Contains(p.ISR, now.Leader) || !slices.Contains(now.ISR, now.Leader) {
			t.Errorf("partition %d: leader %d not from ISR %v", i, now.Leader, p.ISR)
		}
		if now.PartitionEpoch != p.PartitionEpoch+1 {
			t.Errorf("partition %d: partition epoch %d -> %d", i, p.PartitionEpoch, now.PartitionEpoch)
		}
		wantLE := p.LeaderEpoch
		if p.Leader == 3 {
			wantLE++
			// The new leader is the first ISR replica in replica order.
			if now.Leader != p.Replicas[1] {
				t.Errorf("partition %d: leader %d, want next replica %d", i, now.Leader, p.Replicas[1])
			}
		}
		if now.LeaderEpoch != wantLE {
			t.Errorf("partition %d: leader epoch %d, want %d", i, now.LeaderEpoch, wantLE)
		}
	}
	// Running again decides nothing new.
	v := e.img().Version()
	if err := e.c.ExpireSessions(e.ctx); err != nil || e.img().Version() != v {
		t.Fatalf("second expiry: %v, version %d -> %d", err, v, e.img().Version())
	}
	// The broker returns: unfenced, but it must catch up before the leader
	// puts it back in the ISR.
	e.heartbeat(3)
	if e.broker(3).Fenced {
		t.Fatal("heartbeat did not unfence")
	}
	if slices.Contains(e.partition("t", 0).ISR, 3) {
		t.Fatal("unfenced broker put back into an ISR without AlterPartition")
	}
}

// TestLeaderlessAndUnclean: with no ISR member left a partition goes
// leaderless unless the topic allows unclean election.
func TestLeaderlessAndUnclean(t *testing.T) {
	e := newEnv(t)
	e.register(1, "a")
	e.register(2, "b")
	// Leaders rotate: clean and unclean are both led by broker 1.
	clean := e.createTopic("clean", 1, 2, nil)
	e.createTopic("filler", 1, 2, nil)
	unclean := e.createTopic("unclean", 1, 2, map[string]string{metadata.ConfigUncleanLeaderElection: "true"})
	for _, top := range []*metadata.Topic{clean, unclean} {
		p := top.Partitions[0]
		if p.Leader != 1 {
			t.Fatalf("topic %q led by %d, want 1", top.Name, p.Leader)
		}
		// The leader shrinks the ISR to itself.
		if _, err := e.c.AlterPartition(e.ctx, AlterPartitionRequest{BrokerID: 1, BrokerEpoch: e.epoch[1], TopicID: top.ID,
			LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch, ISR: []int32{1}}); err != nil {
			t.Fatal(err)
		}
	}
	e.clock.Advance(testTimeout + time.Millisecond)
	e.heartbeat(2)
	if err := e.c.ExpireSessions(e.ctx); err != nil {
		t.Fatal(err)
	}
	pc, pu := e.partition("clean", 0), e.partition("unclean", 0)
	if pc.Leader != metadata.NoLeader || !slices.Equal(pc.ISR, []int32{1}) {
		t.Fatalf("clean topic: leader %d isr %v, want leaderless keeping [1]", pc.Leader, pc.ISR)
	}
	if pu.Leader != 2 || !slices.Equal(pu.ISR, []int32{2}) || pu.LeaderEpoch != unclean.Partitions[0].LeaderEpoch+1 {
		t.Fatalf("unclean topic: %+v, want leader 2 isr [2]", pu)
	}
	// The last ISR member of the clean topic returns and leads again.
	e.heartbeat(1)
	if p := e.partition("clean", 0); p.Leader != 1 || p.LeaderEpoch != pc.LeaderEpoch+1 {
		t.Fatalf("returning ISR member: %+v", p)
	}
	// The unclean topic keeps its new leader.
	if p := e.partition("unclean", 0); p.Leader != 2 {
		t.Fatalf("unclean topic after return: %+v", p)
	}
}

// TestAlterConfigsUncleanElects: enabling unclean election elects a leader
// for a leaderless partition at once.
func TestAlterConfigsUncleanElects(t *testing.T) {
	e := newEnv(t)
	e.register(1, "a")
	e.register(2, "b")
	_, other := e.strandOne("t")
	if err := e.c.AlterConfigs(e.ctx, AlterConfigsRequest{Name: "t", Set: map[string]string{metadata.ConfigUncleanLeaderElection: "true"}}); err != nil {
		t.Fatal(err)
	}
	if p := e.partition("t", 0); p.Leader != other {
		t.Fatalf("after enabling unclean election: %+v", p)
	}
}

func TestAlterPartition(t *testing.T) {
	e := newEnv(t)
	e.register(1, "a")
	e.register(2, "b")
	e.register(3, "c")
	top := e.createTopic("t", 1, 3, nil)
	p := top.Partitions[0]
	l := p.Leader
	req := func(mod func(*AlterPartitionRequest)) AlterPartitionRequest {
		r := AlterPartitionRequest{BrokerID: l, BrokerEpoch: e.epoch[l], TopicID: top.ID, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch,
			ISR: []int32{l, p.Replicas[1]}}
		if mod != nil {
			mod(&r)
		}
		return r
	}
	got, err := e.c.AlterPartition(e.ctx, req(nil))
	if err != nil {
		t.Fatal(err)
	}
	if got.PartitionEpoch != p.PartitionEpoch+1 || got.LeaderEpoch != p.LeaderEpoch || len(got.ISR) != 2 {
		t.Fatalf("after shrink: %+v", got)
	}
	// The same request again carries a stale partition epoch.
	if _, err := e.c.AlterPartition(e.ctx, req(nil)); !errors.Is(err, metadata.ErrStalePartitionEpoch) {
		t.Fatalf("stale partition epoch: %v", err)
	}
	p = got
	other := p.Replicas[1]
	cases := []struct {
		name string
		req  AlterPartitionRequest
		want error
	}{
		{"not leader", req(func(r *AlterPartitionRequest) { r.BrokerID, r.BrokerEpoch = other, e.epoch[other] }), ErrNotLeader},
		{"leader epoch", req(func(r *AlterPartitionRequest) { r.LeaderEpoch-- }), ErrFencedLeaderEpoch},
		{"broker epoch", req(func(r *AlterPartitionRequest) { r.BrokerEpoch++ }), metadata.ErrStaleBrokerEpoch},
		{"unknown broker", req(func(r *AlterPartitionRequest) { r.BrokerID = 9 }), metadata.ErrUnknownBroker},
		{"no leader in isr", req(func(r *AlterPartitionRequest) { r.ISR = []int32{other} }), metadata.ErrInvalidISR},
		{"not a replica", req(func(r *AlterPartitionRequest) { r.ISR = []int32{l, 7} }), metadata.ErrInvalidISR},
		{"duplicate", req(func(r *AlterPartitionRequest) { r.ISR = []int32{l, l} }), metadata.ErrInvalidISR},
		{"unknown topic", req(func(r *AlterPartitionRequest) { r.TopicID = uuid.New() }), metadata.ErrUnknownTopic},
		{"unknown partition", req(func(r *AlterPartitionRequest) { r.Partition = 3 }), metadata.ErrUnknownPartition},
	}
	for _, c := range cases {
		if _, err := e.c.AlterPartition(e.ctx, c.req); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	// A fenced broker cannot be added back.
	third := p.Replicas[2]
	e.clock.Advance(testTimeout + time.Millisecond)
	for _, b := range []int32{1, 2, 3} {
		if b != third {
			e.heartbeat(b)
		}
	}
	if err := e.c.ExpireSessions(e.ctx); err != nil {
		t.Fatal(err)
	}
	p = e.partition("t", 0)
	if _, err := e.c.AlterPartition(e.ctx, req(func(r *AlterPartitionRequest) {
		r.PartitionEpoch, r.ISR = p.PartitionEpoch, []int32{l, other, third}
	})); !errors.Is(err, metadata.ErrIneligibleReplica) {
		t.Fatalf("fenced member: %v", err)
	}
	e.heartbeat(third)
	got, err = e.c.AlterPartition(e.ctx, req(func(r *AlterPartitionRequest) {
		r.PartitionEpoch, r.ISR = p.PartitionEpoch, []int32{l, other, third}
	}))
	if err != nil || len(got.ISR) != 3 {
		t.Fatalf("expand: %v %+v", err, got)
	}
}

func TestProducerIDsUnique(t *testing.T) {
	e := newEnv(t)
	e.register(1, "a")
	e.register(2, "b")
	var (
		mu     sync.Mutex
		blocks []ProducerIDBlock
		wg     sync.WaitGroup
	)
	for g := range 8 {
		wg.Go(func() {
			id := int32(g%2 + 1)
			for range 5 {
				b, err := e.c.AllocateProducerIDs(e.ctx, AllocateProducerIDsRequest{BrokerID: id, BrokerEpoch: e.epoch[id]})
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
	slices.SortFunc(blocks, func(a, b ProducerIDBlock) int { return int(a.First - b.First) })
	for i := 1; i < len(blocks); i++ {
		if blocks[i].First < blocks[i-1].First+int64(blocks[i-1].Count) {
			t.Fatalf("blocks overlap: %+v %+v", blocks[i-1], blocks[i])
		}
	}
	if len(blocks) != 40 || e.img().NextProducerID() != 40*DefaultProducerIDBlockSize {
		t.Fatalf("%d blocks, next %d", len(blocks), e.img().NextProducerID())
	}
	if _, err := e.c.AllocateProducerIDs(e.ctx, AllocateProducerIDsRequest{BrokerID: 1, BrokerEpoch: 999}); !errors.Is(err, metadata.ErrStaleBrokerEpoch) {
		t.Fatalf("stale epoch: %v", err)
	}
}

// TestLeaderChangeStartsSessionsAfresh: a new controller gives every broker
// a full session timeout and does not repeat decisions in the log.
func TestLeaderChangeStartsSessionsAfresh(t *testing.T) {
	e := newEnv(t)
	e.register(1, "a")
	e.register(2, "b")
	e.createTopic("t", 2, 2, nil)
	e.clock.Advance(testTimeout - time.Second)

	e.c.Deactivate()
	if _, err := e.c.CreateTopic(e.ctx, CreateTopicRequest{Name: "x", Partitions: 1, ReplicationFactor: 1}); !errors.Is(err, ErrNotActive) {
		t.Fatalf("inactive controller: %v", err)
	}
	if _, err := e.c.Heartbeat(e.ctx, HeartbeatRequest{ID: 1, Epoch: e.epoch[1]}); !errors.Is(err, ErrNotActive) {
		t.Fatalf("inactive heartbeat: %v", err)
	}
	next := e.newController()
	if err := next.Activate(e.ctx); err != nil {
		t.Fatal(err)
	}
	e.c = next
	// The old sessions would have expired by now; the new ones have not.
	e.clock.Advance(2 * time.Second)
	if err := next.ExpireSessions(e.ctx); err != nil {
		t.Fatal(err)
	}
	if e.broker(1).Fenced || e.broker(2).Fenced {
		t.Fatal("new controller fenced brokers before a full session timeout")
	}
	e.heartbeat(1)
	e.clock.Advance(testTimeout - time.Second)
	if err := next.ExpireSessions(e.ctx); err != nil {
		t.Fatal(err)
	}
	if e.broker(1).Fenced || !e.broker(2).Fenced {
		t.Fatalf("after timeout: %+v", e.img().Brokers())
	}
}

// TestReregistration: a new incarnation gets a new epoch and leaves ISRs;
// the old epoch is refused; a retry of the same incarnation keeps the epoch.
func TestReregistration(t *testing.T) {
	e := newEnv(t)
	e.register(1, "a")
	e.register(2, "b")
	top := e.createTopic("t", 2, 2, nil)
	old := e.epoch[1]
	inc := uuid.New()
	resp, err := e.c.RegisterBroker(e.ctx, RegisterBrokerRequest{ID: 1, Addr: "h:1", Incarnation: inc})
	if err != nil || resp.Epoch == old {
		t.Fatalf("re-register: %v %+v", err, resp)
	}
	again, err := e.c.RegisterBroker(e.ctx, RegisterBrokerRequest{ID: 1, Addr: "h:1", Incarnation: inc})
	if err != nil || again.Epoch != resp.Epoch {
		t.Fatalf("retry: %v %+v, want epoch %d", err, again, resp.Epoch)
	}
	if _, err := e.c.Heartbeat(e.ctx, HeartbeatRequest{ID: 1, Epoch: old}); !errors.Is(err, metadata.ErrStaleBrokerEpoch) {
		t.Fatalf("old epoch heartbeat: %v", err)
	}
	if _, err := e.c.Heartbeat(e.ctx, HeartbeatRequest{ID: 7, Epoch: 1}); !errors.Is(err, metadata.ErrUnknownBroker) {
		t.Fatalf("unknown broker heartbeat: %v", err)
	}
	for i := range top.Partitions {
		p := e.partition("t", int32(i))
		if p.Leader != 2 || !slices.Equal(p.ISR, []int32{2}) {
			t.Errorf("partition %d after restart of broker 1: %+v", i, p)
		}
	}
	if e.broker(1).Fenced {
		t.Fatal("registered broker still fenced")
	}
}

func TestRemoteSegments(t *testing.T) {
	e := newEnv(t)
	e.register(1, "a")
	top := e.createTopic("t", 1, 1, nil)
	p := e.partition("t", 0)
	req := RemoteSegmentRequest{TopicID: top.ID, Segment: metadata.RemoteSegment{BaseOffset: 0, EndOffset: 9, ObjectKey: "t/0/0", Size: 100}, BrokerID: p.Leader, LeaderEpoch: p.LeaderEpoch}
	if err := e.c.AddRemoteSegment(e.ctx, req); err != nil {
		t.Fatal(err)
	}
	if err := e.c.AddRemoteSegment(e.ctx, req); !errors.Is(err, metadata.ErrRemoteSegmentExists) {
		t.Fatalf("duplicate: %v", err)
	}
	stale := req
	stale.LeaderEpoch--
	if err := e.c.RemoveRemoteSegment(e.ctx, stale); !errors.Is(err, ErrFencedLeaderEpoch) {
		t.Fatalf("removal in an old leader epoch: %v", err)
	}
	other := req
	other.BrokerID++
	if err := e.c.RemoveRemoteSegment(e.ctx, other); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("removal by a broker that does not lead: %v", err)
	}
	if err := e.c.RemoveRemoteSegment(e.ctx, req); err != nil {
		t.Fatal(err)
	}
	if err := e.c.RemoveRemoteSegment(e.ctx, req); !errors.Is(err, metadata.ErrUnknownRemoteSegment) {
		t.Fatalf("unknown: %v", err)
	}
}

func TestMoveRemoteLogStart(t *testing.T) {
	e := newEnv(t)
	e.register(1, "a")
	top := e.createTopic("t", 1, 1, nil)
	p := e.partition("t", 0)
	req := RemoteLogStartRequest{TopicID: top.ID, Offset: 50, BrokerID: p.Leader, LeaderEpoch: p.LeaderEpoch}
	if err := e.c.MoveRemoteLogStart(e.ctx, req); err != nil {
		t.Fatal(err)
	}
	if got := e.partition("t", 0).RemoteLogStart; got != 50 {
		t.Fatalf("remote log start %d, want 50", got)
	}
	back := req
	back.Offset = 10
	if err := e.c.MoveRemoteLogStart(e.ctx, back); err != nil {
		t.Fatalf("an offset below the start is a no-op: %v", err)
	}
	if got := e.partition("t", 0).RemoteLogStart; got != 50 {
		t.Fatalf("remote log start moved back to %d", got)
	}
	stale := req
	stale.Offset, stale.LeaderEpoch = 60, p.LeaderEpoch-1
	if err := e.c.MoveRemoteLogStart(e.ctx, stale); !errors.Is(err, ErrFencedLeaderEpoch) {
		t.Fatalf("old leader epoch: %v", err)
	}
	other := req
	other.Offset, other.BrokerID = 60, p.Leader+1
	if err := e.c.MoveRemoteLogStart(e.ctx, other); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("not the leader: %v", err)
	}
	neg := req
	neg.Offset = -1
	if err := e.c.MoveRemoteLogStart(e.ctx, neg); !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("negative offset: %v", err)
	}
}

func TestRunFencesWithRealClock(t *testing.T) {
	prop := &memProposer{sm: metadata.NewStateMachine(metadata.Options{})}
	c, err := New(Config{SessionTimeout: 200 * time.Millisecond, CheckInterval: 10 * time.Millisecond, Logger: quiet}, prop.sm.Image, prop)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for !c.Active() {
		if time.Now().After(deadline) {
			t.Fatal("not active")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := c.RegisterBroker(ctx, RegisterBrokerRequest{ID: 1, Addr: "h:1", Incarnation: uuid.New()}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for b, _ := prop.sm.Image().Broker(1); !b.Fenced; b, _ = prop.sm.Image().Broker(1) {
		if time.Since(start) > 5*time.Second {
			t.Fatal("silent broker not fenced")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v", err)
	}
	if c.Active() {
		t.Fatal("active after Run returned")
	}
}

func TestConfigValidate(t *testing.T) {
	for _, cfg := range []Config{{SessionTimeout: -1}, {CheckInterval: 20 * time.Second}, {ProducerIDBlockSize: -5}} {
		if err := cfg.Validate(); err == nil {
			t.Errorf("Validate(%+v) accepted", cfg)
		}
	}
	var cfg Config
	if err := cfg.Validate(); err != nil || cfg.SessionTimeout != DefaultSessionTimeout || cfg.ProducerIDBlockSize != DefaultProducerIDBlockSize {
		t.Fatalf("defaults: %v %+v", err, cfg)
	}
}
