package main

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestBenchAgainstDev runs the new "runnel bench" shapes against a real
// "runnel dev": single-event POSTs from net/http clients, and the low-rate
// latency run with one subscriber, both with the server's CPU.
func TestBenchAgainstDev(t *testing.T) {
	dev := startDev(t, t.TempDir())
	target := []string{"--url", dev.url, "--token", dev.token, "--server-pid", strconv.Itoa(dev.cmd.Process.Pid)}

	r := runnel(t, nil, append([]string{"bench", "produce", "--client", "nethttp", "--events-per-request", "1",
		"--concurrency", "4", "--duration", "1s", "--acks", "all"}, target...)...)
	if r.code != 0 {
		t.Fatalf("bench produce: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	produced := regexp.MustCompile(`nethttp, 1 events/request, .*: (\d+) requests, (\d+) events in .* 0 failed; gateway CPU [\d.]+ cores \([\d.]+ µs/request\)`).FindStringSubmatch(r.stdout)
	if produced == nil || produced[1] != produced[2] || produced[1] == "0" {
		t.Fatalf("bench produce printed:\n%s", r.stdout)
	}

	r = runnel(t, nil, append([]string{"bench", "latency", "--subscribers", "1", "--rate", "500", "--duration", "1s", "--in-flight", "4"}, target...)...)
	if r.code != 0 {
		t.Fatalf("bench latency: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{
		"1 subscribers, 500 events/s", "published 500 (0 failed)", "delivered 500 of 500 (lost 0, duplicates 0)", "p50=", "p90=", "p99=",
		"POST start after its slot", "µs/event)",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("bench latency output lacks %q:\n%s", want, r.stdout)
		}
	}
}

func TestBenchRefusesAnUnknownClient(t *testing.T) {
	for _, mode := range []string{"produce", "latency", "fanout"} {
		wantUsageError(t, runnel(t, nil, "bench", mode, "--client", "curl", "--token", "x"), `client "curl": want fasthttp or nethttp`)
	}
}
