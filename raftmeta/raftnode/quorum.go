package raftnode

import (
	"maps"
	"slices"
)

// QuorumState is the raft group's membership and how far each member's log
// reaches, as this node knows it: what Kafka's DescribeQuorum (KIP-595)
// reports about the metadata quorum.
type QuorumState struct {
	// Leader is the leader's node id, 0 while none is known.
	Leader uint64
	// Term is this node's raft term (Kafka's leader epoch).
	Term uint64
	// Commit is this node's commit index (Kafka's high watermark).
	Commit uint64
	// Voters and Learners are sorted by id. During a joint configuration
	// change the voters of both halves are listed.
	Voters, Learners []QuorumMember
}

// QuorumMember is one voter or learner.
type QuorumMember struct {
	ID uint64
	// Addr is the member's raft address as this node knows it, "" if
	// unknown.
	Addr string
	// Match is the last log index known to be on the member, or -1: only
	// the leader tracks the other members' logs.
	Match int64
}

// Quorum returns the group's membership as this node knows it. It is read
// on the loop goroutine, like Status; after Stop it lists no members.
func (n *Node) Quorum() QuorumState {
	st := n.Status()
	q := QuorumState{Leader: st.Lead, Term: st.GetTerm(), Commit: st.GetCommit()}
	member := func(id uint64) QuorumMember {
		m := QuorumMember{ID: id, Addr: n.AddressOf(id), Match: -1}
		if id == n.id {
			// Its own entry may hold the configured address ("host:0").
			m.Addr = n.tr.advertise
			if m.Addr == "" {
				m.Addr = n.tr.selfAddr
			}
		}
		if pr, ok := st.Progress[id]; ok {
			m.Match = int64(pr.Match)
		}
		return m
	}
	voters := map[uint64]struct{}{}
	for _, half := range st.Config.Voters {
		maps.Copy(voters, half)
	}
	learners := maps.Clone(st.Config.Learners)
	if learners == nil {
		learners = map[uint64]struct{}{}
	}
	maps.Copy(learners, st.Config.LearnersNext)
	for _, id := range slices.Sorted(maps.Keys(voters)) {
		q.Voters = append(q.Voters, member(id))
	}
	for _, id := range slices.Sorted(maps.Keys(learners)) {
		if _, ok := voters[id]; !ok {
			q.Learners = append(q.Learners, member(id))
		}
	}
	return q
}
