package raftnode_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/internal/testwait"
	"github.com/runnel-dev/runnel/raftmeta/raftnode/raftnodetest"
)

// TestProcessKill9 runs three nodes as processes, SIGKILLs the leader and later
// every node, restarts them from disk and checks that no acknowledged entry is lost.
func TestProcessKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	pc := raftnodetest.NewProcessCluster(t, raftnodetest.ProcessOptions{Voters: 3, SnapshotEntries: 40})
	var mu sync.Mutex
	acked := map[string]string{}
	ackedLen := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(acked)
	}
	propose := func(prefix string, n int) uint64 {
		var last uint64
		for i := 0; i < n; i++ {
			k, v := fmt.Sprintf("%s%d", prefix, i), fmt.Sprintf("v%d", i)
			idx, err := pc.ProposeRetry([]byte(k+"="+v), waitTimeout)
			if err != nil {
				t.Fatalf("propose %s: %v", k, err)
			}
			mu.Lock()
			acked[k] = v
			mu.Unlock()
			last = max(last, idx)
		}
		return last
	}
	waitSame := func(index uint64) {
		testwait.For(t, waitTimeout, 20*time.Millisecond, func() error {
			var hash uint64
			for i, id := range pc.IDs() {
				st, err := pc.Status(id)
				if err != nil {
					return err
				}
				if st.Applied < index {
					return fmt.Errorf("node %d applied %d < %d", id, st.Applied, index)
				}
				if i > 0 && st.Hash != hash {
					return fmt.Errorf("node %d hash differs", id)
				}
				hash = st.Hash
			}
			return nil
		})
		for _, id := range pc.IDs() {
			dump, err := pc.Dump(id)
			if err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			for k, v := range acked {
				if dump[k] != v {
					t.Errorf("node %d lost acknowledged %s=%s (has %q)", id, k, v, dump[k])
				}
			}
			mu.Unlock()
		}
		if t.Failed() {
			t.FailNow()
		}
		if v, ok, err := pc.Get(1, "a0"); err != nil || !ok || v != "v0" {
			t.Fatalf("get a0: %q %v %v", v, ok, err)
		}
	}

	pc.WaitLeader(waitTimeout)
	propose("a", 60)
	leader := pc.WaitLeader(waitTimeout)
	pc.Kill(leader)
	propose("b", 60)
	pc.Start(leader)
	last := propose("c", 5)
	waitSame(last)

	// SIGKILL the leader while proposals stream in: whatever was acknowledged
	// must survive; the rest may or may not.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k, v := fmt.Sprintf("w%d-%d", w, i), "x"
				running := pc.Running()
				if len(running) == 0 {
					return
				}
				if _, err := pc.Propose(running[i%len(running)], []byte(k+"="+v)); err == nil {
					mu.Lock()
					acked[k] = v
					mu.Unlock()
				}
			}
		}()
	}
	// Kill once the writers are well under way, and let them go on until the
	// two survivors have committed more.
	base := ackedLen()
	testwait.For(t, waitTimeout, 5*time.Millisecond, func() error {
		if n := ackedLen(); n < base+100 {
			return fmt.Errorf("%d acknowledged so far", n-base)
		}
		return nil
	})
	victim := pc.WaitLeader(waitTimeout)
	pc.Kill(victim)
	base = ackedLen()
	testwait.For(t, waitTimeout, 5*time.Millisecond, func() error {
		if n := ackedLen(); n < base+100 {
			return fmt.Errorf("%d acknowledged since the kill", n-base)
		}
		return nil
	})
	close(stop)
	wg.Wait()
	pc.Start(victim)
	pc.WaitLeader(waitTimeout)
	last = propose("c2", 3)
	waitSame(last)

	for _, id := range pc.IDs() {
		pc.Kill(id)
	}
	for _, id := range pc.IDs() {
		pc.Start(id)
	}
	pc.WaitLeader(waitTimeout)
	last = propose("d", 5)
	waitSame(last)
	t.Logf("%d acknowledged entries checked on every node", ackedLen())
}
