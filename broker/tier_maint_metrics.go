package broker

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// tierMaintMetrics count the remote data the housekeeping deleted; the
// remote size of each partition is read from the image when scraped
// (tierRemoteCollector). Failed store calls are the uploader's
// runnel_tier_remote_errors_total{op} (its counting store wraps
// TierConfig.Store).
type tierMaintMetrics struct {
	segmentsDeleted *prometheus.CounterVec
	objectsDeleted  *prometheus.CounterVec
}

func newTierMaintMetrics() *tierMaintMetrics {
	return &tierMaintMetrics{
		segmentsDeleted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "runnel", Subsystem: "tier", Name: "segments_deleted_total",
			Help: "Remote segments this broker deleted (record, then objects), by reason: retention.ms, retention.bytes, log_start (DeleteRecords).",
		}, []string{"reason"}),
		objectsDeleted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "runnel", Subsystem: "tier", Name: "objects_deleted_total",
			Help: "Objects this broker deleted from the object store, by reason: retention.ms, retention.bytes, log_start, topic_deleted, orphan.",
		}, []string{"reason"}),
	}
}

func (m *tierMaintMetrics) collectors(b *Broker) []prometheus.Collector {
	return []prometheus.Collector{m.segmentsDeleted, m.objectsDeleted, tierRemoteCollector{b}}
}

var (
	tierRemoteBytesDesc = prometheus.NewDesc("runnel_tier_remote_bytes",
		"Bytes of remote segments (.log objects) of each partition this broker leads, as recorded in the metadata.", []string{"topic", "partition"}, nil)
	tierRemoteSegmentsDesc = prometheus.NewDesc("runnel_tier_remote_segments",
		"Remote segments of each partition this broker leads, as recorded in the metadata.", []string{"topic", "partition"}, nil)
)

// tierRemoteCollector reports the remote size of the partitions this broker
// leads (each partition once across the cluster: by its leader).
type tierRemoteCollector struct{ b *Broker }

func (c tierRemoteCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- tierRemoteBytesDesc
	ch <- tierRemoteSegmentsDesc
}

func (c tierRemoteCollector) Collect(ch chan<- prometheus.Metric) {
	for _, t := range c.b.member.Image().Topics() {
		for _, p := range t.Partitions {
			if p.Leader != c.b.cfg.BrokerID || len(p.RemoteSegments) == 0 {
				continue
			}
			var size int64
			for _, s := range p.RemoteSegments {
				size += s.Size
			}
			part := strconv.Itoa(int(p.Index))
			ch <- prometheus.MustNewConstMetric(tierRemoteBytesDesc, prometheus.GaugeValue, float64(size), t.Name, part)
			ch <- prometheus.MustNewConstMetric(tierRemoteSegmentsDesc, prometheus.GaugeValue, float64(len(p.RemoteSegments)), t.Name, part)
		}
	}
}
