package metadata

import (
	"github.com/google/uuid"
)

// NoLeader is the Leader of a partition that has no leader: every in-sync
// replica is fenced and the topic does not allow unclean election.
const NoLeader int32 = -1

// RecordType names the kind of a Record.
type RecordType string

// The record types. The strings are part of the encoding.
const (
	TypeBrokerRegistered     RecordType = "broker_registered"
	TypeBrokerFenced         RecordType = "broker_fenced"
	TypeBrokerUnfenced       RecordType = "broker_unfenced"
	TypeTopicCreated         RecordType = "topic_created"
	TypeTopicDeleted         RecordType = "topic_deleted"
	TypeTopicConfigChanged   RecordType = "topic_config_changed"
	TypePartitionsCreated    RecordType = "partitions_created"
	TypePartitionChanged     RecordType = "partition_changed"
	TypeProducerIDsAllocated RecordType = "producer_ids_allocated"
	TypeRemoteSegmentAdded   RecordType = "remote_segment_added"
	TypeRemoteSegmentRemoved RecordType = "remote_segment_removed"
	TypeRemoteLogStartMoved  RecordType = "remote_log_start_moved"
	TypeClusterIDSet         RecordType = "cluster_id_set"
	// Format version 3.
	TypeUserScramCredentialSet     RecordType = "user_scram_credential_set"
	TypeUserScramCredentialDeleted RecordType = "user_scram_credential_deleted"
	TypeACLsCreated                RecordType = "acls_created"
	TypeACLsDeleted                RecordType = "acls_deleted"
)

// BrokerRegistered announces a broker, or a new incarnation of one. A new
// incarnation gets a new broker epoch (the raft index of this record) and
// starts fenced; the same incarnation registering again only updates its
// address and rack.
type BrokerRegistered struct {
	ID          int32     `json:"id"`
	Addr        string    `json:"addr"`
	Rack        string    `json:"rack,omitempty"`
	Incarnation uuid.UUID `json:"incarnation"`
	// Listeners are the broker's advertised Kafka listeners by name, when
	// it has named ones; Addr is then the inter-broker listener's address.
	Listeners []Endpoint `json:"listeners,omitempty"`
}

// Endpoint is one advertised Kafka listener of a broker: Kafka's listener
// name (INTERNAL, EXTERNAL...) and the host:port clients of that listener
// are told.
type Endpoint struct {
	Name string `json:"name"`
	Addr string `json:"addr"`
}

// maxEndpoints bounds the listeners of one broker registration.
const maxEndpoints = 64

// BrokerFenced stops a broker from leading or joining an ISR. Epoch must be
// the broker's current epoch, so that a decision about an old incarnation
// does not fence a new one.
type BrokerFenced struct {
	ID    int32  `json:"id"`
	Epoch uint64 `json:"epoch"`
}

// BrokerUnfenced makes a fenced broker eligible again.
type BrokerUnfenced struct {
	ID    int32  `json:"id"`
	Epoch uint64 `json:"epoch"`
}

// PartitionState is the assignment and leadership of one partition as
// chosen by the controller when the partition is created. Epochs start at 0.
type PartitionState struct {
	Replicas []int32 `json:"replicas"`
	ISR      []int32 `json:"isr"`
	Leader   int32   `json:"leader"`
}

// TopicCreated creates a topic. The proposer chooses the id and the
// placement.
type TopicCreated struct {
	Name       string            `json:"name"`
	ID         uuid.UUID         `json:"id"`
	Config     map[string]string `json:"config,omitempty"`
	Partitions []PartitionState  `json:"partitions"`
}

// TopicDeleted deletes a topic and everything recorded under it.
type TopicDeleted struct {
	ID uuid.UUID `json:"id"`
}

// TopicConfigChanged sets and deletes config keys of a topic.
type TopicConfigChanged struct {
	ID     uuid.UUID         `json:"id"`
	Set    map[string]string `json:"set,omitempty"`
	Delete []string          `json:"delete,omitempty"`
}

// PartitionsCreated appends partitions to a topic. From must equal the
// current partition count, so that two concurrent increases cannot both
// apply.
type PartitionsCreated struct {
	ID         uuid.UUID        `json:"id"`
	From       int32            `json:"from"`
	Partitions []PartitionState `json:"partitions"`
}

// PartitionChanged sets the leader and ISR of a partition, and with
// Reassign its replica set. PartitionEpoch is the epoch the change was
// computed against; the change applies only if it is still current.
// Applying bumps the partition epoch, and the leader epoch too when the
// leader or the replica set changes (Kafka's rules).
type PartitionChanged struct {
	ID             uuid.UUID `json:"id"`
	Partition      int32     `json:"partition"`
	PartitionEpoch int32     `json:"partition_epoch"`
	Leader         int32     `json:"leader"`
	ISR            []int32   `json:"isr"`
	// Reassign, if set, replaces the replica set and the reassignment in
	// progress (format version 2).
	Reassign *Reassignment `json:"reassign,omitempty"`
}

// Reassignment is a partition's replica set during and after a replica
// reassignment (KIP-455): Replicas is the target replicas followed by the
// ones being removed; Adding are target replicas not yet in the ISR's
// company when it started, Removing the old replicas not in the target.
// Both empty means no reassignment is in progress.
type Reassignment struct {
	Replicas []int32 `json:"replicas"`
	Adding   []int32 `json:"adding,omitempty"`
	Removing []int32 `json:"removing,omitempty"`
}

// ProducerIDsAllocated hands the block [First, First+Count) of producer ids
// to a broker. First must equal the image's next producer id, which makes
// blocks unique across the cluster.
type ProducerIDsAllocated struct {
	BrokerID int32 `json:"broker_id"`
	First    int64 `json:"first"`
	Count    int32 `json:"count"`
}

