package controller

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/runnel-dev/runnel/raftmeta/metadata"
)

// Rebalance tunes the preferred-leader rebalance (Kafka's
// auto.leader.rebalance.enable and its two companions). Zero values take
// the defaults.
type Rebalance struct {
	// Disabled turns the periodic rebalance off
	// (auto.leader.rebalance.enable=false).
	Disabled bool
	// Interval is how often Run rebalances
	// (leader.imbalance.check.interval.seconds, default 300 s).
	Interval time.Duration
	// ImbalancePercentage is the share, in percent, of a broker's
	// preferred partitions that may be led by others before they are moved
	// back (leader.imbalance.per.broker.percentage): 1..100, default 10.
	ImbalancePercentage int
}

// Validate fills zero fields with defaults and reports bad values.
func (r *Rebalance) Validate() error {
	if r.Interval == 0 {
		r.Interval = DefaultLeaderImbalanceCheckInterval
	}
	if r.Interval < 0 {
		return fmt.Errorf("controller: leader imbalance check interval %v is negative", r.Interval)
	}
	if r.ImbalancePercentage == 0 {
		r.ImbalancePercentage = DefaultLeaderImbalancePercentage
	}
	if r.ImbalancePercentage < 1 || r.ImbalancePercentage > 100 {
		return fmt.Errorf("controller: leader imbalance percentage %d not in 1..100", r.ImbalancePercentage)
	}
	return nil
}

// RebalanceLeaders moves leadership back to preferred replicas, as Kafka's
// auto.leader.rebalance.enable does: for every broker whose share of
// partitions it prefers (it is their first replica) but does not lead is
// above Rebalance.ImbalancePercentage, each such partition whose ISR holds the
// broker, and whose broker is eligible, gets it as leader. All moves go in
// one commit. It returns how many partitions moved. Run calls it every
// Rebalance.Interval unless Rebalance.Disabled.
func (c *Controller) RebalanceLeaders(ctx context.Context) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.checkActive(); err != nil {
		return 0, err
	}
	img := c.image()
	type tp struct {
		t *metadata.Topic
		p metadata.Partition
	}
	preferred := map[int32]int{}
	notLed := map[int32][]tp{}
	for _, t := range img.Topics() {
		for _, p := range t.Partitions {
			pref := p.Replicas[0]
			preferred[pref]++
			if p.Leader != pref {
				notLed[pref] = append(notLed[pref], tp{t, p})
			}
		}
	}
	var recs []metadata.Record
	for _, b := range slices.Sorted(maps.Keys(notLed)) {
		if len(notLed[b])*100 <= c.cfg.Rebalance.ImbalancePercentage*preferred[b] || !c.eligible(img, b) {
			continue
		}
		for _, x := range notLed[b] {
			if slices.Contains(x.p.ISR, b) {
				recs = append(recs, change(x.t, x.p, b, x.p.ISR))
			}
		}
	}
	if len(recs) == 0 {
		return 0, nil
	}
	if _, err := c.proposeLocked(ctx, recs...); err != nil {
		return 0, err
	}
	c.log.Info("leaders moved back to preferred replicas", "partitions", len(recs))
	return len(recs), nil
}
