// Package raftnodetest runs raftnode clusters for tests: N nodes in one process on
// random loopback ports with a fault layer (Network), or nodes as child processes
// that can be killed with SIGKILL and restarted from disk (ProcessCluster). It
// also provides KV, a small deterministic StateMachine.
package raftnodetest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/runnel-dev/runnel/internal/testwait"
	"github.com/runnel-dev/runnel/raftmeta/raftnode"
)

// ClusterID is the cluster id used by Cluster and ProcessCluster.
const ClusterID = 0x52554e4e454c

// Options configure a Cluster.
type Options struct {
	// Voters is the number of initial voters, ids 1..Voters (default 3).
	Voters int
	// NewStateMachine makes the state machine of a node, also on each restart (the
	// state is rebuilt from the node's Dir). Default: NewKV.
	NewStateMachine func() raftnode.StateMachine
	// Configure, if set, adjusts each node's Config before Start.
	Configure func(cfg *raftnode.Config)
	// Logger for the nodes; default: TestLogger(t).
	Logger *slog.Logger
}

// Member is one node slot of a Cluster.
type Member struct {
	ID      uint64
	Dir     string
	Addr    string
	Learner bool

	mu   sync.Mutex
	node *raftnode.Node
	sm   raftnode.StateMachine
	// reserved holds Addr's port from newMember until the first Start
	// takes it: a port released and then listened on again can be taken
	// in between by any socket on the machine (other tests run beside
	// this one).
	reserved net.Listener
}

// Node returns the running node, or nil while it is stopped.
func (m *Member) Node() *raftnode.Node {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.node
}

// StateMachine returns the state machine of the current (or last) incarnation.
func (m *Member) StateMachine() raftnode.StateMachine {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sm
}

// Cluster is a set of raftnode.Nodes in this process, connected through Net.
// Everything is stopped by t.Cleanup.
type Cluster struct {
	T   testing.TB
	Net *Network

	opts    Options
	voters  map[uint64]string
	mu      sync.Mutex
	members map[uint64]*Member
}

// NewCluster starts opts.Voters voters on random loopback ports, each with its own
// t.TempDir, and returns without waiting for a leader (see WaitLeader).
func NewCluster(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if opts.Voters == 0 {
		opts.Voters = 3
	}
	if opts.NewStateMachine == nil {
		opts.NewStateMachine = func() raftnode.StateMachine { return NewKV() }
	}
	if opts.Logger == nil {
		opts.Logger = TestLogger(t)
	}
	c := &Cluster{T: t, Net: NewNetwork(), opts: opts, voters: make(map[uint64]string), members: make(map[uint64]*Member)}
	t.Cleanup(c.StopAll)
	for id := uint64(1); id <= uint64(opts.Voters); id++ {
		m := c.newMember(id, false)
		c.voters[id] = m.Addr
	}
	for id := uint64(1); id <= uint64(opts.Voters); id++ {
		c.Start(id)
	}
	return c
}

// newMember reserves a port and a directory for node id.
func (c *Cluster) newMember(id uint64, learner bool) *Member {
	c.T.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		c.T.Fatalf("raftnodetest: reserve port: %v", err)
	}
	addr := ln.Addr().String()
	m := &Member{ID: id, Dir: filepath.Join(c.T.TempDir(), fmt.Sprintf("node%d", id), "meta"), Addr: addr, Learner: learner, reserved: ln}
	c.T.Cleanup(func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.reserved != nil {
			m.reserved.Close()
		}
	})
	c.Net.Register(id, addr)
	c.mu.Lock()
	c.members[id] = m
	c.mu.Unlock()
	return m
}

// Member returns the member with id (nil if none).
func (c *Cluster) Member(id uint64) *Member {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.members[id]
}

// Node returns the running node with id, or nil.
func (c *Cluster) Node(id uint64) *raftnode.Node {
	if m := c.Member(id); m != nil {
		return m.Node()
	}
	return nil
}

// StateMachine returns node id's current state machine.
func (c *Cluster) StateMachine(id uint64) raftnode.StateMachine { return c.Member(id).StateMachine() }

