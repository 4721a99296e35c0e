package faultharness

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A Process runs, pauses, resumes, stops on SIGTERM, is killed and reruns
// with its output kept across runs.
func TestProcessLifecycle(t *testing.T) {
	dir := t.TempDir()
	p := NewProcess("sh", "/bin/sh", filepath.Join(dir, "sh.log"), "-c", "echo st''arted; exec sleep 600")
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	defer p.Kill()
	waitPrinted(t, p, "started", 1)
	if err := p.Start(); err == nil {
		t.Fatal("a second Start of a running process succeeded")
	}
	if err := p.Pause(); err != nil || !p.Running() {
		t.Fatalf("pause: %v, running %v", err, p.Running())
	}
	if err := p.Resume(); err != nil {
		t.Fatal(err)
	}
	took, err := p.Terminate(10 * time.Second)
	if err != nil || p.Running() {
		t.Fatalf("SIGTERM: %v after %v, running %v", err, took, p.Running())
	}
	if err := p.Pause(); err == nil {
		t.Fatal("pausing an exited process succeeded")
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	waitPrinted(t, p, "started", 2)
	p.Kill()
	if p.Running() || p.ExitCode() != -1 {
		t.Fatalf("after SIGKILL: running %v, exit code %d", p.Running(), p.ExitCode())
	}
	if out := p.Output(1 << 20); strings.Count(out, "started") != 2 || strings.Count(out, "==== ") != 2 {
		t.Fatalf("output of two runs:\n%s", out)
	}
}

// A process that ignores SIGTERM is killed after the grace period.
func TestProcessTerminateGrace(t *testing.T) {
	p := NewProcess("stubborn", "/bin/sh", filepath.Join(t.TempDir(), "log"), "-c", "trap '' TERM; echo re''ady; while :; do sleep 0.1; done")
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	defer p.Kill()
	waitPrinted(t, p, "ready", 1)
	if _, err := p.Terminate(500 * time.Millisecond); !errors.Is(err, ErrStillRunning) || p.Running() {
		t.Fatalf("terminate a process ignoring SIGTERM: %v, running %v", err, p.Running())
	}
}

// waitPrinted waits until p has printed s n times over its runs.
func waitPrinted(t *testing.T, p *Process, s string, n int) {
	t.Helper()
	err := pollUntil(10*time.Second, func(context.Context) error {
		if got := strings.Count(p.Output(1<<20), s); got < n {
			return fmt.Errorf("%s printed %q %d times, want %d", p.Name, s, got, n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
