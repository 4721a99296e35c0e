package metadata

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/runnel-dev/runnel/internal/plural"
)

// Limits enforced on records.
const (
	// MaxTopicNameLength is Kafka's limit on topic names.
	MaxTopicNameLength = 249
	// MaxPartitions bounds the partition count of one topic.
	MaxPartitions = 10000
	// MaxReplicationFactor bounds the length of a replica list.
	MaxReplicationFactor = 16
	// MaxProducerIDBlock bounds one producer id allocation.
	MaxProducerIDBlock = 1_000_000
	// maxStringLength bounds addresses, racks, config keys and values, and
	// object keys.
	maxStringLength = 4096
)

// Topic config keys with meaning to Runnel. Values of these keys are checked;
// other keys are stored as given.
const (
	ConfigUncleanLeaderElection = "unclean.leader.election.enable"
	ConfigMinInsyncReplicas     = "min.insync.replicas"
	ConfigRetentionMs           = "retention.ms"
	ConfigRetentionBytes        = "retention.bytes"
	ConfigSegmentBytes          = "segment.bytes"
	ConfigCleanupPolicy         = "cleanup.policy"
	ConfigRemoteStorageEnable   = "remote.storage.enable"
	ConfigSegmentMs             = "segment.ms"
	ConfigMaxMessageBytes       = "max.message.bytes"
	ConfigSegmentIndexBytes     = "segment.index.bytes"
	ConfigIndexIntervalBytes    = "index.interval.bytes"
	ConfigFlushMessages         = "flush.messages"
	ConfigFlushMs               = "flush.ms"
	ConfigLocalRetentionMs      = "local.retention.ms"
	ConfigLocalRetentionBytes   = "local.retention.bytes"
	// ConfigMessageTimestampType is CreateTime (the producer's clock) or
	// LogAppendTime (the broker's, stamped on append).
	ConfigMessageTimestampType = "message.timestamp.type"
	// ConfigMessageTimestampBeforeMaxMs and ConfigMessageTimestampAfterMaxMs
	// bound how far before and after the broker's clock a CreateTime record
	// may be (KIP-937).
	ConfigMessageTimestampBeforeMaxMs = "message.timestamp.before.max.ms"
	ConfigMessageTimestampAfterMaxMs  = "message.timestamp.after.max.ms"
	// ConfigReplicaLagTimeMaxMs is how long a follower may go without
	// catching up to its leader before it leaves the ISR (a broker setting
	// in Kafka; Runnel lets a topic set it too).
	ConfigReplicaLagTimeMaxMs = "replica.lag.time.max.ms"
	// ConfigDeleteRetentionMs, ConfigMinCompactionLagMs and
	// ConfigMinCleanableDirtyRatio tune log compaction
	// (cleanup.policy=compact): how long tombstones stay, how old a record
	// must be to be compacted, and how dirty a log gets before it is.
	ConfigDeleteRetentionMs      = "delete.retention.ms"
	ConfigMinCompactionLagMs     = "min.compaction.lag.ms"
	ConfigMinCleanableDirtyRatio = "min.cleanable.dirty.ratio"
)

// KnownConfig reports whether key is a topic config key Runnel understands.
// The controller refuses other keys in admin requests.
func KnownConfig(key string) bool {
	switch key {
	case ConfigUncleanLeaderElection, ConfigMinInsyncReplicas, ConfigRetentionMs,
		ConfigRetentionBytes, ConfigSegmentBytes, ConfigCleanupPolicy, ConfigRemoteStorageEnable,
		ConfigSegmentMs, ConfigMaxMessageBytes, ConfigSegmentIndexBytes, ConfigIndexIntervalBytes,
		ConfigFlushMessages, ConfigFlushMs, ConfigLocalRetentionMs, ConfigLocalRetentionBytes,
		ConfigMessageTimestampType, ConfigMessageTimestampBeforeMaxMs, ConfigMessageTimestampAfterMaxMs,
		ConfigReplicaLagTimeMaxMs, ConfigDeleteRetentionMs, ConfigMinCompactionLagMs, ConfigMinCleanableDirtyRatio:
		return true
	}
	return false
}

// UncleanLeaderElection reports whether the topic allows electing a leader
// from outside the ISR.
func (t *Topic) UncleanLeaderElection() bool {
	return t.Config[ConfigUncleanLeaderElection] == "true"
}