// KV returns node id's state machine as a *KV (the default state machine).
func (c *Cluster) KV(id uint64) *KV { return c.StateMachine(id).(*KV) }

// IDs returns the ids of all members, sorted.
func (c *Cluster) IDs() []uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Sorted(maps.Keys(c.members))
}

// Running returns the ids of running members, sorted.
func (c *Cluster) Running() []uint64 {
	var out []uint64
	for _, id := range c.IDs() {
		if c.Node(id) != nil {
			out = append(out, id)
		}
	}
	return out
}

// Config returns the raftnode.Config the harness uses for member id.
func (c *Cluster) Config(id uint64) raftnode.Config {
	m := c.Member(id)
	peers := make(map[uint64]string)
	for _, other := range c.IDs() {
		if om := c.Member(other); om != nil {
			peers[other] = om.Addr
		}
	}
	delete(peers, id)
	for vid := range c.voters {
		delete(peers, vid)
	}
	cfg := raftnode.Config{
		ID:             id,
		ClusterID:      ClusterID,
		Dir:            m.Dir,
		Listen:         m.Addr,
		Voters:         maps.Clone(c.voters),
		Learner:        m.Learner,
		Peers:          peers,
		TickInterval:   20 * time.Millisecond,
		ElectionTicks:  10,
		HeartbeatTicks: 1,
		Dialer:         c.Net.Dialer(id),
		SendHook:       c.Net.SendHook(),
		Logger:         c.opts.Logger.With("test", c.T.Name()),
	}
	if c.opts.Configure != nil {
		c.opts.Configure(&cfg)
	}
	return cfg
}

// Start starts (or restarts, from its Dir) member id with a fresh state machine.
func (c *Cluster) Start(id uint64) *raftnode.Node {
	c.T.Helper()
	m := c.Member(id)
	if m == nil {
		c.T.Fatalf("raftnodetest: no member %d", id)
	}
	if n := m.Node(); n != nil {
		return n
	}
	cfg := c.Config(id)
	m.mu.Lock()
	if cfg.Listener == nil && m.reserved != nil {
		cfg.Listener, m.reserved = m.reserved, nil
	}
	m.mu.Unlock()
	sm := c.opts.NewStateMachine()
	var n *raftnode.Node
	var err error
	// The port was released by the last incarnation or by newMember; retry briefly
	// in case the kernel still holds it.
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, err = raftnode.Start(cfg, sm)
		if err == nil || time.Now().After(deadline) || !isAddrInUse(err) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		c.T.Fatalf("raftnodetest: start node %d: %v", id, err)
	}
	m.mu.Lock()
	m.node, m.sm = n, sm
	m.mu.Unlock()
	return n
}

func isAddrInUse(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "listen"
}

// Stop stops member id (a clean stop: files closed). Its Dir stays for Restart.
func (c *Cluster) Stop(id uint64) {
	m := c.Member(id)
	m.mu.Lock()
	n := m.node
	m.node = nil
	m.mu.Unlock()
	if n != nil {
		n.Stop()
	}
}

// Restart stops member id if running and starts it again from its Dir.
func (c *Cluster) Restart(id uint64) *raftnode.Node {
	c.Stop(id)
	return c.Start(id)
}

// StopAll stops every member. Registered with t.Cleanup.
func (c *Cluster) StopAll() {
	var wg sync.WaitGroup
	for _, id := range c.IDs() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.Stop(id)
		}()
	}
	wg.Wait()
}

// WaitLeader waits until all running members that are voters agree on one running
// leader, and returns its id.
func (c *Cluster) WaitLeader(timeout time.Duration) uint64 {
	c.T.Helper()
	var leader uint64
	testwait.For(c.T, timeout, 10*time.Millisecond, func() error {
		leader = 0
		for _, id := range c.Running() {
			n := c.Node(id)
			if n == nil {
				continue
			}
			if n.IsLeader() {
				if leader != 0 && leader != id {
					return fmt.Errorf("two leaders: %d and %d", leader, id)
				}
				leader = id
			}
		}
		if leader == 0 {
			return errors.New("no leader")
		}
		for _, id := range c.Running() {
			if n := c.Node(id); n != nil && n.Leader() != leader && !c.Member(id).Learner {
				return fmt.Errorf("node %d sees leader %d, not %d", id, n.Leader(), leader)
			}
		}
		return nil
	})
	return leader
}

