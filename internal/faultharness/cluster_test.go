package faultharness

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// The cluster's raft traffic runs through the harness's proxies: cutting a
// broker off from the others gets it fenced (its RF=1 partition loses its
// leader), healing brings it back; kill -9 with a restart and
// SIGSTOP/SIGCONT work through Inject.
func TestClusterTrafficThroughProxies(t *testing.T) {
	t.Parallel()
	c := StartCluster(t, ClusterOptions{Brokers: 3})
	c.CreateTopic("smoke", 3, 1, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	leader, err := c.Leader(ctx, "smoke", 0)
	if err != nil {
		t.Fatal(err)
	}
	cl := c.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.DisableIdempotentWrite(), kgo.RecordDeliveryTimeout(10*time.Second))
	produce := func(v string) error {
		pctx, pcancel := context.WithTimeout(ctx, 15*time.Second)
		defer pcancel()
		return cl.ProduceSync(pctx, &kgo.Record{Topic: "smoke", Partition: 0, Value: []byte(v)}).FirstErr()
	}
	if err := produce("before"); err != nil {
		t.Fatal(err)
	}

	heal, err := c.Inject(Isolate, leader, Shaping{})
	if err != nil {
		t.Fatal(err)
	}
	c.waitFor(60*time.Second, func(ctx context.Context) error {
		if l, err := c.Leader(ctx, "smoke", 0); err == nil {
			return fmt.Errorf("isolated broker %d still leads smoke/0 (leader %d)", leader, l)
		}
		return nil
	})
	if err := heal(); err != nil {
		t.Fatal(err)
	}
	c.waitFor(60*time.Second, func(ctx context.Context) error {
		l, err := c.Leader(ctx, "smoke", 0)
		if err == nil && l != leader {
			return fmt.Errorf("smoke/0 led by %d, want %d", l, leader)
		}
		return err
	})

	for _, kind := range []FaultKind{Kill, Pause, Restart} {
		heal, err := c.Inject(kind, leader, Shaping{})
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		if b := c.Broker(leader); (kind == Pause) != b.Running() {
			t.Fatalf("after %s broker %d running=%v", kind, leader, b.Running())
		}
		if err := heal(); err != nil {
			t.Fatalf("heal %s: %v", kind, err)
		}
		if err := pollUntil(60*time.Second, func(context.Context) error { return produce(kind.String()) }); err != nil {
			t.Fatalf("produce after %s healed: %v", kind, err)
		}
	}
}
