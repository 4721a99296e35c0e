package raftnode_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/runnel-dev/runnel/internal/testwait"
	"github.com/runnel-dev/runnel/raftmeta/raftnode"
	"github.com/runnel-dev/runnel/raftmeta/raftnode/raftnodetest"
)

func TestConfChangeLearnerPromoteRemove(t *testing.T) {
	c := raftnodetest.NewCluster(t, raftnodetest.Options{Voters: 3, Configure: func(cfg *raftnode.Config) {
		// Small snapshots so the learner has to start from one sent by the leader.
		cfg.SnapshotEntries = 50
		cfg.SnapshotCatchUpEntries = 5
	}})
	c.WaitLeader(waitTimeout)
	proposeConcurrently(t, c, "k", 200, 8, 50)

	learner := c.AddLearner(4, waitTimeout)
	last := proposeN(t, c, "afterlearner", 3)
	checkSameState(t, c, last)
	leader := c.WaitLeader(waitTimeout)
	st := c.Node(leader).Status()
	if learners := slices.Sorted(maps.Keys(st.Config.Learners)); !slices.Equal(learners, []uint64{4}) {
		t.Fatalf("learners %v, want [4]", learners)
	}
	if learner.IsLeader() {
		t.Fatal("a learner became leader")
	}

	// Promote the learner.
	c.ConfChange(waitTimeout, pb.ConfChangeAddNode, 4)
	testwait.For(t, waitTimeout, 10*time.Millisecond, func() error {
		st := c.Node(c.WaitLeader(waitTimeout)).Status()
		if voters := st.Config.Voters.IDs(); len(voters) != 4 {
			return fmt.Errorf("voters %v", voters)
		}
		return nil
	})

	// Remove a voter other than the leader.
	leader = c.WaitLeader(waitTimeout)
	victim := uint64(1)
	if victim == leader {
		victim = 2
	}
	c.ConfChange(waitTimeout, pb.ConfChangeRemoveNode, victim)
	c.Stop(victim)
	leader = c.WaitLeader(waitTimeout)
	ids := c.Node(leader).Status().Config.Voters.IDs()
	if _, ok := ids[victim]; ok || len(ids) != 3 {
		t.Fatalf("voters after removing %d: %v", victim, ids)
	}
	last = proposeN(t, c, "afterremove", 3)
	checkSameState(t, c, last)

	// An invalid change (leaving a joint config that was never entered) is
	// rejected everywhere, without a panic.
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	err := c.Node(leader).ProposeConfChange(ctx, &pb.ConfChangeV2{})
	if !errors.Is(err, raftnode.ErrConfChangeRejected) {
		t.Fatalf("leave-joint outside joint: want ErrConfChangeRejected, got %v", err)
	}
	last = proposeN(t, c, "afterreject", 3)
	checkSameState(t, c, last)
}
