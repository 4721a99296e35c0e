package raftnode

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/runnel-dev/runnel/internal/diskfs"
)

// Defaults used by Config.Validate for zero fields.
const (
	DefaultTickInterval           = 100 * time.Millisecond
	DefaultElectionTicks          = 10
	DefaultHeartbeatTicks         = 1
	DefaultSnapshotEntries        = 10000
	DefaultSnapshotCatchUpEntries = 5000
	DefaultWALSegmentBytes        = 8 << 20
	DefaultMaxMessageBytes        = 64 << 20
	DefaultSendQueueLength        = 4096
)

// Config describes one Node. Zero values are filled from the defaults above by
// Validate (which Start calls).
type Config struct {
	// ID is this node's raft id; it must be > 0 and unique in the cluster.
	ID uint64
	// ClusterID is carried in every connection handshake; peers presenting another
	// cluster id are refused and logged. Must be > 0.
	ClusterID uint64
	// Dir holds the durable state: the write-ahead log (Dir/wal) and snapshots
	// (Dir/snap). It is created if missing. Conventionally <data-dir>/meta.
	Dir string
	// Listen is the TCP address for raft traffic and Calls, e.g. "127.0.0.1:7100";
	// port 0 picks a free port (see Node.Addr). Ignored when Listener is set.
	Listen string
	// AdvertiseAddr is the address peers should dial to reach this node, sent in
	// every connection handshake so that peers that do not know it yet (e.g. when
	// this node just joined) learn it. Default: the listener's address, unless it
	// listens on an unspecified IP (0.0.0.0, ::), in which case nothing is
	// announced. A peer never replaces an address it already knows.
	AdvertiseAddr string
	// Voters are the initial voters, id -> address. When Dir holds no state and
	// Learner is false, the node bootstraps the cluster with exactly these voters
	// (every initial voter must be given the same map). On restart from Dir the
	// membership comes from the log and Voters only seeds the address book. Empty
	// (and not Learner): a new single-voter cluster of this node.
	Voters map[uint64]string
	// Learner makes a node with an empty Dir start without bootstrapping: it waits
	// to be added by a member with ProposeConfChange (ConfChangeAddLearnerNode) and
	// then receives the log or a snapshot from the leader. Voters and Peers give it
	// the addresses to reach the cluster; it dials them at start so that they learn
	// its address from the handshake. This is the only way for a new node to join
	// a running cluster (promote it later with ConfChangeAddNode): a non-learner
	// with an empty Dir always bootstraps a new cluster.
	Learner bool
	// OnBootstrap, if set, is called when Dir holds no raft state and the node
	// (not a Learner) is about to bootstrap a new cluster, before anything is
	// written to its log. An error stops Start: the owner uses it to refuse to
	// start new metadata beside data that belongs to the old.
	OnBootstrap func() error
	// Peers are addresses of other known nodes (learners etc.), id -> address.
	// Optional; merged with Voters into the address book.
	Peers map[uint64]string

	// TickInterval is the duration of one raft tick (default 100ms).
	TickInterval time.Duration
	// ElectionTicks is the election timeout in ticks (default 10).
	ElectionTicks int
	// HeartbeatTicks is the leader heartbeat interval in ticks (default 1).
	HeartbeatTicks int

	// SnapshotEntries: after this many entries applied since the last snapshot, the
	// node takes a snapshot of the StateMachine, compacts the in-memory log and
	// deletes WAL segments wholly below the snapshot (default 10000).
	SnapshotEntries uint64
	// SnapshotCatchUpEntries is how many entries before a snapshot stay in the
	// in-memory log so that slightly lagging followers catch up without a snapshot
	// (default 5000, capped at SnapshotEntries).
	SnapshotCatchUpEntries uint64
	// WALSegmentBytes is the size after which the WAL starts a new segment file
	// (default 8 MiB). Old segments can only be deleted whole, so the WAL holds up to
	// about SnapshotEntries entries plus one segment.
	WALSegmentBytes int64
	// MaxMessageBytes bounds one frame on the transport, and so the largest
	// snapshot that can be sent to a follower and the largest Call (default 64 MiB).
	MaxMessageBytes int
	// SendQueueLength bounds the messages queued per peer; raft messages beyond it
	// are dropped (raft retries) and reported unreachable (default 4096).
	SendQueueLength int

	// Handler serves Call RPCs from peers (optional). It runs on its own goroutine
	// per request, at most 1024 at a time per peer connection (beyond that the
	// caller gets ErrPeerUnavailable). ctx is cancelled when the node stops or the
	// connection breaks; Stop waits for the Handler to return. The Handler may
	// call Propose.
	Handler func(ctx context.Context, from uint64, req []byte) ([]byte, error)
	// Dialer opens outgoing connections (optional, for fault injection); the default
	// is a net.Dialer with a 2s timeout.
	Dialer func(ctx context.Context, addr string) (net.Conn, error)
	// Listener is a pre-made listener (optional, for fault injection); the default
	// is net.Listen("tcp", Listen). The Node owns it: it is closed on Stop, or by
	// Start if Start fails.
	Listener net.Listener
	// SendHook, if set, sees every raft message on the goroutine that sends
	// it to its peer, just before it is written (fault injection in tests,
	// as etcd's rafttest network): it may sleep to delay the message, and
	// returning false drops it silently, as a lossy network would (raft
	// notices and retries). Calls and handshakes do not pass through it.
	SendHook func(m *pb.Message) bool
	// FS creates, writes, syncs, renames and removes the WAL and snapshot
	// files (optional, for fault injection); the default is diskfs.OS.
	FS diskfs.FS
	// Logger receives the node's and raft's logs (default slog.Default()).
	Logger *slog.Logger
	// Metrics, if set, receives the node's Prometheus collectors, labelled with
	// node_id so that several nodes may share a registry.
	Metrics prometheus.Registerer
}

