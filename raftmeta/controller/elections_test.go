package controller

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/runnel-dev/runnel/internal/testlog"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
)

// TestElectionsCountedAndUncleanLogged: a leader fenced with other ISR
// members left is replaced cleanly and counted as such; one with no ISR
// member left on a topic with unclean election is replaced by an
// out-of-sync replica, counted apart and logged at warning level naming the
// topic, partition and new leader. A topic without unclean election goes
// leaderless and counts nothing.
func TestElectionsCountedAndUncleanLogged(t *testing.T) {
	e := newEnv(t)
	logger, logs := testlog.New()
	e.replaceController(func(c *Config) { c.Logger = logger })
	for _, id := range []int32{1, 2, 3} {
		e.register(id, "")
	}
	victim := e.createTopic("full", 1, 3, nil).Partitions[0].Leader
	// In the unclean and strict topics, the partition the victim leads has
	// its ISR shrunk to the victim alone.
	vp := map[string]int32{}
	for _, name := range []string{"unclean", "strict"} {
		cfg := map[string]string(nil)
		if name == "unclean" {
			cfg = map[string]string{metadata.ConfigUncleanLeaderElection: "true"}
		}
		top := e.createTopic(name, 3, 3, cfg)
		vp[name] = -1
		for _, p := range top.Partitions {
			if p.Leader != victim {
				continue
			}
			vp[name] = p.Index
			e.shrinkISR(name, p.Index, []int32{victim})
			break
		}
		if vp[name] < 0 {
			t.Fatalf("placement gave broker %d no leadership of %s: %+v", victim, name, top.Partitions)
		}
	}
	var others []int32
	for _, id := range []int32{1, 2, 3} {
		if id != victim {
			others = append(others, id)
		}
	}
	e.clock.Advance(testTimeout + time.Millisecond)
	e.heartbeat(others...)
	if err := e.c.ExpireSessions(e.ctx); err != nil {
		t.Fatal(err)
	}
	if got := value(t, e.c.metrics.clean); got != 1 {
		t.Errorf("clean elections = %v, want 1", got)
	}
	if got := value(t, e.c.metrics.unclean); got != 1 {
		t.Errorf("unclean elections = %v, want 1", got)
	}
	if got := value(t, e.c.metrics.fenced); got != 1 {
		t.Errorf("fenced brokers = %v, want 1", got)
	}
	u := e.partition("unclean", vp["unclean"])
	if u.Leader == victim || u.Leader == metadata.NoLeader {
		t.Fatalf("unclean partition: %+v", u)
	}
	if p := e.partition("strict", vp["strict"]); p.Leader != metadata.NoLeader {
		t.Fatalf("strict partition got a leader outside its ISR: %+v", p)
	}
	var warn string
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "level=WARN") && strings.Contains(line, "UNCLEAN") {
			warn = line
		}
	}
	for _, want := range []string{"topic=unclean", fmt.Sprintf("partition=%d", u.Index), fmt.Sprintf("leader=%d", u.Leader), "lost"} {
		if !strings.Contains(warn, want) {
			t.Errorf("unclean election warning %q lacks %q", warn, want)
		}
	}
}

// value reads a counter's or gauge's current value.
func value(t *testing.T, m prometheus.Metric) float64 {
	t.Helper()
	var out dto.Metric
	if err := m.Write(&out); err != nil {
		t.Fatal(err)
	}
	if out.Counter != nil {
		return out.Counter.GetValue()
	}
	return out.Gauge.GetValue()
}
