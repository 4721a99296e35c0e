package controller

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/runnel-dev/runnel/raftmeta/metadata"
)

// Defaults for zero Config fields.
const (
	// DefaultSessionTimeout is Kafka's broker.session.timeout.ms.
	DefaultSessionTimeout = 9 * time.Second
	// DefaultConnLostGrace is how long a broker's node may stay without a
	// connection to the controller's node before it is fenced.
	DefaultConnLostGrace = time.Second
	// DefaultLeaderImbalanceCheckInterval is Kafka's
	// leader.imbalance.check.interval.seconds.
	DefaultLeaderImbalanceCheckInterval = 300 * time.Second
	// DefaultLeaderImbalancePercentage is Kafka's
	// leader.imbalance.per.broker.percentage.
	DefaultLeaderImbalancePercentage = 10
	// DefaultProducerIDBlockSize is the size of one producer id block.
	DefaultProducerIDBlockSize = 1000
)

// Proposer puts an encoded metadata batch through raft. Propose returns
// once the entry is committed and applied to the local image, with the
// state machine's rejection if it was rejected. raftnode.Node implements it;
// tests use an in-memory one.
type Proposer interface {
	Propose(ctx context.Context, data []byte) (index uint64, err error)
}

// Config tunes a Controller. Zero values take the defaults.
type Config struct {
	// SessionTimeout is how long a broker may go without a heartbeat before
	// it is fenced (Kafka's broker.session.timeout.ms, default 9s).
	SessionTimeout time.Duration
	// CheckInterval is how often Run looks for expired sessions and lost
	// connections (default the smaller of SessionTimeout/10 and
	// ConnLostGrace/5).
	CheckInterval time.Duration
	// PeerDisconnectedFor, if set, returns how long raft node id, which had
	// a connection open to this controller's node, has had none (0 while
	// it has one: raftnode.Node.PeerDisconnectedFor). A broker whose node
	// has been without one for ConnLostGrace is fenced then, without
	// waiting for its session to expire: its process is gone, its kernel
	// closed its sockets. A slow broker keeps its connection and is fenced
	// only by the session timeout.
	PeerDisconnectedFor func(node uint64) time.Duration
	// NodeOf, if set, names the raft node broker id is expected to run on
	// (0 if none): on activation the controller watches that node's
	// connection until the broker's first heartbeat names its node, so a
	// broker that died with the old controller is fenced as soon as one
	// that dies later. A wrong guess costs at most one fencing, undone by
	// the broker's next heartbeat.
	NodeOf func(broker int32) uint64
	// ConnLostGrace is how long a lost connection is tolerated before the
	// broker is fenced (default 1s): a live peer dials again within it.
	ConnLostGrace time.Duration
	// Rebalance tunes the preferred-leader rebalance.
	Rebalance Rebalance
	// ProducerIDBlockSize is the number of ids handed out per
	// AllocateProducerIDs (default 1000).
	ProducerIDBlockSize int32
	// Now is the clock (default time.Now). Tests pass a fake.
	Now func() time.Time
	// NewTopicID makes topic ids and the cluster id (default uuid.New). The
	// controller chooses ids and puts them in records, so the state machine
	// stays deterministic.
	NewTopicID func() uuid.UUID
	// Logger (default slog.Default()).
	Logger *slog.Logger
}

