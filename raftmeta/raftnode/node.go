package raftnode

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// StateMachine receives committed entries in log order, from one goroutine (the
// node's loop). Its methods must not call back into the Node's blocking methods
// (Propose, ProposeConfChange, Status): the loop would wait for itself.
type StateMachine interface {
	// Apply applies the data of one committed normal entry at raft index. A returned
	// error rejects that entry deterministically (state unchanged); it is handed back
	// to the local proposer of that entry, if any. Must be deterministic.
	Apply(index uint64, data []byte) error
	// Snapshot serializes the state as of the last applied index.
	Snapshot() ([]byte, error)
	// Restore replaces the state with a snapshot taken at index.
	Restore(index uint64, data []byte) error
}

const (
	recvQueueLength     = 256 // bounded by count; a full queue blocks the connection (TCP backpressure)
	proposeQueueLength  = 4096
	maxProposalBatch    = 4096
	maxProposalBatchLen = 1 << 20
	maxRecvBatch        = 256
	// lostRejectsBeforeTransfer: rejections from a follower that lost acknowledged
	// entries before the leader steps aside (one arrives per heartbeat round).
	lostRejectsBeforeTransfer = 3
)

// Node is one member of a raft group: a durable raft log in Config.Dir, a TCP
// transport, and a loop goroutine that owns the raft.RawNode and applies
// committed entries to the StateMachine. All methods are safe for concurrent use.
type Node struct {
	cfg     Config
	id      uint64
	logger  *slog.Logger
	sm      StateMachine
	tr      *transport
	metrics *metrics
	epoch   uint64

	// Owned by the loop goroutine.
	rn        *raft.RawNode
	storage   *diskStorage
	applied   uint64
	snapIndex uint64
	confState *pb.ConfState
	campaign  bool // campaign at once if this node turns out to be the only voter
	// forceSnap asks for a snapshot after this apply batch: a node was added, and
	// the snapshot raft sends it must name it in its ConfState.
	forceSnap bool
	// pendingConf mirrors raft's pendingConfIndex: while it is above applied, the
	// leader would silently turn a new configuration change into an empty entry.
	pendingConf uint64
	// lostRejects counts, per follower, rejections proving it lost acknowledged
	// entries (see checkLostEntries); lostWarned: this node was told so.
	lostRejects map[uint64]int
	lostWarned  bool

	propC     chan *proposal
	confC     chan *proposal
	recvC     chan *pb.Message
	statusC   chan chan raft.Status
	reportSig chan struct{} // buffered 1: reports are pending

	reportMu    sync.Mutex
	unreachable map[uint64]struct{}
	snapReports []snapReport

	waitMu  sync.Mutex
	waiters map[uint64]*proposal
	seq     atomic.Uint64

	appliedIdx atomic.Uint64
	leader     atomic.Uint64
	isLeader   atomic.Bool
	leaderMu   sync.Mutex
	leaderCh   chan struct{}

	stopC    chan struct{}
	done     chan struct{} // closed when the loop has exited and storage is closed
	stopOnce sync.Once
	errMu    sync.Mutex
	err      error // fatal error that stopped the loop
}

type snapReport struct {
	id     uint64
	status raft.SnapshotStatus
}

type proposal struct {
	seq  uint64
	data []byte           // enveloped entry data, or
	cc   *pb.ConfChangeV2 // a configuration change with enveloped Context
	done chan result      // buffered 1
}

type result struct {
	index uint64
	err   error
}

