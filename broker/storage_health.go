package broker

import (
	"errors"
	"fmt"
	"sort"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/runnel-dev/runnel/broker/commitlog"

	"github.com/runnel-dev/runnel/internal/plural"
)

// ErrStorage is matched (errors.Is) by the error StorageError returns: some
// partition logs refuse writes after a failed write or fsync. Readiness
// reports it; the logs retry by themselves and recover once the disk takes
// writes again.
var ErrStorage = errors.New("partition storage failing")

// StorageError returns an error naming every partition whose log refuses
// writes after a failed write or fsync (a full disk, a failing device;
// producers get KAFKA_STORAGE_ERROR), or nil when every open log accepts
// writes. It matches ErrStorage and the logs' commitlog.ErrLogFailed.
func (b *Broker) StorageError() error {
	var errs []error
	for _, p := range b.partitionsSorted() {
		if err := p.log.StorageError(); err != nil {
			errs = append(errs, fmt.Errorf("partition %s: %w", p.tp, err))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s: %w", ErrStorage, plural.Noun(len(errs), "partition"), errors.Join(errs...))
}

// PartitionUnreadable is a range of one partition's log that cannot be read:
// stored data found damaged, kept on disk and never served.
type PartitionUnreadable struct {
	Partition commitlog.TopicPartition
	commitlog.UnreadableRange
}

// UnreadableRanges lists the ranges of offsets the partitions this broker
// holds cannot read, by partition and offset. Fetches there answer
// CORRUPT_MESSAGE.
func (b *Broker) UnreadableRanges() []PartitionUnreadable {
	var out []PartitionUnreadable
	for _, p := range b.partitionsSorted() {
		for _, r := range p.log.UnreadableRanges() {
			out = append(out, PartitionUnreadable{p.tp, r})
		}
	}
	return out
}

// partitionsSorted returns the open partitions by topic and index.
func (b *Broker) partitionsSorted() []*partition {
	b.mu.RLock()
	ps := make([]*partition, 0, len(b.parts))
	for _, p := range b.parts {
		ps = append(ps, p)
	}
	b.mu.RUnlock()
	sort.Slice(ps, func(i, j int) bool {
		if ps[i].tp.Topic != ps[j].tp.Topic {
			return ps[i].tp.Topic < ps[j].tp.Topic
		}
		return ps[i].tp.Partition < ps[j].tp.Partition
	})
	return ps
}

// storageCollector exports the health of the partition logs, computed when
// Prometheus scrapes: nothing on the produce or fetch path.
type storageCollector struct {
	b                                   *Broker
	failing, storageError, failures     *prometheus.Desc
	unreadableOffsets, unreadableRanges *prometheus.Desc
}

func newStorageCollector(b *Broker) *storageCollector {
	part := []string{"topic", "partition"}
	return &storageCollector{
		b: b,
		failing: prometheus.NewDesc("runnel_log_partitions_storage_error",
			"Partitions whose log refuses writes after a failed write or fsync (full disk, failing device).", nil, nil),
		storageError: prometheus.NewDesc("runnel_log_storage_error",
			"1 while the partition's log refuses writes after a failed write or fsync, else 0.", part, nil),
		failures: prometheus.NewDesc("runnel_log_storage_errors_total",
			"Writes and fsyncs of the partition's log that failed since it was opened.", part, nil),
		unreadableOffsets: prometheus.NewDesc("runnel_log_unreadable_offsets",
			"Offsets of the partition's log that cannot be read: stored data found damaged, quarantined on disk.", part, nil),
		unreadableRanges: prometheus.NewDesc("runnel_log_unreadable_ranges",
			"Ranges of the partition's log that cannot be read (see the broker's error log for files and offsets).", part, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *storageCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.failing, c.storageError, c.failures, c.unreadableOffsets, c.unreadableRanges} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *storageCollector) Collect(ch chan<- prometheus.Metric) {
	failing := 0
	for _, p := range c.b.partitionsSorted() {
		labels := []string{p.tp.Topic, strconv.Itoa(int(p.tp.Partition))}
		failed := 0.0
		if p.log.StorageError() != nil {
			failed = 1
			failing++
		}
		var offsets int64
		ranges := p.log.UnreadableRanges()
		for _, r := range ranges {
			offsets += r.To - r.From
		}
		ch <- prometheus.MustNewConstMetric(c.storageError, prometheus.GaugeValue, failed, labels...)
		ch <- prometheus.MustNewConstMetric(c.failures, prometheus.CounterValue, float64(p.log.WriteFailures()), labels...)
		ch <- prometheus.MustNewConstMetric(c.unreadableOffsets, prometheus.GaugeValue, float64(offsets), labels...)
		ch <- prometheus.MustNewConstMetric(c.unreadableRanges, prometheus.GaugeValue, float64(len(ranges)), labels...)
	}
	ch <- prometheus.MustNewConstMetric(c.failing, prometheus.GaugeValue, float64(failing))
}
