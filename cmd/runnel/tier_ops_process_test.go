package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/broker"
)

// TestTierCommandsWithoutTiering runs "runnel tier" against a real
// "runnel dev --metrics" that has no object store: ls answers from the
// metadata, verify and an unknown topic fail with one line and exit 1.
func TestTierCommandsWithoutTiering(t *testing.T) {
	ops := freePort(t)
	dev := startDev(t, t.TempDir(), "--metrics", ops)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := dev.do(ctx, http.MethodPost, "/v1/topics", map[string]any{"name": "plain", "partitions": 2}, nil); err != nil {
		t.Fatal(err)
	}
	r := runnel(t, nil, "tier", "ls", "plain", "--broker-http", ops, "--json")
	if r.code != 0 {
		t.Fatalf("tier ls: exit %d: %s", r.code, r.stderr)
	}
	var l broker.TierListing
	if err := json.Unmarshal([]byte(r.stdout), &l); err != nil {
		t.Fatalf("tier ls --json: %v: %s", err, r.stdout)
	}
	if l.Topic != "plain" || len(l.Partitions) != 2 || l.Total.Segments != 0 || len(l.Segments) != 0 {
		t.Fatalf("tier ls of a topic without remote data: %+v", l)
	}
	r = runnel(t, nil, "tier", "ls", "plain", "--broker-http", ops)
	if r.code != 0 || !strings.Contains(r.stdout, "PARTITION") || !strings.Contains(r.stdout, "total") {
		t.Fatalf("tier ls table: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"tier", "ls", "nope", "--broker-http", ops}, "(unknown_topic)"},
		{[]string{"tier", "verify", "--broker-http", ops}, "(tiering_off)"},
	} {
		r := runnel(t, nil, tc.args...)
		if r.code != 1 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || !strings.Contains(r.stderr, tc.want) {
			t.Fatalf("%v: exit %d, stderr %q, want one line with %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
	// The operator address still serves the metrics.
	resp, err := http.Get("http://" + ops + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics on the operator address: %s", resp.Status)
	}
}
