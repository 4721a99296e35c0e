package controller

import (
	"testing"
	"time"
)

// TestRebalanceLeaders: a broker that comes back leads none of its
// preferred partitions; once it is in their ISR again, a rebalance gives
// them back to it, but only when its share not led passes the percentage.
func TestRebalanceLeaders(t *testing.T) {
	for _, tc := range []struct {
		pct  int
		want bool
	}{{10, true}, {100, false}} {
		e := newEnv(t)
		e.replaceController(func(c *Config) { c.Rebalance.ImbalancePercentage = tc.pct })
		for _, id := range []int32{1, 2, 3} {
			e.register(id, "")
		}
		top := e.createTopic("t", 6, 3, nil)
		var victim int32 = 1
		var mine []int32
		for _, p := range top.Partitions {
			if p.Replicas[0] == victim {
				mine = append(mine, p.Index)
			}
		}
		if len(mine) == 0 {
			t.Fatalf("broker 1 prefers no partition: %+v", top.Partitions)
		}
		e.clock.Advance(testTimeout + time.Millisecond)
		e.heartbeat(2, 3)
		if err := e.c.ExpireSessions(e.ctx); err != nil {
			t.Fatal(err)
		}
		e.heartbeat(victim)
		// Not in any ISR yet: nothing moves.
		if n, err := e.c.RebalanceLeaders(e.ctx); err != nil || n != 0 {
			t.Fatalf("rebalance before rejoining the ISR: %d %v", n, err)
		}
		for _, i := range mine {
			e.shrinkISR("t", i, append(e.partition("t", i).ISR, victim))
		}
		n, err := e.c.RebalanceLeaders(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !tc.want {
			if n != 0 {
				t.Fatalf("percentage %d: %d partitions moved", tc.pct, n)
			}
			continue
		}
		if n != len(mine) {
			t.Fatalf("moved %d partitions, want %d", n, len(mine))
		}
		for _, i := range mine {
			if p := e.partition("t", i); p.Leader != victim {
				t.Fatalf("partition %d led by %d after the rebalance", i, p.Leader)
			}
		}
		if n, _ := e.c.RebalanceLeaders(e.ctx); n != 0 {
			t.Fatalf("second rebalance moved %d", n)
		}
	}
}
