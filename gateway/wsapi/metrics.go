package wsapi

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the WebSocket side's Prometheus metrics.
type metrics struct {
	socketsOpen prometheus.Gauge
	partitions  prometheus.Gauge
	eventsOut   prometheus.Counter
	framesIn    map[frameKind]prometheus.Counter
}

// lagBuckets bound the subscriber lag histogram, in events.
var lagBuckets = []float64{0, 1, 10, 100, 1000, 10_000, 100_000, 1_000_000}

func newMetrics(reg prometheus.Registerer, h *Handler) (*metrics, error) {
	m := &metrics{
		socketsOpen: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "runnel_gateway_ws_sockets_open",
			Help: "WebSocket connections open now.",
		}),
		partitions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "runnel_gateway_ws_subscribed_partitions",
			Help: "Partition subscriptions of open sockets (a subscription counts once per partition).",
		}),
		eventsOut: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "runnel_gateway_ws_events_out_total",
			Help: "Event frames written to WebSocket clients.",
		}),
		framesIn: map[frameKind]prometheus.Counter{},
	}
	frames := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "runnel_gateway_ws_frames_in_total",
		Help: `Client frames by type; "unknown" is a type the gateway does not know, "invalid" a frame that is not a JSON object with a string type (or too large, or binary).`,
	}, []string{"type"})
	for _, k := range frameKinds {
		m.framesIn[k] = frames.WithLabelValues(string(k))
	}
	for _, c := range []prometheus.Collector{m.socketsOpen, m.partitions, m.eventsOut, frames, &lagCollector{h: h}} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) frame(k frameKind) { m.framesIn[k].Inc() }

// lagCollector computes, at scrape time, how far each partition
// subscription is behind: the known high watermark of its partition minus
// the offset after the last event delivered to it. The known high
// watermark follows live deliveries at once and is refreshed from the
// cluster every LagRefreshInterval, which matters while every subscriber
// of a partition is catching up. A histogram over all
// partition subscriptions, so that the number of series stays fixed.
type lagCollector struct{ h *Handler }

var lagDesc = prometheus.NewDesc("runnel_gateway_ws_subscriber_lag_events",
	"Events each partition subscription is behind its partition's high watermark, at scrape time. "+
		"The high watermark is the newest of: the offset after the newest event delivered to any subscriber on this gateway, "+
		"and the high watermark fetched every LagRefreshInterval.",
	nil, nil)

func (c *lagCollector) Describe(ch chan<- *prometheus.Desc) { ch <- lagDesc }

func (c *lagCollector) Collect(ch chan<- prometheus.Metric) {
	counts := make(map[float64]uint64, len(lagBuckets))
	var n uint64
	var sum float64
	c.h.mu.Lock()
	for s := range c.h.sockets {
		s.mu.Lock()
		for _, sub := range s.subs {
			for _, ps := range sub.parts {
				if ps.fs == nil {
					continue
				}
				lag := max(ps.hwm.v.Load()-ps.fs.Next(), 0)
				n++
				sum += float64(lag)
				for _, b := range lagBuckets {
					if float64(lag) <= b {
						counts[b]++
					}
				}
			}
		}
		s.mu.Unlock()
	}
	c.h.mu.Unlock()
	ch <- prometheus.MustNewConstHistogram(lagDesc, n, sum, counts)
}

// hwmTable keeps, per partition with subscribers on this gateway, the
// highest high watermark known: the lag metric's reference point.
type hwmTable struct {
	mu sync.Mutex
	m  map[hwmKey]*hwmEntry
}

type hwmKey struct {
	topic     string
	partition int32
}

type hwmEntry struct {
	refs int // guarded by hwmTable.mu
	v    atomic.Int64
}

func newHWMTable() *hwmTable { return &hwmTable{m: map[hwmKey]*hwmEntry{}} }

func (t *hwmTable) acquire(topic string, partition int32) *hwmEntry {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := hwmKey{topic, partition}
	e := t.m[k]
	if e == nil {
		e = &hwmEntry{}
		t.m[k] = e
	}
	e.refs++
	return e
}

func (t *hwmTable) release(topic string, partition int32) {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := hwmKey{topic, partition}
	if e := t.m[k]; e != nil {
		if e.refs--; e.refs == 0 {
			delete(t.m, k)
		}
	}
}

// topics lists the topics with entries.
func (t *hwmTable) topics() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	seen := map[string]bool{}
	var out []string
	for k := range t.m {
		if !seen[k.topic] {
			seen[k.topic] = true
			out = append(out, k.topic)
		}
	}
	return out
}

// get returns the entry of a partition, or nil.
func (t *hwmTable) get(topic string, partition int32) *hwmEntry {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.m[hwmKey{topic, partition}]
}

// refreshHWM raises the known high watermarks of subscribed partitions
// every LagRefreshInterval, so that the lag metric is right even while no
// subscriber of a partition is live, until ctx ends.
func (h *Handler) refreshHWM(ctx context.Context) {
	defer close(h.refreshDone)
	t := time.NewTicker(h.cfg.LagRefreshInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
		for _, topic := range h.hwm.topics() {
			cctx, cancel := context.WithTimeout(ctx, lookupTimeout)
			offs, err := h.cfg.Topics.Offsets(cctx, topic, nil)
			cancel()
			if err != nil {
				if ctx.Err() == nil {
					h.cfg.Logger.Debug("wsapi: cannot refresh high watermarks for the lag metric", "topic", topic, "err", err)
				}
				continue
			}
			for _, po := range offs {
				if e := h.hwm.get(topic, po.Partition); e != nil {
					e.observe(po.Latest)
				}
			}
		}
	}
}

// observe raises the entry to off if it is higher.
func (e *hwmEntry) observe(off int64) {
	for {
		cur := e.v.Load()
		if off <= cur || e.v.CompareAndSwap(cur, off) {
			return
		}
	}
}
