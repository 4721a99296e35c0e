package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestControlledShutdownOnSIGTERM: SIGTERM to a broker of three, while an
// idempotent acks=all producer writes to every partition of an RF=3 topic
// (min.insync.replicas=2). The broker's leaderships move to the other
// replicas in under 5 s, it exits cleanly, and every record is
// acknowledged: the producer met only retriable errors on the way
// (NOT_LEADER_OR_FOLLOWER), which it retried.
func TestControlledShutdownOnSIGTERM(t *testing.T) {
	c := startCluster3(t)
	const parts = 6
	c.createRF3(t, "graceful", parts)
	leaders, _ := c.leaders(t, "graceful", parts)
	victim := leaders[0]
	led := 0
	for _, l := range leaders {
		if l == victim {
			led++
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var mu sync.Mutex
	var sent, acked int
	var failures []error
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			mu.Lock()
			sent++
			mu.Unlock()
			c.cl.Produce(ctx, &kgo.Record{Topic: "graceful", Partition: int32(i % parts), Value: fmt.Appendf(nil, "%d", i)}, func(_ *kgo.Record, err error) {
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					failures = append(failures, err)
					return
				}
				acked++
			})
			time.Sleep(2 * time.Millisecond)
		}
	})
	time.Sleep(500 * time.Millisecond)

	p := c.procs[victim-1]
	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var moved time.Duration
	deadline := time.Now().Add(20 * time.Second)
	for moved == 0 {
		if md, err := c.metadata(); err == nil {
			still := 0
			for _, mt := range md.Topics {
				for _, pp := range mt.Partitions {
					if pp.Leader == victim {
						still++
					}
				}
			}
			if still == 0 {
				moved = time.Since(start)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("broker %d still leads partitions 20 s after SIGTERM", victim)
		}
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("broker %d did not exit after SIGTERM", victim)
	}
	exited := time.Since(start)
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("broker %d exited with %d: %s", victim, code, p.output())
	}
	time.Sleep(time.Second) // keep producing against the two that remain
	close(stop)
	wg.Wait()
	if err := c.cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	t.Logf("SIGTERM to broker %d (leader of %d of %d partitions): leaderships moved after %v, process exited after %v; %d of %d records acknowledged",
		victim, led, parts, moved.Round(time.Millisecond), exited.Round(time.Millisecond), acked, sent)
	if out := p.output(); !strings.Contains(out, "controlled shutdown done") {
		t.Errorf("broker %d did not finish a controlled shutdown:\n%s", victim, out)
	}
	if moved >= 5*time.Second {
		t.Errorf("leaderships moved after %v, not under 5 s", moved)
	}
	if len(failures) > 0 {
		t.Errorf("%d records failed, first: %v", len(failures), failures[0])
	}
	if acked != sent {
		t.Errorf("%d of %d records acknowledged", acked, sent)
	}
}
