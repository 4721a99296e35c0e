package raftnode_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/runnel-dev/runnel/raftmeta/raftnode"
	"github.com/runnel-dev/runnel/raftmeta/raftnode/raftnodetest"
)

// proposeConcurrently proposes total entries "<prefix><i % keys>=<i>" from workers
// goroutines spread over the running nodes, and returns the highest index.
func proposeConcurrently(t testing.TB, c *raftnodetest.Cluster, prefix string, total, workers, keys int) uint64 {
	t.Helper()
	var next atomic.Int64
	var maxIdx atomic.Uint64
	var wg sync.WaitGroup
	var firstErr atomic.Value
	ids := c.Running()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := c.Node(ids[w%len(ids)])
			for {
				i := next.Add(1) - 1
				if i >= int64(total) {
					return
				}
				idx, err := proposeRetry(n, fmt.Appendf(nil, "%s%d=%d", prefix, int(i)%keys, i))
				if err != nil {
					firstErr.CompareAndSwap(nil, fmt.Errorf("node %d (leader %d, status %+v): %w", n.ID(), n.Leader(), n.Status().SoftState, err))
					return
				}
				for {
					cur := maxIdx.Load()
					if idx <= cur || maxIdx.CompareAndSwap(cur, idx) {
						break
					}
				}
			}
		}()
	}
	wg.Wait()
	if err := firstErr.Load(); err != nil {
		t.Fatalf("propose: %v", err)
	}
	return maxIdx.Load()
}

// proposeRetry proposes through n, retrying while raft drops the proposal (no
// leader known yet), for up to waitTimeout.
func proposeRetry(n *raftnode.Node, data []byte) (uint64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	for {
		idx, err := n.Propose(ctx, data)
		if !errors.Is(err, raftnode.ErrProposalDropped) {
			return idx, err
		}
		select {
		case <-ctx.Done():
			return 0, err
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func dirSize(t testing.TB, dir string) int64 {
	t.Helper()
	var total int64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			total += info.Size()
		}
		return nil
	})
	if err != nil {
		t.Fatalf("dir size: %v", err)
	}
	return total
}

func lastWALFile(t *testing.T, dir string) string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "wal", "*.wal"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no WAL files in %s: %v", dir, err)
	}
	sort.Strings(names)
	return names[len(names)-1]
}

func TestRestartFromWALAndSnapshot(t *testing.T) {
	c := raftnodetest.NewCluster(t, raftnodetest.Options{Voters: 3, Configure: func(cfg *raftnode.Config) {
		cfg.SnapshotEntries = 100
		cfg.SnapshotCatchUpEntries = 10
	}})
	leader := c.WaitLeader(waitTimeout)
	// A follower misses enough entries that the leader has compacted them: it must
	// catch up from a snapshot sent over the transport.
	var follower uint64
	for _, id := range c.IDs() {
		if id != leader {
			follower = id
			break
		}
	}
	c.Stop(follower)
	proposeConcurrently(t, c, "k", 350, 16, 100)
	c.Start(follower)
	last := proposeConcurrently(t, c, "k", 30, 4, 100)
	checkSameState(t, c, last)

	snaps, _ := filepath.Glob(filepath.Join(c.Member(follower).Dir, "snap", "*.snap"))
	if len(snaps) == 0 {
		t.Fatalf("follower %d has no snapshot file after catching up", follower)
	}
	want := map[uint64]uint64{}
	for _, id := range c.IDs() {
		want[id] = c.KV(id).Hash()
	}
	c.StopAll()
	for _, id := range c.IDs() {
		c.Start(id)
	}
	// The state is rebuilt from snapshot + WAL before any new entry commits.
	for _, id := range c.IDs() {
		if got := c.KV(id).Hash(); got != want[id] {
			// The snapshot may be older than the last entries; wait for the WAL replay.
			c.WaitApplied(last, waitTimeout, id)
			if got := c.KV(id).Hash(); got != want[id] {
				t.Fatalf("node %d: state after restart %x, before %x", id, got, want[id])
			}
		}
	}
	c.WaitLeader(waitTimeout)
	last = proposeN(t, c, "after", 5)
	checkSameState(t, c, last)
}

