package metadata

import (
	"errors"
	"fmt"
)

// Rejection errors returned by Apply, Image.Apply and Decode. A rejected
// record or batch changes nothing. Every node rejects the same entry in the
// same way, because validation only looks at the entry and the image it is
// applied to. Callers match them with errors.Is; the error text carries the
// details (which topic, which partition, which epoch).
var (
	// ErrClusterIDSet means the cluster has an id already: it is set once.
	// Re-read the image.
	ErrClusterIDSet = errors.New("metadata: cluster id already set")

	// ErrInvalidClusterID means a cluster id is not 22 base64url characters
	// (16 bytes, as Kafka's Uuid.toString). The proposer has a bug.
	ErrInvalidClusterID = errors.New("metadata: invalid cluster id")

	// ErrInvalidRecord means the bytes are not a well-formed batch of this
	// format version. The proposer has a bug or a newer version; do not retry.
	ErrInvalidRecord = errors.New("metadata: invalid record")

	// ErrInvalidTopicName means the name breaks the Kafka rules
	// ([a-zA-Z0-9._-]{1,249}, not "." or ".."). Pick another name.
	ErrInvalidTopicName = errors.New("metadata: invalid topic name")

	// ErrTopicExists means a topic with that name or id already exists. Use it,
	// or delete it first.
	ErrTopicExists = errors.New("metadata: topic already exists")

	// ErrUnknownTopic means no topic has that name or id. Re-read the image;
	// the topic may have been deleted.
	ErrUnknownTopic = errors.New("metadata: unknown topic")

	// ErrUnknownPartition means the topic has no partition with that index.
	ErrUnknownPartition = errors.New("metadata: unknown partition")

	// ErrInvalidPartitions means the partition count or the partition list is
	// not acceptable (zero, negative, too many, or not an increase).
	ErrInvalidPartitions = errors.New("metadata: invalid partitions")

	// ErrInvalidReplicationFactor means the replica lists are empty, of
	// unequal length, or longer than the number of usable brokers.
	ErrInvalidReplicationFactor = errors.New("metadata: invalid replication factor")

	// ErrInvalidReplicas means a replica list names a broker twice.
	ErrInvalidReplicas = errors.New("metadata: invalid replica assignment")

	// ErrUnknownBroker means the record names a broker that never registered.
	// A broker that gets it must register again.
	ErrUnknownBroker = errors.New("metadata: unknown broker")

	// ErrInvalidBroker means a registration is malformed (negative id, empty
	// address, nil incarnation id).
	ErrInvalidBroker = errors.New("metadata: invalid broker registration")

	// ErrStaleBrokerEpoch means the record or request carries a broker epoch
	// that is not the broker's current one: it registered again since. A
	// broker that gets it must register again; a controller must re-read the
	// image.
	ErrStaleBrokerEpoch = errors.New("metadata: stale broker epoch")

	// ErrBrokerState means the broker is already in the requested fenced or
	// unfenced state. Re-read the image.
	ErrBrokerState = errors.New("metadata: broker already in that state")

	// ErrStalePartitionEpoch means the change was computed against an older
	// version of the partition. Re-read the image and recompute the change.
	ErrStalePartitionEpoch = errors.New("metadata: stale partition epoch")

	// ErrInvalidISR means the in-sync replica set is empty, names a broker
	// that is not a replica, names one twice, or does not contain the leader.
	ErrInvalidISR = errors.New("metadata: invalid ISR")

	// ErrIneligibleReplica means the chosen leader or a new ISR member is
	// fenced. Wait for it to heartbeat again.
	ErrIneligibleReplica = errors.New("metadata: ineligible replica")

	// ErrInvalidConfig means a config key is empty or a known key has a value
	// that does not parse.
	ErrInvalidConfig = errors.New("metadata: invalid config")

	// ErrStaleProducerIDBlock means another block was allocated since the
	// proposer read the image. Re-read the image and propose again.
	ErrStaleProducerIDBlock = errors.New("metadata: stale producer id block")

	// ErrInvalidProducerIDBlock means the block size is out of range.
	ErrInvalidProducerIDBlock = errors.New("metadata: invalid producer id block")

	// ErrInvalidRemoteSegment means the remote segment is malformed (empty
	// key, negative base, end before base, no bytes, negative leader epoch).
	ErrInvalidRemoteSegment = errors.New("metadata: invalid remote segment")

	// ErrFencedRemoteUpload means the broker that uploaded the remote
	// segment is not the partition's leader at the leader epoch it
	// uploaded in: leadership moved on while it uploaded. The new leader
	// uploads the range again; the deposed leader's objects are orphans.
	ErrFencedRemoteUpload = errors.New("metadata: remote segment from a deposed leader")

	// ErrRemoteSegmentBehind means the remote segment ends at or before the
	// end of the partition's remote segments: its records are remote
	// already. Upload the segments after the remote end offset.
	ErrRemoteSegmentBehind = errors.New("metadata: remote segment does not extend the remote log")

	// ErrRemoteSegmentExists means a remote segment with that object key is
	// already recorded for the partition.
	ErrRemoteSegmentExists = errors.New("metadata: remote segment already exists")

	// ErrUnknownRemoteSegment means no remote segment with that object key is
	// recorded for the partition.
	ErrUnknownRemoteSegment = errors.New("metadata: unknown remote segment")

	// ErrInvalidRemoteLogStart means a RemoteLogStartMoved would not move
	// the partition's remote log start forward (it only moves forward).
	ErrInvalidRemoteLogStart = errors.New("metadata: remote log start does not move forward")
)

// RecordError reports which record of a batch was rejected. It wraps one of
// the sentinel errors above.
type RecordError struct {
	// Index is the position of the record in its batch.
	Index int
	// Type is the record's type.
	Type RecordType
	// Err is the reason, wrapping a sentinel.
	Err error
}

// Error implements error.
func (e *RecordError) Error() string {
	return fmt.Sprintf("record %d (%s): %v", e.Index, e.Type, e.Err)
}

// Unwrap returns the reason so errors.Is finds the sentinel.
func (e *RecordError) Unwrap() error { return e.Err }

// rejectf wraps sentinel with a formatted detail.
func rejectf(sentinel error, format string, args ...any) error {
	return fmt.Errorf("%w: %s", sentinel, fmt.Sprintf(format, args...))
}
