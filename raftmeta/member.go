package raftmeta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/runnel-dev/runnel/raftmeta/controller"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
	"github.com/runnel-dev/runnel/raftmeta/raftnode"
)

// ErrClosed is returned by calls on a closed Member.
var ErrClosed = errors.New("raftmeta: member closed")

// Member is one node of the metadata raft group, embedded by a broker. It
// applies the metadata log to an image, runs the controller while it is the
// raft leader, heartbeats for its broker, and forwards admin requests to the
// controller. All methods are safe for concurrent use.
type Member struct {
	cfg         Config
	log         *slog.Logger
	sm          *metadata.StateMachine
	ctrl        *controller.Controller
	node        atomic.Pointer[raftnode.Node] // set once Start returns
	incarnation uuid.UUID
	brokerEpoch atomic.Uint64 // 0 until registered
	leaving     atomic.Bool   // ControlledShutdown called: heartbeats ask to shut down
	caughtUp    chan struct{} // closed at the first registration
	caughtOnce  sync.Once
	active      prometheus.Gauge
	reg         prometheus.Registerer

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // the leadership and heartbeat goroutines
	once   sync.Once
}

// Open starts a member: the raft node (restoring the image from Dir), the
// goroutine that runs the controller whenever this node is leader, and, if
// AdvertisedAddr is set, the broker's registration and heartbeats. The
// caller must call Close.
func Open(cfg Config) (*Member, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := &Member{cfg: cfg, log: cfg.Logger.With("member", cfg.NodeID), incarnation: uuid.New(), reg: cfg.Metrics, caughtUp: make(chan struct{})}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.sm = metadata.NewStateMachine(metadata.Options{Logger: m.log, OnApply: cfg.OnApply})
	ctrl, err := controller.New(controller.Config{
		SessionTimeout:      cfg.SessionTimeout,
		ProducerIDBlockSize: cfg.ProducerIDBlockSize,
		Rebalance:           cfg.Rebalance,
		NewTopicID:          cfg.NewTopicID,
		PeerDisconnectedFor: m.peerDisconnectedFor,
		NodeOf:              m.nodeOf,
		Logger:              m.log,
	}, m.sm.Image, proposer{m})
	if err != nil {
		return nil, err
	}
	m.ctrl = ctrl
	m.active = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "runnel", Subsystem: "raftmeta", Name: "controller_active",
		Help:        "1 while this member's controller is active.",
		ConstLabels: prometheus.Labels{"node_id": fmt.Sprint(cfg.NodeID)},
	})
	if err := m.registerMetrics(); err != nil {
		return nil, err
	}
	node, err := raftnode.Start(raftnode.Config{
		ID: cfg.NodeID, ClusterID: cfg.ClusterID, Dir: cfg.Dir, Listen: cfg.Listen,
		Voters: cfg.Voters, Learner: cfg.Learner, Peers: cfg.Peers, OnBootstrap: cfg.OnBootstrap,
		TickInterval: cfg.TickInterval, ElectionTicks: cfg.ElectionTicks, HeartbeatTicks: cfg.HeartbeatTicks,
		SnapshotEntries: cfg.SnapshotEntries,
		Handler:         m.handle,
		Dialer:          cfg.Dialer, Listener: cfg.Listener, SendHook: cfg.SendHook, Logger: m.log, Metrics: cfg.Metrics,
	}, m.sm)
	if err != nil {
		m.unregisterMetrics()
		return nil, err
	}
	m.node.Store(node)
	m.wg.Go(m.runLeadership)
	if cfg.AdvertisedAddr != "" {
		m.wg.Go(m.runHeartbeats)
	}
	return m, nil
}

// Close stops the heartbeats and the controller, then the raft node. It is
// safe to call more than once.
func (m *Member) Close() error {
	m.once.Do(func() {
		m.cancel()
		m.wg.Wait()
		m.node.Load().Stop()
		m.unregisterMetrics()
	})
	return m.node.Load().Err()
}

