package raftnode

import (
	"net"
	"strings"
	"testing"
	"time"
)

// deadAddr returns a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestStartLogsQuietAtInfo starts a voter of a two-voter cluster whose peer
// is not up yet, as the first broker of a cluster starts, and checks its Info
// log: no etcd-raft internals (elections, votes) and no warning about the
// peer while it has been down a short while; and a warning once it stays
// down past peerWarnAfter.
func TestStartLogsQuietAtInfo(t *testing.T) {
	countLevel := func(logs, level, msg string) int {
		n := 0
		for _, l := range strings.Split(logs, "\n") {
			if strings.Contains(l, "level="+level) && strings.Contains(l, msg) {
				n++
			}
		}
		return n
	}
	peer := deadAddr(t)
	t.Run("short outage", func(t *testing.T) {
		logs := &logBuffer{}
		startSingle(t, 1, logs, func(c *Config) {
			c.Voters = map[uint64]string{1: "127.0.0.1:0", 2: peer}
		})
		logs.waitFor(t, "bootstrapped new cluster")
		// The node campaigns every few ticks (10 ms) and dials the peer
		// each time; a second holds many dials.
		time.Sleep(time.Second)
		got := logs.String()
		if c := countLevel(got, "INFO", `msg="raft: `); c > 0 {
			t.Errorf("%d etcd-raft lines at INFO:\n%s", c, got)
		}
		if c := countLevel(got, "WARN", "cannot reach peer"); c > 0 {
			t.Errorf("warned about a peer down for a second:\n%s", got)
		}
	})
	t.Run("long outage", func(t *testing.T) {
		old := peerWarnAfter
		peerWarnAfter = 300 * time.Millisecond
		t.Cleanup(func() { peerWarnAfter = old })
		logs := &logBuffer{}
		startSingle(t, 1, logs, func(c *Config) {
			c.Voters = map[uint64]string{1: "127.0.0.1:0", 2: peer}
		})
		logs.waitFor(t, "cannot reach peer; retrying")
		time.Sleep(500 * time.Millisecond)
		if c := countLevel(logs.String(), "WARN", "cannot reach peer"); c != 1 {
			t.Errorf("warned %d times about one outage, want 1:\n%s", c, logs.String())
		}
	})
}
