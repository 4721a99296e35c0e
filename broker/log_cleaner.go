package broker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/runnel-dev/runnel/broker/commitlog"
)

// DefaultCleanerBackoff is log.cleaner.backoff.ms: how long the cleaner
// sleeps when no log needs cleaning.
const DefaultCleanerBackoff = 15 * time.Second

// CleanerConfig configures the broker's log cleaner, which compacts the
// partitions of topics with cleanup.policy compact (Kafka's log.cleaner.*).
type CleanerConfig struct {
	// Disabled turns the background cleaner off (log.cleaner.enable=false);
	// CleanLogs still cleans on demand.
	Disabled bool
	// Backoff is log.cleaner.backoff.ms (default DefaultCleanerBackoff).
	Backoff time.Duration
	// Options size the cleaner: the dedupe buffer (its memory bound), the
	// load factor and the write buffer.
	Options commitlog.CleanerOptions
}

// logCleaner runs the cleaner over the broker's compacted partitions, one
// at a time. mu serializes the background passes with CleanLogs.
type logCleaner struct {
	c  *commitlog.Cleaner
	mu sync.Mutex

	runs         prometheus.Counter
	errors       prometheus.Counter
	bytesRead    prometheus.Counter
	bytesWritten prometheus.Counter
	removed      prometheus.Counter
	lastRun      prometheus.Gauge
	mapBytes     prometheus.Gauge
}

func newLogCleaner(cfg CleanerConfig) (*logCleaner, error) {
	c, err := commitlog.NewCleaner(cfg.Options)
	if err != nil {
		return nil, err
	}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "runnel", Subsystem: "log_cleaner", Name: name, Help: help})
	}
	gauge := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "runnel", Subsystem: "log_cleaner", Name: name, Help: help})
	}
	return &logCleaner{
		c:            c,
		runs:         counter("runs_total", "Partition logs the cleaner compacted."),
		errors:       counter("errors_total", "Cleaner runs that failed; the log is left as it was."),
		bytesRead:    counter("read_bytes_total", "Bytes the cleaner read from segments."),
		bytesWritten: counter("written_bytes_total", "Bytes of cleaned segments the cleaner swapped in."),
		removed:      counter("records_removed_total", "Records compaction removed (superseded, keyless, or tombstones past delete.retention.ms)."),
		lastRun:      gauge("last_run_seconds", "How long the cleaner's last compaction of a log took."),
		mapBytes:     gauge("dedupe_buffer_bytes", "Memory of the offset map of the cleaner's last run (at most log.cleaner.dedupe.buffer.size)."),
	}, nil
}

func (lc *logCleaner) collectors() []prometheus.Collector {
	return []prometheus.Collector{lc.runs, lc.errors, lc.bytesRead, lc.bytesWritten, lc.removed, lc.lastRun, lc.mapBytes}
}

// CleanLogs runs the cleaner once over every compacted partition log this
// broker holds, one at a time, leaders and followers alike (each replica
// compacts its own log, as in Kafka). With force every log with anything
// cleanable is cleaned whatever its min.cleanable.dirty.ratio; tests and
// operators use it. It returns the errors of the logs that failed.
func (b *Broker) CleanLogs(ctx context.Context, force bool) error {
	lc := b.cleaner
	lc.mu.Lock()
	defer lc.mu.Unlock()
	var errs []error
	for _, p := range b.partitionsSorted() {
		l, ok := p.log.(*commitlog.Log)
		if !ok {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		start := time.Now()
		st, err := lc.c.Clean(ctx, l, force)
		lc.bytesRead.Add(float64(st.BytesRead))
		if err != nil {
			if errors.Is(err, commitlog.ErrClosed) {
				continue // the partition went meanwhile
			}
			lc.errors.Inc()
			b.log.Error("log cleaner", "partition", p.tp.String(), "error", err)
			errs = append(errs, fmt.Errorf("clean %s: %w", p.tp, err))
			continue
		}
		if !st.Cleaned {
			continue
		}
		lc.runs.Inc()
		lc.bytesWritten.Add(float64(st.BytesWritten))
		lc.removed.Add(float64(st.RecordsRemoved))
		lc.lastRun.Set(time.Since(start).Seconds())
		lc.mapBytes.Set(float64(st.MapBytes))
	}
	return errors.Join(errs...)
}

// runCleaner cleans the compacted logs whose dirty ratio passed their
// threshold every log.cleaner.backoff.ms, until the broker stops.
func (b *Broker) runCleaner() {
	defer b.wg.Done()
	t := time.NewTicker(b.cfg.Cleaner.Backoff)
	defer t.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-b.stop
		cancel()
	}()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			b.CleanLogs(ctx, false) // errors are logged and counted
		}
	}
}
