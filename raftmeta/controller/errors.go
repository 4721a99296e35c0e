package controller

import "errors"

// Errors of the controller's own checks. Requests that break the metadata
// rules fail with the metadata package's sentinels (metadata.ErrTopicExists,
// metadata.ErrStalePartitionEpoch, ...), whether the controller catches them
// before proposing or the state machine rejects the proposal.
var (
	// ErrNotActive means this controller is not the active one: its node is
	// not the raft leader, or it is still catching up after becoming leader.
	// Retry against the current leader.
	ErrNotActive = errors.New("controller: not the active controller")

	// ErrNotLeader means an AlterPartition came from a broker that is not the
	// partition's leader. The broker should refresh its metadata and stop
	// acting as leader.
	ErrNotLeader = errors.New("controller: broker is not the partition leader")

	// ErrFencedLeaderEpoch means an AlterPartition carries a leader epoch that
	// is not the partition's current one. The broker should refresh its
	// metadata; it is not, or no longer, the leader of that epoch.
	ErrFencedLeaderEpoch = errors.New("controller: fenced leader epoch")

	// ErrInvalidRequest means a request is malformed in a way no metadata
	// rule names (say, a negative broker id). Fix the caller.
	ErrInvalidRequest = errors.New("controller: invalid request")
)
