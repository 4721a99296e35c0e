package backend

import (
	"context"
	"net/http"
	"time"

	"github.com/runnel-dev/runnel/gateway/apierr"
)

// noLeaderError is the cause a produce is canceled with when a partition
// it must write to has no leader; apiErr is its answer.
type noLeaderError struct{ apiErr *apierr.Error }

func (e *noLeaderError) Error() string { return e.apiErr.Error() }

// leaderWatch ends a produce whose records are bound to a partition without
// a leader (see produceCall.bound): franz-go would hold them until the
// produce's deadline, while a fetch of that partition fails at once. It
// costs a timer; only a produce still running after Config.LeaderWait gets
// a goroutine, which asks for fresh metadata then and every fifth of
// LeaderWait after, and cancels the produce with a noLeaderError naming the
// first such partition.
type leaderWatch struct {
	cancel context.CancelCauseFunc
	timer  *time.Timer
	done   chan struct{} // closed when the fired check returns
}

// watchLeaders starts a leaderWatch over the produce of call's records to
// topic; ctx is the produce's, cancel cancels it.
func (b *Backend) watchLeaders(ctx context.Context, cancel context.CancelCauseFunc, topic string, call *produceCall) *leaderWatch {
	w := &leaderWatch{cancel: cancel, done: make(chan struct{})}
	wait := b.cfg.LeaderWait
	w.timer = time.AfterFunc(wait, func() {
		defer close(w.done)
		for {
			if e := b.leaderlessPartition(ctx, topic, call, wait); e != nil {
				cancel(&noLeaderError{apiErr: e})
				return
			}
			t := time.NewTimer(max(wait/5, 10*time.Millisecond))
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
	})
	return w
}

// stop ends the watch and waits for its check, if one is running.
func (w *leaderWatch) stop() {
	w.cancel(nil)
	if !w.timer.Stop() {
		<-w.done
	}
}

// leaderlessPartition returns the 503 for the first partition call's
// records are bound to that has no leader in fresh metadata, or nil.
func (b *Backend) leaderlessPartition(ctx context.Context, topic string, call *produceCall, waited time.Duration) *apierr.Error {
	parts := call.boundParts()
	if len(parts) == 0 {
		return nil
	}
	ts, err := b.topic(ctx, topic, true)
	if err != nil {
		return nil // the produce itself will say what is wrong
	}
	for _, p := range parts {
		if int(p) < len(ts.parts) && ts.parts[p].leader < 0 {
			e := apierr.New(http.StatusServiceUnavailable, apierr.CodeUnavailable,
				"partition %d of topic %q has no leader (its replicas are down or out of sync): no event was written to it for %v; retry later",
				p, topic, waited)
			e.RetryAfter = retryAfter
			return e
		}
	}
	return nil
}

// leaderless returns the answer of a produce that a leaderWatch canceled,
// or nil when ctx did not end that way.
func leaderless(ctx context.Context) *apierr.Error {
	if nl, ok := context.Cause(ctx).(*noLeaderError); ok {
		return nl.apiErr
	}
	return nil
}
