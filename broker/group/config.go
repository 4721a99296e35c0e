package group

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of Config, Kafka's.
const (
	DefaultNumPartitions          = 50
	DefaultReplicationFactor      = 3
	DefaultMinSessionTimeout      = 6 * time.Second
	DefaultMaxSessionTimeout      = 30 * time.Minute
	DefaultInitialRebalanceDelay  = 3 * time.Second
	DefaultOffsetsRetention       = 7 * 24 * time.Hour
	DefaultRetentionCheckInterval = 10 * time.Minute
	DefaultMaxMetadataSize        = 4096
	// KIP-848 consumer groups: group.consumer.session.timeout.ms and
	// group.consumer.heartbeat.interval.ms.
	DefaultConsumerSessionTimeout    = 45 * time.Second
	DefaultConsumerHeartbeatInterval = 5 * time.Second
)

// TopicInfo is what the server-side assignors need of a topic.
type TopicInfo struct {
	Name       string
	ID         [16]byte
	Partitions int32
}

// Config tunes the coordinator. Zero values are Kafka's defaults.
type Config struct {
	// NumPartitions is offsets.topic.num.partitions, used when the
	// coordinator creates __consumer_offsets (default 50). An existing
	// topic keeps its own count.
	NumPartitions int32
	// ReplicationFactor is offsets.topic.replication.factor (default 3).
	// The topic is created with min(ReplicationFactor, live brokers).
	ReplicationFactor int16
	// MinSessionTimeout and MaxSessionTimeout are
	// group.min.session.timeout.ms and group.max.session.timeout.ms.
	MinSessionTimeout, MaxSessionTimeout time.Duration
	// InitialRebalanceDelay is group.initial.rebalance.delay.ms (default
	// 3 s): how long the first rebalance of an empty group waits for more
	// members. Negative means none.
	InitialRebalanceDelay time.Duration
	// OffsetsRetention is offsets.retention.minutes (default 7 days).
	OffsetsRetention time.Duration
	// RetentionCheckInterval is offsets.retention.check.interval.ms
	// (default 10 min).
	RetentionCheckInterval time.Duration
	// MaxMetadataSize is offset.metadata.max.bytes (default 4096).
	MaxMetadataSize int
	// LogEnd returns the high watermark of a partition this broker
	// leads, for the lag metrics; lag is reported only where it returns
	// true.
	LogEnd func(topic string, partition int32) (int64, bool)
	// ConsumerSessionTimeout is group.consumer.session.timeout.ms
	// (default 45 s): a KIP-848 member not heard from for this long
	// leaves its group.
	ConsumerSessionTimeout time.Duration
	// ConsumerHeartbeatInterval is group.consumer.heartbeat.interval.ms
	// (default 5 s), told to KIP-848 members in every heartbeat answer.
	ConsumerHeartbeatInterval time.Duration
	// Topics returns the cluster's topics, for KIP-848 server-side
	// assignment; without it consumer groups are refused.
	Topics func() []TopicInfo
	// Logger (default slog.Default()).
	Logger *slog.Logger
	// Metrics receives the coordinator's collectors when set.
	Metrics prometheus.Registerer
}

// Validate fills defaults and says in plain words what is wrong.
func (c *Config) Validate() error {
	var errs []error
	if c.NumPartitions == 0 {
		c.NumPartitions = DefaultNumPartitions
	}
	if c.NumPartitions < 0 {
		errs = append(errs, fmt.Errorf("offsets topic partitions %d must be positive", c.NumPartitions))
	}
	if c.ReplicationFactor == 0 {
		c.ReplicationFactor = DefaultReplicationFactor
	}
	if c.ReplicationFactor < 0 {
		errs = append(errs, fmt.Errorf("offsets topic replication factor %d must be positive", c.ReplicationFactor))
	}
	if c.MinSessionTimeout == 0 {
		c.MinSessionTimeout = DefaultMinSessionTimeout
	}
	if c.MaxSessionTimeout == 0 {
		c.MaxSessionTimeout = DefaultMaxSessionTimeout
	}
	if c.MinSessionTimeout < 0 || c.MaxSessionTimeout < c.MinSessionTimeout {
		errs = append(errs, fmt.Errorf("session timeout bounds [%v, %v]: want 0 < min <= max", c.MinSessionTimeout, c.MaxSessionTimeout))
	}
	if c.InitialRebalanceDelay == 0 {
		c.InitialRebalanceDelay = DefaultInitialRebalanceDelay
	}
	if c.InitialRebalanceDelay < 0 {
		c.InitialRebalanceDelay = 0
	}
	if c.OffsetsRetention == 0 {
		c.OffsetsRetention = DefaultOffsetsRetention
	}
	if c.OffsetsRetention < 0 {
		errs = append(errs, fmt.Errorf("offsets retention %v must be positive", c.OffsetsRetention))
	}
	if c.RetentionCheckInterval == 0 {
		c.RetentionCheckInterval = DefaultRetentionCheckInterval
	}
	if c.RetentionCheckInterval < 0 {
		errs = append(errs, fmt.Errorf("offsets retention check interval %v must be positive", c.RetentionCheckInterval))
	}
	if c.ConsumerSessionTimeout == 0 {
		c.ConsumerSessionTimeout = DefaultConsumerSessionTimeout
	}
	if c.ConsumerHeartbeatInterval == 0 {
		c.ConsumerHeartbeatInterval = DefaultConsumerHeartbeatInterval
	}
	if c.ConsumerSessionTimeout < 0 || c.ConsumerHeartbeatInterval < 0 || c.ConsumerHeartbeatInterval >= c.ConsumerSessionTimeout {
		errs = append(errs, fmt.Errorf("consumer heartbeat interval %v and session timeout %v: want 0 < interval < session", c.ConsumerHeartbeatInterval, c.ConsumerSessionTimeout))
	}
	if c.MaxMetadataSize == 0 {
		c.MaxMetadataSize = DefaultMaxMetadataSize
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return errors.Join(errs...)
}
