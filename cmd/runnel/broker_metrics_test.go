package main

import (
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// "runnel broker --metrics" serves the node's metrics (the broker's, the
// metadata member's, the process's) in Prometheus text; without the flag
// nothing listens.
func TestBrokerServesMetrics(t *testing.T) {
	kafka, raft, metrics := freePort(t), freePort(t), freePort(t)
	startBroker(t, kafka, "--id", "1", "--raft", raft, "--voters", "1@"+raft,
		"--data-dir", filepath.Join(t.TempDir(), "data"), "--metrics", metrics)
	// The endpoint is served from the start; the broker registers its
	// collectors while it starts, which may end after the Kafka port opens.
	var body []byte
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get("http://" + metrics + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /metrics: %d %s", resp.StatusCode, body)
		}
		if strings.Contains(string(body), "\nrunnel_broker_") || time.Now().After(deadline) {
			break
		}
	}
	for _, want := range []string{"\nrunnel_broker_", "\nprocess_cpu_seconds_total ", "\ngo_goroutines "} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", strings.TrimSpace(want))
		}
	}
}

// "runnel broker --metrics ADDR --pprof" serves the runtime profiles at
// /debug/pprof/ next to the metrics; without --pprof they are not served.
func TestBrokerServesPprof(t *testing.T) {
	for _, on := range []bool{true, false} {
		kafka, raft, metrics := freePort(t), freePort(t), freePort(t)
		args := []string{"--id", "1", "--raft", raft, "--voters", "1@" + raft,
			"--data-dir", filepath.Join(t.TempDir(), "data"), "--metrics", metrics}
		if on {
			args = append(args, "--pprof")
		}
		startBroker(t, kafka, args...)
		resp, err := http.Get("http://" + metrics + "/debug/pprof/goroutine?debug=1")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		served := resp.StatusCode == http.StatusOK && strings.Contains(string(body), "goroutine profile:")
		if served != on {
			t.Errorf("--pprof %v: GET /debug/pprof/goroutine answered %d %.200q", on, resp.StatusCode, body)
		}
	}
}