// Names Kafka reserves for its internal topics (Topic.java): the group
// coordinator's committed offsets, the transaction coordinator's state, the
// share coordinator's state, and KRaft's metadata log.
const (
	TopicConsumerOffsets  = "__consumer_offsets"
	TopicTransactionState = "__transaction_state"
	TopicShareGroupState  = "__share_group_state"
	TopicClusterMetadata  = "__cluster_metadata"
)

// InternalTopic reports whether name is one of the names Kafka reserves for
// internal topics. Only the broker itself creates topics of these names;
// admin requests and auto-creation are refused.
func InternalTopic(name string) bool {
	switch name {
	case TopicConsumerOffsets, TopicTransactionState, TopicShareGroupState, TopicClusterMetadata:
		return true
	}
	return false
}

// ValidateTopicName checks Kafka's topic name rules.
func ValidateTopicName(name string) error { return validateTopicName(name) }

func validateTopicName(name string) error {
	if name == "" || len(name) > MaxTopicNameLength {
		return rejectf(ErrInvalidTopicName, "length %d not in 1..%d", len(name), MaxTopicNameLength)
	}
	if name == "." || name == ".." {
		return rejectf(ErrInvalidTopicName, "%q is reserved", name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
		if !ok {
			return rejectf(ErrInvalidTopicName, "%q: character %q not in [a-zA-Z0-9._-]", name, c)
		}
	}
	return nil
}

// ValidateConfigValue checks one config entry: the key is non-empty and a
// known key has a value of the right form.
func ValidateConfigValue(key, value string) error {
	if key == "" || len(key) > maxStringLength || len(value) > maxStringLength {
		return rejectf(ErrInvalidConfig, "key or value empty or too long")
	}
	intAtLeast := func(min int64) error {
		n, err := strconv.ParseInt(value, 10, 64)
		if err != nil || n < min {
			return rejectf(ErrInvalidConfig, "%s=%q: want an integer >= %d", key, value, min)
		}
		return nil
	}
	intBetween := func(min, max int64) error {
		n, err := strconv.ParseInt(value, 10, 64)
		if err != nil || n < min || n > max {
			return rejectf(ErrInvalidConfig, "%s=%q: want an integer from %d to %d", key, value, min, max)
		}
		return nil
	}
	switch key {
	case ConfigUncleanLeaderElection, ConfigRemoteStorageEnable:
		if value != "true" && value != "false" {
			return rejectf(ErrInvalidConfig, "%s=%q: want true or false", key, value)
		}
	case ConfigMinInsyncReplicas, ConfigReplicaLagTimeMaxMs:
		return intAtLeast(1)
	case ConfigRetentionMs, ConfigRetentionBytes:
		return intAtLeast(-1)
	case ConfigSegmentBytes:
		return intBetween(14, 1<<31-1) // segment positions are 32-bit
	case ConfigSegmentMs, ConfigFlushMessages:
		return intAtLeast(1)
	case ConfigFlushMs, ConfigMessageTimestampBeforeMaxMs, ConfigMessageTimestampAfterMaxMs:
		return intAtLeast(0)
	case ConfigMessageTimestampType:
		if value != "CreateTime" && value != "LogAppendTime" {
			return rejectf(ErrInvalidConfig, "%s=%q: want CreateTime or LogAppendTime", key, value)
		}
	case ConfigMaxMessageBytes, ConfigIndexIntervalBytes:
		return intBetween(0, 1<<31-1)
	case ConfigSegmentIndexBytes:
		return intBetween(48, 1<<31-1)
	case ConfigLocalRetentionMs, ConfigLocalRetentionBytes:
		return intAtLeast(-2)
	case ConfigDeleteRetentionMs, ConfigMinCompactionLagMs:
		return intAtLeast(0)
	case ConfigMinCleanableDirtyRatio:
		if r, err := strconv.ParseFloat(value, 64); err != nil || r < 0 || r > 1 {
			return rejectf(ErrInvalidConfig, "%s=%q: want a number from 0 to 1", key, value)
		}
	case ConfigCleanupPolicy:
		if _, _, ok := CleanupPolicy(value); !ok {
			return rejectf(ErrInvalidConfig, "%s=%q: want delete, compact or compact,delete", key, value)
		}
	}
	return nil
}

// CleanupPolicy parses a cleanup.policy value, a comma-separated list of
// delete and compact, each at most once.
func CleanupPolicy(value string) (deletes, compacts, ok bool) {
	for p := range strings.SplitSeq(value, ",") {
		switch strings.TrimSpace(p) {
		case "delete":
			if deletes {
				return false, false, false
			}
			deletes = true
		case "compact":
			if compacts {
				return false, false, false
			}
			compacts = true
		default:
			return false, false, false
		}
	}
	return deletes, compacts, true
}

// validateConfig checks every entry of cfg in key order, so the error names
// the same key on every node.
func validateConfig(cfg map[string]string) error {
	keys := make([]string, 0, len(cfg))
	for k := range cfg {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if err := ValidateConfigValue(k, cfg[k]); err != nil {
			return err
		}
	}
	return nil
}

// checkReplicas checks a replica list: non-empty, bounded, no duplicates,
// every broker registered.
func checkReplicas(img *Image, replicas []int32) error {
	if len(replicas) == 0 || len(replicas) > MaxReplicationFactor {
		return rejectf(ErrInvalidReplicationFactor, "%s, want 1..%d", plural.Noun(len(replicas), "replica"), MaxReplicationFactor)
	}
	for i, r := range replicas {
		if slices.Contains(replicas[:i], r) {
			return rejectf(ErrInvalidReplicas, "broker %d listed twice in %v", r, replicas)
		}
		if _, ok := img.brokers[r]; !ok {
			return rejectf(ErrUnknownBroker, "replica %d", r)
		}
	}
	return nil
}

// checkReassignment checks a replica set with its reassignment: valid
// replicas of registered brokers; adding and removing replicas disjoint,
// without duplicates, each one of the replicas; at least one replica
// neither removing (the target is never empty).
func checkReassignment(img *Image, r *Reassignment) error {
	if err := checkReplicas(img, r.Replicas); err != nil {
		return err
	}
	for _, set := range [][]int32{r.Adding, r.Removing} {
		for i, b := range set {
			if !slices.Contains(r.Replicas, b) || slices.Contains(set[:i], b) {
				return rejectf(ErrInvalidReplicas, "adding %v and removing %v must be distinct members of replicas %v", r.Adding, r.Removing, r.Replicas)
			}
		}
	}
	for _, b := range r.Adding {
		if slices.Contains(r.Removing, b) {
			return rejectf(ErrInvalidReplicas, "broker %d both adding and removing", b)
		}
	}
	if len(r.Removing) >= len(r.Replicas) {
		return rejectf(ErrInvalidReplicas, "removing %v leaves no target replica of %v", r.Removing, r.Replicas)
	}
	return nil
}

// checkISR checks an ISR against its replica list and leader: non-empty,
// no duplicates, members are replicas, the leader (unless NoLeader) a
// member.
func checkISR(replicas, isr []int32, leader int32) error {
	if len(isr) == 0 {
		return rejectf(ErrInvalidISR, "empty ISR")
	}
	for i, r := range isr {
		if slices.Contains(isr[:i], r) {
			return rejectf(ErrInvalidISR, "broker %d listed twice in %v", r, isr)
		}
		if !slices.Contains(replicas, r) {
			return rejectf(ErrInvalidISR, "broker %d in ISR %v is not a replica %v", r, isr, replicas)
		}
	}
	if leader != NoLeader && !slices.Contains(isr, leader) {
		return rejectf(ErrInvalidISR, "leader %d not in ISR %v", leader, isr)
	}
	return nil
}

// checkPartitionStates validates new partitions against img: equal
// replication factor (rf, or that of the first list when rf is 0), valid
// ISRs, and unfenced leaders and ISR members.
func checkPartitionStates(img *Image, parts []PartitionState, rf int) error {
	if len(parts) == 0 {
		return rejectf(ErrInvalidPartitions, "no partitions")
	}
	if rf == 0 {
		rf = len(parts[0].Replicas)
	}
	for i, p := range parts {
		if len(p.Replicas) != rf {
			return rejectf(ErrInvalidReplicationFactor, "partition %d has %s, want %d", i, plural.Noun(len(p.Replicas), "replica"), rf)
		}
		if err := checkReplicas(img, p.Replicas); err != nil {
			return fmt.Errorf("partition %d: %w", i, err)
		}
		if err := checkISR(p.Replicas, p.ISR, p.Leader); err != nil {
			return fmt.Errorf("partition %d: %w", i, err)
		}
		for _, r := range p.ISR {
			if img.brokers[r].Fenced {
				return rejectf(ErrIneligibleReplica, "partition %d: broker %d is fenced", i, r)
			}
		}
	}
	return nil
}