// ClusterIDSet gives the cluster its id (see NewClusterID), once: the
// controller proposes it when it finds the image without one, at cluster
// creation or on metadata made before cluster ids. A second one is refused.
type ClusterIDSet struct {
	ID string `json:"id"`
}

// RemoteSegment describes one log segment stored in the object store.
type RemoteSegment struct {
	// BaseOffset and EndOffset are the first and last offsets the segment
	// holds (EndOffset inclusive).
	BaseOffset int64 `json:"base_offset"`
	EndOffset  int64 `json:"end_offset"`
	// ObjectKey is the prefix of the segment's objects (tiering.SegmentKey).
	ObjectKey string `json:"object_key"`
	// Size is the size of the segment's .log object in bytes.
	Size int64 `json:"size"`
	// LeaderEpoch is the leader epoch of the broker that uploaded it.
	LeaderEpoch int32 `json:"leader_epoch,omitempty"`
	// MaxTimestamp is the largest record timestamp in the segment (-1 when
	// it has none); time retention and offset-by-time lookups use it.
	MaxTimestamp int64 `json:"max_timestamp,omitempty"`
}

// RemoteSegmentAdded records a segment uploaded by the tiering code. It
// applies only while BrokerID leads the partition at Segment.LeaderEpoch
// (ErrFencedRemoteUpload) and when the segment ends past the partition's
// remote end offset (ErrRemoteSegmentBehind).
type RemoteSegmentAdded struct {
	ID        uuid.UUID     `json:"id"`
	Partition int32         `json:"partition"`
	Segment   RemoteSegment `json:"segment"`
	// BrokerID is the broker that uploaded the segment.
	BrokerID int32 `json:"broker_id"`
}

// RemoteSegmentRemoved forgets a remote segment (retention deleted it).
type RemoteSegmentRemoved struct {
	ID        uuid.UUID `json:"id"`
	Partition int32     `json:"partition"`
	ObjectKey string    `json:"object_key"`
}

// Record is one metadata change: exactly one of its fields is set.
type Record struct {
	BrokerRegistered     *BrokerRegistered     `json:"broker_registered,omitempty"`
	BrokerFenced         *BrokerFenced         `json:"broker_fenced,omitempty"`
	BrokerUnfenced       *BrokerUnfenced       `json:"broker_unfenced,omitempty"`
	TopicCreated         *TopicCreated         `json:"topic_created,omitempty"`
	TopicDeleted         *TopicDeleted         `json:"topic_deleted,omitempty"`
	TopicConfigChanged   *TopicConfigChanged   `json:"topic_config_changed,omitempty"`
	PartitionsCreated    *PartitionsCreated    `json:"partitions_created,omitempty"`
	PartitionChanged     *PartitionChanged     `json:"partition_changed,omitempty"`
	ProducerIDsAllocated *ProducerIDsAllocated `json:"producer_ids_allocated,omitempty"`
	RemoteSegmentAdded   *RemoteSegmentAdded   `json:"remote_segment_added,omitempty"`
	RemoteSegmentRemoved *RemoteSegmentRemoved `json:"remote_segment_removed,omitempty"`
	RemoteLogStartMoved  *RemoteLogStartMoved  `json:"remote_log_start_moved,omitempty"`
	ClusterIDSet         *ClusterIDSet         `json:"cluster_id_set,omitempty"`
	// UserScramCredentialSet and UserScramCredentialDeleted need format
	// version 3.
	UserScramCredentialSet     *UserScramCredentialSet     `json:"user_scram_credential_set,omitempty"`
	UserScramCredentialDeleted *UserScramCredentialDeleted `json:"user_scram_credential_deleted,omitempty"`
	// ACLsCreated and ACLsDeleted need format version 3.
	ACLsCreated *ACLsCreated `json:"acls_created,omitempty"`
	ACLsDeleted *ACLsDeleted `json:"acls_deleted,omitempty"`
}

// Type returns the kind of the record, or "" when not exactly one field is
// set.
func (r Record) Type() RecordType {
	var t RecordType
	n := 0
	set := func(ok bool, rt RecordType) {
		if ok {
			n++
			t = rt
		}
	}
	set(r.BrokerRegistered != nil, TypeBrokerRegistered)
	set(r.BrokerFenced != nil, TypeBrokerFenced)
	set(r.BrokerUnfenced != nil, TypeBrokerUnfenced)
	set(r.TopicCreated != nil, TypeTopicCreated)
	set(r.TopicDeleted != nil, TypeTopicDeleted)
	set(r.TopicConfigChanged != nil, TypeTopicConfigChanged)
	set(r.PartitionsCreated != nil, TypePartitionsCreated)
	set(r.PartitionChanged != nil, TypePartitionChanged)
	set(r.ProducerIDsAllocated != nil, TypeProducerIDsAllocated)
	set(r.RemoteSegmentAdded != nil, TypeRemoteSegmentAdded)
	set(r.RemoteSegmentRemoved != nil, TypeRemoteSegmentRemoved)
	set(r.RemoteLogStartMoved != nil, TypeRemoteLogStartMoved)
	set(r.ClusterIDSet != nil, TypeClusterIDSet)
	set(r.UserScramCredentialSet != nil, TypeUserScramCredentialSet)
	set(r.UserScramCredentialDeleted != nil, TypeUserScramCredentialDeleted)
	set(r.ACLsCreated != nil, TypeACLsCreated)
	set(r.ACLsDeleted != nil, TypeACLsDeleted)
	if n != 1 {
		return ""
	}
	return t
}

// Batch is the unit of proposal: its records apply atomically, all or none,
// in order. An empty batch is valid; the controller proposes one as a
// barrier after it becomes leader.
type Batch struct {
	Records []Record `json:"records"`
}
