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

// Header is one event header. Values are bytes; the REST API only carries
// strings, but events written by Kafka clients may hold anything.
type Header struct {
	Key   string
	Value []byte
}

// Event is one event to produce.
type Event struct {
	// Partition is the partition the client named, or -1 to let the key
	// choose it (murmur2, as Kafka's Java client does) or, without a key,
	// to spread events evenly.
	Partition int32
	// Key is nil for a null key; an empty non-nil slice is the empty key.
	Key []byte
	// Value is the stored bytes: the JSON text of "value", or the decoded
	// bytes of "value_b64". nil is a null value (a tombstone).
	Value   []byte
	Headers []Header
	// Timestamp in milliseconds since the Unix epoch; 0 means now.
	Timestamp int64
}

// Result is where one produced event went, in request order.
type Result struct {
	Partition int32
	Offset    int64 // -1 with AcksNone
	Timestamp int64 // milliseconds since the Unix epoch
}

// Record is one stored event, as read back.
type Record struct {
	Partition int32
	Offset    int64
	Timestamp int64
	Key       []byte // nil for a null key
	Value     []byte // nil for a null value
	Headers   []Header
}

// FetchResult is the answer to one Fetch.
type FetchResult struct {
	Records []Record
	// NextOffset is where the next fetch continues.
	NextOffset     int64
	HighWatermark  int64
	LogStartOffset int64
}

// PartitionOffsets are a partition's bounds and, when a timestamp was asked
// for, the first offset at or after it (the high watermark when no event is
// that recent: where reading "from that time" starts).
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
