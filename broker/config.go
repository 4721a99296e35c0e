package broker

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/runnel-dev/runnel/broker/group"
	"github.com/runnel-dev/runnel/tiering"
	"github.com/twmb/franz-go/pkg/sasl"
)

// Config describes one broker. Zero values are filled by Validate.
type Config struct {
	// BrokerID is this broker's Kafka id; it must equal the metadata member's.
	BrokerID int32
	// DataDir holds the partition logs (one directory per partition).
	DataDir string
	// Member is this broker's metadata member (a *raftmeta.Member): the
	// cluster metadata image and the way to the controller.
	Member Member
	// AutoCreateTopics creates a topic a Metadata request names when it does not
	// exist (auto.create.topics.enable); off by default.
	AutoCreateTopics bool
	// DefaultPartitions is num.partitions for auto-created topics and
	// CreateTopics with -1 (default 1).
	DefaultPartitions int32
	// RetentionCheckInterval is log.retention.check.interval.ms (default 5 min).
	RetentionCheckInterval time.Duration
	// CheckpointInterval is how often recovery points, high watermarks and log
	// start offsets are checkpointed (default 60 s).
	CheckpointInterval time.Duration
	// FileDeleteDelay is file.delete.delay.ms: how long the directory of a
	// removed partition stays renamed aside before it is deleted (default
	// 60 s).
	FileDeleteDelay time.Duration
	// ReplicaLagTimeMax is replica.lag.time.max.ms (default 30 s): a
	// follower that has not caught up to its leader's log end for this long
	// leaves the ISR. A topic's replica.lag.time.max.ms overrides it.
	ReplicaLagTimeMax time.Duration
	// MinInsyncReplicas is the broker's min.insync.replicas (default 1):
	// the in-sync replicas an acks=all produce needs on a topic that does
	// not set its own.
	MinInsyncReplicas int
	// PeerKafkaAddrs overrides, by broker id, the Kafka address this broker
	// fetches from as a follower (default: the address each broker
	// registered). A fault harness routes replication through proxies with
	// it.
	PeerKafkaAddrs map[int32]string
	// PeerTLS, when set, makes replica fetchers connect to their leaders
	// with TLS (the inter-broker listener uses TLS): RootCAs the cluster
	// CA, this broker's certificate for mutual TLS.
	PeerTLS *tls.Config
	// PeerSASL, when set, is the credential this broker's replica
	// fetchers authenticate with on their leaders' SASL listeners (a
	// franz-go pkg/sasl mechanism, such as SCRAM-SHA-512 for a super
	// user): a follower's fetch needs an admin principal.
	PeerSASL sasl.Mechanism
	// Groups configures the group coordinator (offsets.topic.*, group.*
	// and offsets.retention.* settings); its Logger and Metrics are the
	// broker's.
	Groups group.Config
	// Cleaner configures log compaction (log.cleaner.*).
	Cleaner CleanerConfig
	// Tier configures tiered storage (remote.storage.enable topics).
	Tier TierConfig
	// Logger (default slog.Default()).
	Logger *slog.Logger
	// Metrics receives the broker's collectors when set.
	Metrics prometheus.Registerer
}

// Validate fills defaults and says in plain words what is wrong.
func (c *Config) Validate() error {
	var errs []error
	if c.BrokerID < 0 {
		errs = append(errs, fmt.Errorf("broker id %d must not be negative", c.BrokerID))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data directory is required"))
	}
	if c.Member == nil {
		errs = append(errs, errors.New("a metadata member is required"))
	}
	if c.DefaultPartitions == 0 {
		c.DefaultPartitions = 1
	}
	if c.DefaultPartitions < 0 {
		errs = append(errs, fmt.Errorf("default partitions %d must be positive", c.DefaultPartitions))
	}
	if c.RetentionCheckInterval == 0 {
		c.RetentionCheckInterval = 5 * time.Minute
	}
	if c.CheckpointInterval == 0 {
		c.CheckpointInterval = time.Minute
	}
	if c.FileDeleteDelay == 0 {
		c.FileDeleteDelay = commitlog.DefaultFileDeleteDelay
	}
	if c.FileDeleteDelay < 0 {
		errs = append(errs, fmt.Errorf("file delete delay %v must not be negative", c.FileDeleteDelay))
	}
	if c.ReplicaLagTimeMax == 0 {
		c.ReplicaLagTimeMax = DefaultReplicaLagTimeMax
	}
	if c.ReplicaLagTimeMax < 0 {
		errs = append(errs, fmt.Errorf("replica lag time max %v must be positive", c.ReplicaLagTimeMax))
	}
	if c.MinInsyncReplicas == 0 {
		c.MinInsyncReplicas = defaultMinInsyncReplicas
	}
	if c.MinInsyncReplicas < 0 {
		errs = append(errs, fmt.Errorf("min.insync.replicas %d must be at least 1", c.MinInsyncReplicas))
	}
	for id, addr := range c.PeerKafkaAddrs {
		if id <= 0 || addr == "" {
			errs = append(errs, fmt.Errorf("peer Kafka address %d=%q: want a positive broker id and an address", id, addr))
		}
	}
	if c.Cleaner.Backoff == 0 {
		c.Cleaner.Backoff = DefaultCleanerBackoff
	}
	if c.Cleaner.Backoff < 0 {
		errs = append(errs, fmt.Errorf("log.cleaner.backoff.ms %v must be positive", c.Cleaner.Backoff))
	}
	if err := c.Cleaner.Options.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Tier.validate(); err != nil {
		errs = append(errs, err)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Groups.Logger == nil {
		c.Groups.Logger = c.Logger
	}
	if c.Groups.Metrics == nil {
		c.Groups.Metrics = c.Metrics
	}
	if err := c.Groups.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// TierConfig configures tiered storage: where closed segments of
// remote.storage.enable topics are uploaded and read back from.
type TierConfig struct {
	// Store is the object store; nil turns tiering off (topics with
	// remote.storage.enable=true are then refused).
	Store tiering.Store
	// Prefix is where this cluster's objects live in Store
	// (tiering.SegmentKey.ClusterPrefix).
	Prefix string
	// CacheDir holds the chunks of remote segments read back, outside
	// DataDir (a default is chosen when empty).
	CacheDir string
	// CacheBytes bounds CacheDir (--tier-cache-bytes).
	CacheBytes int64
	// OrphanGrace is how old an object no metadata record names must be
	// before the orphan sweep deletes it (default 1 h): younger ones may
	// belong to an upload whose record is not committed yet.
	OrphanGrace time.Duration
	// SweepInterval is how often partition leaders look for orphaned
	// objects (default 10 min).
	SweepInterval time.Duration
}
