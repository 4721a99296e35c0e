package broker_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/broker/group"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// options848 are test brokers with short KIP-848 timeouts.
func options848() brokertest.Options {
	return brokertest.Options{Groups: group.Config{NumPartitions: 3, ConsumerSessionTimeout: 6 * time.Second, ConsumerHeartbeatInterval: 300 * time.Millisecond}}
}

// ownership records which member owns each partition, from the clients'
// assignment callbacks, and reports a partition given to a member while
// another still owns it.
type ownership struct {
	t      *testing.T
	mu     sync.Mutex
	owners map[string]string
	seen   map[string]int // record value → times consumed
}

func newOwnership(t *testing.T) *ownership {
	return &ownership{t: t, owners: map[string]string{}, seen: map[string]int{}}
}

func (o *ownership) distinct() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.seen)
}

// member starts a KIP-848 consumer of group g named name.
func (o *ownership) member(c *brokertest.Cluster, ctx context.Context, wg *sync.WaitGroup, g, topic, name string, balancer kgo.GroupBalancer) *kgo.Client {
	release := func(_ context.Context, _ *kgo.Client, ps map[string][]int32) {
		o.mu.Lock()
		defer o.mu.Unlock()
		for t, parts := range ps {
			for _, p := range parts {
				if k := fmt.Sprintf("%s/%d", t, p); o.owners[k] == name {
					delete(o.owners, k)
				}
			}
		}
	}
	cl := c.Client(kgo.ConsumerGroup(g), kgo.ConsumeTopics(topic), kgo.Balancers(balancer), kgo.ServerSideBalancer(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.AutoCommitInterval(100*time.Millisecond), kgo.ClientID(name),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, ps map[string][]int32) {
			o.mu.Lock()
			defer o.mu.Unlock()
			for t, parts := range ps {
				for _, p := range parts {
					k := fmt.Sprintf("%s/%d", t, p)
					if prev := o.owners[k]; prev != "" && prev != name {
						o.t.Errorf("%s assigned to %s while %s still owns it", k, name, prev)
					}
					o.owners[k] = name
				}
			}
		}),
		kgo.OnPartitionsRevoked(release), kgo.OnPartitionsLost(release))
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			fs.EachRecord(func(r *kgo.Record) {
				o.mu.Lock()
				o.seen[string(r.Value)]++
				o.mu.Unlock()
			})
		}
	}()
	return cl
}

// waitFor polls cond until it holds or the test's patience runs out.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// describe848 waits until group g is Stable with members members and
// returns how many partitions each holds.
func describe848(t *testing.T, ctx context.Context, adm *kadm.Client, g string, members int) map[string]int {
	t.Helper()
	var counts map[string]int
	var last string
	defer func() {
		if t.Failed() {
			t.Logf("last description of %s: %s", g, last)
		}
	}()
	waitFor(t, fmt.Sprintf("group %s stable with %d members", g, members), func() bool {
		dg, err := adm.DescribeConsumerGroups(ctx, g)
		if err != nil {
			last = err.Error()
			return false
		}
		d := dg[g]
		last = fmt.Sprintf("%+v", d)
		if d.Err != nil || d.State != "Stable" || len(d.Members) != members {
			return false
		}
		counts = map[string]int{}
		for _, m := range d.Members {
			for _, ps := range m.Assignment {
				counts[m.ClientID] += len(ps)
			}
		}
		return true
	})
	return counts
}