// registered pairs each of the member's and its controller's collectors
// with the registerer it goes to: the controller's get the member's node_id
// label, as the active gauge has.
func (m *Member) registered() ([]prometheus.Collector, []prometheus.Registerer) {
	cs := append([]prometheus.Collector{m.active}, m.ctrl.Collectors()...)
	rs := []prometheus.Registerer{m.reg}
	wrapped := prometheus.WrapRegistererWith(prometheus.Labels{"node_id": fmt.Sprint(m.cfg.NodeID)}, m.reg)
	for range m.ctrl.Collectors() {
		rs = append(rs, wrapped)
	}
	return cs, rs
}

// registerMetrics registers the collectors with Config.Metrics, if set.
func (m *Member) registerMetrics() error {
	if m.reg == nil {
		return nil
	}
	cs, rs := m.registered()
	for i, c := range cs {
		if err := rs[i].Register(c); err != nil {
			for j := range i {
				rs[j].Unregister(cs[j])
			}
			return fmt.Errorf("raftmeta: register metrics: %w", err)
		}
	}
	return nil
}

// unregisterMetrics undoes registerMetrics.
func (m *Member) unregisterMetrics() {
	if m.reg == nil {
		return
	}
	cs, rs := m.registered()
	for i, c := range cs {
		rs[i].Unregister(c)
	}
}

// proposer adapts the member's raft node to controller.Proposer.
type proposer struct{ m *Member }

// Propose implements controller.Proposer.
func (p proposer) Propose(ctx context.Context, data []byte) (uint64, error) {
	n := p.m.node.Load()
	if n == nil {
		return 0, controller.ErrNotActive
	}
	return n.Propose(ctx, data)
}

// peerDisconnectedFor is how long raft node id has had no connection to
// this member's node; 0 for this member's own node (its broker's calls to
// its own controller do not go through the transport).
func (m *Member) peerDisconnectedFor(id uint64) time.Duration {
	n := m.node.Load()
	if id == m.cfg.NodeID || n == nil {
		return 0
	}
	return n.PeerDisconnectedFor(id)
}

// nodeOf guesses the raft node of broker id: the node of the same id, if
// the raft group has it (brokers started by runnel use one id for both).
func (m *Member) nodeOf(id int32) uint64 {
	n := m.node.Load()
	if n == nil || id <= 0 {
		return 0
	}
	if _, ok := n.Status().Progress[uint64(id)]; ok {
		return uint64(id)
	}
	return 0
}

// Image returns the current metadata image of this member. It reflects
// every change this member made or forwarded that returned successfully.
func (m *Member) Image() *metadata.Image { return m.sm.Image() }

// Watch returns the current image and a channel closed when a newer image
// with different content is applied (see metadata.StateMachine.Watch).
func (m *Member) Watch() (*metadata.Image, <-chan struct{}) { return m.sm.Watch() }

// Addr is the raft transport address of this member.
func (m *Member) Addr() string { return m.node.Load().Addr() }

// NodeID is the raft id of this member.
func (m *Member) NodeID() uint64 { return m.cfg.NodeID }

// Leader is the raft leader (the active controller's node) as this member
// knows it, 0 if unknown.
func (m *Member) Leader() uint64 { return m.node.Load().Leader() }

// IsController reports whether this member's controller is active.
func (m *Member) IsController() bool { return m.ctrl.Active() }

// AppliedIndex is the raft index of the last entry applied to the image.
func (m *Member) AppliedIndex() uint64 { return m.node.Load().AppliedIndex() }

// BrokerEpoch is this member's broker epoch, 0 until it has registered.
func (m *Member) BrokerEpoch() uint64 { return m.brokerEpoch.Load() }

// CaughtUp is closed once this member's broker has registered with the
// controller in this process. Registration waits until this member's image
// holds everything the controller had applied when it answered, so from then
// on the image is at least as new as any state this broker wrote before it
// started (Kafka's broker catches up with the metadata log the same way
// before it acts on it). It never closes for a member without AdvertisedAddr.
func (m *Member) CaughtUp() <-chan struct{} { return m.caughtUp }

