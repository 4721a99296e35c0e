package raftmeta

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"go.etcd.io/raft/v3/raftpb"

	"github.com/runnel-dev/runnel/raftmeta/controller"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
)

// Defaults for zero Config fields.
const (
	// DefaultHeartbeatInterval is Kafka's broker.heartbeat.interval.ms.
	DefaultHeartbeatInterval = 2 * time.Second
	// DefaultRequestTimeout bounds one attempt of a forwarded request.
	DefaultRequestTimeout = 5 * time.Second
)

// Config describes one metadata member. Zero values are filled by Validate
// (which Open calls).
type Config struct {
	// NodeID is the raft node id, > 0 and unique in the cluster.
	NodeID uint64
	// ClusterID guards against joining the wrong cluster; > 0.
	ClusterID uint64
	// Dir holds the raft WAL and snapshots, conventionally <data-dir>/meta.
	Dir string
	// Listen is the address for raft traffic and member-to-member calls;
	// port 0 picks a free port (see Member.Addr). Ignored if Listener is set.
	Listen string
	// Voters are the initial voters, node id -> raft address (see
	// raftnode.Config.Voters).
	Voters map[uint64]string
	// Learner makes the member join an existing cluster as a learner; a
	// voter adds it with AddLearner.
	Learner bool
	// Peers are other known members, node id -> raft address.
	Peers map[uint64]string
	// OnBootstrap, if set, is called before a member whose Dir holds no
	// raft state bootstraps a new cluster (see raftnode.Config.OnBootstrap);
	// an error stops Open.
	OnBootstrap func() error

	// BrokerID is the Kafka broker id of this member (default NodeID).
	BrokerID int32
	// AdvertisedAddr is the Kafka address clients use for this broker. If
	// set, the member registers as a broker and heartbeats to the
	// controller; if empty, it is a metadata-only member.
	AdvertisedAddr string
	// AdvertisedListeners are the broker's named Kafka listeners and the
	// address each advertises; Metadata answers a client with the
	// addresses of the listener it connected through. AdvertisedAddr is
	// then the inter-broker listener's. Optional.
	AdvertisedListeners []metadata.Endpoint
	// Rack is the broker's rack, used to spread replicas.
	Rack string
	// HeartbeatInterval is how often the broker heartbeats (default 2s,
	// capped at SessionTimeout/3).
	HeartbeatInterval time.Duration
	// RequestTimeout bounds each attempt of a request sent to the
	// controller (default 5s).
	RequestTimeout time.Duration

	// SessionTimeout, ProducerIDBlockSize: see controller.Config.
	SessionTimeout      time.Duration
	ProducerIDBlockSize int32
	// Rebalance tunes the controller's preferred-leader rebalance (see
	// controller.Rebalance).
	Rebalance controller.Rebalance

	// Raft tuning: see raftnode.Config. Zero means the raftnode default.
	TickInterval    time.Duration
	ElectionTicks   int
	HeartbeatTicks  int
	SnapshotEntries uint64

	// Dialer, Listener and SendHook are fault-injection seams passed to
	// raftnode (see raftnode.Config).
	Dialer   func(ctx context.Context, addr string) (net.Conn, error)
	Listener net.Listener
	SendHook func(m *raftpb.Message) bool
	// Logger (default slog.Default()).
	Logger *slog.Logger
	// Metrics, if set, receives the raft node's and the member's collectors.
	Metrics prometheus.Registerer
	// OnApply, if set, sees every applied entry (see metadata.Options).
	OnApply func(metadata.Applied)
	// NewTopicID makes topic ids, and the cluster id, when this member is
	// controller (default uuid.New). Tests pass a seeded generator for reproducible histories.
	NewTopicID func() uuid.UUID
}

// Validate fills zero fields with defaults and says, in plain words, what is
// wrong. The raft fields are checked by raftnode when the member opens.
func (c *Config) Validate() error {
	var errs []error
	if c.NodeID == 0 || c.NodeID > 1<<31-1 {
		errs = append(errs, fmt.Errorf("NodeID %d must be in 1..2^31-1", c.NodeID))
	}
	if c.BrokerID == 0 {
		c.BrokerID = int32(c.NodeID)
	}
	if c.BrokerID < 0 {
		errs = append(errs, fmt.Errorf("BrokerID %d must not be negative", c.BrokerID))
	}
	if c.SessionTimeout == 0 {
		c.SessionTimeout = controller.DefaultSessionTimeout
	}
	if c.SessionTimeout < 0 {
		errs = append(errs, errors.New("SessionTimeout must not be negative"))
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = min(DefaultHeartbeatInterval, c.SessionTimeout/3)
	}
	if c.HeartbeatInterval <= 0 || c.HeartbeatInterval >= c.SessionTimeout {
		errs = append(errs, fmt.Errorf("HeartbeatInterval %v must be positive and below SessionTimeout %v", c.HeartbeatInterval, c.SessionTimeout))
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.RequestTimeout < 0 {
		errs = append(errs, errors.New("RequestTimeout must not be negative"))
	}
	if len(c.AdvertisedAddr) > 1024 || len(c.Rack) > 1024 {
		errs = append(errs, errors.New("AdvertisedAddr and Rack must be at most 1024 bytes"))
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("raftmeta: invalid config: %w", err)
	}
	return nil
}
