// Package raftmetatest is an in-memory stand-in for a raftmeta.Member, for
// tests of what runs on top of the metadata: the real metadata state machine
// and the real controller, with every proposal applied at once instead of
// going through etcd-raft. A broker runs on it without a raft group or its
// timers, so its handlers can be tested in milliseconds, and a test sets
// partition leaders, ISRs and epochs directly with metadata records
// (Apply, SetPartition), which the state machine validates as it would any
// raft entry.
package raftmetatest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/google/uuid"

	"github.com/runnel-dev/runnel/raftmeta/controller"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
	"github.com/runnel-dev/runnel/raftmeta/raftnode"
)

// Options describe the broker a Member registers.
type Options struct {
	// BrokerID is the member's broker, also its node id (default 1).
	BrokerID int32
	// Addr is the broker's advertised Kafka address (default
	// 127.0.0.1:9092); Metadata answers tell clients to connect there.
	Addr string
	// Rack is the broker's rack.
	Rack string
	// Logger receives the controller's logs (default: discarded).
	Logger *slog.Logger
}

// Member is one metadata member whose "raft group" is itself: its
// controller is always active and proposals apply when proposed. It
// registers its broker when created (New), so CaughtUp is closed and
// BrokerEpoch set from the start. All methods are safe for concurrent use.
type Member struct {
	brokerID int32
	sm       *metadata.StateMachine
	ctrl     *controller.Controller
	epoch    atomic.Uint64
	caughtUp chan struct{}

	mu    sync.Mutex // serializes proposals, as raft's log does
	index uint64     // the last applied entry

	qmu    sync.Mutex
	voters map[uint64]string // node id → raft address
	learn  map[uint64]string
}

// New returns a member with its broker registered and unfenced.
func New(opts Options) (*Member, error) {
	if opts.BrokerID == 0 {
		opts.BrokerID = 1
	}
	if opts.BrokerID < 0 {
		return nil, fmt.Errorf("raftmetatest: broker id %d must be positive", opts.BrokerID)
	}
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:9092"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	m := &Member{
		brokerID: opts.BrokerID,
		sm:       metadata.NewStateMachine(metadata.Options{Logger: opts.Logger}),
		caughtUp: make(chan struct{}),
		voters:   map[uint64]string{uint64(opts.BrokerID): "in-memory"},
		learn:    map[uint64]string{},
	}
	ctrl, err := controller.New(controller.Config{Logger: opts.Logger}, m.sm.Image, proposer{m})
	if err != nil {
		return nil, err
	}
	m.ctrl = ctrl
	ctx := context.Background()
	if err := ctrl.Activate(ctx); err != nil {
		return nil, err
	}
	epoch, err := m.RegisterBroker(ctx, opts.BrokerID, opts.Addr, opts.Rack)
	if err != nil {
		return nil, err
	}
	m.epoch.Store(epoch)
	close(m.caughtUp)
	return m, nil
}

// proposer applies proposals to the member's state machine at once.
type proposer struct{ m *Member }

// Propose implements controller.Proposer.
func (p proposer) Propose(ctx context.Context, data []byte) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	p.m.mu.Lock()
	defer p.m.mu.Unlock()
	p.m.index++
	return p.m.index, p.m.sm.Apply(p.m.index, data)
}

// Apply proposes recs as one metadata batch, bypassing the controller: the
// state machine checks them against the image as it checks every raft entry
// and returns its rejection. Tests use it to set state no controller
// decision would produce on its own.
func (m *Member) Apply(recs ...metadata.Record) error {
	data, err := metadata.Encode(metadata.Batch{Records: recs})
	if err != nil {
		return err
	}
	_, err = proposer{m}.Propose(context.Background(), data)
	return err
}

// RegisterBroker registers another broker (or this one again) through the
// controller and returns its epoch; it is unfenced at once.
func (m *Member) RegisterBroker(ctx context.Context, id int32, addr, rack string) (uint64, error) {
	resp, err := m.ctrl.RegisterBroker(ctx, controller.RegisterBrokerRequest{ID: id, Addr: addr, Rack: rack, Incarnation: uuid.New()})
	return resp.Epoch, err
}

// SetPartition sets the leader and ISR of a partition with a
// PartitionChanged record computed against its current partition epoch. The
// leader epoch goes up when the leader changes, as Kafka's does.
func (m *Member) SetPartition(topic string, index, leader int32, isr []int32) (metadata.Partition, error) {
	t, ok := m.Image().Topic(topic)
	if !ok || index < 0 || int(index) >= len(t.Partitions) {
		return metadata.Partition{}, fmt.Errorf("%w: %s partition %d", metadata.ErrUnknownPartition, topic, index)
	}
	err := m.Apply(metadata.Record{PartitionChanged: &metadata.PartitionChanged{
		ID: t.ID, Partition: index, PartitionEpoch: t.Partitions[index].PartitionEpoch, Leader: leader, ISR: isr,
	}})
	if err != nil {
		return metadata.Partition{}, err
	}
	p, _ := m.Image().Partition(t.ID, index)
	return p, nil
}

// Image returns the current metadata image.
func (m *Member) Image() *metadata.Image { return m.sm.Image() }

// Watch returns the current image and a channel closed when a newer one is
// applied.
func (m *Member) Watch() (*metadata.Image, <-chan struct{}) { return m.sm.Watch() }

// CaughtUp is closed: the member's broker registered when it was created.
func (m *Member) CaughtUp() <-chan struct{} { return m.caughtUp }

// BrokerEpoch is the epoch of the member's broker.
func (m *Member) BrokerEpoch() uint64 { return m.epoch.Load() }

// AppliedIndex is the index of the last applied entry.
func (m *Member) AppliedIndex() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.index
}