// CommitIndex is the raft commit index this member knows of. The image is
// caught up with the local log when AppliedIndex reaches it.
func (m *Member) CommitIndex() uint64 { return m.node.Load().Status().GetCommit() }

// BrokerID is this member's broker id.
func (m *Member) BrokerID() int32 { return m.cfg.BrokerID }

// runLeadership runs the controller while this node is the raft leader. The
// controller's goroutine is owned by this one, which stops and waits for it
// when leadership goes or the member closes.
func (m *Member) runLeadership() {
	node := m.node.Load()
	start := func() (stop func()) {
		ctx, cancel := context.WithCancel(m.ctx)
		done := make(chan struct{})
		m.active.Set(1)
		go func() {
			defer close(done)
			_ = m.ctrl.Run(ctx) // returns only once ctx ends, which this goroutine's owner caused
		}()
		return func() {
			cancel()
			<-done
			m.active.Set(0)
		}
	}
	var stop func()
	defer func() {
		if stop != nil {
			stop()
		}
	}()
	for {
		ch := node.LeaderCh()
		leader := node.IsLeader()
		switch {
		case leader && stop == nil:
			stop = start()
		case !leader && stop != nil:
			stop()
			stop = nil
		}
		select {
		case <-ch:
		case <-node.Done():
			return
		case <-m.ctx.Done():
			return
		}
	}
}

// runHeartbeats registers this broker and heartbeats every
// HeartbeatInterval, registering again when the controller no longer knows
// this incarnation.
func (m *Member) runHeartbeats() {
	t := time.NewTicker(m.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		ctx, cancel := context.WithTimeout(m.ctx, m.cfg.HeartbeatInterval)
		if epoch := m.brokerEpoch.Load(); epoch == 0 {
			resp, err := m.RegisterBroker(ctx, controller.RegisterBrokerRequest{
				ID: m.cfg.BrokerID, Addr: m.cfg.AdvertisedAddr, Rack: m.cfg.Rack, Incarnation: m.incarnation, Listeners: m.cfg.AdvertisedListeners,
			})
			if err == nil {
				m.brokerEpoch.Store(resp.Epoch)
				m.caughtOnce.Do(func() { close(m.caughtUp) })
			} else if m.ctx.Err() == nil {
				m.log.Debug("broker registration failed", "err", err)
			}
		} else {
			_, err := m.Heartbeat(ctx, controller.HeartbeatRequest{ID: m.cfg.BrokerID, Epoch: epoch, WantShutDown: m.leaving.Load()})
			if errors.Is(err, metadata.ErrStaleBrokerEpoch) || errors.Is(err, metadata.ErrUnknownBroker) {
				m.log.Warn("broker must register again", "err", err)
				m.brokerEpoch.CompareAndSwap(epoch, 0)
			} else if err != nil && m.ctx.Err() == nil {
				m.log.Debug("heartbeat failed", "err", err)
			}
		}
		cancel()
		select {
		case <-t.C:
		case <-m.ctx.Done():
			return
		}
	}
}

// handle serves controller requests forwarded by other members (and by this
// one, through Call to itself). Errors travel inside the response, so that
// the caller can match sentinels.
func (m *Member) handle(ctx context.Context, from uint64, data []byte) ([]byte, error) {
	var req request
	if err := json.Unmarshal(data, &req); err != nil {
		return json.Marshal(response{Err: toWire(fmt.Errorf("%w: %v", controller.ErrInvalidRequest, err))})
	}
	ctx, cancel := context.WithTimeout(ctx, m.cfg.RequestTimeout)
	defer cancel()
	out, err := m.dispatch(ctx, from, req)
	if errors.Is(err, raftnode.ErrProposalDropped) {
		// Nothing was appended (say, leadership is moving): the caller
		// retries, like for an inactive controller.
		err = fmt.Errorf("%w: %w", controller.ErrNotActive, err)
	}
	if err != nil {
		return json.Marshal(response{Err: toWire(err)})
	}
	body, err := json.Marshal(out)
	if err != nil {
		return nil, err
	}
	return json.Marshal(response{Body: body, Index: m.sm.Image().Version()})
}

