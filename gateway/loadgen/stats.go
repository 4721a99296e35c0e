package loadgen

import (
	"fmt"
	"slices"
	"sync"
	"time"
)

// latencies collects durations from many goroutines; quantiles are exact
// (every sample is kept: a run of minutes at thousands per second is a few
// megabytes).
type latencies struct {
	mu      sync.Mutex
	samples []time.Duration
}

func (l *latencies) addAll(ds []time.Duration) {
	l.mu.Lock()
	l.samples = append(l.samples, ds...)
	l.mu.Unlock()
}

// Quantiles summarises a latency distribution.
type Quantiles struct {
	Count                    int
	P50, P90, P99, P999, Max time.Duration
}

func (q Quantiles) String() string {
	r := func(d time.Duration) time.Duration { return d.Round(time.Microsecond) }
	return fmt.Sprintf("n=%d p50=%v p90=%v p99=%v p99.9=%v max=%v", q.Count, r(q.P50), r(q.P90), r(q.P99), r(q.P999), r(q.Max))
}

func (l *latencies) quantiles() Quantiles {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := slices.Clone(l.samples)
	if len(s) == 0 {
		return Quantiles{}
	}
	slices.Sort(s)
	at := func(q float64) time.Duration { return s[min(len(s)-1, int(q*float64(len(s))))] }
	return Quantiles{Count: len(s), P50: at(0.50), P90: at(0.90), P99: at(0.99), P999: at(0.999), Max: s[len(s)-1]}
}
