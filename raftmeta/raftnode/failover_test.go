package raftnode_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/runnel-dev/runnel/internal/testwait"
	"github.com/runnel-dev/runnel/raftmeta/raftnode"
	"github.com/runnel-dev/runnel/raftmeta/raftnode/raftnodetest"
)

func TestLeaderKillNoLostCommittedEntry(t *testing.T) {
	c := raftnodetest.NewCluster(t, raftnodetest.Options{Voters: 3})
	c.WaitLeader(waitTimeout)
	proposeN(t, c, "before", 50)
	old := c.KillLeader(waitTimeout)
	newLeader := c.WaitLeader(waitTimeout)
	if newLeader == old {
		t.Fatalf("stopped node %d still leader", old)
	}
	last := proposeN(t, c, "after", 50)
	c.Start(old)
	checkSameState(t, c, last)
	kv := c.KV(old)
	for i := 0; i < 50; i++ {
		for _, p := range []string{"before", "after"} {
			if v, ok := kv.Get(fmt.Sprintf("%s%d", p, i)); !ok || v != fmt.Sprintf("v%d", i) {
				t.Fatalf("restarted node lost %s%d (%q, %v)", p, i, v, ok)
			}
		}
	}
}

func TestPartitionLeaderAndHeal(t *testing.T) {
	c := raftnodetest.NewCluster(t, raftnodetest.Options{Voters: 3})
	old := c.WaitLeader(waitTimeout)
	proposeN(t, c, "a", 10)
	c.Net.Isolate(old, c.IDs())

	// The majority elects a new leader; the old one steps down (CheckQuorum).
	var newLeader uint64
	testwait.For(t, waitTimeout, 10*time.Millisecond, func() error {
		for _, id := range c.IDs() {
			if id != old && c.Node(id).IsLeader() {
				newLeader = id
			}
		}
		if newLeader == 0 {
			return fmt.Errorf("majority has no leader")
		}
		if c.Node(old).IsLeader() {
			return fmt.Errorf("isolated node %d still thinks it leads", old)
		}
		return nil
	})
	idx, err := func() (uint64, error) {
		var last uint64
		for i := 0; i < 10; i++ {
			ctxIdx, err := c.Propose(waitTimeout, fmt.Appendf(nil, "b%d=v", i))
			if err != nil {
				return 0, err
			}
			last = ctxIdx
		}
		return last, nil
	}()
	if err != nil {
		t.Fatal(err)
	}
	if c.Node(old).AppliedIndex() >= idx {
		t.Fatalf("isolated node applied %d >= %d", c.Node(old).AppliedIndex(), idx)
	}
	c.Net.Heal()
	checkSameState(t, c, idx)
	c.WaitLeader(waitTimeout)
}

func TestDropAndDelayStillCommits(t *testing.T) {
	c := raftnodetest.NewCluster(t, raftnodetest.Options{Voters: 3})
	leader := c.WaitLeader(waitTimeout)
	c.Net.SetDrop(0.2)
	c.Net.SetDelay(2 * time.Millisecond)
	// Through the leader, so that no forwarded proposal is dropped on the way
	// (that is only noticed through the proposer's ctx).
	var wg sync.WaitGroup
	errs := make(chan error, 30)
	for i := 0; i < 30; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := proposeRetry(c.Node(leader), fmt.Appendf(nil, "k%d=v", i)); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	last := c.Node(leader).AppliedIndex()
	c.Net.Heal()
	checkSameState(t, c, last)
	if n := c.KV(1).Len(); n != 30 {
		t.Fatalf("%d keys, want 30", n)
	}
}

func TestProposeContextEnds(t *testing.T) {
	c := raftnodetest.NewCluster(t, raftnodetest.Options{Voters: 3})
	leader := c.WaitLeader(waitTimeout)
	follower := leader%3 + 1
	n := c.Node(follower)

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := n.Propose(cancelled, []byte("a=1")); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled ctx: %v", err)
	}

	// Cut the follower off: its forwarded proposal goes nowhere, and only the
	// deadline ends the wait (or raft refuses at once once the leader is unknown).
	c.Net.Isolate(follower, c.IDs())
	short, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel2()
	start := time.Now()
	_, err := n.Propose(short, []byte("b=2"))
	if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, raftnode.ErrProposalDropped) {
		t.Fatalf("isolated follower: %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("Propose outlived its deadline by far: %v", time.Since(start))
	}
	c.Net.Heal()
}

// TestSendHookDropsMessages drops every raft message to one follower through
// Config.SendHook: the other two commit without it and it applies nothing
// of it; once messages flow again it catches up.
func TestSendHookDropsMessages(t *testing.T) {
	var victim atomic.Uint64
	var dropped atomic.Int64
	c := raftnodetest.NewCluster(t, raftnodetest.Options{Voters: 3, Configure: func(cfg *raftnode.Config) {
		cfg.SendHook = func(m *pb.Message) bool {
			if m.GetTo() == victim.Load() {
				dropped.Add(1)
				return false
			}
			return true
		}
	}})
	leader := c.WaitLeader(waitTimeout)
	var others []uint64
	for _, id := range c.IDs() {
		if id != leader {
			others = append(others, id)
		}
	}
	cut := others[0]
	idx, err := proposeRetry(c.Node(leader), []byte("before=1"))
	if err != nil {
		t.Fatal(err)
	}
	c.WaitApplied(idx, waitTimeout)
	victim.Store(cut)
	for i := 0; i < 10; i++ {
		if idx, err = proposeRetry(c.Node(leader), fmt.Appendf(nil, "k%d=v", i)); err != nil {
			t.Fatal(err)
		}
	}
	c.WaitApplied(idx, waitTimeout, leader, others[1])
	if got := c.Node(cut).AppliedIndex(); got >= idx {
		t.Fatalf("node %d applied %d although every message to it was dropped", cut, got)
	}
	if dropped.Load() == 0 {
		t.Fatal("the hook dropped nothing")
	}
	victim.Store(0)
	c.WaitApplied(idx, waitTimeout)
	checkSameState(t, c, idx)
}