// dispatch decodes the body of req, sent by raft node from, and runs it on
// the local controller.
func (m *Member) dispatch(ctx context.Context, from uint64, req request) (any, error) {
	c := m.ctrl
	switch req.Op {
	case opRegisterBroker:
		return run(ctx, req.Body, func(ctx context.Context, r controller.RegisterBrokerRequest) (controller.RegisterBrokerResponse, error) {
			r.Node = from
			return c.RegisterBroker(ctx, r)
		})
	case opHeartbeat:
		return run(ctx, req.Body, func(ctx context.Context, r controller.HeartbeatRequest) (controller.HeartbeatResponse, error) {
			r.Node = from
			return c.Heartbeat(ctx, r)
		})
	case opCreateTopic:
		return run(ctx, req.Body, c.CreateTopic)
	case opDeleteTopic:
		return run(ctx, req.Body, func(ctx context.Context, name string) (struct{}, error) {
			return struct{}{}, c.DeleteTopic(ctx, name)
		})
	case opCreatePartitions:
		return run(ctx, req.Body, c.CreatePartitions)
	case opAlterConfigs:
		return run(ctx, req.Body, func(ctx context.Context, r controller.AlterConfigsRequest) (struct{}, error) {
			return struct{}{}, c.AlterConfigs(ctx, r)
		})
	case opAllocateProducerIDs:
		return run(ctx, req.Body, c.AllocateProducerIDs)
	case opAlterACLs:
		return run(ctx, req.Body, func(ctx context.Context, r controller.AlterACLsRequest) (struct{}, error) {
			return struct{}{}, c.AlterACLs(ctx, r)
		})
	case opAlterScram:
		return run(ctx, req.Body, func(ctx context.Context, r controller.AlterScramCredentialsRequest) (struct{}, error) {
			return struct{}{}, c.AlterScramCredentials(ctx, r)
		})
	case opAlterPartition:
		return run(ctx, req.Body, c.AlterPartition)
	case opElectLeaders:
		return run(ctx, req.Body, c.ElectLeaders)
	case opReassignPartitions:
		return run(ctx, req.Body, c.ReassignPartitions)
	case opQuorumState:
		return m.leaderQuorumState()
	case opAddRemoteSegment:
		return run(ctx, req.Body, func(ctx context.Context, r controller.RemoteSegmentRequest) (struct{}, error) {
			return struct{}{}, c.AddRemoteSegment(ctx, r)
		})
	case opRemoveRemoteSegment:
		return run(ctx, req.Body, func(ctx context.Context, r controller.RemoteSegmentRequest) (struct{}, error) {
			return struct{}{}, c.RemoveRemoteSegment(ctx, r)
		})
	case opMoveRemoteLogStart:
		return run(ctx, req.Body, func(ctx context.Context, r controller.RemoteLogStartRequest) (struct{}, error) {
			return struct{}{}, c.MoveRemoteLogStart(ctx, r)
		})
	}
	return nil, fmt.Errorf("%w: unknown op %q", controller.ErrInvalidRequest, req.Op)
}

// run decodes body as Req and calls f.
func run[Req, Resp any](ctx context.Context, body []byte, f func(context.Context, Req) (Resp, error)) (any, error) {
	var r Req
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("%w: %v", controller.ErrInvalidRequest, err)
	}
	return f(ctx, r)
}