// KillLeader waits for a leader, stops it, and returns its id.
func (c *Cluster) KillLeader(timeout time.Duration) uint64 {
	c.T.Helper()
	id := c.WaitLeader(timeout)
	c.Stop(id)
	return id
}

// Propose proposes data through any running node, retrying on dropped proposals
// (no leader yet, leadership moving) until timeout.
func (c *Cluster) Propose(timeout time.Duration, data []byte) (uint64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		var lastErr error
		for _, id := range c.Running() {
			n := c.Node(id)
			if n == nil || (n.Leader() == 0 && !n.IsLeader()) {
				continue
			}
			pctx, pcancel := context.WithTimeout(ctx, time.Second)
			idx, err := n.Propose(pctx, data)
			pcancel()
			if err == nil || (!errors.Is(err, raftnode.ErrProposalDropped) && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, raftnode.ErrStopped)) {
				return idx, err
			}
			lastErr = err
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("raftnodetest: propose: %w (last error: %v)", ctx.Err(), lastErr)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// WaitApplied waits until every running member (or the given ids) applied index.
func (c *Cluster) WaitApplied(index uint64, timeout time.Duration, ids ...uint64) {
	c.T.Helper()
	if len(ids) == 0 {
		ids = c.Running()
	}
	testwait.For(c.T, timeout, 10*time.Millisecond, func() error {
		for _, id := range ids {
			n := c.Node(id)
			if n == nil {
				return fmt.Errorf("node %d not running", id)
			}
			if got := n.AppliedIndex(); got < index {
				return fmt.Errorf("node %d applied %d, want %d", id, got, index)
			}
		}
		return nil
	})
}

// AddLearner creates member id with an empty Dir, starts it as a learner, tells every
// running node its address and adds it with a ConfChangeAddLearnerNode.
func (c *Cluster) AddLearner(id uint64, timeout time.Duration) *raftnode.Node {
	c.T.Helper()
	m := c.newMember(id, true)
	for _, other := range c.Running() {
		c.Node(other).SetPeerAddress(id, m.Addr)
	}
	n := c.Start(id)
	c.ConfChange(timeout, pb.ConfChangeAddLearnerNode, id)
	return n
}

// ConfChange proposes a single-node configuration change through the leader and
// waits until it is applied there.
func (c *Cluster) ConfChange(timeout time.Duration, typ pb.ConfChangeType, id uint64) {
	c.T.Helper()
	deadline := time.Now().Add(timeout)
	for {
		leader := c.WaitLeader(time.Until(deadline))
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := c.Node(leader).ProposeConfChange(ctx, &pb.ConfChangeV2{
			Changes: []*pb.ConfChangeSingle{{Type: typ.Enum(), NodeId: new(id)}},
		})
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) || errors.Is(err, raftnode.ErrConfChangeRejected) {
			c.T.Fatalf("raftnodetest: conf change %v %d: %v", typ, id, err)
		}
	}
}

// LogLevelEnv names the environment variable that sets the level of TestLogger
// (debug, info, warn, error; default warn).
const LogLevelEnv = "RAFTNODETEST_LOG"

// TestLogger returns a logger writing to t.Log (shown for failed tests and with -v)
// at the level named by $RAFTNODETEST_LOG. Lines logged after the test ended are
// dropped.
func TestLogger(t testing.TB) *slog.Logger {
	level := slog.LevelWarn
	if s := os.Getenv(LogLevelEnv); s != "" {
		_ = level.UnmarshalText([]byte(s))
	}
	w := &testWriter{t: t}
	t.Cleanup(w.close)
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

type testWriter struct {
	mu     sync.Mutex
	t      testing.TB
	closed bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed {
		w.t.Log(strings.TrimSuffix(string(p), "\n"))
	}
	return len(p), nil
}

func (w *testWriter) close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
}
