package raftnode_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/internal/testwait"
	"github.com/runnel-dev/runnel/raftmeta/raftnode"
	"github.com/runnel-dev/runnel/raftmeta/raftnode/raftnodetest"
)

func TestMain(m *testing.M) {
	raftnodetest.RunChildIfRequested()
	os.Exit(m.Run())
}

const waitTimeout = 20 * time.Second

func proposeN(t *testing.T, c *raftnodetest.Cluster, prefix string, n int) uint64 {
	t.Helper()
	var last uint64
	for i := 0; i < n; i++ {
		idx, err := c.Propose(waitTimeout, fmt.Appendf(nil, "%s%d=v%d", prefix, i, i))
		if err != nil {
			t.Fatalf("propose %d: %v", i, err)
		}
		last = max(last, idx)
	}
	return last
}

func checkSameState(t *testing.T, c *raftnodetest.Cluster, index uint64) {
	t.Helper()
	c.WaitApplied(index, waitTimeout)
	testwait.For(t, waitTimeout, 10*time.Millisecond, func() error {
		var want uint64
		for i, id := range c.Running() {
			h := c.KV(id).Hash()
			if i == 0 {
				want = h
			} else if h != want {
				return fmt.Errorf("node %d state hash %x differs from %x", id, h, want)
			}
		}
		return nil
	})
}

func TestSingleNodeProposeCommit(t *testing.T) {
	c := raftnodetest.NewCluster(t, raftnodetest.Options{Voters: 1})
	c.WaitLeader(waitTimeout)
	n := c.Node(1)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	idx, err := n.Propose(ctx, []byte("a=1"))
	if err != nil {
		t.Fatal(err)
	}
	if n.AppliedIndex() < idx {
		t.Fatalf("Propose returned before apply: applied %d < %d", n.AppliedIndex(), idx)
	}
	if v, _ := c.KV(1).Get("a"); v != "1" {
		t.Fatalf("a=%q", v)
	}
	// The state machine's rejection comes back to the proposer, and state is unchanged.
	if _, err := n.Propose(ctx, []byte("garbage")); !errors.Is(err, raftnodetest.ErrBadCommand) {
		t.Fatalf("want ErrBadCommand, got %v", err)
	}
	if !n.IsLeader() || n.Leader() != 1 || n.Status().ID != 1 {
		t.Fatalf("status: leader=%v %d", n.IsLeader(), n.Leader())
	}
	c.Stop(1)
	if _, err := n.Propose(ctx, []byte("b=2")); !errors.Is(err, raftnode.ErrStopped) {
		t.Fatalf("after Stop: %v", err)
	}
}

// TestProposeReturnsAfterAppliedIndex proposes many entries one after the
// other: when Propose returns, AppliedIndex already counts the entry (the
// proposer was answered before the index moved, now and then).
func TestProposeReturnsAfterAppliedIndex(t *testing.T) {
	c := raftnodetest.NewCluster(t, raftnodetest.Options{Voters: 1})
	c.WaitLeader(waitTimeout)
	n := c.Node(1)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	for i := 0; i < 100; i++ {
		idx, err := n.Propose(ctx, fmt.Appendf(nil, "k%d=v", i))
		if err != nil {
			t.Fatal(err)
		}
		if got := n.AppliedIndex(); got < idx {
			t.Fatalf("proposal %d: Propose returned index %d, AppliedIndex is %d", i, idx, got)
		}
	}
}

func TestThreeNodesProposeOnEveryNode(t *testing.T) {
	c := raftnodetest.NewCluster(t, raftnodetest.Options{Voters: 3})
	leader := c.WaitLeader(waitTimeout)
	var wg sync.WaitGroup
	errs := make(chan error, 30)
	for _, id := range c.Running() {
		for i := 0; i < 10; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
				defer cancel()
				if _, err := c.Node(id).Propose(ctx, fmt.Appendf(nil, "n%d-%d=x", id, i)); err != nil {
					errs <- fmt.Errorf("node %d (leader %d): %w", id, leader, err)
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	last := c.Node(leader).AppliedIndex()
	checkSameState(t, c, last)
	if got := c.KV(1).Len(); got != 30 {
		t.Fatalf("want 30 keys, got %d", got)
	}
}
