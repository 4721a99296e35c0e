package backend

import (
	"context"
	"sync"
	"time"
)

// unreachableWarnAfter is how long a new Backend retries its first contact
// with the cluster quietly (at Debug) before it warns: brokers and gateway
// usually start together, and a cluster that answers within this long is a
// normal start. A variable so that tests can shorten it.
var unreachableWarnAfter = 15 * time.Second

// Bounds of the wait between two tries of the first contact.
const (
	probeMinBackoff = 100 * time.Millisecond
	probeMaxBackoff = 2 * time.Second
	probeTimeout    = 5 * time.Second // one try
)

// probe is the goroutine that makes the first contact with the cluster.
type probe struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// startProbe starts trying Ready until it succeeds or the Backend closes. It
// logs at Debug until the cluster has been unreachable for
// unreachableWarnAfter, then warns once, and says at Info when the cluster
// answers after that warning.
func (b *Backend) startProbe() {
	ctx, cancel := context.WithCancel(context.Background())
	b.probe.cancel = cancel
	b.probe.wg.Add(1)
	go func() {
		defer b.probe.wg.Done()
		b.runProbe(ctx)
	}()
}

// stopProbe stops the probe and waits for it.
func (b *Backend) stopProbe() {
	if b.probe.cancel != nil {
		b.probe.cancel()
	}
	b.probe.wg.Wait()
}

func (b *Backend) runProbe(ctx context.Context) {
	start := time.Now()
	backoff := probeMinBackoff
	warned := false
	for {
		tctx, cancel := context.WithTimeout(ctx, probeTimeout)
		err := b.Ready(tctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		down := time.Since(start).Round(time.Millisecond)
		if err == nil {
			if warned {
				b.log.Info("cluster reachable", "brokers", b.cfg.Brokers, "after", down)
			} else {
				b.log.Debug("cluster reachable", "brokers", b.cfg.Brokers, "after", down)
			}
			return
		}
		if !warned && down >= unreachableWarnAfter {
			b.log.Warn("cluster not reachable yet; retrying", "brokers", b.cfg.Brokers, "for", down.Round(time.Second), "error", err)
			warned = true
		} else {
			b.log.Debug("cluster not reachable yet", "brokers", b.cfg.Brokers, "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, probeMaxBackoff)
	}
}
