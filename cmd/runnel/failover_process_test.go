package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/runnel-dev/runnel/raftmeta/controller"
)

// cluster3 is three "runnel broker" processes, every one a raft voter,
// with the default broker session timeout, logging at info level.
type cluster3 struct {
	kafka, raft []string
	procs       []*brokerProc
	cl          *kgo.Client
}

func startCluster3(t *testing.T) *cluster3 {
	t.Helper()
	c := &cluster3{}
	var voters []string
	for i := range 3 {
		c.kafka, c.raft = append(c.kafka, freePort(t)), append(c.raft, freePort(t))
		voters = append(voters, fmt.Sprintf("%d@%s", i+1, c.raft[i]))
	}
	for i := range 3 {
		c.procs = append(c.procs, startBroker(t, c.kafka[i], "--log-level", "info", "--id", strconv.Itoa(i+1), "--raft", c.raft[i],
			"--voters", strings.Join(voters, ","), "--data-dir", filepath.Join(t.TempDir(), "n"+strconv.Itoa(i+1))))
	}
	t.Cleanup(func() {
		if t.Failed() {
			for i, p := range c.procs {
				t.Logf("broker %d log:\n%s", i+1, p.output())
			}
		}
	})
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.kafka...),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordRetries(1<<30), kgo.RequestRetries(1<<30), kgo.RecordDeliveryTimeout(30*time.Second),
		kgo.MetadataMinAge(100*time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	c.cl = cl
	deadline := time.Now().Add(60 * time.Second)
	for {
		md, err := c.metadata()
		if err == nil && len(md.Brokers) == 3 {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("the three brokers never registered: %v %+v", err, md)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// metadata asks the cluster for every topic, bypassing the client's
// metadata cache (kadm's calls may answer from it).
func (c *cluster3) metadata() (*kmsg.MetadataResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return kmsg.NewPtrMetadataRequest().RequestWith(ctx, c.cl)
}

// createRF3 creates a topic with replication factor 3 and
// min.insync.replicas 2 through Kafka's CreateTopics.
func (c *cluster3) createRF3(t *testing.T, name string, partitions int32) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	two := "2"
	resp, err := kadm.NewClient(c.cl).CreateTopic(ctx, partitions, 3, map[string]*string{"min.insync.replicas": &two}, name)
	if err != nil || resp.Err != nil {
		t.Fatalf("create %s: %v %v", name, err, resp.Err)
	}
}

// leaders returns the leader of each partition of topic and the
// controller, as the cluster's metadata says, once every partition has one.
func (c *cluster3) leaders(t *testing.T, topic string, partitions int) (map[int32]int32, int32) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		md, err := c.metadata()
		if err == nil {
			out := map[int32]int32{}
			for _, mt := range md.Topics {
				if mt.Topic == nil || *mt.Topic != topic {
					continue
				}
				for _, p := range mt.Partitions {
					if p.ErrorCode == 0 && p.Leader >= 0 && len(p.Replicas) == 3 {
						out[p.Partition] = p.Leader
					}
				}
			}
			if len(out) == partitions && md.ControllerID > 0 {
				return out, md.ControllerID
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("topic %s never had leaders on 3 replicas: %v", topic, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// produceOne produces one acks=all record to partition p, retrying until it
// is acknowledged or the timeout passes.
func (c *cluster3) produceOne(t *testing.T, topic string, p int32, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return c.cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: p, Value: []byte("v")}).FirstErr()
}

// TestFailoverAfterLeaderKill measures the time from SIGKILL of a partition
// leader to the first acknowledged acks=all produce on that partition, on
// three broker processes with the default 9 s session timeout, both when
// the dead leader was a plain broker and when it also ran the controller.
//
// The topic has replication factor 3 and min.insync.replicas 2: the new
// leader, elected from the ISR, answers acks=all once the other survivor
// has fetched the record.
func TestFailoverAfterLeaderKill(t *testing.T) {
	for _, victimIsController := range []bool{false, true} {
		t.Run(fmt.Sprintf("controller=%v", victimIsController), func(t *testing.T) {
			c := startCluster3(t)
			c.createRF3(t, "failover", 3)
			leaders, ctrl := c.leaders(t, "failover", 3)
			part := int32(-1)
			for p, l := range leaders {
				if (l == ctrl) == victimIsController {
					part = p
				}
			}
			if part < 0 {
				t.Skipf("no partition whose leader is the controller=%v: leaders %v, controller %d", victimIsController, leaders, ctrl)
			}
			victim := leaders[part]
			if err := c.produceOne(t, "failover", part, 30*time.Second); err != nil {
				t.Fatalf("produce before the kill: %v", err)
			}
			start := time.Now()
			c.procs[victim-1].kill()
			if err := c.produceOne(t, "failover", part, 30*time.Second); err != nil {
				t.Fatalf("produce after killing broker %d: %v", victim, err)
			}
			took := time.Since(start)
			after, _ := c.leaders(t, "failover", 3)
			t.Logf("partition %d: leader %d (controller: %v) killed; first acks=all produce acknowledged by broker %d after %v (session timeout 9s)",
				part, victim, victimIsController, after[part], took.Round(time.Millisecond))
			if after[part] == victim {
				t.Fatalf("partition %d still led by the killed broker %d", part, victim)
			}
			if took >= controller.DefaultSessionTimeout {
				t.Errorf("failover took %v, not shorter than the session timeout", took)
			}
		})
	}
}
