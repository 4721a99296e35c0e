package main

import (
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// "runnel broker --metrics" serves the node's metrics (the broker's, the
// metadata member's, the process's) in Prometheus text; without the flag
// nothing listens.
func TestBrokerServesMetrics(t *testing.T) {
	kafka, raft, metrics := freePort(t), freePort(t), freePort(t)
	startBroker(t, kafka, "--id", "1", "--raft", raft, "--voters", "1@"+raft,
		"--data-dir", filepath.Join(t.TempDir(), "data"), "--metrics", metrics)
	resp, err := http.Get("http://" + metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", resp.StatusCode, body)
	}
	for _, want := range []string{"\nrunnel_broker_", "\nprocess_cpu_seconds_total ", "\ngo_goroutines "} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", strings.TrimSpace(want))
		}
	}
}
