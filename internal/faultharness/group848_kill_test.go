package faultharness

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestConsumerGroup848CoordinatorKill runs a KIP-848 group of two
// franz-go members on three broker processes (RF=3 __consumer_offsets),
// lets a third member come and go (the group epoch passes what a rejoin
// would rebuild), kill -9s the group's coordinator, and checks that the new coordinator
// loaded the group from its records: the members keep their ids, epochs
// and partitions (no rejoin), no partition is ever given to a member
// while another owns it, and they consume what is produced afterwards.
func TestConsumerGroup848CoordinatorKill(t *testing.T) {
	c := StartCluster(t, ClusterOptions{Brokers: 3, BrokerArgs: []string{"--offsets-topic-partitions", "3",
		"--group-consumer-session-timeout", "20s", "--group-consumer-heartbeat-interval", "300ms"}})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const topic, group = "gk848", "gk848-group"
	c.CreateTopic(topic, 6, 3, nil)
	produce := func(first, n int) {
		cl := c.Client()
		for i := first; i < first+n; i++ {
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(fmt.Sprint(i))}).FirstErr(); err != nil {
				t.Fatalf("produce %d: %v", i, err)
			}
		}
	}
	var mu sync.Mutex
	owners := map[int32]string{}
	seen := map[string]bool{}
	var wg sync.WaitGroup
	defer wg.Wait()
	cctx, stop := context.WithCancel(ctx)
	defer stop()
	member := func(ctx context.Context, name string) *kgo.Client {
		release := func(_ context.Context, _ *kgo.Client, ps map[string][]int32) {
			mu.Lock()
			defer mu.Unlock()
			for _, p := range ps[topic] {
				if owners[p] == name {
					delete(owners, p)
				}
			}
		}
		cl := c.Client(kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.ServerSideBalancer(), kgo.ClientID(name),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, ps map[string][]int32) {
				mu.Lock()
				defer mu.Unlock()
				for _, p := range ps[topic] {
					if prev := owners[p]; prev != "" && prev != name {
						t.Errorf("partition %d assigned to %s while %s still owns it", p, name, prev)
					}
					owners[p] = name
				}
			}),
			kgo.OnPartitionsRevoked(release), kgo.OnPartitionsLost(release))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
					mu.Lock()
					seen[string(r.Value)] = true
					mu.Unlock()
				})
			}
		}()
		return cl
	}
	member(cctx, "a")
	member(cctx, "b")
	consumed := func(n int) func(context.Context) error {
		return func(context.Context) error {
			mu.Lock()
			defer mu.Unlock()
			if len(seen) < n {
				return fmt.Errorf("consumed %d of %d", len(seen), n)
			}
			return nil
		}
	}
	// describe is the group's members as "id@epoch=partitions", its
	// epoch and coordinator, once it is Stable with n members.
	describe := func(adm *kadm.Client, n int) (string, int32, int32) {
		var members string
		var epoch, coordinator int32
		if err := pollUntil(60*time.Second, func(ctx context.Context) error {
			dg, err := adm.DescribeConsumerGroups(ctx, group)
			if err != nil {
				return err
			}
			d := dg[group]
			if d.Err != nil || d.State != "Stable" || len(d.Members) != n || len(d.AssignedPartitions()[topic]) != 6 {
				return fmt.Errorf("group %+v", d)
			}
			members, epoch, coordinator = "", d.Epoch, d.Coordinator.NodeID
			for _, m := range d.Members {
				members += fmt.Sprintf("%s@%d=%v ", m.MemberID, m.MemberEpoch, m.Assignment[topic])
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return members, epoch, coordinator
	}

	produce(0, 300)
	if err := pollUntil(60*time.Second, consumed(300)); err != nil {
		t.Fatal(err)
	}
	// A third member comes and goes: the group epoch passes 2, which a
	// group rebuilt by the two members rejoining would start over at.
	adm := kadm.NewClient(c.Client())
	third, thirdGone := context.WithCancel(cctx)
	cl := member(third, "c")
	describe(adm, 3)
	thirdGone()
	cl.Close()
	membersBefore, epochBefore, before := describe(adm, 2)
	if epochBefore <= 2 {
		t.Fatalf("group epoch %d after three joins and a leave", epochBefore)
	}
	c.Broker(int(before)).Kill()
	produce(300, 150)
	if err := pollUntil(90*time.Second, consumed(450)); err != nil {
		t.Fatalf("after kill -9 of the coordinator (broker %d): %v", before, err)
	}
	membersAfter, epochAfter, after := describe(kadm.NewClient(c.Client()), 2)
	if after == before {
		t.Fatalf("broker %d still coordinates the group after its kill -9", before)
	}
	if membersAfter != membersBefore || epochAfter != epochBefore {
		t.Fatalf("members on broker %d: %s(group epoch %d)\non broker %d after its kill -9: %s(group epoch %d)",
			before, membersBefore, epochBefore, after, membersAfter, epochAfter)
	}
	t.Logf("members on broker %d, then on broker %d after its kill -9: %s(group epoch %d)", before, after, membersAfter, epochAfter)
}