// TestConsumerGroup848 runs franz-go consumers with the server-side
// balancer (uniform and range): three members share six partitions (two
// each, no partition owned twice at any moment), commit and leave; three
// new members resume from the committed offsets, skipping nothing and
// consuming nothing committed again.
func TestConsumerGroup848(t *testing.T) {
	for _, tc := range []struct {
		name     string
		balancer kgo.GroupBalancer
	}{{"uniform", kgo.CooperativeStickyBalancer()}, {"range", kgo.RangeBalancer()}} {
		t.Run(tc.name, func(t *testing.T) {
			c := brokertest.Start(t, 1, options848())
			ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
			defer cancel()
			topic, g := "orders-848-"+tc.name, "g848-"+tc.name
			c.CreateTopic(topic, 6, nil)
			prod := c.Client()
			adm := kadm.NewClient(c.Client())
			produceN(t, ctx, prod, topic, 0, 3000)

			for round := 0; round < 2; round++ {
				o := newOwnership(t)
				cctx, stop := context.WithCancel(ctx)
				var wg sync.WaitGroup
				var members []*kgo.Client
				for i := 0; i < 3; i++ {
					members = append(members, o.member(c, cctx, &wg, g, topic, fmt.Sprintf("m%d-%d", round, i), tc.balancer))
				}
				counts := describe848(t, ctx, adm, g, 3)
				for id, n := range counts {
					if n != 2 {
						t.Errorf("round %d: member %s holds %d partitions, want 2 (%v)", round, id, n, counts)
					}
				}
				waitFor(t, "all records consumed", func() bool { return o.distinct() == 3000 })
				for _, cl := range members {
					if err := cl.CommitUncommittedOffsets(ctx); err != nil {
						t.Errorf("commit: %v", err)
					}
				}
				stop()
				wg.Wait()
				for _, cl := range members {
					cl.Close()
				}
				o.mu.Lock()
				for v, n := range o.seen {
					if n != 1 {
						t.Errorf("round %d: record %s consumed %d times", round, v, n)
					}
				}
				if round == 1 {
					if _, ok := o.seen["0"]; ok {
						t.Errorf("round 1 consumed record 0 again: committed offsets were not resumed from")
					}
				}
				o.mu.Unlock()

				offs, err := adm.FetchOffsets(ctx, g)
				if err != nil {
					t.Fatal(err)
				}
				var sum int64
				offs.Each(func(or kadm.OffsetResponse) { sum += or.At })
				if want := int64(3000 * (round + 1)); sum != want {
					t.Fatalf("round %d: committed offsets sum to %d, want %d", round, sum, want)
				}
				produceN(t, ctx, prod, topic, 3000*(round+1), 3000)
			}
		})
	}
}

// TestConsumerGroup848Handover: a member leaving hands its partitions to
// the one that stays, which consumes everything produced afterwards.
func TestConsumerGroup848Handover(t *testing.T) {
	c := brokertest.Start(t, 1, options848())
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	topic, g := "handover-848", "g848-handover"
	c.CreateTopic(topic, 6, nil)
	adm := kadm.NewClient(c.Client())
	o := newOwnership(t)
	var wg sync.WaitGroup
	defer wg.Wait()
	cctx, stop := context.WithCancel(ctx)
	defer stop()
	a := o.member(c, cctx, &wg, g, topic, "a", kgo.CooperativeStickyBalancer())
	b := o.member(c, cctx, &wg, g, topic, "b", kgo.CooperativeStickyBalancer())
	defer b.Close()
	if counts := describe848(t, ctx, adm, g, 2); counts["a"] != 3 || counts["b"] != 3 {
		t.Fatalf("two members share six partitions as %v, want 3 each", counts)
	}
	a.Close()
	if counts := describe848(t, ctx, adm, g, 1); counts["b"] != 6 {
		t.Fatalf("after a left, b holds %v, want all 6", counts)
	}
	produceN(t, ctx, c.Client(), topic, 0, 600)
	waitFor(t, "b consumes everything", func() bool { return o.distinct() == 600 })

	// ListGroups shows the group's type.
	for typ, want := range map[string]bool{"consumer": true, "classic": false} {
		listed, err := adm.ListGroupsByType(ctx, []string{typ})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := listed[g]; ok != want {
			t.Fatalf("ListGroups of type %s lists %s: %v, want %v", typ, g, ok, want)
		}
	}
}

