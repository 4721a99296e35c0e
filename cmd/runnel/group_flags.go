package main

import (
	"flag"

	"github.com/runnel-dev/runnel/broker/group"
)

// groupFlags are the group coordinator's settings, shared by "runnel
// broker" and "runnel dev"; zero values are Kafka's defaults.
type groupFlags struct {
	cfg        group.Config
	rf         int
	partitions int
}

func (f *groupFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&f.partitions, "offsets-topic-partitions", group.DefaultNumPartitions,
		"offsets.topic.num.partitions: partitions of __consumer_offsets when it is created (`n`)")
	fs.IntVar(&f.rf, "offsets-topic-replication-factor", group.DefaultReplicationFactor,
		"offsets.topic.replication.factor: replicas of __consumer_offsets (`n`); fewer live brokers give min(n, live)")
	fs.DurationVar(&f.cfg.InitialRebalanceDelay, "group-initial-rebalance-delay", group.DefaultInitialRebalanceDelay,
		"group.initial.rebalance.delay.ms: how long the first rebalance of an empty group waits for more members (`duration`)")
	fs.DurationVar(&f.cfg.MinSessionTimeout, "group-min-session-timeout", group.DefaultMinSessionTimeout, "group.min.session.timeout.ms (`duration`)")
	fs.DurationVar(&f.cfg.MaxSessionTimeout, "group-max-session-timeout", group.DefaultMaxSessionTimeout, "group.max.session.timeout.ms (`duration`)")
	fs.DurationVar(&f.cfg.OffsetsRetention, "offsets-retention", group.DefaultOffsetsRetention,
		"offsets.retention.minutes: committed offsets of a group empty this long are removed (`duration`)")
	fs.DurationVar(&f.cfg.ConsumerSessionTimeout, "group-consumer-session-timeout", group.DefaultConsumerSessionTimeout,
		"group.consumer.session.timeout.ms: a KIP-848 consumer group member not heard from this long leaves (`duration`)")
	fs.DurationVar(&f.cfg.ConsumerHeartbeatInterval, "group-consumer-heartbeat-interval", group.DefaultConsumerHeartbeatInterval,
		"group.consumer.heartbeat.interval.ms: how often KIP-848 members heartbeat (`duration`)")
}

// config returns the coordinator configuration, checked.
func (f *groupFlags) config() (group.Config, error) {
	cfg := f.cfg
	if f.rf < 1 || f.rf > 1<<15-1 {
		return cfg, usagef("--offsets-topic-replication-factor must be at least 1")
	}
	cfg.ReplicationFactor = int16(f.rf)
	if f.partitions < 1 || f.partitions > 1<<20 {
		return cfg, usagef("--offsets-topic-partitions must be at least 1")
	}
	cfg.NumPartitions = int32(f.partitions)
	if cfg.InitialRebalanceDelay == 0 {
		cfg.InitialRebalanceDelay = -1 // explicitly none
	}
	if err := cfg.Validate(); err != nil {
		return cfg, usagef("%v", err)
	}
	return cfg, nil
}