func TestTornWALTailIsCut(t *testing.T) {
	damages := map[string]func(t *testing.T, path string){
		// Not a torn write: this loses records that were fsynced and acknowledged,
		// as a disk that lies about fsync would.
		"lose acknowledged half": func(t *testing.T, path string) {
			info, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(path, info.Size()/2+5); err != nil {
				t.Fatal(err)
			}
		},
		"truncate": func(t *testing.T, path string) {
			info, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(path, info.Size()-3); err != nil {
				t.Fatal(err)
			}
		},
		// A header claiming more bytes than follow: cut as torn (see tornTail).
		"garbage": func(t *testing.T, path string) {
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.Write([]byte{0xff, 0xff, 0xff, 0x7f, 1, 2, 3, 4, 5, 6, 7}); err != nil {
				t.Fatal(err)
			}
		},
	}
	for name, damage := range damages {
		t.Run(name, func(t *testing.T) {
			t.Run("single", func(t *testing.T) {
				c := raftnodetest.NewCluster(t, raftnodetest.Options{Voters: 1})
				c.WaitLeader(waitTimeout)
				proposeN(t, c, "k", 20)
				c.Stop(1)
				path := lastWALFile(t, c.Member(1).Dir)
				damage(t, path)
				c.Start(1)
				c.WaitLeader(waitTimeout)
				// A torn write can only lose the last, never acknowledged, records;
				// the "lose" damage also removes acknowledged ones, which a single
				// node cannot get back.
				for i := 0; i < 19 && !strings.HasPrefix(name, "lose"); i++ {
					if _, ok := c.KV(1).Get(fmt.Sprintf("k%d", i)); !ok {
						t.Fatalf("k%d lost after cutting the tail", i)
					}
				}
				proposeN(t, c, "more", 5)
				c.Restart(1)
				c.WaitLeader(waitTimeout)
				if _, ok := c.KV(1).Get("more4"); !ok {
					t.Fatal("entries written after the cut were lost on the next restart")
				}
			})
			t.Run("follower", func(t *testing.T) {
				c := raftnodetest.NewCluster(t, raftnodetest.Options{Voters: 3})
				leader := c.WaitLeader(waitTimeout)
				proposeN(t, c, "k", 20)
				follower := leader%3 + 1
				c.Stop(follower)
				damage(t, lastWALFile(t, c.Member(follower).Dir))
				c.Start(follower)
				last := proposeN(t, c, "more", 5)
				checkSameState(t, c, last)
			})
		})
	}
}

// TestSnapshotsBoundWAL writes 100,000 small records and checks the node's Dir stays
// under 4 MiB: with SnapshotEntries 10000 and 1 MiB WAL segments the WAL holds at
// most the entries since the last snapshot plus one partly filled segment, and two
// snapshot files are kept.
func TestSnapshotsBoundWAL(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 100,000 records")
	}
	const bound = 4 << 20
	c := raftnodetest.NewCluster(t, raftnodetest.Options{Voters: 1, Configure: func(cfg *raftnode.Config) {
		cfg.WALSegmentBytes = 1 << 20
	}})
	c.WaitLeader(waitTimeout)
	dir := c.Member(1).Dir
	var peak atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if s := dirSizeNoFail(dir); s > peak.Load() {
					peak.Store(s)
				}
			}
		}
	}()
	start := time.Now()
	last := proposeConcurrently(t, c, "key", 100_000, 256, 1000)
	close(stop)
	wg.Wait()
	size := dirSize(t, dir)
	t.Logf("100000 records in %v, last index %d, dir %d bytes, peak %d bytes", time.Since(start), last, size, peak.Load())
	if size > bound || peak.Load() > bound {
		t.Fatalf("dir %d bytes (peak %d), bound %d", size, peak.Load(), bound)
	}
	c.Restart(1)
	c.WaitLeader(waitTimeout)
	c.WaitApplied(last, waitTimeout)
	if got := c.KV(1).Count(); got != 100_000 {
		t.Fatalf("after restart the state counts %d records, want 100000", got)
	}
}

func dirSizeNoFail(dir string) int64 {
	var total int64
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				total += info.Size()
			}
		}
		return nil
	})
	return total
}

