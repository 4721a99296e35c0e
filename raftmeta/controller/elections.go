package controller

import (
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/runnel-dev/runnel/raftmeta/metadata"
)

// election is one partition's leader change within a proposal.
type election struct {
	topic     string
	partition int32
	oldLeader int32
	newLeader int32
	oldISR    []int32
	unclean   bool // the new leader was not in the ISR
}

// elections lists the leader changes recs make to img: every
// PartitionChanged record that gives a partition a leader other than its
// current one. One whose new leader is not in the current ISR is unclean.
func elections(img *metadata.Image, recs []metadata.Record) []election {
	var out []election
	for _, r := range recs {
		pc := r.PartitionChanged
		if pc == nil || pc.Leader == metadata.NoLeader {
			continue
		}
		t, ok := img.TopicByID(pc.ID)
		if !ok {
			continue
		}
		p, ok := img.Partition(pc.ID, pc.Partition)
		if !ok || p.Leader == pc.Leader {
			continue
		}
		out = append(out, election{topic: t.Name, partition: p.Index, oldLeader: p.Leader, newLeader: pc.Leader,
			oldISR: slices.Clone(p.ISR), unclean: !slices.Contains(p.ISR, pc.Leader)})
	}
	return out
}

// metrics are the controller's collectors (see Controller.Collectors).
type metrics struct {
	clean   prometheus.Counter
	unclean prometheus.Counter
	fenced  prometheus.GaugeFunc
}

func newMetrics(c *Controller) *metrics {
	return &metrics{
		clean: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "runnel", Subsystem: "controller", Name: "leader_elections_total",
			Help: "Partition leaders elected from the ISR by this controller (after fencing, on request, by preferred-leader rebalance).",
		}),
		unclean: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "runnel", Subsystem: "controller", Name: "unclean_leader_elections_total",
			Help: "Partition leaders elected outside the ISR by this controller (unclean.leader.election.enable); each may have lost acknowledged records.",
		}),
		fenced: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "runnel", Subsystem: "controller", Name: "fenced_brokers",
			Help: "Registered brokers that are fenced, in this member's metadata image.",
		}, func() float64 {
			n := 0
			for _, b := range c.image().Brokers() {
				if b.Fenced {
					n++
				}
			}
			return float64(n)
		}),
	}
}

// Collectors returns the controller's Prometheus collectors, for the caller
// to register: runnel_controller_leader_elections_total,
// runnel_controller_unclean_leader_elections_total and
// runnel_controller_fenced_brokers.
func (c *Controller) Collectors() []prometheus.Collector {
	return []prometheus.Collector{c.metrics.clean, c.metrics.unclean, c.metrics.fenced}
}

// noteElections counts committed elections and logs each unclean one
// loudly: the records the old ISR had and the new leader lacks are gone.
func (c *Controller) noteElections(els []election) {
	for _, e := range els {
		if !e.unclean {
			c.metrics.clean.Inc()
			c.log.Info("partition leader elected", "topic", e.topic, "partition", e.partition, "leader", e.newLeader, "previous", e.oldLeader)
			continue
		}
		c.metrics.unclean.Inc()
		c.log.Warn("UNCLEAN leader election: partition led by a replica outside the ISR; records the old ISR had beyond its log end are lost",
			"topic", e.topic, "partition", e.partition, "leader", e.newLeader, "previous", e.oldLeader, "old_isr", e.oldISR,
			"config", metadata.ConfigUncleanLeaderElection)
	}
}
