package broker_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/broker/group"
	"github.com/runnel-dev/runnel/internal/testwait"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// coordinatorOf asks for group g's coordinator until one answers.
func coordinatorOf(t *testing.T, ctx context.Context, cl *kgo.Client, g string) int32 {
	t.Helper()
	var node int32
	testwait.For(t, 30*time.Second, 50*time.Millisecond, func() error {
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.CoordinatorKey = g
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return err
		}
		if err := kerrOf(resp.ErrorCode); err != nil {
			return err
		}
		node = resp.NodeID
		return nil
	})
	return node
}

// TestCoordinatorFailover commits through the coordinator of a group on a
// three-broker cluster with RF=3 __consumer_offsets, stops that broker,
// and checks that another broker takes over with the committed offsets
// and the group goes on from them.
func TestCoordinatorFailover(t *testing.T) {
	c := brokertest.Start(t, 3, groupOptions())
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	c.CreateReplicatedTopic("events", 3, 3, nil)
	produceN(t, ctx, c.Client(), "events", 0, 900)
	seen := map[string]int{}
	consumeGroup(t, ctx, c, "fo", "events", kgo.CooperativeStickyBalancer(), 2, 900, seen)

	adm := kadm.NewClient(c.Client())
	tds, err := adm.ListTopics(ctx, "__consumer_offsets")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range tds["__consumer_offsets"].Partitions {
		if len(p.Replicas) != 3 {
			t.Fatalf("__consumer_offsets partition %d has replicas %v, want 3", p.Partition, p.Replicas)
		}
	}
	// Compacted as Kafka's, or, where compaction is refused, kept whole.
	rcs, err := adm.DescribeTopicConfigs(ctx, "__consumer_offsets")
	if err != nil {
		t.Fatal(err)
	}
	conf := map[string]string{}
	for _, cf := range rcs[0].Configs {
		conf[cf.Key] = cf.MaybeValue()
	}
	if conf["cleanup.policy"] != "compact" && conf["retention.ms"] != "-1" {
		t.Fatalf("__consumer_offsets neither compacted nor kept whole: cleanup.policy %q retention.ms %q", conf["cleanup.policy"], conf["retention.ms"])
	}
	t.Logf("__consumer_offsets: cleanup.policy=%s retention.ms=%s", conf["cleanup.policy"], conf["retention.ms"])
	before := coordinatorOf(t, ctx, c.Client(), "fo")
	c.Stop(int(before) - 1)
	// The controller moves the partition's leadership once it fences the
	// stopped broker; until then FindCoordinator names it, as Kafka does.
	testwait.For(t, 30*time.Second, 100*time.Millisecond, func() error {
		if after := coordinatorOf(t, ctx, c.Client(), "fo"); after == before {
			return errorf("coordinator still %d after it stopped", after)
		}
		return nil
	})
	var offs kadm.OffsetResponses
	testwait.For(t, 30*time.Second, 100*time.Millisecond, func() error {
		var err error
		offs, err = adm.FetchOffsets(ctx, "fo")
		return err
	})
	var sum int64
	offs.Each(func(o kadm.OffsetResponse) { sum += o.At })
	if sum != 900 {
		t.Fatalf("after failover the committed offsets sum to %d, want 900", sum)
	}
	produceN(t, ctx, c.Client(), "events", 900, 300)
	consumeGroup(t, ctx, c, "fo", "events", kgo.CooperativeStickyBalancer(), 2, 1200, seen)
	for v, n := range seen {
		if n != 1 {
			t.Fatalf("record %s seen %d times", v, n)
		}
	}
}

// counter reads a counter from a registry.
func counter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// TestStaticMemberRejoin closes a static member (which does not leave the
// group, KIP-345) and starts it again with the same group.instance.id
// within its session timeout: it gets its partitions back with no
// rebalance, and the other member keeps its own.
func TestStaticMemberRejoin(t *testing.T) {
	opts := groupOptions()
	opts.Groups = group.Config{NumPartitions: 1, InitialRebalanceDelay: 200 * time.Millisecond}
	c := brokertest.Start(t, 1, opts)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c.CreateTopic("s", 4, nil)
	member := func(id string) *kgo.Client {
		return c.Client(kgo.ConsumerGroup("static"), kgo.ConsumeTopics("s"), kgo.InstanceID(id),
			kgo.SessionTimeout(20*time.Second), kgo.Balancers(kgo.RangeBalancer()))
	}
	a, b := member("a"), member("b")
	for _, cl := range []*kgo.Client{a, b} {
		go cl.PollFetches(ctx)
	}
	adm := kadm.NewClient(c.Client())
	stable := func() kadm.DescribedGroup {
		var d kadm.DescribedGroup
		testwait.For(t, 30*time.Second, 50*time.Millisecond, func() error {
			ds, err := adm.DescribeGroups(ctx, "static")
			if err != nil {
				return err
			}
			d = ds["static"]
			if d.State != "Stable" || len(d.Members) != 2 {
				return errorf("group %s with %d members", d.State, len(d.Members))
			}
			return nil
		})
		return d
	}
	first := stable()
	rebalances := counter(t, c.Metrics(0), "runnel_group_rebalances_total")
	a.Close() // a static member does not leave on close
	a2 := member("a")
	go a2.PollFetches(ctx)
	testwait.For(t, 30*time.Second, 50*time.Millisecond, func() error {
		d := stable()
		for _, m := range d.Members {
			if m.InstanceID != nil && *m.InstanceID == "a" {
				for _, old := range first.Members {
					if old.InstanceID != nil && *old.InstanceID == "a" && old.MemberID == m.MemberID {
						return errorf("instance a still has its old member id")
					}
				}
				return nil
			}
		}
		return errorf("instance a not in the group")
	})
	if got := counter(t, c.Metrics(0), "runnel_group_rebalances_total"); got != rebalances {
		t.Fatalf("rebalances went from %v to %v on a static member's rejoin", rebalances, got)
	}
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

func kerrOf(code int16) error { return kerr.ErrorForCode(code) }