// Start opens (or creates) Config.Dir, restores the StateMachine from the newest
// snapshot and replays the WAL after it, starts listening, and starts the loop.
// A node with an empty Dir bootstraps the cluster from Config.Voters unless it is a
// Learner. The caller must call Stop.
func Start(cfg Config, sm StateMachine) (*Node, error) {
	err := cfg.Validate()
	if err == nil && sm == nil {
		err = errors.New("raftnode: Start needs a StateMachine")
	}
	if err != nil {
		if cfg.Listener != nil {
			_ = cfg.Listener.Close()
		}
		return nil, err
	}
	logger := cfg.Logger.With("node", cfg.ID)
	m, err := newMetrics(cfg.ID, cfg.Metrics)
	if err != nil {
		return nil, err
	}
	n := &Node{
		cfg:         cfg,
		id:          cfg.ID,
		logger:      logger,
		sm:          sm,
		metrics:     m,
		epoch:       rand.Uint64(),
		propC:       make(chan *proposal, proposeQueueLength),
		confC:       make(chan *proposal, 16),
		recvC:       make(chan *pb.Message, recvQueueLength),
		statusC:     make(chan chan raft.Status),
		reportSig:   make(chan struct{}, 1),
		unreachable: make(map[uint64]struct{}),
		waiters:     make(map[uint64]*proposal),
		lostRejects: make(map[uint64]int),
		leaderCh:    make(chan struct{}),
		stopC:       make(chan struct{}),
		done:        make(chan struct{}),
	}
	if err := n.open(); err != nil {
		m.unregister(cfg.Metrics)
		if cfg.Listener != nil {
			_ = cfg.Listener.Close()
		}
		return nil, err
	}
	ln := cfg.Listener
	if ln == nil {
		ln, err = net.Listen("tcp", cfg.Listen)
		if err != nil {
			_ = n.storage.close()
			m.unregister(cfg.Metrics)
			return nil, fmt.Errorf("raftnode: listen on %s: %w", cfg.Listen, err)
		}
	}
	dial := cfg.Dialer
	if dial == nil {
		d := &net.Dialer{Timeout: dialTimeout}
		dial = func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }
	}
	addrs := make(map[uint64]string, len(cfg.Voters)+len(cfg.Peers))
	maps.Copy(addrs, cfg.Voters)
	maps.Copy(addrs, cfg.Peers)
	advertise := cfg.AdvertiseAddr
	if advertise == "" {
		advertise = defaultAdvertise(ln.Addr())
	}
	addrs[cfg.ID] = ln.Addr().String()
	n.tr = &transport{
		id:                cfg.ID,
		clusterID:         cfg.ClusterID,
		selfAddr:          ln.Addr().String(),
		advertise:         advertise,
		logger:            logger,
		ln:                ln,
		dial:              dial,
		sendHook:          cfg.SendHook,
		maxFrame:          cfg.MaxMessageBytes + frameOverhead,
		queueLen:          cfg.SendQueueLength,
		handler:           cfg.Handler,
		metrics:           m,
		deliver:           n.deliver,
		reportUnreachable: n.reportUnreachable,
		reportSnapshot:    n.reportSnapshot,
		dropProposal:      n.dropProposal,
		addrs:             addrs,
	}
	n.tr.start()
	go n.run()
	return n, nil
}

// defaultAdvertise is the listener's address if peers can dial it as is.
func defaultAdvertise(a net.Addr) string {
	if tcp, ok := a.(*net.TCPAddr); ok && (tcp.IP == nil || tcp.IP.IsUnspecified()) {
		return ""
	}
	return a.String()
}

// open loads the durable state, restores the state machine and creates the
// RawNode, bootstrapping when Dir was empty.
func (n *Node) open() error {
	st, ld, err := openDiskStorage(&n.cfg)
	if err != nil {
		return fmt.Errorf("raftnode: open %s: %w", n.cfg.Dir, err)
	}
	n.storage = st
	n.confState = &pb.ConfState{}
	if ld.snap != nil {
		md := ld.snap.GetMetadata()
		if err := n.sm.Restore(md.GetIndex(), ld.snap.GetData()); err != nil {
			_ = st.close()
			return fmt.Errorf("raftnode: restore state machine from snapshot at %d: %w", md.GetIndex(), err)
		}
		n.applied, n.snapIndex = md.GetIndex(), md.GetIndex()
		n.confState = proto.Clone(md.GetConfState()).(*pb.ConfState)
	}
	n.appliedIdx.Store(n.applied)
	rn, err := raft.NewRawNode(&raft.Config{
		ID:                        n.id,
		ElectionTick:              n.cfg.ElectionTicks,
		HeartbeatTick:             n.cfg.HeartbeatTicks,
		Storage:                   st.ms,
		Applied:                   n.applied,
		MaxSizePerMsg:             1 << 20,
		MaxCommittedSizePerReady:  16 << 20,
		MaxUncommittedEntriesSize: 256 << 20,
		MaxInflightMsgs:           256,
		CheckQuorum:               true,
		PreVote:                   true,
		Logger:                    &raftLogger{l: n.logger},
	})
	if err != nil {
		_ = st.close()
		return fmt.Errorf("raftnode: create raft node: %w", err)
	}
	n.rn = rn
	if ld.fresh && !n.cfg.Learner {
		if n.cfg.OnBootstrap != nil {
			if err := n.cfg.OnBootstrap(); err != nil {
				_ = st.close()
				return err
			}
		}
		ids := slices.Sorted(maps.Keys(n.cfg.Voters))
		if len(ids) == 0 {
			ids = []uint64{n.id}
		}
		peers := make([]raft.Peer, len(ids))
		for i, id := range ids {
			peers[i] = raft.Peer{ID: id}
		}
		if err := rn.Bootstrap(peers); err != nil {
			_ = st.close()
			return fmt.Errorf("raftnode: bootstrap: %w", err)
		}
		n.logger.Info("raftnode: bootstrapped new cluster", "voters", ids)
	} else {
		n.logger.Info("raftnode: restarted from disk", "applied", n.applied, "commit", ld.hs.GetCommit(), "term", ld.hs.GetTerm())
	}
	n.campaign = true
	return nil
}

