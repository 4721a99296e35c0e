package group

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the coordinator's Prometheus collectors: counters kept as
// requests are served, and the per-group gauges (groups by state, lag)
// computed on scrape for the groups this broker coordinates.
type metrics struct {
	c          *Coordinator
	rebalances prometheus.Counter
	commits    prometheus.Counter

	groups, committed, logEnd, lag, age *prometheus.Desc
}

func newMetrics() *metrics {
	return &metrics{
		rebalances: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "runnel", Subsystem: "group", Name: "rebalances_total", Help: "Rebalances started by the groups this broker coordinated."}),
		commits:    prometheus.NewCounter(prometheus.CounterOpts{Namespace: "runnel", Subsystem: "group", Name: "offset_commits_total", Help: "Partition offsets committed (a commit of 100 partitions counts 100)."}),
		groups:     prometheus.NewDesc("runnel_group_groups", "Groups this broker coordinates, by state.", []string{"state"}, nil),
		committed:  prometheus.NewDesc("runnel_group_committed_offset", "A group's committed offset of a partition.", []string{"group", "topic", "partition"}, nil),
		logEnd:     prometheus.NewDesc("runnel_group_log_end_offset", "The high watermark of a partition a group committed an offset of (partitions this broker leads).", []string{"group", "topic", "partition"}, nil),
		lag:        prometheus.NewDesc("runnel_group_lag_messages", "Records between a group's committed offset and the partition's high watermark.", []string{"group", "topic", "partition"}, nil),
		age:        prometheus.NewDesc("runnel_group_committed_offset_age_seconds", "Time since the group committed this partition's offset.", []string{"group", "topic", "partition"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	m.rebalances.Describe(ch)
	m.commits.Describe(ch)
	for _, d := range []*prometheus.Desc{m.groups, m.committed, m.logEnd, m.lag, m.age} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	m.rebalances.Collect(ch)
	m.commits.Collect(ch)
	c := m.c
	if c == nil {
		return
	}
	type row struct {
		group string
		tp    topicPartition
		o     Offset
	}
	byState := map[State]int{Empty: 0, PreparingRebalance: 0, CompletingRebalance: 0, Stable: 0}
	var rows []row
	c.mu.Lock()
	for id, g := range c.groups {
		byState[g.state]++
		for tp, o := range g.offsets {
			rows = append(rows, row{id, tp, o})
		}
	}
	c.mu.Unlock()
	for s, n := range byState {
		ch <- prometheus.MustNewConstMetric(m.groups, prometheus.GaugeValue, float64(n), string(s))
	}
	now := time.Now()
	for _, r := range rows {
		labels := []string{r.group, r.tp.topic, itoa(r.tp.partition)}
		ch <- prometheus.MustNewConstMetric(m.committed, prometheus.GaugeValue, float64(r.o.Offset), labels...)
		ch <- prometheus.MustNewConstMetric(m.age, prometheus.GaugeValue, now.Sub(time.UnixMilli(r.o.CommitTime)).Seconds(), labels...)
		if c.cfg.LogEnd == nil {
			continue
		}
		if end, ok := c.cfg.LogEnd(r.tp.topic, r.tp.partition); ok {
			ch <- prometheus.MustNewConstMetric(m.logEnd, prometheus.GaugeValue, float64(end), labels...)
			ch <- prometheus.MustNewConstMetric(m.lag, prometheus.GaugeValue, float64(max(0, end-r.o.Offset)), labels...)
		}
	}
}

func itoa(i int32) string { return strconv.FormatInt(int64(i), 10) }
