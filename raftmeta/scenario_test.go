package raftmeta

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/runnel-dev/runnel/raftmeta/controller"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
)

// scenarioSeed returns the seed from RUNNEL_SEED, or a fresh one.
func scenarioSeed(t *testing.T) uint64 {
	if s := os.Getenv("RUNNEL_SEED"); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("RUNNEL_SEED: %v", err)
		}
		return seed
	}
	return uint64(time.Now().UnixNano())
}

// scenarioResult is what a run produced.
type scenarioResult struct {
	ops     []string         // each operation and its outcome
	history map[uint64]entry // node 1's applied entries
	hash    string           // final image hash
}

// runScenario runs a seeded random sequence of admin operations on an
// n-node cluster, with leader kills (and, for n > 1, partitions of the
// leader) every few operations. It checks that all nodes converge to one
// image hash, that all nodes applied identical entries at every index, and
// that a full restart from WAL and snapshots rebuilds the same hash.
func runScenario(t *testing.T, seed uint64, n, numOps int) scenarioResult {
	rng := rand.New(rand.NewPCG(seed, 0x52554e))
	idRng := rand.New(rand.NewPCG(seed, 1))
	newTopicID := func() uuid.UUID {
		var u uuid.UUID
		for i := range u {
			u[i] = byte(idRng.Uint32())
		}
		u[6], u[8] = u[6]&0x0f|0x40, u[8]&0x3f|0x80
		return u
	}
	c := newTCluster(t, n, func(id uint64) Config {
		// Fake brokers never heartbeat: a session longer than the test keeps
		// them unfenced, so the history depends on the seed only.
		return Config{SessionTimeout: time.Minute, NewTopicID: newTopicID, SnapshotEntries: 16}
	})
	c.waitController(10 * time.Second)

	var (
		ops         []string
		stopped     []uint64 // members killed, to restart at the next fault
		partitioned bool
		majority    = c.running()
	)
	heal := func() {
		if partitioned {
			c.net.Heal()
			partitioned = false
		}
		for _, id := range stopped {
			c.start(id)
		}
		stopped = nil
		majority = c.running()
	}
	for i := range numOps {
		if i%8 == 7 {
			heal()
			// n=1: only kills. n>1: kill or partition the leader.
			leader := c.waitController(15*time.Second, majority...)
			if n == 1 || rng.IntN(2) == 0 {
				t.Logf("op %d: kill leader %d", i, leader)
				c.stop(leader)
				stopped = append(stopped, leader)
				if n == 1 {
					heal()
				}
			} else {
				t.Logf("op %d: partition leader %d away", i, leader)
				var rest []uint64
				for _, id := range c.running() {
					if id != leader {
						rest = append(rest, id)
					}
				}
				c.net.Partition([]uint64{leader}, rest)
				partitioned = true
				majority = rest
			}
			majority = slices.DeleteFunc(slices.Clone(majority), func(id uint64) bool { return slices.Contains(stopped, id) })
		}
		via := c.member(majority[rng.IntN(len(majority))])
		desc, err := randomOp(testCtx(t, 20*time.Second), rng, via)
		outcome := "ok"
		if err != nil {
			outcome = toWire(err).Code
		}
		ops = append(ops, fmt.Sprintf("%d %s -> %s", i, desc, outcome))
		if n == 1 && outcome == "internal" {
			t.Fatalf("op %d %s: %v", i, desc, err)
		}
	}
	heal()
	c.waitController(15 * time.Second)
	hash := c.waitConverged(15 * time.Second)

	// Every node applied the same entry, with the same resulting hash, at
	// every index it saw.
	ref := c.hist[1].snapshot()
	for id := uint64(2); id <= uint64(n); id++ {
		for idx, e := range c.hist[id].snapshot() {
			if r, ok := ref[idx]; ok && r != e {
				t.Errorf("index %d differs between node 1 and node %d:\n%+v\n%+v", idx, id, r, e)
			}
		}
	}

	// A full restart rebuilds the same image from WAL and snapshots.
	for id, dir := range c.dirs {
		if snaps, _ := filepath.Glob(filepath.Join(dir, "snap", "*.snap")); len(snaps) == 0 {
			t.Errorf("node %d took no snapshot; the restart would not exercise one", id)
		}
	}
	c.stopAll()
	for id := range c.voters {
		c.start(id)
	}
	c.waitController(15 * time.Second)
	if got := c.waitConverged(15 * time.Second); got != hash {
		t.Fatalf("hash after restart %s, before %s", got, hash)
	}
	img := c.member(1).Image()
	t.Logf("seed %d, %d nodes: %d ops, %d topics, %d brokers, applied index %d, hash %.16s",
		seed, n, numOps, len(img.Topics()), len(img.Brokers()), img.Version(), hash)
	return scenarioResult{ops: ops, history: c.hist[1].snapshot(), hash: hash}
}

