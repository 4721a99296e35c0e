package tiering

import "github.com/prometheus/client_golang/prometheus"

// readMetrics count what a Reader fetches from the store and how well its
// chunk cache serves (hit ratio = hits / (hits + misses)).
type readMetrics struct {
	remoteBytes  prometheus.Counter
	cacheHits    prometheus.Counter
	cacheMisses  prometheus.Counter
	cacheDamaged prometheus.Counter
	cacheBytes   prometheus.Gauge
	errors       prometheus.Counter
}

func newReadMetrics() *readMetrics {
	opts := func(name, help string) prometheus.CounterOpts {
		return prometheus.CounterOpts{Namespace: "runnel", Subsystem: "tier", Name: name, Help: help}
	}
	return &readMetrics{
		remoteBytes:  prometheus.NewCounter(opts("remote_read_bytes_total", "Bytes of remote segments read from the object store (cache misses and index objects).")),
		cacheHits:    prometheus.NewCounter(opts("cache_hits_total", "Remote segment chunk reads served without a fetch of their own (from the chunk cache, or joining a fetch under way such as the read-ahead).")),
		cacheMisses:  prometheus.NewCounter(opts("cache_misses_total", "Remote segment chunks fetched from the object store (not in the chunk cache), read-ahead included.")),
		cacheDamaged: prometheus.NewCounter(opts("cache_damaged_total", "Chunk cache files found damaged (bad header or checksum), dropped and fetched again.")),
		errors:       prometheus.NewCounter(opts("remote_read_errors_total", "Reads of remote segments that failed (store errors, damaged or inconsistent remote data).")),
		cacheBytes: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "runnel", Subsystem: "tier", Name: "cache_bytes",
			Help: "Bytes held by the on-disk chunk cache of remote segments."}),
	}
}

func (m *readMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.remoteBytes, m.cacheHits, m.cacheMisses, m.cacheDamaged, m.cacheBytes, m.errors}
}
