package backend

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/gateway/apierr"
)

// Until Ready has passed once, a topic the answering broker does not list is
// 503 unavailable (the broker may not have caught up yet), not 404; after,
// a missing topic is 404 and an existing one is served.
func TestTopicLookupsBeforeReady(t *testing.T) {
	c := brokertest.Start(t, 1, brokertest.Options{})
	c.CreateTopic("known", 1, nil)
	var ready atomic.Bool
	b := newBackend(t, c, func(cfg *Config) {
		cfg.Ready = func(context.Context) error {
			if !ready.Load() {
				return errors.New("metadata applied up to 3 of 9 committed")
			}
			return nil
		}
	})
	ctx := testCtx(t)
	for _, name := range []string{"known", "unknown"} {
		_, err := b.TopicMeta(ctx, name)
		e := wantAPIError(t, err, http.StatusServiceUnavailable, apierr.CodeUnavailable)
		if e.RetryAfter <= 0 {
			t.Errorf("%s: 503 without Retry-After", name)
		}
		_, err = b.Produce(ctx, name, AcksAll, values(1, -1, "x"), "")
		wantAPIError(t, err, http.StatusServiceUnavailable, apierr.CodeUnavailable)
	}
	if _, err := b.ListTopics(ctx); err == nil {
		t.Error("ListTopics before ready answered a (possibly partial) list")
	}
	ready.Store(true)
	if _, err := b.TopicMeta(ctx, "known"); err != nil {
		t.Fatalf("known topic once ready: %v", err)
	}
	_, err := b.TopicMeta(ctx, "unknown")
	wantAPIError(t, err, http.StatusNotFound, apierr.CodeTopicNotFound)
	if err := b.Ready(ctx); err != nil {
		t.Fatal(err)
	}
}