// randomOp performs one random admin operation through m and describes it.
// Choices depend only on rng and m's image.
func randomOp(ctx context.Context, rng *rand.Rand, m *Member) (string, error) {
	img := m.Image()
	topic := fmt.Sprintf("t%d", rng.IntN(6))
	broker := int32(101 + rng.IntN(5))
	switch rng.IntN(10) {
	case 0, 1:
		inc := uuid.UUID{0: byte(rng.Uint32()), 1: byte(rng.Uint32()), 2: byte(rng.Uint32()), 6: 0x40, 8: 0x80}
		if b, ok := img.Broker(broker); ok && rng.IntN(2) == 0 {
			inc = b.Incarnation // a retry of the same incarnation
		}
		_, err := m.RegisterBroker(ctx, controller.RegisterBrokerRequest{
			ID: broker, Addr: fmt.Sprintf("b%d:9092", broker), Rack: fmt.Sprintf("r%d", broker%3), Incarnation: inc})
		return fmt.Sprintf("register %d %s", broker, inc), err
	case 2, 3:
		req := controller.CreateTopicRequest{Name: topic, Partitions: int32(1 + rng.IntN(4)), ReplicationFactor: int16(1 + rng.IntN(3))}
		if rng.IntN(3) == 0 {
			req.Config = map[string]string{metadata.ConfigUncleanLeaderElection: "true"}
		}
		_, err := m.CreateTopic(ctx, req)
		return fmt.Sprintf("create %+v", req), err
	case 4:
		return "delete " + topic, m.DeleteTopic(ctx, topic)
	case 5:
		req := controller.CreatePartitionsRequest{Name: topic, Count: int32(1 + rng.IntN(6))}
		_, err := m.CreatePartitions(ctx, req)
		return fmt.Sprintf("partitions %+v", req), err
	case 6:
		req := controller.AlterConfigsRequest{Name: topic, Set: map[string]string{metadata.ConfigRetentionMs: strconv.Itoa(rng.IntN(1000))}}
		return fmt.Sprintf("configs %+v", req), m.AlterConfigs(ctx, req)
	case 7:
		b, _ := img.Broker(broker)
		block, err := m.AllocateProducerIDs(ctx, controller.AllocateProducerIDsRequest{BrokerID: broker, BrokerEpoch: b.Epoch})
		return fmt.Sprintf("producer ids %d -> %+v", broker, block), err
	case 8:
		b, _ := img.Broker(broker)
		_, err := m.Heartbeat(ctx, controller.HeartbeatRequest{ID: broker, Epoch: b.Epoch})
		return fmt.Sprintf("heartbeat %d", broker), err
	default:
		topics := img.Topics()
		if len(topics) == 0 {
			return "alter partition: no topics", nil
		}
		t := topics[rng.IntN(len(topics))]
		p := t.Partitions[rng.IntN(len(t.Partitions))]
		if p.Leader == metadata.NoLeader {
			return "alter partition: leaderless", nil
		}
		isr := []int32{p.Leader}
		for _, r := range p.Replicas {
			if r != p.Leader && rng.IntN(2) == 0 {
				isr = append(isr, r)
			}
		}
		b, _ := img.Broker(p.Leader)
		_, err := m.AlterPartition(ctx, controller.AlterPartitionRequest{BrokerID: p.Leader, BrokerEpoch: b.Epoch, TopicID: t.ID,
			Partition: p.Index, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch, ISR: isr})
		return fmt.Sprintf("alter partition %s/%d isr %v", t.Name, p.Index, isr), err
	}
}

// digest summarizes a history for logs.
func digest(h map[uint64]entry) string {
	idx := make([]uint64, 0, len(h))
	for k := range h {
		idx = append(idx, k)
	}
	slices.Sort(idx)
	s := sha256.New()
	for _, k := range idx {
		fmt.Fprintf(s, "%d|%s|%s|%s\n", k, h[k].batch, h[k].err, h[k].hash)
	}
	return hex.EncodeToString(s.Sum(nil))[:16]
}

// TestScenarioSingleNodeReproducible runs the same seed twice on one node,
// killing it every few operations: the operations, their outcomes, every
// applied entry and the final hash are identical.
func TestScenarioSingleNodeReproducible(t *testing.T) {
	seed := scenarioSeed(t)
	t.Logf("seed %d (rerun with RUNNEL_SEED=%d)", seed, seed)
	a := runScenario(t, seed, 1, 40)
	b := runScenario(t, seed, 1, 40)
	if !slices.Equal(a.ops, b.ops) {
		t.Fatalf("operation sequences differ:\n%s\n---\n%s", strings.Join(a.ops, "\n"), strings.Join(b.ops, "\n"))
	}
	if a.hash != b.hash {
		t.Fatalf("final hashes differ: %s vs %s", a.hash, b.hash)
	}
	if da, db := digest(a.history), digest(b.history); da != db {
		for idx, e := range a.history {
			if b.history[idx] != e {
				t.Errorf("index %d: %+v vs %+v", idx, e, b.history[idx])
			}
		}
		t.Fatalf("histories differ: %s vs %s", da, db)
	}
	ok := 0
	for _, op := range a.ops {
		if strings.HasSuffix(op, "-> ok") {
			ok++
		}
	}
	t.Logf("%d ops (%d succeeded), %d entries, history %s", len(a.ops), ok, len(a.history), digest(a.history))
}

// TestScenarioThreeNodes runs a seeded sequence on three nodes through
// leader kills and partitions; all nodes converge to the same image.
func TestScenarioThreeNodes(t *testing.T) {
	seed := scenarioSeed(t)
	t.Logf("seed %d (rerun with RUNNEL_SEED=%d)", seed, seed)
	r := runScenario(t, seed, 3, 40)
	ok := 0
	for _, op := range r.ops {
		if strings.HasSuffix(op, "-> ok") {
			ok++
		}
	}
	t.Logf("%d ops (%d succeeded), final hash %.16s", len(r.ops), ok, r.hash)
}
