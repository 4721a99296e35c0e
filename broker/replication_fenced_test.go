package broker_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/broker"
	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/runnel-dev/runnel/broker/recordbatch"
	"github.com/runnel-dev/runnel/internal/testwait"
	"github.com/runnel-dev/runnel/raftmeta/controller"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// movedOnController answers every AlterPartition as a controller whose
// image gave the partition to another leader epoch, which this broker's
// image has not seen.
type movedOnController struct{ broker.Member }

func (movedOnController) AlterPartition(context.Context, controller.AlterPartitionRequest) (metadata.Partition, error) {
	return metadata.Partition{}, fmt.Errorf("%w: the partition moved on", controller.ErrFencedLeaderEpoch)
}

// TestCutOffLeaderNeverAcknowledges: a leader whose followers stopped
// fetching tries to shrink its ISR; the controller refuses because the
// leader epoch moved. The acks=all produce waiting meanwhile fails with
// NOT_LEADER_OR_FOLLOWER long before its timeout, the high watermark stays
// where it was, and later acks=all produces are refused before anything is
// written.
func TestCutOffLeaderNeverAcknowledges(t *testing.T) {
	tb := brokertest.StartBroker(t, brokertest.Options{ReplicaLagTimeMax: 300 * time.Millisecond,
		WrapMember: func(m broker.Member) broker.Member { return movedOnController{m} }})
	ctx := context.Background()
	for _, id := range []int32{2, 3} {
		if _, err := tb.Member.RegisterBroker(ctx, id, fmt.Sprintf("127.0.0.1:%d", 1), ""); err != nil {
			t.Fatal(err)
		}
	}
	// Replicated on 1, 2 and 3, led by 1 with all three in sync; 2 and 3
	// never fetch.
	if _, err := tb.Member.CreateTopic(ctx, controller.CreateTopicRequest{Name: "cut", Partitions: 1, ReplicationFactor: 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := tb.Member.SetPartition("cut", 0, 1, []int32{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	var l *commitlog.Log
	testwait.For(t, 10*time.Second, 5*time.Millisecond, func() error {
		var ok bool
		if l, ok = tb.Broker.Log(commitlog.TopicPartition{Topic: "cut", Partition: 0}); !ok {
			return errors.New("partition not opened")
		}
		return nil
	})
	cl := tb.Client()
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, 20000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "cut"
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = buildBatch(t, recordbatch.BuildOptions{}, time.Now().UnixMilli(), "never acknowledged")
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	start := time.Now()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	got := kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode)
	if !errors.Is(got, kerr.NotLeaderForPartition) || time.Since(start) > 10*time.Second {
		t.Fatalf("acks=all on a refused leader: %v after %v, want NOT_LEADER_OR_FOLLOWER before the 20 s timeout", got, time.Since(start))
	}
	if o := l.Offsets(); o.HighWatermark != 0 || o.LogEnd != 1 {
		t.Fatalf("high watermark %d, log end %d; want 0 and 1", o.HighWatermark, o.LogEnd)
	}
	resp, err = req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if got := kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode); !errors.Is(got, kerr.NotLeaderForPartition) {
		t.Fatalf("next acks=all: %v, want NOT_LEADER_OR_FOLLOWER", got)
	}
	if end := l.Offsets().LogEnd; end != 1 {
		t.Fatalf("log end %d after a refused acks=all, want 1", end)
	}
}
