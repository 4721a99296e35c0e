package raftmeta

import (
	"context"
	"fmt"

	"github.com/runnel-dev/runnel/raftmeta/controller"
	"github.com/runnel-dev/runnel/raftmeta/raftnode"
)

// QuorumState returns the metadata group's membership and every member's
// log progress as the raft leader knows it: only the leader tracks the other
// members' logs, so a member that does not lead asks the leader (following
// leadership changes until ctx ends), as Kafka's brokers forward
// DescribeQuorum to the controller leader.
func (m *Member) QuorumState(ctx context.Context) (raftnode.QuorumState, error) {
	if q, err := m.leaderQuorumState(); err == nil {
		return q, nil
	}
	var q raftnode.QuorumState
	err := m.call(ctx, opQuorumState, struct{}{}, &q)
	return q, err
}

// leaderQuorumState is this member's view of the quorum if it leads the
// raft group; ErrNotActive otherwise, which makes a caller retry at the
// leader.
func (m *Member) leaderQuorumState() (raftnode.QuorumState, error) {
	node := m.node.Load()
	if !node.IsLeader() {
		return raftnode.QuorumState{}, fmt.Errorf("%w: node %d does not lead the raft group", controller.ErrNotActive, node.ID())
	}
	return node.Quorum(), nil
}
