package broker

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// replicationMetrics are the broker's replication counters; the gauges are
// read from the partitions when scraped (replicationCollector).
type replicationMetrics struct {
	replicaSendfileBytes prometheus.Counter
	appendedBytes        prometheus.Counter
	isrShrinks           prometheus.Counter
	isrExpands           prometheus.Counter
}

func newReplicationMetrics() *replicationMetrics {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "runnel", Subsystem: "broker", Name: name, Help: help})
	}
	return &replicationMetrics{
		replicaSendfileBytes: c("replica_fetch_sendfile_bytes_total", "Record bytes this broker sent to followers with sendfile(2), as leader."),
		appendedBytes:        c("replica_appended_bytes_total", "Record bytes this broker appended as follower, fetched from leaders."),
		isrShrinks:           c("isr_shrinks_total", "Followers this broker dropped from the ISRs of partitions it leads."),
		isrExpands:           c("isr_expands_total", "Times this broker added followers back to the ISRs of partitions it leads."),
	}
}

// countReplicaSendfile is kafkaserver.Response.Sent for follower fetches.
func (m *replicationMetrics) countReplicaSendfile(n int64) { m.replicaSendfileBytes.Add(float64(n)) }

func (m *replicationMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.replicaSendfileBytes, m.appendedBytes, m.isrShrinks, m.isrExpands}
}

var (
	underReplicatedDesc = prometheus.NewDesc("runnel_broker_under_replicated_partitions",
		"Partitions this broker leads whose ISR is smaller than their replica set.", nil, nil)
	highWatermarkDesc = prometheus.NewDesc("runnel_broker_partition_high_watermark",
		"High watermark of each partition this broker holds.", []string{"topic", "partition"}, nil)
	followerLagMessagesDesc = prometheus.NewDesc("runnel_broker_follower_lag_messages",
		"Offsets each follower is behind this leader's log end.", []string{"topic", "partition", "replica"}, nil)
	followerLagSecondsDesc = prometheus.NewDesc("runnel_broker_follower_lag_seconds",
		"Seconds since each follower last had everything this leader had.", []string{"topic", "partition", "replica"}, nil)
)

// replicationCollector reports the replication gauges of a broker's
// partitions when scraped.
type replicationCollector struct{ b *Broker }

func (c replicationCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- underReplicatedDesc
	ch <- highWatermarkDesc
	ch <- followerLagMessagesDesc
	ch <- followerLagSecondsDesc
}

func (c replicationCollector) Collect(ch chan<- prometheus.Metric) {
	under := 0
	now := time.Now()
	for _, p := range c.b.partitionsSorted() {
		st := p.state.Load()
		o := p.log.Offsets()
		part := strconv.Itoa(int(p.tp.Partition))
		ch <- prometheus.MustNewConstMetric(highWatermarkDesc, prometheus.GaugeValue, float64(o.HighWatermark), p.tp.Topic, part)
		if !st.isLeader {
			continue
		}
		if len(st.isr) < len(st.replicas) {
			under++
		}
		for _, r := range st.replicas {
			if r == p.self {
				continue
			}
			msgs, since, ok := p.repl.lag(r, o.LogEnd)
			if !ok {
				continue
			}
			rl := strconv.Itoa(int(r))
			ch <- prometheus.MustNewConstMetric(followerLagMessagesDesc, prometheus.GaugeValue, float64(msgs), p.tp.Topic, part, rl)
			secs := 0.0
			if msgs > 0 && !since.IsZero() {
				secs = now.Sub(since).Seconds()
			}
			ch <- prometheus.MustNewConstMetric(followerLagSecondsDesc, prometheus.GaugeValue, secs, p.tp.Topic, part, rl)
		}
	}
	ch <- prometheus.MustNewConstMetric(underReplicatedDesc, prometheus.GaugeValue, float64(under))
}
