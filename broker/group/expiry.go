package group

import (
	"time"
)

// runExpiry removes, every RetentionCheckInterval, the offsets of groups
// that have been Empty for longer than OffsetsRetention (a group without
// a protocol, which only commits, by each offset's commit time), writing
// tombstones; a group left without offsets is deleted, and so is an empty
// KIP-848 consumer group that has none.
func (c *Coordinator) runExpiry() {
	defer c.wg.Done()
	t := time.NewTicker(c.cfg.RetentionCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			c.ExpireOffsets(time.Now())
		}
	}
}

// ExpireOffsets runs one expiry pass as of now and returns how many
// offsets it removed.
func (c *Coordinator) ExpireOffsets(now time.Time) int {
	type work struct {
		g       *group
		tps     []topicPartition
		deleted bool
	}
	var todo []work
	c.mu.Lock()
	for _, g := range c.groups {
		if g.state != Empty || c.parts[g.part] == nil || !c.parts[g.part].loaded {
			continue
		}
		var tps []topicPartition
		for _, tp := range sortedOffsets(g.offsets) {
			o := g.offsets[tp]
			base := g.stateTime
			if g.protocolType == "" {
				base = time.UnixMilli(o.CommitTime)
			}
			expired := now.Sub(base) >= c.cfg.OffsetsRetention
			if o.ExpireTime > 0 {
				expired = now.UnixMilli() >= o.ExpireTime
			}
			if expired {
				tps = append(tps, tp)
			}
		}
		switch {
		case len(tps) > 0:
			todo = append(todo, work{g: g, tps: tps, deleted: len(tps) == len(g.offsets)})
		case g.consumer != nil && len(g.offsets) == 0:
			// An empty consumer group with no offsets is deleted, as
			// Kafka's expiry does: its records are tombstoned.
			todo = append(todo, work{g: g, deleted: true})
		}
	}
	c.mu.Unlock()
	n := 0
	for _, w := range todo {
		c.mu.Lock()
		written := w.g.enqueueLocked(w.g.tombstonesLocked(w.tps, w.deleted))
		c.mu.Unlock()
		if err := <-written; err != nil {
			c.log.Warn("expire offsets", "group", w.g.id, "error", err)
			continue
		}
		c.mu.Lock()
		for _, tp := range w.tps {
			delete(w.g.offsets, tp)
		}
		if w.deleted && w.g.state == Empty && len(w.g.offsets) == 0 && c.groups[w.g.id] == w.g {
			w.g.shutdownLocked(nil)
			delete(c.groups, w.g.id)
		}
		c.mu.Unlock()
		n += len(w.tps)
		c.log.Info("expired offsets", "group", w.g.id, "offsets", len(w.tps), "group_deleted", w.deleted)
	}
	return n
}
