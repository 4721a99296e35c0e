// Package producebench holds the produce loops the replication benchmarks
// share: a flood of records and a paced run that measures latency.
package producebench

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Flood produces n records of value with cl as fast as cl takes them and
// returns the time until all were acknowledged, or the first error.
func Flood(ctx context.Context, cl *kgo.Client, n int, value []byte) (time.Duration, error) {
	start := time.Now()
	var first firstError
	for range n {
		cl.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) { first.keep(err) })
	}
	if err := cl.Flush(ctx); err != nil {
		return 0, fmt.Errorf("flush: %w", err)
	}
	return time.Since(start), first.get()
}

// Latency is the distribution of the time from Produce to acknowledgement
// of a paced run.
type Latency struct {
	P50, P99, Max time.Duration
}

// Paced produces n records of value with cl at rate records/s, in steps of
// at least a millisecond, and returns the distribution of the time from
// Produce to acknowledgement, or the first error.
func Paced(ctx context.Context, cl *kgo.Client, n int, value []byte, rate float64) (Latency, error) {
	if n <= 0 || rate <= 0 {
		return Latency{}, fmt.Errorf("paced produce of %d records at %v/s", n, rate)
	}
	lat := make([]time.Duration, n)
	var first firstError
	start := time.Now()
	for i := range n {
		if due := start.Add(time.Duration(float64(i) / rate * float64(time.Second))); time.Until(due) > time.Millisecond {
			time.Sleep(time.Until(due))
		}
		sent := time.Now()
		cl.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
			lat[i] = time.Since(sent)
			first.keep(err)
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return Latency{}, fmt.Errorf("flush: %w", err)
	}
	if err := first.get(); err != nil {
		return Latency{}, err
	}
	slices.Sort(lat)
	return Latency{P50: lat[len(lat)/2], P99: lat[len(lat)*99/100], Max: lat[len(lat)-1]}, nil
}

// firstError keeps the first non-nil error the produce callbacks report.
type firstError struct {
	mu  sync.Mutex
	err error
}

func (f *firstError) keep(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err == nil {
		f.err = err
	}
}

func (f *firstError) get() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}