// Validate fills zero fields with defaults and reports values that make no
// sense.
func (c *Config) Validate() error {
	if c.SessionTimeout == 0 {
		c.SessionTimeout = DefaultSessionTimeout
	}
	if c.SessionTimeout < 0 {
		return fmt.Errorf("controller: SessionTimeout %v is negative", c.SessionTimeout)
	}
	if c.ConnLostGrace == 0 {
		c.ConnLostGrace = DefaultConnLostGrace
	}
	if c.ConnLostGrace < 0 {
		return fmt.Errorf("controller: ConnLostGrace %v is negative", c.ConnLostGrace)
	}
	if c.CheckInterval == 0 {
		c.CheckInterval = min(c.SessionTimeout/10, c.ConnLostGrace/5)
	}
	if c.CheckInterval <= 0 || c.CheckInterval > c.SessionTimeout {
		return fmt.Errorf("controller: CheckInterval %v must be in (0, SessionTimeout]", c.CheckInterval)
	}
	if err := c.Rebalance.Validate(); err != nil {
		return err
	}
	if c.ProducerIDBlockSize == 0 {
		c.ProducerIDBlockSize = DefaultProducerIDBlockSize
	}
	if c.ProducerIDBlockSize < 1 || c.ProducerIDBlockSize > metadata.MaxProducerIDBlock {
		return fmt.Errorf("controller: ProducerIDBlockSize %d not in 1..%d", c.ProducerIDBlockSize, metadata.MaxProducerIDBlock)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.NewTopicID == nil {
		c.NewTopicID = uuid.New
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Controller makes the cluster's metadata decisions: it places replicas,
// tracks broker sessions, fences silent brokers and elects partition
// leaders, and checks AlterPartition requests. Exactly one controller should
// be active, the one on the raft leader, but correctness does not depend on
// it: every decision is a proposal validated by the state machine against
// the image it lands on, so a deposed controller's stale decisions are
// rejected.
//
// All methods are safe for concurrent use. Decisions are serialized: each one
// reads the image, proposes, and waits for the entry to apply before the next
// one reads the image.
type Controller struct {
	cfg     Config
	log     *slog.Logger
	prop    Proposer
	image   func() *metadata.Image
	metrics *metrics

	// Lock order: mu before smu.
	mu sync.Mutex // held for the whole of a decision: read image, propose, wait

	smu      sync.Mutex         // guards active and sessions
	active   bool               // Activate succeeded and Deactivate not called since
	sessions map[int32]*session // broker id -> its session, while active
}

// New returns an inactive controller that reads the image from image and
// proposes through p.
func New(cfg Config, image func() *metadata.Image, p Proposer) (*Controller, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Controller{cfg: cfg, log: cfg.Logger, prop: p, image: image}
	c.metrics = newMetrics(c)
	return c, nil
}

// Activate makes the controller active. Call it when this node becomes the
// raft leader. It first commits an empty batch: once that applies, the local
// image holds every entry of earlier terms, so decisions start from the
// latest state. Every registered broker then starts a full session: the new
// controller does not know when brokers last heartbeated to the old one.
func (c *Controller) Activate(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := c.prop.Propose(ctx, metadata.MustEncode(metadata.Batch{})); err != nil {
		return fmt.Errorf("controller: activation barrier: %w", err)
	}
	if err := c.setClusterIDLocked(ctx); err != nil {
		return err
	}
	now := c.cfg.Now()
	sessions := map[int32]*session{}
	for _, b := range c.image().Brokers() {
		s := &session{last: now}
		if c.cfg.NodeOf != nil {
			s.node = c.cfg.NodeOf(b.ID)
		}
		sessions[b.ID] = s
	}
	n := len(sessions)
	c.smu.Lock()
	c.active, c.sessions = true, sessions
	c.smu.Unlock()
	c.log.Info("controller active", "version", c.image().Version(), "brokers", n)
	return nil
}

// setClusterIDLocked gives the cluster a random id (metadata.NewClusterID)
// when the image has none: at cluster creation, by its first controller, or
// once on metadata made before cluster ids. c.mu must be held.
func (c *Controller) setClusterIDLocked(ctx context.Context) error {
	img := c.image()
	if img.ClusterID() != "" {
		return nil
	}
	id := metadata.NewClusterIDFrom(c.cfg.NewTopicID)
	if _, err := c.proposeLocked(ctx, metadata.Record{ClusterIDSet: &metadata.ClusterIDSet{ID: id}}); err != nil {
		return fmt.Errorf("controller: set the cluster id: %w", err)
	}
	if len(img.Brokers()) == 0 && len(img.Topics()) == 0 {
		c.log.Info("new cluster: generated its cluster id", "cluster_id", id)
	} else {
		c.log.Info("the cluster metadata had no cluster id (made before cluster ids): generated and stored one", "cluster_id", id)
	}
	return nil
}

// Deactivate makes the controller inactive: requests fail with ErrNotActive.
// Call it when this node stops being the raft leader.
func (c *Controller) Deactivate() {
	c.smu.Lock()
	defer c.smu.Unlock()
	if c.active {
		c.log.Info("controller inactive")
	}
	c.active, c.sessions = false, nil
}

// Active reports whether the controller is active.
func (c *Controller) Active() bool {
	c.smu.Lock()
	defer c.smu.Unlock()
	return c.active
}

// Run activates the controller, retrying until ctx ends, then checks broker
// sessions every CheckInterval and, unless disabled, rebalances leaders
// every Rebalance.Interval until ctx ends, and deactivates it. Start it
// in a goroutine when the node becomes raft leader and cancel ctx when it
// stops being leader.
func (c *Controller) Run(ctx context.Context) error {
	for {
		// Bound each attempt: a leader cut off from its quorum may never
		// commit the barrier.
		actx, cancel := context.WithTimeout(ctx, c.cfg.SessionTimeout)
		err := c.Activate(actx)
		cancel()
		if err == nil {
			break
		}
		c.log.Warn("controller activation failed", "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(c.cfg.CheckInterval):
		}
	}
	defer c.Deactivate()
	t := time.NewTicker(c.cfg.CheckInterval)
	defer t.Stop()
	var rebalance <-chan time.Time
	if !c.cfg.Rebalance.Disabled {
		rt := time.NewTicker(c.cfg.Rebalance.Interval)
		defer rt.Stop()
		rebalance = rt.C
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-rebalance:
			rctx, cancel := context.WithTimeout(ctx, c.cfg.SessionTimeout)
			_, err := c.RebalanceLeaders(rctx)
			cancel()
			if err != nil && ctx.Err() == nil {
				c.log.Warn("controller: preferred-leader rebalance failed", "err", err)
			}
		case <-t.C:
			ectx, cancel := context.WithTimeout(ctx, c.cfg.SessionTimeout)
			err := c.ExpireSessions(ectx)
			cancel()
			if err != nil && ctx.Err() == nil {
				c.log.Warn("controller: fencing failed", "err", err)
			}
		}
	}
}

// checkActive returns ErrNotActive unless the controller is active.
func (c *Controller) checkActive() error {
	if !c.Active() {
		return ErrNotActive
	}
	return nil
}

// proposeLocked checks recs against the current image and proposes them as
// one batch. It returns the raft index. c.mu must be held.
func (c *Controller) proposeLocked(ctx context.Context, recs ...metadata.Record) (uint64, error) {
	b := metadata.Batch{Records: recs}
	img := c.image()
	if _, err := img.Apply(img.Version()+1, b); err != nil {
		return 0, err
	}
	data, err := metadata.Encode(b)
	if err != nil {
		return 0, err
	}
	els := elections(img, recs)
	idx, err := c.prop.Propose(ctx, data)
	if err != nil {
		return 0, err
	}
	c.noteElections(els)
	return idx, nil
}
