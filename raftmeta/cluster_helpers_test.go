package raftmeta

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/internal/testwait"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
	"github.com/runnel-dev/runnel/raftmeta/raftnode/raftnodetest"
)

// entry is what a node applied at one index, for comparing histories.
type entry struct {
	batch string // canonical encoding of the batch, "" for an empty entry
	err   string // rejection text, "" if applied
	hash  string // image hash after the entry
}

// history records the entries one node applied, by index. Entries applied
// again after a restart (WAL replay) must match what was applied before.
type history struct {
	t  testing.TB
	id uint64
	mu sync.Mutex
	m  map[uint64]entry
}

func (h *history) record(a metadata.Applied) {
	e := entry{hash: a.Hash}
	if len(a.Batch.Records) > 0 {
		e.batch = string(metadata.MustEncode(a.Batch))
	}
	if a.Err != nil {
		e.err = a.Err.Error()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if old, ok := h.m[a.Index]; ok && old != e {
		h.t.Errorf("node %d re-applied index %d differently:\n was %+v\n now %+v", h.id, a.Index, old, e)
	}
	h.m[a.Index] = e
}

// snapshot returns a copy of the recorded entries.
func (h *history) snapshot() map[uint64]entry {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[uint64]entry, len(h.m))
	for k, v := range h.m {
		out[k] = v
	}
	return out
}

// tcluster runs Members in this process on loopback ports, connected through
// raftnodetest's Network so that tests can partition them.
type tcluster struct {
	t      testing.TB
	net    *raftnodetest.Network
	voters map[uint64]string
	dirs   map[uint64]string
	config func(id uint64) Config // extra settings per member
	hist   map[uint64]*history
	// reserved holds each member's listener from newTCluster until its
	// first start (restarts listen on the address again).
	reserved map[uint64]net.Listener

	mu      sync.Mutex
	members map[uint64]*Member
}

// quietLogger keeps test output to warnings.
func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
}

// newTCluster starts n voters. config supplies per-member settings; the
// raft, network and directory fields are filled in here.
func newTCluster(t testing.TB, n int, config func(id uint64) Config) *tcluster {
	t.Helper()
	c := &tcluster{t: t, net: raftnodetest.NewNetwork(), voters: map[uint64]string{}, dirs: map[uint64]string{},
		config: config, hist: map[uint64]*history{}, members: map[uint64]*Member{}, reserved: map[uint64]net.Listener{}}
	root := t.TempDir()
	for id := uint64(1); id <= uint64(n); id++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		c.reserved[id] = ln // the first start takes it; no other socket can get the port meanwhile
		c.voters[id] = addr
		c.dirs[id] = filepath.Join(root, fmt.Sprintf("node%d", id), "meta")
		c.net.Register(id, addr)
		c.hist[id] = &history{t: t, id: id, m: map[uint64]entry{}}
	}
	t.Cleanup(func() {
		c.stopAll()
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, ln := range c.reserved {
			ln.Close()
		}
	})
	for id := range c.voters {
		c.start(id)
	}
	return c
}

// start opens member id from its directory.
func (c *tcluster) start(id uint64) *Member {
	c.t.Helper()
	cfg := Config{}
	if c.config != nil {
		cfg = c.config(id)
	}
	cfg.NodeID, cfg.ClusterID, cfg.Dir, cfg.Listen = id, raftnodetest.ClusterID, c.dirs[id], c.voters[id]
	cfg.Voters = c.voters
	cfg.TickInterval, cfg.ElectionTicks, cfg.HeartbeatTicks = 20*time.Millisecond, 10, 1
	cfg.Dialer, cfg.SendHook = c.net.Dialer(id), c.net.SendHook()
	c.mu.Lock()
	cfg.Listener = c.reserved[id]
	delete(c.reserved, id)
	c.mu.Unlock()
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	cfg.OnApply = c.hist[id].record
	var (
		m   *Member
		err error
	)
	deadline := time.Now().Add(5 * time.Second)
	for {
		m, err = Open(cfg)
		var op *net.OpError
		if err == nil || time.Now().After(deadline) || !errors.As(err, &op) || op.Op != "listen" {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		c.t.Fatalf("open member %d: %v", id, err)
	}
	c.mu.Lock()
	c.members[id] = m
	c.mu.Unlock()
	return m
}

// stop closes member id (its directory stays).
func (c *tcluster) stop(id uint64) {
	c.mu.Lock()
	m := c.members[id]
	delete(c.members, id)
	c.mu.Unlock()
	if m != nil {
		if err := m.Close(); err != nil {
			c.t.Errorf("close member %d: %v", id, err)
		}
	}
}

func (c *tcluster) stopAll() {
	for _, id := range c.running() {
		c.stop(id)
	}
}

// member returns running member id or nil.
func (c *tcluster) member(id uint64) *Member {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.members[id]
}

// running returns the ids of running members, sorted.
func (c *tcluster) running() []uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []uint64
	for id := range c.members {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// waitController waits until one of ids (default: all running) runs the
// active controller and every one of ids knows it as leader.
func (c *tcluster) waitController(timeout time.Duration, ids ...uint64) uint64 {
	c.t.Helper()
	if len(ids) == 0 {
		ids = c.running()
	}
	var leader uint64
	testwait.For(c.t, timeout, 10*time.Millisecond, func() error {
		leader = 0
		for _, id := range ids {
			m := c.member(id)
			if m == nil {
				return fmt.Errorf("member %d not running", id)
			}
			l := m.Leader()
			if l == 0 || (leader != 0 && l != leader) {
				return fmt.Errorf("members disagree on the leader (%d vs %d)", leader, l)
			}
			leader = l
		}
		if !slices.Contains(ids, leader) || !c.member(leader).IsController() {
			return fmt.Errorf("leader %d has no active controller", leader)
		}
		return nil
	})
	return leader
}

// waitBrokers waits until the controller's member knows every running
// member's broker as registered and unfenced, and every one knows its
// epoch. It returns the controller's node and member.
func (c *tcluster) waitBrokers(timeout time.Duration) (uint64, *Member) {
	c.t.Helper()
	ctrl := c.waitController(timeout)
	m := c.member(ctrl)
	testwait.For(c.t, timeout, 20*time.Millisecond, func() error {
		for _, id := range c.running() {
			b, ok := m.Image().Broker(int32(id))
			if !ok || b.Fenced || c.member(id).BrokerEpoch() == 0 {
				return fmt.Errorf("broker %d not registered and unfenced: %+v", id, b)
			}
		}
		return nil
	})
	return ctrl, m
}

// waitConverged waits until every running member applied the same index and
// has the same image hash, and returns that hash.
func (c *tcluster) waitConverged(timeout time.Duration) string {
	c.t.Helper()
	var hash string
	testwait.For(c.t, timeout, 20*time.Millisecond, func() error {
		hash = ""
		var idx uint64
		for i, id := range c.running() {
			img := c.member(id).Image()
			if i == 0 {
				hash, idx = img.Hash(), img.Version()
				continue
			}
			if img.Version() != idx || img.Hash() != hash {
				return fmt.Errorf("node %d at %d/%.8s, first node at %d/%.8s", id, img.Version(), img.Hash(), idx, hash)
			}
		}
		return nil
	})
	return hash
}

// ctx returns a context that ends with the test or after d.
func testCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
