package group

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Log is where the coordinator keeps its records: the partitions of
// __consumer_offsets this broker leads.
type Log interface {
	// Append writes records to partition as its leader and returns once
	// every in-sync replica has them (acks=all), with the offset of the
	// last record. It fails when this broker does not lead the partition.
	Append(ctx context.Context, partition int32, records []Record) (lastOffset int64, err error)
	// Replay calls fn for every record of partition, in offset order,
	// from the log start to its end when Replay is called, and returns
	// once the high watermark has passed that end.
	Replay(ctx context.Context, partition int32, fn func(offset int64, r Record)) error
}

// Coordinator is the group coordinator of one broker: the classic
// consumer-group protocol for the groups whose __consumer_offsets
// partition this broker leads.
//
// One mutex guards all groups: requests take it to check and change state
// and release it before any I/O or wait. Timers take it when they fire.
type Coordinator struct {
	cfg    Config
	store  Log
	log    *slog.Logger
	m      *metrics
	mu     sync.Mutex
	nparts int32                       // partitions of __consumer_offsets; 0 until known
	parts  map[int32]*offsetsPartition // partitions led here
	groups map[string]*group

	stop      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
}

// offsetsPartition is a partition of __consumer_offsets this broker leads:
// loading until its groups are read from the log.
type offsetsPartition struct {
	epoch  int32
	loaded bool
	cancel context.CancelFunc
}

// New returns a coordinator writing to store. Call Close to stop it.
func New(cfg Config, store Log) (*Coordinator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("group coordinator config: %w", err)
	}
	c := &Coordinator{
		cfg: cfg, store: store, log: cfg.Logger.With("component", "group-coordinator"),
		parts: map[int32]*offsetsPartition{}, groups: map[string]*group{}, stop: make(chan struct{}),
	}
	c.m = newMetrics()
	c.m.c = c
	if cfg.Metrics != nil {
		if err := cfg.Metrics.Register(c.m); err != nil {
			return nil, fmt.Errorf("group coordinator metrics: %w", err)
		}
	}
	c.wg.Add(1)
	go c.runExpiry()
	return c, nil
}

// Config returns the coordinator's configuration with defaults filled in.
func (c *Coordinator) Config() Config { return c.cfg }

// Close stops the coordinator: every group is unloaded and waiting
// requests are answered NOT_COORDINATOR. Calls after the first do nothing.
func (c *Coordinator) Close() { c.closeOnce.Do(c.close) }

func (c *Coordinator) close() {
	close(c.stop)
	c.mu.Lock()
	for p := range c.parts {
		c.unloadLocked(p)
	}
	c.mu.Unlock()
	c.wg.Wait()
	if c.cfg.Metrics != nil {
		c.cfg.Metrics.Unregister(c.m)
	}
}

// Sync tells the coordinator how many partitions __consumer_offsets has
// and which of them this broker leads, by leader epoch. Partitions newly
// led are loaded from the log in the background (their groups answer
// COORDINATOR_LOAD_IN_PROGRESS meanwhile); partitions no longer led, or
// led in a new epoch, are unloaded first.
func (c *Coordinator) Sync(numPartitions int32, led map[int32]int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-c.stop:
		return
	default:
	}
	c.nparts = numPartitions
	for p, op := range c.parts {
		if e, ok := led[p]; !ok || e != op.epoch {
			c.unloadLocked(p)
		}
	}
	for p, epoch := range led {
		if _, ok := c.parts[p]; !ok {
			c.startLoadLocked(p, epoch)
		}
	}
}

// startLoadLocked loads partition p, led in epoch, in the background.
func (c *Coordinator) startLoadLocked(p, epoch int32) {
	ctx, cancel := context.WithCancel(context.Background())
	op := &offsetsPartition{epoch: epoch, cancel: cancel}
	c.parts[p] = op
	c.wg.Add(1)
	go c.load(ctx, p, op)
}

// reloadLocked unloads partition p and loads it again from the log: a
// write failed after the groups' memory had moved on, and the log is what
// a member may be told.
func (c *Coordinator) reloadLocked(p int32) {
	op := c.parts[p]
	if op == nil {
		return
	}
	select {
	case <-c.stop:
		return
	default:
	}
	c.unloadLocked(p)
	c.startLoadLocked(p, op.epoch)
}

// unloadLocked forgets the groups of partition p.
func (c *Coordinator) unloadLocked(p int32) {
	op := c.parts[p]
	if op == nil {
		return
	}
	op.cancel()
	delete(c.parts, p)
	n := 0
	for id, g := range c.groups {
		if g.part == p {
			g.shutdownLocked(kerr.NotCoordinator)
			delete(c.groups, id)
			n++
		}
	}
	c.log.Info("unloaded offsets partition", "partition", p, "groups", n)
}

// load reads partition p's groups and offsets from the log.
func (c *Coordinator) load(ctx context.Context, p int32, op *offsetsPartition) {
	defer c.wg.Done()
	start := time.Now()
	l := newLoader()
	err := c.store.Replay(ctx, p, l.apply)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.parts[p] != op {
		return // unloaded meanwhile
	}
	if err != nil {
		c.log.Error("load offsets partition; not coordinating its groups", "partition", p, "error", err)
		op.cancel()
		delete(c.parts, p)
		return
	}
	for _, g := range l.build(c, p) {
		c.groups[g.id] = g
	}
	op.loaded = true
	c.log.Info("loaded offsets partition", "partition", p, "epoch", op.epoch, "groups", len(l.groups), "skipped_records", l.skipped, "first_skipped", l.firstSkip, "took", time.Since(start))
}

// groupStatus is why a request for a group cannot be served here, or nil.
func (c *Coordinator) checkLocked(id string) error {
	if id == "" {
		return kerr.InvalidGroupID
	}
	if c.nparts <= 0 {
		return kerr.NotCoordinator
	}
	op := c.parts[PartitionFor(id, c.nparts)]
	switch {
	case op == nil:
		return kerr.NotCoordinator
	case !op.loaded:
		return kerr.CoordinatorLoadInProgress
	}
	return nil
}

// groupLocked returns the loaded group, creating it when create is set.
func (c *Coordinator) groupLocked(id string, create bool) *group {
	g := c.groups[id]
	if g == nil && create {
		g = newGroup(c, id, PartitionFor(id, c.nparts))
		c.groups[id] = g
	}
	return g
}

// Owns reports whether this broker coordinates group id now (its
// partition is led here and loaded).
func (c *Coordinator) Owns(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.checkLocked(id) == nil
}