// Propose replicates data through raft and returns once the entry is committed and
// applied locally, with its raft index and the error StateMachine.Apply returned
// for it. It works on followers and learners too (raft forwards to the leader).
// It returns ErrProposalDropped when the entry was certainly not appended (no
// leader known, leadership moving, the forward could not be sent) and the caller
// may retry; ctx's error when ctx ends first (the entry may still commit later);
// ErrStopped after Stop. A forwarded proposal lost with a broken connection is
// only noticed through ctx, so ctx should carry a deadline.
func (n *Node) Propose(ctx context.Context, data []byte) (uint64, error) {
	if len(data) > n.cfg.MaxMessageBytes-envelopeLen-frameOverhead {
		return 0, fmt.Errorf("raftnode: proposal of %d bytes exceeds MaxMessageBytes", len(data))
	}
	n.metrics.proposals.Inc()
	p := n.newProposal()
	p.data = appendEnvelope(make([]byte, 0, envelopeLen+len(data)), envelope{n.id, n.epoch, p.seq}, data)
	return n.submit(ctx, n.propC, p)
}

// ProposeConfChange proposes a membership change (add or remove a voter or learner;
// ConfChangeAddNode on a learner promotes it) and returns after it is applied
// locally. An invalid change is rejected, by this node at once or by every node
// when applied, with ErrConfChangeRejected. raft allows one unapplied change at a
// time: on the leader a second one fails with ErrProposalDropped (retry later);
// through a follower the leader turns it into an empty entry silently, so ctx needs
// a deadline. cc is not retained. When cc adds a single node, a Context holding
// that node's transport address (host:port) is recorded by every member as it
// applies the change, so that all of them can reach the new node.
//
// It takes a pointer because raftpb messages embed a no-copy guard (go vet's
// copylocks check refuses passing them by value).
func (n *Node) ProposeConfChange(ctx context.Context, cc *pb.ConfChangeV2) error {
	if cc == nil {
		return errors.New("raftnode: nil ConfChangeV2")
	}
	if t := cc.GetTransition(); t > pb.ConfChangeTransitionJointExplicit || t < 0 {
		return fmt.Errorf("%w: unknown transition %d", ErrConfChangeRejected, t)
	}
	n.metrics.proposals.Inc()
	p := n.newProposal()
	c := proto.Clone(cc).(*pb.ConfChangeV2)
	c.Context = appendEnvelope(nil, envelope{n.id, n.epoch, p.seq}, cc.GetContext())
	p.cc = c
	_, err := n.submit(ctx, n.confC, p)
	return err
}

func (n *Node) newProposal() *proposal {
	return &proposal{seq: n.seq.Add(1), done: make(chan result, 1)}
}

func (n *Node) submit(ctx context.Context, ch chan *proposal, p *proposal) (uint64, error) {
	select {
	case <-n.done:
		return 0, n.stoppedErr()
	default:
	}
	n.waitMu.Lock()
	n.waiters[p.seq] = p
	n.waitMu.Unlock()
	forget := func() {
		n.waitMu.Lock()
		delete(n.waiters, p.seq)
		n.waitMu.Unlock()
	}
	select {
	case ch <- p:
	case <-ctx.Done():
		forget()
		n.metrics.proposalFails.Inc()
		return 0, fmt.Errorf("raftnode: propose: %w", ctx.Err())
	case <-n.done:
		forget()
		return 0, n.stoppedErr()
	}
	select {
	case r := <-p.done:
		if r.err != nil && errors.Is(r.err, ErrProposalDropped) {
			n.metrics.proposalFails.Inc()
		}
		return r.index, r.err
	case <-ctx.Done():
		forget()
		n.metrics.proposalFails.Inc()
		return 0, fmt.Errorf("raftnode: propose: %w", ctx.Err())
	case <-n.done:
		forget()
		select {
		case r := <-p.done:
			return r.index, r.err
		default:
		}
		return 0, n.stoppedErr()
	}
}

