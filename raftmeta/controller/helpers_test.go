package controller

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/runnel-dev/runnel/raftmeta/metadata"
)

// memProposer applies proposals straight to a state machine, as a one-node
// raft would.
type memProposer struct {
	mu    sync.Mutex
	index uint64
	sm    *metadata.StateMachine
}

func (p *memProposer) Propose(ctx context.Context, data []byte) (uint64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	p.index++
	return p.index, p.sm.Apply(p.index, data)
}

// fakeClock is a clock moved by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// env is an active controller over an in-memory proposer.
type env struct {
	t     *testing.T
	ctx   context.Context
	clock *fakeClock
	prop  *memProposer
	c     *Controller
	ids   uint64
	epoch map[int32]uint64
}

const testTimeout = 9 * time.Second

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, ctx: context.Background(), clock: &fakeClock{now: time.Unix(1000, 0)},
		prop: &memProposer{sm: metadata.NewStateMachine(metadata.Options{})}, epoch: map[int32]uint64{}}
	e.c = e.newController()
	if err := e.c.Activate(e.ctx); err != nil {
		t.Fatal(err)
	}
	return e
}

// newController returns another, inactive, controller over the same log.
func (e *env) newController() *Controller {
	c, err := New(Config{SessionTimeout: testTimeout, Now: e.clock.Now, NewTopicID: e.newTopicID, Logger: quiet}, e.prop.sm.Image, e.prop)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// replaceController deactivates the env's controller and activates, in its
// place, one with the env's settings changed by mutate.
func (e *env) replaceController(mutate func(*Config)) {
	e.t.Helper()
	cfg := Config{SessionTimeout: testTimeout, Now: e.clock.Now, NewTopicID: e.newTopicID, Logger: quiet}
	mutate(&cfg)
	c, err := New(cfg, e.prop.sm.Image, e.prop)
	if err != nil {
		e.t.Fatal(err)
	}
	e.c.Deactivate()
	e.c = c
	if err := c.Activate(e.ctx); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) newTopicID() uuid.UUID {
	e.ids++
	return uuid.UUID{0: byte(e.ids >> 8), 1: byte(e.ids), 6: 0x40, 8: 0x80}
}

func (e *env) img() *metadata.Image { return e.prop.sm.Image() }

// register registers broker id in rack and records its epoch.
func (e *env) register(id int32, rack string) {
	e.t.Helper()
	resp, err := e.c.RegisterBroker(e.ctx, RegisterBrokerRequest{ID: id, Addr: "h:9092", Rack: rack, Incarnation: uuid.New()})
	if err != nil {
		e.t.Fatalf("register %d: %v", id, err)
	}
	e.epoch[id] = resp.Epoch
}

// heartbeat heartbeats for each broker.
func (e *env) heartbeat(ids ...int32) {
	e.t.Helper()
	for _, id := range ids {
		if _, err := e.c.Heartbeat(e.ctx, HeartbeatRequest{ID: id, Epoch: e.epoch[id]}); err != nil {
			e.t.Fatalf("heartbeat %d: %v", id, err)
		}
	}
}

func (e *env) createTopic(name string, parts int32, rf int16, cfg map[string]string) *metadata.Topic {
	e.t.Helper()
	top, err := e.c.CreateTopic(e.ctx, CreateTopicRequest{Name: name, Partitions: parts, ReplicationFactor: rf, Config: cfg})
	if err != nil {
		e.t.Fatalf("create %q: %v", name, err)
	}
	return top
}

func (e *env) partition(name string, i int32) metadata.Partition {
	e.t.Helper()
	top, ok := e.img().Topic(name)
	if !ok {
		e.t.Fatalf("no topic %q", name)
	}
	return top.Partitions[i]
}

func (e *env) broker(id int32) metadata.Broker {
	b, _ := e.img().Broker(id)
	return b
}

// quiet discards controller logs in tests.
var quiet = slog.New(slog.DiscardHandler)

// shrinkISR has partition i of top's leader set its ISR to isr.
func (e *env) shrinkISR(topic string, i int32, isr []int32) {
	e.t.Helper()
	top, _ := e.img().Topic(topic)
	p := top.Partitions[i]
	if _, err := e.c.AlterPartition(e.ctx, AlterPartitionRequest{BrokerID: p.Leader, BrokerEpoch: e.epoch[p.Leader], TopicID: top.ID,
		Partition: i, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch, ISR: isr}); err != nil {
		e.t.Fatalf("shrink ISR of %s/%d to %v: %v", topic, i, isr, err)
	}
}

// strandOne creates topic name with one partition on brokers 1 and 2
// (the only ones registered), shrinks its ISR to its leader, and fences the leader:
// the partition is left leaderless. It returns the old leader and the
// other broker.
func (e *env) strandOne(name string) (leader, other int32) {
	e.t.Helper()
	leader = e.createTopic(name, 1, 2, nil).Partitions[0].Leader
	other = 3 - leader
	e.shrinkISR(name, 0, []int32{leader})
	e.clock.Advance(testTimeout + time.Millisecond)
	e.heartbeat(other)
	if err := e.c.ExpireSessions(e.ctx); err != nil {
		e.t.Fatal(err)
	}
	if p := e.partition(name, 0); p.Leader != metadata.NoLeader {
		e.t.Fatalf("expected %s/0 leaderless: %+v", name, p)
	}
	return leader, other
}
