package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

// noisyLogLines are log lines a normal start and a short load must not
// print at the default level: request logs, etcd-raft internals, a crash
// warning for a data directory that never ran, and the gateway's warning
// about a cluster that was only starting.
var noisyLogLines = []string{
	`msg="http request"`,
	`msg="raft: `,
	"no clean shutdown recorded",
	"cluster not reachable",
}

// maxQuietStartLines bounds what "runnel dev" logs at info for a start, 200
// requests and a stop: the startup steps that matter (raft leader, broker
// registered, partitions created) and the shutdown.
const maxQuietStartLines = 25

// TestDevLogsQuietAtInfo runs "runnel dev" at --log-level info on a new data
// directory, sends 200 produce requests and stops it, and checks stderr: a
// few lines, none of noisyLogLines. A clean restart says nothing about a
// crash either; a restart after SIGKILL does, and --log-requests brings the
// request lines back.
func TestDevLogsQuietAtInfo(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	load := func(p *devProc, n int) {
		t.Helper()
		for i := range n {
			if _, err := p.do(ctx, "POST", "/v1/topics/demo/events", map[string]any{"value": i}, nil); err != nil {
				t.Fatalf("produce %d: %v", i, err)
			}
		}
	}
	checkQuiet := func(what, out string, maxLines int) {
		t.Helper()
		for _, l := range noisyLogLines {
			if strings.Contains(out, l) {
				t.Errorf("%s: stderr has %q:\n%s", what, l, out)
			}
		}
		if n := strings.Count(out, "\n"); n > maxLines {
			t.Errorf("%s: %d lines on stderr, want at most %d:\n%s", what, n, maxLines, out)
		}
	}

	p := startDev(t, dir, "--log-level", "info")
	if _, err := p.do(ctx, "POST", "/v1/topics", map[string]any{"name": "demo", "partitions": 1}, nil); err != nil {
		t.Fatal(err)
	}
	load(p, 200)
	p.terminate()
	checkQuiet("first start", p.output(), maxQuietStartLines)

	p = startDev(t, dir, "--log-level", "info", "--log-requests")
	load(p, 10)
	p.kill()
	out := p.output()
	// The gateway may try the broker's previous port (the test picks new
	// ones), so only the noisy lines are checked here.
	checkQuiet("clean restart", strings.ReplaceAll(out, `msg="http request"`, ""), 1<<20)
	if n := strings.Count(out, `level=INFO msg="http request"`); n < 10 {
		t.Errorf("--log-requests: %d request lines for 10 requests:\n%s", n, out)
	}

	p = startDev(t, dir, "--log-level", "info")
	p.terminate()
	if out := p.output(); !strings.Contains(out, "no clean shutdown recorded") {
		t.Errorf("restart after SIGKILL: no word of the crash:\n%s", out)
	}
}
