package httpapi

import (
	"sync"
	"time"
)

// byteBudget bounds the memory of request bodies being read or served:
// every body buffer is taken from it before it is allocated and given
// back when its request ends. A request that finds the budget spent waits
// for at most a short time, in arrival order (so a large body is not
// starved by small ones), and is then refused.
//
// Waiting rather than refusing at once absorbs bursts: bodies are
// normally held for milliseconds, so a burst that spends the budget frees
// it again long before the wait ends. A budget spent by slow senders
// frees only as they are cut by the minimum transfer rate; the waiters
// then get 503 after the wait, which is also what Retry-After tells them
// to wait.
type byteBudget struct {
	mu      sync.Mutex
	free    int64
	waiters []*budgetWaiter // in arrival order
}

type budgetWaiter struct {
	n     int64
	ready chan struct{} // closed once n bytes were granted
}

func newByteBudget(total int64) *byteBudget { return &byteBudget{free: total} }

// acquire takes n bytes, waiting at most wait for them, and reports
// whether it got them.
func (b *byteBudget) acquire(n int64, wait time.Duration) bool {
	b.mu.Lock()
	if len(b.waiters) == 0 && b.free >= n {
		b.free -= n
		b.mu.Unlock()
		return true
	}
	w := &budgetWaiter{n: n, ready: make(chan struct{})}
	b.waiters = append(b.waiters, w)
	b.mu.Unlock()

	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-w.ready:
		return true
	case <-t.C:
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case <-w.ready: // granted while the timer fired
		return true
	default:
	}
	for i, x := range b.waiters {
		if x == w {
			b.waiters = append(b.waiters[:i], b.waiters[i+1:]...)
			break
		}
	}
	// The first waiter leaving may let those behind it in.
	b.grantLocked()
	return false
}

// release gives n bytes back and wakes the waiters they satisfy.
func (b *byteBudget) release(n int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	b.free += n
	b.grantLocked()
	b.mu.Unlock()
}

// grantLocked hands free bytes to waiters in arrival order, stopping at
// the first that does not fit.
func (b *byteBudget) grantLocked() {
	for len(b.waiters) > 0 && b.waiters[0].n <= b.free {
		w := b.waiters[0]
		b.waiters[0] = nil
		b.waiters = b.waiters[1:]
		b.free -= w.n
		close(w.ready)
	}
}

// available is the budget not taken.
func (b *byteBudget) available() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.free
}
