package raftmeta

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/runnel-dev/runnel/raftmeta/controller"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
)

// op names a controller request carried over raftnode's Call.
type op string

// The controller requests a member forwards to the raft leader.
const (
	opRegisterBroker      op = "register_broker"
	opHeartbeat           op = "heartbeat"
	opCreateTopic         op = "create_topic"
	opDeleteTopic         op = "delete_topic"
	opCreatePartitions    op = "create_partitions"
	opAlterConfigs        op = "alter_configs"
	opAllocateProducerIDs op = "allocate_producer_ids"
	opAlterPartition      op = "alter_partition"
	opAddRemoteSegment    op = "add_remote_segment"
	opRemoveRemoteSegment op = "remove_remote_segment"
	opMoveRemoteLogStart  op = "move_remote_log_start"
	opElectLeaders        op = "elect_leaders"
	opReassignPartitions  op = "reassign_partitions"
	opQuorumState         op = "quorum_state"
	opAlterScram          op = "alter_scram_credentials"
	opAlterACLs           op = "alter_acls"
)

// request is the envelope of a forwarded request.
type request struct {
	Op   op              `json:"op"`
	Body json.RawMessage `json:"body"`
}

// wireError carries an error across the network: Code names the sentinel,
// Msg is the full text.
type wireError struct {
	Code string `json:"code"`
	Msg  string `json:"msg"`
}

// response is the envelope of an answer. Exactly one of Err and Body is set.
// Index is the version of the controller's image after a successful request:
// the forwarding member waits until its own image reaches it.
type response struct {
	Err   *wireError      `json:"err,omitempty"`
	Body  json.RawMessage `json:"body,omitempty"`
	Index uint64          `json:"index,omitempty"`
}

// errorCodes maps every sentinel that crosses the network to its code. The
// codes are part of the wire format.
var errorCodes = map[string]error{
	"invalid_record":             metadata.ErrInvalidRecord,
	"invalid_topic_name":         metadata.ErrInvalidTopicName,
	"topic_exists":               metadata.ErrTopicExists,
	"unknown_topic":              metadata.ErrUnknownTopic,
	"unknown_partition":          metadata.ErrUnknownPartition,
	"invalid_partitions":         metadata.ErrInvalidPartitions,
	"invalid_replication_factor": metadata.ErrInvalidReplicationFactor,
	"invalid_replicas":           metadata.ErrInvalidReplicas,
	"unknown_broker":             metadata.ErrUnknownBroker,
	"invalid_broker":             metadata.ErrInvalidBroker,
	"stale_broker_epoch":         metadata.ErrStaleBrokerEpoch,
	"broker_state":               metadata.ErrBrokerState,
	"stale_partition_epoch":      metadata.ErrStalePartitionEpoch,
	"invalid_isr":                metadata.ErrInvalidISR,
	"ineligible_replica":         metadata.ErrIneligibleReplica,
	"invalid_config":             metadata.ErrInvalidConfig,
	"stale_producer_id_block":    metadata.ErrStaleProducerIDBlock,
	"invalid_producer_id_block":  metadata.ErrInvalidProducerIDBlock,
	"invalid_remote_segment":     metadata.ErrInvalidRemoteSegment,
	"remote_segment_exists":      metadata.ErrRemoteSegmentExists,
	"unknown_remote_segment":     metadata.ErrUnknownRemoteSegment,
	"fenced_remote_upload":       metadata.ErrFencedRemoteUpload,
	"remote_segment_behind":      metadata.ErrRemoteSegmentBehind,
	"invalid_remote_log_start":   metadata.ErrInvalidRemoteLogStart,
	"invalid_scram_credential":   metadata.ErrInvalidScramCredential,
	"unknown_scram_credential":   metadata.ErrUnknownScramCredential,
	"invalid_acl":                metadata.ErrInvalidACL,
	"unknown_acl":                metadata.ErrUnknownACL,
	"not_active":                 controller.ErrNotActive,
	"not_leader":                 controller.ErrNotLeader,
	"fenced_leader_epoch":        controller.ErrFencedLeaderEpoch,
	"invalid_request":            controller.ErrInvalidRequest,
}

// toWire converts err for the network, naming the first sentinel it wraps.
// Codes are checked in a fixed order so the answer does not depend on map
// iteration.
func toWire(err error) *wireError {
	for _, code := range sortedCodes {
		if errors.Is(err, errorCodes[code]) {
			return &wireError{Code: code, Msg: err.Error()}
		}
	}
	return &wireError{Code: "internal", Msg: err.Error()}
}

// sortedCodes is the keys of errorCodes, sorted.
var sortedCodes = slices.Sorted(maps.Keys(errorCodes))

// ErrController is wrapped by errors that the controller returned without a
// known sentinel (say, a raft proposal that timed out on the controller).
// The request may or may not have taken effect; re-read the image.
var ErrController = errors.New("raftmeta: controller error")

// fromWire turns a wire error back into an error that errors.Is matches
// against the same sentinel.
func fromWire(w *wireError, from uint64) error {
	if s, ok := errorCodes[w.Code]; ok {
		return &RemoteError{Node: from, Msg: w.Msg, sentinel: s}
	}
	return &RemoteError{Node: from, Msg: w.Msg, sentinel: ErrController}
}

// RemoteError is an error returned by the controller on another member. It
// unwraps to the sentinel the controller's error wrapped, so errors.Is works
// across the network.
type RemoteError struct {
	// Node is the member that answered.
	Node uint64
	// Msg is the controller's error text.
	Msg      string
	sentinel error
}

// Error implements error.
func (e *RemoteError) Error() string { return fmt.Sprintf("%s (controller node %d)", e.Msg, e.Node) }

// Unwrap returns the sentinel.
func (e *RemoteError) Unwrap() error { return e.sentinel }
