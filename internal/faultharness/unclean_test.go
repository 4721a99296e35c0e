package faultharness

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// uncleanMetric counts the controller's unclean leader elections.
const uncleanMetric = "runnel_controller_unclean_leader_elections_total"

// uncleanRun lets both followers of a partition fall out of the ISR (their
// fetches cut), writes with acks=all while the leader is alone in the ISR
// (min.insync.replicas=1), then kills the leader and heals the network.
// It returns the cluster, the killed leader and what was acknowledged.
func uncleanRun(t *testing.T, ctx context.Context, topic string, unclean bool) (*Cluster, int, *History) {
	c := StartCluster(t, ClusterOptions{Brokers: 3, BrokerArgs: []string{"--replica-lag-time-max", "2s"}})
	c.CreateTopic(topic, 1, 3, map[string]string{"min.insync.replicas": "1", "unclean.leader.election.enable": strconv.FormatBool(unclean)})
	leader, err := c.Leader(ctx, topic, 0)
	if err != nil {
		t.Fatal(err)
	}
	h := NewHistory()
	cl := c.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RequiredAcks(kgo.AllISRAcks()))
	produce := func(id RecordID) {
		r, err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: 0, Value: id.Value()}).First()
		if err != nil {
			t.Fatalf("produce %s: %v", id, err)
		}
		h.Acked(Ack{ID: id, Partition: 0, Offset: r.Offset})
	}
	for i := range 5 {
		produce(RecordID{Producer: "insync", Seq: i})
	}
	for id := 1; id <= 3; id++ {
		if id != leader {
			c.Net.CutLink(Kafka, id, leader)
		}
	}
	c.waitFor(30*time.Second, func(ctx context.Context) error {
		_, isr, err := PartitionFrom(ctx, c.Broker(leader).Kafka, topic, 0)
		if err == nil && len(isr) != 1 {
			err = fmt.Errorf("ISR %v", isr)
		}
		return err
	})
	for i := range 20 {
		produce(RecordID{Producer: "alone", Seq: i})
	}
	c.Broker(leader).Kill()
	c.Net.HealAll()
	return c, leader, h
}

// With unclean.leader.election.enable=false, a partition whose only
// in-sync replica died stays without a leader (its out-of-sync replicas are
// not elected) and loses nothing: when the old leader returns it leads
// again with every acknowledged record. With it true, an out-of-sync
// replica is elected and the records acknowledged while the leader was
// alone in the ISR are lost: the documented loss, and the only one. The
// controller counts the unclean election in
// runnel_controller_unclean_leader_elections_total, and only that one.
func TestUncleanElection(t *testing.T) {
	t.Run("off", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		defer cancel()
		c, leader, h := uncleanRun(t, ctx, "clean", false)
		// Once the dead leader is fenced the partition has no leader, and
		// keeps none for 10 s.
		c.waitFor(60*time.Second, func(ctx context.Context) error {
			if l, err := c.Leader(ctx, "clean", 0); err == nil {
				return fmt.Errorf("partition led by %d (the dead leader is %d)", l, leader)
			}
			return nil
		})
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			if l, err := c.Leader(ctx, "clean", 0); err == nil {
				t.Fatalf("broker %d, out of the ISR, was elected with unclean election off", l)
			}
			time.Sleep(200 * time.Millisecond)
		}
		if n, err := c.MetricSum(ctx, "runnel_controller_unclean_leader_elections_total"); err != nil || n != 0 {
			t.Fatalf("unclean elections counted with unclean election off: %v %v", n, err)
		}
		c.Restart(leader)
		report, err := c.Verify(ctx, 0, "clean", 1, h)
		if err != nil {
			t.Fatal(err)
		}
		t.Log(report)
		if len(report.Violations) > 0 {
			t.Fatalf("unclean election off lost records:\n%s", report)
		}
		if n, err := c.MetricSum(ctx, uncleanMetric); err != nil || n != 0 {
			t.Errorf("%s = %v (%v) with unclean election off", uncleanMetric, n, err)
		}
	})
	t.Run("on", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		defer cancel()
		c, leader, h := uncleanRun(t, ctx, "unclean", true)
		var elected int
		c.waitFor(60*time.Second, func(ctx context.Context) error {
			l, err := c.Leader(ctx, "unclean", 0)
			if err == nil && l == leader {
				err = fmt.Errorf("the dead broker %d still shows as leader", l)
			}
			elected = l
			return err
		})
		t.Logf("broker %d, out of the ISR, elected after the death of leader %d", elected, leader)
		c.waitFor(30*time.Second, func(ctx context.Context) error {
			n, err := c.MetricSum(ctx, uncleanMetric)
			if err == nil && n != 1 {
				err = fmt.Errorf("%s = %v over the live brokers, want 1", uncleanMetric, n)
			}
			return err
		})
		c.Restart(leader)
		report, err := c.Verify(ctx, 0, "unclean", 1, h)
		if err != nil {
			t.Fatal(err)
		}
		t.Log(report)
		if n := report.Count(Lost); n != 20 || len(report.Violations) != n {
			t.Fatalf("unclean election of broker %d: want exactly the 20 records acknowledged by the lone leader lost:\n%s", elected, report)
		}
		for _, v := range report.Violations {
			if v.ID.Producer != "alone" {
				t.Fatalf("lost a record acknowledged with the full ISR: %s", v)
			}
		}
	})
}
