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

// groupOptions are test brokers with a small __consumer_offsets and a
// short initial rebalance delay.
func groupOptions() brokertest.Options {
	return brokertest.Options{Groups: group.Config{NumPartitions: 3, InitialRebalanceDelay: 200 * time.Millisecond}}
}

// produceN writes n records numbered from first to topic.
func produceN(t *testing.T, ctx context.Context, cl *kgo.Client, topic string, first, n int) {
	t.Helper()
	for i := first; i < first+n; i++ {
		cl.Produce(ctx, &kgo.Record{Topic: topic, Key: []byte(fmt.Sprint(i)), Value: []byte(fmt.Sprint(i))}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce: %v", err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// consumeGroup runs members consumers of group g until want distinct
// records were seen by all together, committing as they go, and closes
// them (which commits and leaves). It returns how often each value was
// seen and the partitions each member owned.
func consumeGroup(t *testing.T, ctx context.Context, c *brokertest.Cluster, g, topic string, balancer kgo.GroupBalancer, members, want int, seen map[string]int) {
	t.Helper()
	var mu sync.Mutex
	distinct := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(seen)
	}
	var clients []*kgo.Client
	var wg sync.WaitGroup
	cctx, cancel := context.WithCancel(ctx)
	for i := 0; i < members; i++ {
		cl := c.Client(kgo.ConsumerGroup(g), kgo.ConsumeTopics(topic), kgo.Balancers(balancer),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.AutoCommitInterval(100*time.Millisecond))
		clients = append(clients, cl)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for cctx.Err() == nil {
				fs := cl.PollFetches(cctx)
				fs.EachError(func(tp string, p int32, err error) {
					if cctx.Err() == nil {
						t.Logf("fetch %s/%d: %v", tp, p, err)
					}
				})
				fs.EachRecord(func(r *kgo.Record) {
					mu.Lock()
					seen[string(r.Value)]++
					mu.Unlock()
				})
			}
		}()
	}
	deadline := time.Now().Add(60 * time.Second)
	for distinct() < want && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	// Every member commits what it consumed before it goes.
	for _, cl := range clients {
		if err := cl.CommitUncommittedOffsets(ctx); err != nil {
			t.Errorf("commit: %v", err)
		}
	}
	cancel()
	wg.Wait()
	for _, cl := range clients {
		cl.Close()
	}
	if got := distinct(); got < want {
		t.Fatalf("group %s saw %d distinct records, want %d", g, got, want)
	}
}

// checkCommittedSum fails unless group g's committed offsets add up to want.
func checkCommittedSum(t *testing.T, ctx context.Context, adm *kadm.Client, g string, want int64) {
	t.Helper()
	offs, err := adm.FetchOffsets(ctx, g)
	if err != nil {
		t.Fatalf("fetch the offsets of %s: %v", g, err)
	}
	var sum int64
	offs.Each(func(o kadm.OffsetResponse) { sum += o.At })
	if sum != want {
		t.Fatalf("committed offsets of %s sum to %d, want %d", g, sum, want)
	}
}

// TestConsumerGroupsResume runs three franz-go members of one group,
// eager (range) and cooperative-sticky, over six partitions; every member
// is stopped and new ones resume from the committed offsets: no record is
// skipped, and only uncommitted records may come twice.
func TestConsumerGroupsResume(t *testing.T) {
	for _, tc := range []struct {
		name     string
		balancer kgo.GroupBalancer
	}{{"range", kgo.RangeBalancer()}, {"cooperative-sticky", kgo.CooperativeStickyBalancer()}} {
		t.Run(tc.name, func(t *testing.T) {
			c := brokertest.Start(t, 1, groupOptions())
			ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
			defer cancel()
			topic := "orders-" + tc.name
			c.CreateTopic(topic, 6, nil)
			prod := c.Client()
			produceN(t, ctx, prod, topic, 0, 3000)
			seen := map[string]int{}
			consumeGroup(t, ctx, c, "g-"+tc.name, topic, tc.balancer, 3, 3000, seen)

			// Committed offsets add up to what was produced.
			checkCommittedSum(t, ctx, kadm.NewClient(c.Client()), "g-"+tc.name, 3000)

			produceN(t, ctx, prod, topic, 3000, 1500)
			consumeGroup(t, ctx, c, "g-"+tc.name, topic, tc.balancer, 3, 4500, seen)
			for i := 0; i < 4500; i++ {
				if seen[fmt.Sprint(i)] == 0 {
					t.Fatalf("record %d skipped", i)
				}
			}
			dups := 0
			for _, n := range seen {
				dups += n - 1
			}
			if dups > 0 {
				t.Fatalf("%d records came twice although every member committed before leaving", dups)
			}
		})
	}
}

// TestGroupAdmin lists, describes and deletes groups through kadm.
func TestGroupAdmin(t *testing.T) {
	c := brokertest.Start(t, 1, groupOptions())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c.CreateTopic("t", 2, nil)
	produceN(t, ctx, c.Client(), "t", 0, 10)
	cl := c.Client(kgo.ConsumerGroup("admin-g"), kgo.ConsumeTopics("t"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := 0
	for got < 10 {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		got += fs.NumRecords()
	}
	if err := cl.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(c.Client())
	listed, err := adm.ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := listed["admin-g"]; !ok || listed["admin-g"].State != "Stable" {
		t.Fatalf("ListGroups: %+v, want admin-g Stable", listed)
	}
	described, err := adm.DescribeGroups(ctx, "admin-g")
	if err != nil {
		t.Fatal(err)
	}
	d := described["admin-g"]
	if d.State != "Stable" || len(d.Members) != 1 || d.Protocol == "" {
		t.Fatalf("DescribeGroups: state %s members %d protocol %q", d.State, len(d.Members), d.Protocol)
	}
	if a, ok := d.Members[0].Assigned.AsConsumer(); !ok || len(a.Topics) != 1 || len(a.Topics[0].Partitions) != 2 {
		t.Fatalf("member assignment %+v, want both partitions of t", d.Members[0].Assigned)
	}
	dr, _ := adm.DeleteGroups(ctx, "admin-g")
	if dr["admin-g"].Err == nil {
		t.Fatal("deleting a group with a live member succeeded")
	}
	cl.Close()
	if dr, _ = adm.DeleteGroups(ctx, "admin-g"); dr["admin-g"].Err != nil {
		t.Fatalf("delete empty group: %v", dr["admin-g"].Err)
	}
	offs, err := adm.FetchOffsets(ctx, "admin-g")
	if err != nil {
		t.Fatal(err)
	}
	offs.Each(func(o kadm.OffsetResponse) {
		if o.At >= 0 {
			t.Errorf("offset %s/%d survived the group's deletion: %d", o.Topic, o.Partition, o.At)
		}
	})
}