// call sends a request to the active controller and decodes its answer into
// out. It follows leadership: while there is no leader, the leader is
// unreachable, or the leader's controller is not active yet, it retries with
// backoff until ctx ends. A request that reached a controller is not retried
// once it answered, but one whose answer was lost may have taken effect; the
// retry then reports the conflict (say, ErrTopicExists).
func (m *Member) call(ctx context.Context, o op, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	data, err := json.Marshal(request{Op: o, Body: body})
	if err != nil {
		return err
	}
	node := m.node.Load()
	backoff := 20 * time.Millisecond
	var last error
	for {
		if m.ctx.Err() != nil {
			return ErrClosed
		}
		leader := node.Leader()
		if leader == 0 {
			last = errors.New("raftmeta: no raft leader known")
		} else {
			actx, cancel := context.WithTimeout(ctx, m.cfg.RequestTimeout)
			raw, err := node.Call(actx, leader, data)
			cancel()
			if err == nil {
				var resp response
				if err := json.Unmarshal(raw, &resp); err != nil {
					return fmt.Errorf("%w: bad response from node %d: %v", ErrController, leader, err)
				}
				if resp.Err == nil {
					// Read your writes: the answer reflects the controller's
					// image at resp.Index; make this member's image catch up.
					if err := m.waitFor(ctx, func(img *metadata.Image) bool { return img.Version() >= resp.Index }); err != nil {
						return err
					}
					if out == nil {
						return nil
					}
					return json.Unmarshal(resp.Body, out)
				}
				err = fromWire(resp.Err, leader)
				if !errors.Is(err, controller.ErrNotActive) {
					return err
				}
			}
			if errors.Is(err, raftnode.ErrStopped) {
				return ErrClosed
			}
			if re := (*raftnode.RemoteError)(nil); errors.As(err, &re) {
				// The handler itself failed (it could not encode its answer):
				// retrying will not help.
				return fmt.Errorf("%w: %v", ErrController, err)
			}
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("raftmeta: %s: %w (last error: %v)", o, ctx.Err(), last)
		case <-m.ctx.Done():
			return ErrClosed
		case <-node.LeaderCh():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 500*time.Millisecond)
	}
}

// RegisterBroker registers a broker with the controller and returns its
// epoch. A member with AdvertisedAddr registers itself; this is for brokers
// that do not embed a member and for tests.
func (m *Member) RegisterBroker(ctx context.Context, req controller.RegisterBrokerRequest) (controller.RegisterBrokerResponse, error) {
	var resp controller.RegisterBrokerResponse
	err := m.call(ctx, opRegisterBroker, req, &resp)
	return resp, err
}

// Heartbeat sends one broker heartbeat to the controller.
func (m *Member) Heartbeat(ctx context.Context, req controller.HeartbeatRequest) (controller.HeartbeatResponse, error) {
	var resp controller.HeartbeatResponse
	err := m.call(ctx, opHeartbeat, req, &resp)
	return resp, err
}

