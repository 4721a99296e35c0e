package raftnode

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestConfigValidate(t *testing.T) {
	var c Config
	err := c.Validate()
	if err == nil {
		t.Fatal("zero config accepted")
	}
	for _, want := range []string{"ID must be", "ClusterID must be", "Dir must", "Listen"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	c = Config{ID: 1, ClusterID: 1, Dir: "d", Listen: "127.0.0.1:0"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.TickInterval != DefaultTickInterval || c.ElectionTicks != DefaultElectionTicks || c.SnapshotEntries != DefaultSnapshotEntries ||
		c.WALSegmentBytes != DefaultWALSegmentBytes || c.Logger == nil {
		t.Fatalf("defaults not filled: %+v", c)
	}
	bad := Config{ID: 4, ClusterID: 1, Dir: "d", Listen: "x", Voters: map[uint64]string{1: "a"}}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "not in Voters") {
		t.Fatalf("voter set without self: %v", err)
	}
	bad = Config{ID: 1, ClusterID: 1, Dir: "d", Listen: "x", ElectionTicks: 2, HeartbeatTicks: 2}
	if err := bad.Validate(); err == nil {
		t.Fatal("ElectionTicks <= HeartbeatTicks accepted")
	}
	bad = Config{ID: 5, ClusterID: 1, Dir: "d", Listen: "x", Learner: true}
	if err := bad.Validate(); err == nil {
		t.Fatal("learner with nobody to reach accepted")
	}
}

func TestMetricsRegisteredAndReleased(t *testing.T) {
	reg := prometheus.NewRegistry()
	dir := t.TempDir()
	for round := 0; round < 2; round++ {
		logs := &logBuffer{}
		n := startSingle(t, 1, logs, func(c *Config) { c.Metrics = reg; c.Dir = dir })
		waitLeader(t, n)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if _, err := n.Propose(ctx, []byte("x")); err != nil {
			t.Fatal(err)
		}
		cancel()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, mf := range mfs {
			if mf.GetName() == "runnel_raft_applied_entries_total" {
				found = mf.GetMetric()[0].GetCounter().GetValue() >= 1
			}
		}
		if !found {
			t.Fatal("applied entries metric missing")
		}
		// Stop unregisters, so the node can start again on the same registry.
		n.Stop()
	}
}

func TestDirLockedAgainstSecondNode(t *testing.T) {
	dir := t.TempDir()
	n := startSingle(t, 1, &logBuffer{}, func(c *Config) { c.Dir = dir })
	_, err := Start(Config{ID: 1, ClusterID: 1, Dir: dir, Listen: "127.0.0.1:0", Logger: discard}, &countSM{})
	if err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second node on the same Dir: %v", err)
	}
	n.Stop()
	n2, err := Start(Config{ID: 1, ClusterID: 1, Dir: dir, Listen: "127.0.0.1:0", Logger: discard}, &countSM{})
	if err != nil {
		t.Fatalf("restart after Stop: %v", err)
	}
	n2.Stop()
}