// Validate checks the configuration and fills zero fields from the defaults. The
// error says in plain words what is wrong.
func (c *Config) Validate() error {
	var errs []error
	if c.ID == 0 {
		errs = append(errs, errors.New("ID must be greater than 0"))
	}
	if c.ClusterID == 0 {
		errs = append(errs, errors.New("ClusterID must be greater than 0"))
	}
	if c.Dir == "" {
		errs = append(errs, errors.New("Dir must name the directory for the WAL and snapshots"))
	}
	if c.Listen == "" && c.Listener == nil {
		errs = append(errs, errors.New("Listen (or Listener) must give the address for raft traffic"))
	}
	if !c.Learner && len(c.Voters) > 0 {
		if _, ok := c.Voters[c.ID]; !ok {
			errs = append(errs, fmt.Errorf("node %d is not in Voters; set Learner to join as a learner", c.ID))
		}
	}
	if c.Learner {
		if _, ok := c.Voters[c.ID]; ok {
			errs = append(errs, fmt.Errorf("node %d is in Voters and also set as Learner", c.ID))
		}
		if len(c.Voters)+len(c.Peers) == 0 {
			errs = append(errs, errors.New("a Learner needs Voters or Peers to reach the cluster"))
		}
	}
	for id, addr := range c.Voters {
		if id == 0 || addr == "" {
			errs = append(errs, fmt.Errorf("Voters entry %d=%q: id must be > 0 and address non-empty", id, addr))
		}
	}
	for id, addr := range c.Peers {
		if id == 0 || addr == "" {
			errs = append(errs, fmt.Errorf("Peers entry %d=%q: id must be > 0 and address non-empty", id, addr))
		}
	}
	if c.TickInterval < 0 || c.ElectionTicks < 0 || c.HeartbeatTicks < 0 || c.WALSegmentBytes < 0 ||
		c.MaxMessageBytes < 0 || c.SendQueueLength < 0 {
		errs = append(errs, errors.New("durations, tick counts and sizes must not be negative"))
	}
	if c.TickInterval == 0 {
		c.TickInterval = DefaultTickInterval
	}
	if c.HeartbeatTicks == 0 {
		c.HeartbeatTicks = DefaultHeartbeatTicks
	}
	if c.ElectionTicks == 0 {
		c.ElectionTicks = DefaultElectionTicks
	}
	if c.ElectionTicks <= c.HeartbeatTicks {
		errs = append(errs, fmt.Errorf("ElectionTicks (%d) must be greater than HeartbeatTicks (%d)", c.ElectionTicks, c.HeartbeatTicks))
	}
	if c.SnapshotEntries == 0 {
		c.SnapshotEntries = DefaultSnapshotEntries
	}
	if c.SnapshotCatchUpEntries == 0 {
		c.SnapshotCatchUpEntries = DefaultSnapshotCatchUpEntries
	}
	if c.SnapshotCatchUpEntries > c.SnapshotEntries {
		c.SnapshotCatchUpEntries = c.SnapshotEntries
	}
	if c.WALSegmentBytes == 0 {
		c.WALSegmentBytes = DefaultWALSegmentBytes
	}
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if c.MaxMessageBytes < 1<<16 {
		errs = append(errs, fmt.Errorf("MaxMessageBytes (%d) must be at least 64 KiB", c.MaxMessageBytes))
	}
	if c.SendQueueLength == 0 {
		c.SendQueueLength = DefaultSendQueueLength
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.FS == nil {
		c.FS = diskfs.OS{}
	}
	if len(errs) > 0 {
		return fmt.Errorf("raftnode: invalid config: %w", errors.Join(errs...))
	}
	return nil
}
