package backend

import "time"

// Acks is how many replicas must have a produced event before Produce
// returns, as Kafka's acks setting.
type Acks int8

// The three acks levels.
const (
	AcksNone   Acks = 0  // fire and forget: results carry offset -1
	AcksLeader Acks = 1  // the partition leader wrote it
	AcksAll    Acks = -1 // every in-sync replica has it
)

// Result is where one produced event went, in request order.
type Result struct {
	Partition int32
	Offset    int64 // -1 with AcksNone
	Timestamp int64 // milliseconds since the Unix epoch
}

// PartitionOffsets are a partition's bounds and, when a timestamp was asked
// for, the first offset at or after it (-1 when no event is that recent, as
// Kafka answers; reading "from that time" then starts at Latest).
type PartitionOffsets struct {
	Partition int32
	Earliest  int64
	Latest    int64
	// ForTimestamp is set only when a timestamp was asked for.
	ForTimestamp *int64
}

// TopicSpec is a topic to create.
type TopicSpec struct {
	Name              string
	Partitions        int32
	ReplicationFactor int16
	Config            map[string]string
}

// TopicInfo describes a topic.
type TopicInfo struct {
	Name string
	// ID is the topic's UUID in its canonical text form. It changes when
	// a topic is deleted and created again.
	ID         string
	Config     map[string]string
	Partitions []PartitionInfo
}

// PartitionInfo describes one partition of a topic.
type PartitionInfo struct {
	ID             int32
	Leader         int32 // -1 without a leader
	Replicas       []int32
	ISR            []int32
	LogStartOffset int64
	HighWatermark  int64
}

// TopicChange is a PATCH: either or both of a new partition count (increase
// only) and config changes (a nil value deletes the key, restoring the
// default).
type TopicChange struct {
	Partitions *int32
	Config     map[string]*string
}

// FetchOptions bound one Fetch.
type FetchOptions struct {
	// Limit is the most events returned.
	Limit int
	// Wait is how long to wait for events when offset is at the high
	// watermark; 0 answers at once.
	Wait time.Duration
	// MaxBytes bounds the bytes read from the broker.
	MaxBytes int32
}

// TopicMeta is the cached, cheap part of a topic's description: enough to
// route a subscription.
type TopicMeta struct {
	Name       string
	ID         string // canonical UUID text
	Partitions int32
}
