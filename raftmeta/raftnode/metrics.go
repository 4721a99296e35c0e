package raftnode

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the node's Prometheus collectors. They always exist; they are
// registered only when Config.Metrics is set.
type metrics struct {
	proposals     prometheus.Counter
	proposalFails prometheus.Counter
	applied       prometheus.Counter
	readyBatch    prometheus.Histogram
	fsync         prometheus.Histogram
	snapshots     prometheus.Counter
	leaderChanges prometheus.Counter
	isLeader      prometheus.Gauge
	sent          prometheus.Counter
	received      prometheus.Counter
	dropped       prometheus.Counter
}

func newMetrics(nodeID uint64, reg prometheus.Registerer) (*metrics, error) {
	labels := prometheus.Labels{"node_id": strconv.FormatUint(nodeID, 10)}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "runnel", Subsystem: "raft", Name: name, Help: help, ConstLabels: labels})
	}
	m := &metrics{
		proposals:     counter("proposals_total", "Proposals submitted through this node."),
		proposalFails: counter("proposals_failed_total", "Proposals that returned an error other than the state machine's."),
		applied:       counter("applied_entries_total", "Committed entries applied to the state machine."),
		readyBatch: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "runnel", Subsystem: "raft", Name: "ready_entries",
			Help: "Entries persisted per Ready (one fsync each).", ConstLabels: labels, Buckets: prometheus.ExponentialBuckets(1, 4, 8)}),
		fsync: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "runnel", Subsystem: "raft", Name: "wal_fsync_seconds",
			Help: "Duration of WAL fdatasync calls.", ConstLabels: labels, Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)}),
		snapshots:     counter("snapshots_total", "Snapshots taken or installed."),
		leaderChanges: counter("leader_changes_total", "Times the known leader changed."),
		isLeader: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "runnel", Subsystem: "raft", Name: "is_leader",
			Help: "1 if this node is the raft leader.", ConstLabels: labels}),
		sent:     counter("messages_sent_total", "Raft messages written to peers."),
		received: counter("messages_received_total", "Raft messages received from peers."),
		dropped:  counter("messages_dropped_total", "Raft messages dropped (queue full, peer unreachable, too large)."),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.proposals, m.proposalFails, m.applied, m.readyBatch, m.fsync,
			m.snapshots, m.leaderChanges, m.isLeader, m.sent, m.received, m.dropped} {
			if err := reg.Register(c); err != nil {
				var are prometheus.AlreadyRegisteredError
				if errors.As(err, &are) {
					return nil, fmt.Errorf("raftnode: metrics for node %d already registered: %w", nodeID, err)
				}
				return nil, fmt.Errorf("raftnode: register metrics: %w", err)
			}
		}
	}
	return m, nil
}

func (m *metrics) msgSent()     { m.sent.Inc() }
func (m *metrics) msgReceived() { m.received.Inc() }
func (m *metrics) msgDropped()  { m.dropped.Inc() }

func (m *metrics) unregister(reg prometheus.Registerer) {
	if reg == nil {
		return
	}
	for _, c := range []prometheus.Collector{m.proposals, m.proposalFails, m.applied, m.readyBatch, m.fsync,
		m.snapshots, m.leaderChanges, m.isLeader, m.sent, m.received, m.dropped} {
		reg.Unregister(c)
	}
}