// CommitIndex equals AppliedIndex: an entry is applied when proposed.
func (m *Member) CommitIndex() uint64 { return m.AppliedIndex() }

// CreateTopic creates a topic through the controller.
func (m *Member) CreateTopic(ctx context.Context, req controller.CreateTopicRequest) (*metadata.Topic, error) {
	return m.ctrl.CreateTopic(ctx, req)
}

// DeleteTopic deletes a topic through the controller.
func (m *Member) DeleteTopic(ctx context.Context, name string) error {
	return m.ctrl.DeleteTopic(ctx, name)
}

// CreatePartitions adds partitions to a topic through the controller.
func (m *Member) CreatePartitions(ctx context.Context, req controller.CreatePartitionsRequest) (*metadata.Topic, error) {
	return m.ctrl.CreatePartitions(ctx, req)
}

// AlterConfigs changes topic configs through the controller.
func (m *Member) AlterConfigs(ctx context.Context, req controller.AlterConfigsRequest) error {
	return m.ctrl.AlterConfigs(ctx, req)
}

// AlterACLs changes ACLs through the controller.
func (m *Member) AlterACLs(ctx context.Context, req controller.AlterACLsRequest) error {
	return m.ctrl.AlterACLs(ctx, req)
}

// AlterScramCredentials changes SCRAM credentials through the controller.
func (m *Member) AlterScramCredentials(ctx context.Context, req controller.AlterScramCredentialsRequest) error {
	return m.ctrl.AlterScramCredentials(ctx, req)
}

// AllocateProducerIDs hands out a block of producer ids, for the member's
// broker when the request names none.
func (m *Member) AllocateProducerIDs(ctx context.Context, req controller.AllocateProducerIDsRequest) (controller.ProducerIDBlock, error) {
	if req.BrokerID == 0 && req.BrokerEpoch == 0 {
		req.BrokerID, req.BrokerEpoch = m.brokerID, m.BrokerEpoch()
	}
	return m.ctrl.AllocateProducerIDs(ctx, req)
}

// AlterPartition changes a partition's ISR through the controller.
func (m *Member) AlterPartition(ctx context.Context, req controller.AlterPartitionRequest) (metadata.Partition, error) {
	return m.ctrl.AlterPartition(ctx, req)
}

// ElectLeaders runs leader elections through the controller.
func (m *Member) ElectLeaders(ctx context.Context, req controller.ElectLeadersRequest) ([]controller.PartitionResult, error) {
	return m.ctrl.ElectLeaders(ctx, req)
}

// ReassignPartitions starts or cancels reassignments through the controller.
func (m *Member) ReassignPartitions(ctx context.Context, req controller.ReassignRequest) ([]controller.PartitionResult, error) {
	return m.ctrl.ReassignPartitions(ctx, req)
}

// AddRemoteSegment records a remote segment through the controller.
func (m *Member) AddRemoteSegment(ctx context.Context, req controller.RemoteSegmentRequest) error {
	return m.ctrl.AddRemoteSegment(ctx, req)
}

// RemoveRemoteSegment forgets a remote segment through the controller.
func (m *Member) RemoveRemoteSegment(ctx context.Context, req controller.RemoteSegmentRequest) error {
	return m.ctrl.RemoveRemoteSegment(ctx, req)
}

// Leader is this member's node: its controller is the active one.
func (m *Member) Leader() uint64 { return uint64(m.brokerID) }

// AddLearner records node id at addr as a learner.
func (m *Member) AddLearner(ctx context.Context, id uint64, addr string) error {
	m.qmu.Lock()
	defer m.qmu.Unlock()
	if _, ok := m.voters[id]; ok {
		return fmt.Errorf("raftmetatest: node %d is a voter already", id)
	}
	m.learn[id] = addr
	return ctx.Err()
}

// AddVoter records node id at addr as a voter, promoting it if it is a
// learner.
func (m *Member) AddVoter(ctx context.Context, id uint64, addr string) error {
	m.qmu.Lock()
	defer m.qmu.Unlock()
	delete(m.learn, id)
	m.voters[id] = addr
	return ctx.Err()
}

// RemoveVoter removes node id, voter or learner, from the group.
func (m *Member) RemoveVoter(ctx context.Context, id uint64) error {
	m.qmu.Lock()
	defer m.qmu.Unlock()
	_, voter := m.voters[id]
	_, learner := m.learn[id]
	if !voter && !learner {
		return fmt.Errorf("raftmetatest: node %d is not a member of the group", id)
	}
	if voter && len(m.voters) == 1 {
		return fmt.Errorf("raftmetatest: node %d is the last voter", id)
	}
	delete(m.voters, id)
	delete(m.learn, id)
	return ctx.Err()
}

// Voters returns the node ids of the voters, ascending.
func (m *Member) Voters() []uint64 {
	m.qmu.Lock()
	defer m.qmu.Unlock()
	return slices.Sorted(maps.Keys(m.voters))
}

// QuorumState lists the recorded voters and learners; this member is the
// leader, at term 1, and the log is empty, so every member has caught up.
func (m *Member) QuorumState(ctx context.Context) (raftnode.QuorumState, error) {
	m.qmu.Lock()
	defer m.qmu.Unlock()
	q := raftnode.QuorumState{Leader: uint64(m.brokerID), Term: 1}
	for _, id := range slices.Sorted(maps.Keys(m.voters)) {
		q.Voters = append(q.Voters, raftnode.QuorumMember{ID: id, Addr: m.voters[id]})
	}
	for _, id := range slices.Sorted(maps.Keys(m.learn)) {
		q.Learners = append(q.Learners, raftnode.QuorumMember{ID: id, Addr: m.learn[id]})
	}
	return q, ctx.Err()
}