// CreateTopic creates a topic; see controller.Controller.CreateTopic. When it
// returns, this member's image has the topic.
func (m *Member) CreateTopic(ctx context.Context, req controller.CreateTopicRequest) (*metadata.Topic, error) {
	var t metadata.Topic
	if err := m.call(ctx, opCreateTopic, req, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// DeleteTopic deletes a topic.
func (m *Member) DeleteTopic(ctx context.Context, name string) error {
	return m.call(ctx, opDeleteTopic, name, nil)
}

// CreatePartitions raises a topic's partition count.
func (m *Member) CreatePartitions(ctx context.Context, req controller.CreatePartitionsRequest) (*metadata.Topic, error) {
	var t metadata.Topic
	if err := m.call(ctx, opCreatePartitions, req, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// AlterConfigs sets and deletes topic config keys.
func (m *Member) AlterConfigs(ctx context.Context, req controller.AlterConfigsRequest) error {
	return m.call(ctx, opAlterConfigs, req, nil)
}

// AlterACLs creates and deletes ACLs.
func (m *Member) AlterACLs(ctx context.Context, req controller.AlterACLsRequest) error {
	return m.call(ctx, opAlterACLs, req, nil)
}

// AlterScramCredentials sets and deletes SCRAM credentials.
func (m *Member) AlterScramCredentials(ctx context.Context, req controller.AlterScramCredentialsRequest) error {
	return m.call(ctx, opAlterScram, req, nil)
}

// AllocateProducerIDs returns a block of producer ids unique in the
// cluster, for broker req.BrokerID (defaulting to this member's broker).
func (m *Member) AllocateProducerIDs(ctx context.Context, req controller.AllocateProducerIDsRequest) (controller.ProducerIDBlock, error) {
	if req.BrokerID == 0 && req.BrokerEpoch == 0 {
		req.BrokerID, req.BrokerEpoch = m.cfg.BrokerID, m.brokerEpoch.Load()
	}
	var b controller.ProducerIDBlock
	err := m.call(ctx, opAllocateProducerIDs, req, &b)
	return b, err
}

// AlterPartition asks the controller to change a partition's ISR; see
// controller.Controller.AlterPartition.
func (m *Member) AlterPartition(ctx context.Context, req controller.AlterPartitionRequest) (metadata.Partition, error) {
	var p metadata.Partition
	err := m.call(ctx, opAlterPartition, req, &p)
	return p, err
}

// ElectLeaders runs leader elections; see controller.Controller.ElectLeaders.
func (m *Member) ElectLeaders(ctx context.Context, req controller.ElectLeadersRequest) ([]controller.PartitionResult, error) {
	var out []controller.PartitionResult
	err := m.call(ctx, opElectLeaders, req, &out)
	return out, err
}

// ReassignPartitions starts or cancels replica reassignments; see
// controller.Controller.ReassignPartitions.
func (m *Member) ReassignPartitions(ctx context.Context, req controller.ReassignRequest) ([]controller.PartitionResult, error) {
	var out []controller.PartitionResult
	err := m.call(ctx, opReassignPartitions, req, &out)
	return out, err
}

// AddRemoteSegment records a remote segment.
func (m *Member) AddRemoteSegment(ctx context.Context, req controller.RemoteSegmentRequest) error {
	return m.call(ctx, opAddRemoteSegment, req, nil)
}

// RemoveRemoteSegment forgets a remote segment, for the partition's leader.
func (m *Member) RemoveRemoteSegment(ctx context.Context, req controller.RemoteSegmentRequest) error {
	return m.call(ctx, opRemoveRemoteSegment, req, nil)
}

// MoveRemoteLogStart moves a partition's remote log start forward, for its
// leader.
func (m *Member) MoveRemoteLogStart(ctx context.Context, req controller.RemoteLogStartRequest) error {
	return m.call(ctx, opMoveRemoteLogStart, req, nil)
}

// waitFor waits until cond holds for this member's image.
func (m *Member) waitFor(ctx context.Context, cond func(*metadata.Image) bool) error {
	for {
		img, ch := m.sm.Watch()
		if cond(img) {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("raftmeta: waiting for the change to reach this member: %w", ctx.Err())
		case <-m.ctx.Done():
			return ErrClosed
		}
	}
}

// AddVoter adds node id at addr as a voter, or promotes it if it is a
// learner. It returns once the change is applied on this member.
func (m *Member) AddVoter(ctx context.Context, id uint64, addr string) error {
	return m.confChange(ctx, pb.ConfChangeAddNode, id, addr)
}

// AddLearner adds node id at addr as a learner: it receives the log but
// does not vote.
func (m *Member) AddLearner(ctx context.Context, id uint64, addr string) error {
	return m.confChange(ctx, pb.ConfChangeAddLearnerNode, id, addr)
}

// RemoveVoter removes node id (voter or learner) from the group.
func (m *Member) RemoveVoter(ctx context.Context, id uint64) error {
	return m.confChange(ctx, pb.ConfChangeRemoveNode, id, "")
}

// confChange proposes a single membership change.
func (m *Member) confChange(ctx context.Context, t pb.ConfChangeType, id uint64, addr string) error {
	node := m.node.Load()
	if addr != "" {
		node.SetPeerAddress(id, addr)
	}
	// The address rides in the change's context, so every member learns it.
	cc := &pb.ConfChangeV2{Changes: []*pb.ConfChangeSingle{{Type: &t, NodeId: &id}}, Context: []byte(addr)}
	return node.ProposeConfChange(ctx, cc)
}