// TestConsumerGroup848Failover stops the coordinator of a KIP-848 group
// of two franz-go members (RF=3 __consumer_offsets), after a third came
// and went (the group epoch passes what a rejoin would rebuild): the new coordinator
// loads the group from its ConsumerGroup* records, and the members go on
// heartbeating it with the same member ids and epochs (no rejoin, which
// would give new epochs), keep their partitions (no partition owned twice
// at any moment), and consume what is produced after the failover.
func TestConsumerGroup848Failover(t *testing.T) {
	// A member keeps retrying the stopped coordinator until the
	// controller fences it; the session timeout, which the new
	// coordinator starts afresh for every loaded member, must cover that
	// (Kafka's default is 45 s).
	opts := options848()
	opts.Groups.ConsumerSessionTimeout = 20 * time.Second
	c := brokertest.Start(t, 3, opts)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	topic, g := "events-848", "g848-failover"
	c.CreateReplicatedTopic(topic, 6, 3, nil)
	produceN(t, ctx, c.Client(), topic, 0, 900)
	o := newOwnership(t)
	var wg sync.WaitGroup
	defer wg.Wait()
	cctx, stop := context.WithCancel(ctx)
	defer stop()
	for _, name := range []string{"a", "b"} {
		cl := o.member(c, cctx, &wg, g, topic, name, kgo.CooperativeStickyBalancer())
		defer cl.Close()
	}
	waitFor(t, "900 records consumed", func() bool { return o.distinct() == 900 })
	adm := kadm.NewClient(c.Client())
	// A third member comes and goes: the group epoch passes 2, which a
	// group rebuilt by the two members rejoining would start over at.
	third, thirdGone := context.WithCancel(cctx)
	cl := o.member(c, third, &wg, g, topic, "c", kgo.CooperativeStickyBalancer())
	describe848(t, ctx, adm, g, 3)
	thirdGone()
	cl.Close()
	describe848(t, ctx, adm, g, 2)
	epochs := func() (string, int32) {
		dg, err := adm.DescribeConsumerGroups(ctx, g)
		if err != nil || dg[g].Err != nil {
			return fmt.Sprint("describe: ", err, dg[g].Err), -1
		}
		d := dg[g]
		var s string
		for _, m := range d.Members {
			s += fmt.Sprintf("%s@%d=%v ", m.MemberID, m.MemberEpoch, m.Assignment[topic])
		}
		return s, d.Epoch
	}
	membersBefore, epochBefore := epochs()
	if epochBefore <= 2 {
		t.Fatalf("group epoch %d after three joins and a leave", epochBefore)
	}
	before := coordinatorOf(t, ctx, c.Client(), g)
	c.Stop(int(before) - 1)
	adm = kadm.NewClient(c.Client()) // the old one keeps dialing the stopped coordinator it cached
	waitFor(t, "a new coordinator", func() bool { return coordinatorOf(t, ctx, c.Client(), g) != before })
	produceN(t, ctx, c.Client(), topic, 900, 300)
	waitFor(t, "all 1200 records consumed after failover", func() bool { return o.distinct() == 1200 })
	var last string
	defer func() {
		if t.Failed() {
			t.Logf("last description: %s", last)
		}
	}()
	waitFor(t, "the new coordinator describes the group stable", func() bool {
		dg, err := adm.DescribeConsumerGroups(ctx, g)
		last = fmt.Sprintf("%+v %v", dg[g], err)
		if err != nil || dg[g].Err != nil || dg[g].State != "Stable" {
			return false
		}
		d := dg[g]
		return len(d.AssignedPartitions()[topic]) == 6 && d.Coordinator.NodeID != before
	})
	// The members are the loaded ones: same ids, epochs and partitions,
	// and the group epoch did not move (a rejoin would have bumped it).
	membersAfter, epochAfter := epochs()
	if membersAfter != membersBefore || epochAfter != epochBefore {
		t.Fatalf("members before the failover: %s(group epoch %d)\nafter: %s(group epoch %d)", membersBefore, epochBefore, membersAfter, epochAfter)
	}
	t.Logf("members across the failover: %s(group epoch %d)", membersAfter, epochAfter)
}
