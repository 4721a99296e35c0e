package backend

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/gateway/apierr"
	"github.com/runnel-dev/runnel/gateway/event"
)

// testCtx bounds a test's calls.
func testCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// newBackend returns a Backend on cluster c, closed at the end of the test.
func newBackend(t testing.TB, c *brokertest.Cluster, mod ...func(*Config)) *Backend {
	t.Helper()
	cfg := Config{Brokers: c.Addrs(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), MetadataMaxAge: time.Second}
	for _, m := range mod {
		m(&cfg)
	}
	b, err := New(testCtx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// wantAPIError fails unless err is an *apierr.Error with status and code.
func wantAPIError(t *testing.T, err error, status int, code string) *apierr.Error {
	t.Helper()
	var ae *apierr.Error
	if !errors.As(err, &ae) {
		t.Fatalf("error %v (%T), want an *apierr.Error %d %s", err, err, status, code)
	}
	if ae.Status != status || ae.Code != code {
		t.Fatalf("error %d %s (%q, cause %v), want %d %s", ae.Status, ae.Code, ae.Message, ae.Err, status, code)
	}
	if ae.Message == "" {
		t.Fatalf("error %d %s has no message", status, code)
	}
	return ae
}

// values returns events with values v0, v1, ... and the given partition.
func values(n int, partition int32, prefix string) []event.Event {
	evs := make([]event.Event, n)
	for i := range evs {
		evs[i] = event.Event{Partition: partition, Value: fmt.Appendf(nil, "%s%d", prefix, i)}
	}
	return evs
}

// readAll fetches partition p from offset to the high watermark.
func readAll(t *testing.T, b *Backend, topic string, p int32, from int64) []event.Record {
	t.Helper()
	var out []event.Record
	for {
		res, err := b.Fetch(testCtx(t), topic, p, from, FetchOptions{Limit: 1000})
		if err != nil {
			t.Fatalf("fetch %s/%d at %d: %v", topic, p, from, err)
		}
		out = append(out, res.Records...)
		if res.NextOffset >= res.HighWatermark {
			return out
		}
		from = res.NextOffset
	}
}