// TestDamagedWALRefusesStartAndRecoversFromPeer: a bit flipped in the middle of
// a follower's WAL (valid records after it) is not a torn tail: the node
// refuses to start, naming the file, and leaves it as it was. The recovery
// README.md describes then works: remove the node from the group, give it an
// empty meta directory, add it back as a learner (it gets the log from the
// leader) and promote it.
func TestDamagedWALRefusesStartAndRecoversFromPeer(t *testing.T) {
	c := raftnodetest.NewCluster(t, raftnodetest.Options{Voters: 3, Configure: func(cfg *raftnode.Config) {
		if cfg.Learner {
			// The recovered node joins as a learner, outside the initial voters.
			delete(cfg.Voters, cfg.ID)
		}
	}})
	leader := c.WaitLeader(waitTimeout)
	proposeN(t, c, "k", 40)
	follower := leader%3 + 1
	c.Stop(follower)
	path := lastWALFile(t, c.Member(follower).Dir)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x10
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := c.Config(follower)
	_, err = raftnode.Start(cfg, raftnodetest.NewKV())
	var ce *raftnode.CorruptError
	if !errors.As(err, &ce) || !errors.Is(err, raftnode.ErrCorrupt) || ce.File != path || ce.Offset <= 0 || ce.Offset > int64(len(b)/2) {
		t.Fatalf("start on a WAL damaged in the middle: %v", err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, b) {
		t.Fatal("the refused WAL was changed")
	}

	c.ConfChange(waitTimeout, pb.ConfChangeRemoveNode, follower)
	c.AddLearner(follower, waitTimeout)
	c.ConfChange(waitTimeout, pb.ConfChangeAddNode, follower)
	last := proposeN(t, c, "after", 5)
	checkSameState(t, c, last)
	if _, ok := c.KV(follower).Get("k39"); !ok {
		t.Fatal("the recovered node lacks entries from before the damage")
	}
}

// TestDamagedSnapshot: when the newest snapshot file is damaged, an older one
// plus the WAL will do if the WAL still holds every entry after it: the node
// starts with all its state and the damaged file is kept as *.broken. When
// the WAL was already released past the older snapshot, the entries between
// are nowhere else: the node refuses to start, naming the damaged file, which
// stays where it is. A WAL lost beside its snapshots is refused the same way.
func TestDamagedSnapshot(t *testing.T) {
	run := func(t *testing.T, segBytes int64, damage func(t *testing.T, dir string) string) (*raftnodetest.Cluster, error) {
		c := raftnodetest.NewCluster(t, raftnodetest.Options{Voters: 1, Configure: func(cfg *raftnode.Config) {
			cfg.SnapshotEntries, cfg.SnapshotCatchUpEntries, cfg.WALSegmentBytes = 50, 5, segBytes
		}})
		c.WaitLeader(waitTimeout)
		proposeConcurrently(t, c, "k", 180, 16, 180)
		c.Stop(1)
		damage(t, c.Member(1).Dir)
		n, err := raftnode.Start(c.Config(1), raftnodetest.NewKV())
		if err == nil {
			n.Stop()
		}
		return c, err
	}
	flipNewest := func(t *testing.T, dir string) string {
		names, _ := filepath.Glob(filepath.Join(dir, "snap", "*.snap"))
		if len(names) < 2 {
			t.Fatalf("want two snapshot files, have %v", names)
		}
		sort.Strings(names)
		newest := names[len(names)-1]
		b, _ := os.ReadFile(newest)
		b[len(b)-7] ^= 0x02
		_ = os.WriteFile(newest, b, 0o644)
		return newest
	}
	t.Run("WAL covers the older snapshot", func(t *testing.T) {
		var newest string
		c, err := run(t, 1<<20, func(t *testing.T, dir string) string { newest = flipNewest(t, dir); return newest })
		if err != nil {
			t.Fatalf("start with a damaged snapshot the WAL covers: %v", err)
		}
		c.Start(1)
		c.WaitLeader(waitTimeout)
		if _, ok := c.KV(1).Get("k179"); !ok {
			t.Fatal("state lost")
		}
		if _, err := os.Stat(newest + ".broken"); err != nil {
			t.Fatalf("damaged snapshot not kept as .broken: %v", err)
		}
	})
	t.Run("WAL released past the older snapshot", func(t *testing.T) {
		var newest string
		_, err := run(t, 512, func(t *testing.T, dir string) string { newest = flipNewest(t, dir); return newest })
		var ce *raftnode.CorruptError
		if !errors.As(err, &ce) || ce.File != newest || !strings.Contains(err.Error(), "missing") {
			t.Fatalf("start with a damaged snapshot the WAL no longer covers: %v", err)
		}
		if _, err := os.Stat(newest); err != nil {
			t.Fatalf("the damaged snapshot was moved although the node refused: %v", err)
		}
	})
	t.Run("WAL lost", func(t *testing.T) {
		var walDir string
		_, err := run(t, 1<<20, func(t *testing.T, dir string) string {
			walDir = filepath.Join(dir, "wal")
			if err := os.Rename(walDir, walDir+".lost"); err != nil {
				t.Fatal(err)
			}
			return ""
		})
		var ce *raftnode.CorruptError
		if !errors.As(err, &ce) || ce.File != walDir {
			t.Fatalf("start without the WAL beside snapshots: %v", err)
		}
	})
}
