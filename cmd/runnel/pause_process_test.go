package main

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestPausedBrokerNotFencedEarly: a broker process stopped with SIGSTOP
// (as a long GC pause or an overloaded host would) keeps its connections
// open, so the controller does not take it for dead: it stays registered
// and unfenced for 4 s, well past the 1 s by which a killed broker is
// fenced, and carries on after SIGCONT.
func TestPausedBrokerNotFencedEarly(t *testing.T) {
	c := startCluster3(t)
	md, err := c.metadata()
	if err != nil {
		t.Fatal(err)
	}
	var victim int32
	for id := int32(1); id <= 3; id++ {
		if id != md.ControllerID {
			victim = id
		}
	}
	p := c.procs[victim-1]
	if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	defer func() {
		if !resumed {
			_ = p.cmd.Process.Signal(syscall.SIGCONT)
		}
	}()
	// Ask the controller's broker only: the paused one would not answer.
	ctrl := c.cl.Broker(int(md.ControllerID))
	start := time.Now()
	for time.Since(start) < 4*time.Second {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		md, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, ctrl)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		live := false
		for _, b := range md.Brokers {
			live = live || b.NodeID == victim
		}
		if !live {
			t.Fatalf("paused broker %d fenced %v after SIGSTOP", victim, time.Since(start))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := p.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	resumed = true
	t.Logf("paused broker %d stayed unfenced for 4 s", victim)
}
