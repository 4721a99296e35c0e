package broker_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/runnel-dev/runnel/internal/testwait"
)

// TestPartitionReassignment moves a replica with kadm's
// AlterPartitionAssignments (KIP-455) on three brokers: the new replica is
// down at first, so ListPartitionReassignments shows the move in progress
// (and a cancel goes back); once it runs it catches up by replication,
// joins the ISR, and the controller drops the old replica, whose broker
// then removes its copy. Every record written before is served after.
func TestPartitionReassignment(t *testing.T) {
	c := brokertest.Start(t, 3, brokertest.Options{})
	c.WaitForBrokers(3)
	c.CreateReplicatedTopic("mv", 1, 2, nil)
	cl := c.Client(kgo.DefaultProduceTopic("mv"), kgo.RequiredAcks(kgo.AllISRAcks()))
	ctx := adminCtx(t)
	var values []string
	for i := range 50 {
		values = append(values, fmt.Sprintf("v%02d", i))
	}
	for i, err := range produceSync(ctx, cl, "mv", values...) {
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	before := partitionOf(t, c, "mv", 0)
	old, kept := before.Replicas[0], before.Replicas[1]
	fresh := 6 - old - kept
	target := []int32{fresh, kept}

	adm := c.Admin()
	assign := func(replicas []int32) {
		t.Helper()
		var req kadm.AlterPartitionAssignmentsReq
		req.Assign("mv", 0, replicas)
		req.Assign("nope", 0, target)
		res, err := adm.AlterPartitionAssignments(adminCtx(t), req)
		if err != nil {
			t.Fatal(err)
		}
		if r := res["mv"][0]; r.Err != nil {
			t.Fatalf("assign mv/0 %v: %v %s", replicas, r.Err, r.ErrMessage)
		}
		if r := res["nope"][0]; !errors.Is(r.Err, kerr.UnknownTopicOrPartition) {
			t.Fatalf("assign nope/0: %v", r.Err)
		}
	}
	listed := func() (kadm.ListPartitionReassignmentsResponse, bool) {
		t.Helper()
		res, err := adm.ListPartitionReassignments(adminCtx(t), kadm.TopicsSet{"mv": {0: {}}})
		if err != nil {
			t.Fatal(err)
		}
		r, ok := res["mv"][0]
		return r, ok
	}

	// A replication factor change is refused when the request forbids it.
	kreq := kmsg.NewPtrAlterPartitionAssignmentsRequest()
	kreq.Version, kreq.AllowReplicationFactorChange = 1, false
	kt := kmsg.NewAlterPartitionAssignmentsRequestTopic()
	kt.Topic = "mv"
	kp := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()
	kp.Replicas = []int32{1, 2, 3}
	kt.Partitions = append(kt.Partitions, kp)
	kreq.Topics = append(kreq.Topics, kt)
	kresp, err := kreq.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if code := kresp.Topics[0].Partitions[0].ErrorCode; code != kerr.InvalidReplicationFactor.Code {
		t.Fatalf("replication factor change: %v", kerr.ErrorForCode(code))
	}

	c.Stop(int(fresh - 1))
	assign(target)
	// Every broker's image catches up with the controller's a moment later.
	testwait.For(t, 10*time.Second, 20*time.Millisecond, func() error {
		r, ok := listed()
		if !ok || !slices.Equal(r.Replicas, []int32{fresh, kept, old}) || !slices.Equal(r.AddingReplicas, []int32{fresh}) || !slices.Equal(r.RemovingReplicas, []int32{old}) {
			return fmt.Errorf("in progress: %+v %v", r, ok)
		}
		return nil
	})
	// Cancel: back to the old replicas, nothing listed.
	var cancelReq kadm.AlterPartitionAssignmentsReq
	cancelReq.CancelAssign("mv", 0)
	if res, err := adm.AlterPartitionAssignments(adminCtx(t), cancelReq); err != nil || res["mv"][0].Err != nil {
		t.Fatalf("cancel: %v %+v", err, res)
	}
	testwait.For(t, 10*time.Second, 20*time.Millisecond, func() error {
		if r, ok := listed(); ok {
			return fmt.Errorf("listed after cancel: %+v", r)
		}
		if p := partitionOf(t, c, "mv", 0); !slices.Contains(p.Replicas, old) || slices.Contains(p.Replicas, fresh) {
			return fmt.Errorf("after cancel: %+v", p)
		}
		return nil
	})
	if res, err := adm.AlterPartitionAssignments(adminCtx(t), cancelReq); err != nil || !errors.Is(res["mv"][0].Err, kerr.NoReassignmentInProgress) {
		t.Fatalf("second cancel: %v %+v", err, res)
	}

	// Again, and the new replica comes up: it catches up and the move ends.
	assign(target)
	c.Restart(int(fresh - 1))
	testwait.For(t, 60*time.Second, 50*time.Millisecond, func() error {
		p := partitionOf(t, c, "mv", 0)
		if p.Reassigning() || !slices.Equal(p.Replicas, target) || slices.Contains(p.ISR, old) {
			return fmt.Errorf("partition %+v", p)
		}
		return nil
	})
	testwait.For(t, 10*time.Second, 20*time.Millisecond, func() error {
		if r, ok := listed(); ok {
			return fmt.Errorf("listed after completion: %+v", r)
		}
		return nil
	})
	waitReplicated(t, c, "mv", 0, int64(len(values)))
	if got := valuesOf(t, logBytes(t, logOf(t, c, int(fresh-1), "mv", 0))); !slices.Equal(got, values) {
		t.Fatalf("new replica holds %v", got)
	}
	testwait.For(t, 30*time.Second, 50*time.Millisecond, func() error {
		if _, ok := c.Nodes[old-1].Broker.Log(commitlog.TopicPartition{Topic: "mv", Partition: 0}); ok {
			return fmt.Errorf("broker %d still serves its copy", old)
		}
		return nil
	})
	for i, err := range produceSync(ctx, cl, "mv", "after") {
		if err != nil {
			t.Fatalf("produce after the move, record %d: %v", i, err)
		}
	}
}