func (n *Node) stoppedErr() error {
	if err := n.Err(); err != nil {
		return fmt.Errorf("%w: %v", ErrStopped, err)
	}
	return ErrStopped
}

// Err returns the fatal error (WAL write, snapshot restore) that stopped the node
// on its own, or nil. Done is closed in that case; the owner should still call Stop.
func (n *Node) Err() error {
	n.errMu.Lock()
	defer n.errMu.Unlock()
	return n.err
}

// Done is closed when the node's loop has stopped, by Stop or by a fatal error.
func (n *Node) Done() <-chan struct{} { return n.done }

// AddressOf returns the transport address known for node id, or "".
func (n *Node) AddressOf(id uint64) string { return n.tr.addrOf(id) }

// SetPeerAddress records (or changes) the transport address of node id, e.g. before
// adding it with ProposeConfChange. New connections use it; the address book is not
// persisted (peers also learn addresses from each connection's handshake).
func (n *Node) SetPeerAddress(id uint64, addr string) { n.tr.setAddr(id, addr) }

// Call sends a small request to node `to` over the raft transport and returns the
// response of that node's Config.Handler. A handler error comes back as a
// *RemoteError; delivery problems as ErrPeerUnavailable or ErrUnknownPeer. Calls to
// this node's own ID run the local Handler directly.
func (n *Node) Call(ctx context.Context, to uint64, req []byte) ([]byte, error) {
	select {
	case <-n.stopC:
		return nil, ErrStopped
	default:
	}
	if to == n.id {
		if n.cfg.Handler == nil {
			return nil, fmt.Errorf("call node %d: %w", to, ErrNoHandler)
		}
		resp, err := n.cfg.Handler(ctx, n.id, req)
		if err != nil {
			return nil, &RemoteError{From: n.id, Msg: err.Error()}
		}
		return resp, nil
	}
	return n.tr.call(ctx, to, req)
}

// PeerDisconnectedFor returns how long node id, which had a connection open
// to this node (one that passed the handshake), has had none; 0 while it
// has one, or if it never connected. Every live peer keeps one, to send
// raft messages and calls, and dials again at once when it breaks; a peer
// whose process died has none, because its kernel closed its sockets. A
// peer that is merely slow, or cut off without its connections being
// closed, still counts as connected: use this to notice death sooner than
// timeouts do, not as the only sign of it.
func (n *Node) PeerDisconnectedFor(id uint64) time.Duration { return n.tr.inboundLostFor(id) }

// ID returns this node's raft id.
func (n *Node) ID() uint64 { return n.id }

// Leader returns the id of the current leader as known to this node, 0 if unknown.
func (n *Node) Leader() uint64 { return n.leader.Load() }

// IsLeader reports whether this node is the leader.
func (n *Node) IsLeader() bool { return n.isLeader.Load() }

// LeaderCh returns a channel that is closed the next time the known leader changes
// (including to or from "unknown"). To follow leadership: ch := LeaderCh(); read
// Leader()/IsLeader(); wait on ch; repeat. The channel is never closed by Stop.
func (n *Node) LeaderCh() <-chan struct{} {
	n.leaderMu.Lock()
	defer n.leaderMu.Unlock()
	return n.leaderCh
}

// AppliedIndex returns the index of the last entry applied to the StateMachine.
func (n *Node) AppliedIndex() uint64 { return n.appliedIdx.Load() }

// Status returns raft's status, read on the loop goroutine. After Stop it returns a
// Status holding only the ID.
func (n *Node) Status() raft.Status {
	req := make(chan raft.Status, 1)
	stopped := raft.Status{BasicStatus: raft.BasicStatus{ID: n.id}}
	select {
	case n.statusC <- req:
	case <-n.done:
		return stopped
	}
	select {
	case st := <-req:
		return st
	case <-n.done:
		return stopped
	}
}

// Addr returns the address the transport listens on.
func (n *Node) Addr() string { return n.tr.selfAddr }

// Stop stops the loop (pending proposals fail with ErrStopped), then the transport,
// waits for every goroutine and closes the files. It is safe to call more than once
// and from several goroutines.
func (n *Node) Stop() {
	n.stopOnce.Do(func() {
		close(n.stopC)
		<-n.done
		n.tr.close()
		n.metrics.unregister(n.cfg.Metrics)
		n.logger.Info("raftnode: stopped")
	})
	<-n.done
}
