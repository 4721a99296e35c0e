package controller

import (
	"github.com/google/uuid"

	"github.com/runnel-dev/runnel/raftmeta/metadata"
)

// RegisterBrokerRequest registers a broker process. Incarnation is chosen
// randomly by the process at start; a new incarnation gets a new broker
// epoch.
type RegisterBrokerRequest struct {
	ID          int32     `json:"id"`
	Addr        string    `json:"addr"`
	Rack        string    `json:"rack,omitempty"`
	Incarnation uuid.UUID `json:"incarnation"`
	// Listeners are the broker's named advertised listeners (see
	// metadata.BrokerRegistered).
	Listeners []metadata.Endpoint `json:"listeners,omitempty"`
	// Node is the raft node the request came from, set by the member that
	// received it (never taken from the wire): the controller watches that
	// node's connection to notice the broker's death early.
	Node uint64 `json:"-"`
}

// RegisterBrokerResponse carries the broker epoch to quote in heartbeats
// and AlterPartition requests.
type RegisterBrokerResponse struct {
	Epoch uint64 `json:"epoch"`
}

// HeartbeatRequest keeps a broker's session alive.
type HeartbeatRequest struct {
	ID    int32  `json:"id"`
	Epoch uint64 `json:"epoch"`
	// WantShutDown asks for a controlled shutdown (Kafka's BrokerHeartbeat
	// WantShutDown): the broker leaves every ISR it can leave, its
	// leaderships move to other ISR members, and it is elected nowhere
	// until it registers again.
	WantShutDown bool `json:"want_shutdown,omitempty"`
	// Node: see RegisterBrokerRequest.Node.
	Node uint64 `json:"-"`
}

// HeartbeatResponse tells the broker whether it is fenced after the
// heartbeat (it is unfenced by the heartbeat itself unless that failed).
type HeartbeatResponse struct {
	Fenced bool `json:"fenced"`
	// ShouldShutDown answers WantShutDown: the broker leads no partition
	// any more and may exit.
	ShouldShutDown bool `json:"should_shutdown,omitempty"`
	// Leaderships counts the partitions the broker still leads, while
	// WantShutDown is set (those whose ISR has no other eligible member
	// are left leaderless, so this reaches zero at once unless a commit
	// fails).
	Leaderships int `json:"leaderships,omitempty"`
}

// CreateTopicRequest asks for a new topic.
type CreateTopicRequest struct {
	Name              string            `json:"name"`
	Partitions        int32             `json:"partitions"`
	ReplicationFactor int16             `json:"replication_factor"`
	Config            map[string]string `json:"config,omitempty"`
}

// AlterConfigsRequest sets and deletes config keys of a topic.
type AlterConfigsRequest struct {
	Name   string            `json:"name"`
	Set    map[string]string `json:"set,omitempty"`
	Delete []string          `json:"delete,omitempty"`
}

// CreatePartitionsRequest raises a topic's partition count to Count.
type CreatePartitionsRequest struct {
	Name  string `json:"name"`
	Count int32  `json:"count"`
}

// AllocateProducerIDsRequest asks for a block of producer ids.
type AllocateProducerIDsRequest struct {
	BrokerID    int32  `json:"broker_id"`
	BrokerEpoch uint64 `json:"broker_epoch"`
}

// ProducerIDBlock is the range [First, First+Count) of producer ids, owned
// by one broker and handed to nobody else.
type ProducerIDBlock struct {
	First int64 `json:"first"`
	Count int32 `json:"count"`
}

// AlterPartitionRequest is a partition leader's request to change its ISR
// (Kafka's AlterPartition, KIP-497). LeaderEpoch and PartitionEpoch are what
// the leader believes is current; the change applies only if both are.
type AlterPartitionRequest struct {
	BrokerID       int32     `json:"broker_id"`
	BrokerEpoch    uint64    `json:"broker_epoch"`
	TopicID        uuid.UUID `json:"topic_id"`
	Partition      int32     `json:"partition"`
	LeaderEpoch    int32     `json:"leader_epoch"`
	PartitionEpoch int32     `json:"partition_epoch"`
	ISR            []int32   `json:"isr"`
}

// RemoteSegmentRequest adds or removes a remote segment of a partition. For
// removal only ObjectKey of Segment matters, and the request must come from
// the partition's leader: BrokerID and LeaderEpoch, the remover's current
// leader epoch, are checked against the image (ErrNotLeader,
// ErrFencedLeaderEpoch).
type RemoteSegmentRequest struct {
	TopicID     uuid.UUID              `json:"topic_id"`
	Partition   int32                  `json:"partition"`
	Segment     metadata.RemoteSegment `json:"segment"`
	BrokerID    int32                  `json:"broker_id,omitempty"`
	LeaderEpoch int32                  `json:"leader_epoch,omitempty"`
}

// RemoteLogStartRequest moves a partition's remote log start forward to
// Offset (DeleteRecords), asked by its leader in LeaderEpoch.
type RemoteLogStartRequest struct {
	TopicID     uuid.UUID `json:"topic_id"`
	Partition   int32     `json:"partition"`
	Offset      int64     `json:"offset"`
	BrokerID    int32     `json:"broker_id"`
	LeaderEpoch int32     `json:"leader_epoch"`
}
