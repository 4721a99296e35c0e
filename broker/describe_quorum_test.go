package broker_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/runnel-dev/runnel/broker/brokertest"
)

// TestDescribeQuorum asks every broker of a three-voter cluster to describe
// the metadata quorum: all name the same leader and the three voters, with
// every voter's log end as the leader knows it, up to its high watermark; the v2
// nodes carry each voter's raft address; another topic is refused.
func TestDescribeQuorum(t *testing.T) {
	c := brokertest.Start(t, 3, brokertest.Options{})
	cl := c.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	describe := func(id int32, topic string) *kmsg.DescribeQuorumResponse {
		t.Helper()
		req := kmsg.NewPtrDescribeQuorumRequest()
		rt := kmsg.NewDescribeQuorumRequestTopic()
		rt.Topic = topic
		rt.Partitions = append(rt.Partitions, kmsg.NewDescribeQuorumRequestTopicPartition())
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl.Broker(int(id)))
		if err != nil {
			t.Fatalf("DescribeQuorum to broker %d: %v", id, err)
		}
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("broker %d: answer %+v", id, resp)
		}
		return resp
	}
	var leader int32
	for id := int32(1); id <= 3; id++ {
		p := describe(id, "__cluster_metadata").Topics[0].Partitions[0]
		if p.ErrorCode != 0 || p.LeaderID < 1 || p.LeaderEpoch < 1 || p.HighWatermark < 1 || len(p.CurrentVoters) != 3 || len(p.Observers) != 0 {
			t.Fatalf("broker %d: %+v", id, p)
		}
		if leader != 0 && p.LeaderID != leader {
			t.Fatalf("broker %d names leader %d, another named %d", id, p.LeaderID, leader)
		}
		for _, v := range p.CurrentVoters {
			if v.LogEndOffset < 0 {
				t.Errorf("broker %d does not give the leader's view of voter %d: %+v", id, v.ReplicaID, v)
			}
		}
		leader = p.LeaderID
	}
	resp := describe(leader, "__cluster_metadata")
	p := resp.Topics[0].Partitions[0]
	for i, v := range p.CurrentVoters {
		if v.ReplicaID != int32(i+1) || v.LogEndOffset < 0 || v.LogEndOffset > p.HighWatermark+100 {
			t.Errorf("leader's view of voter %d: %+v (high watermark %d)", i+1, v, p.HighWatermark)
		}
	}
	if len(resp.Nodes) != 3 {
		t.Errorf("nodes: %+v", resp.Nodes)
	}
	for _, n := range resp.Nodes {
		if len(n.Listeners) != 1 || n.Listeners[0].Name != "CONTROLLER" || n.Listeners[0].Port == 0 {
			t.Errorf("node %d listeners %+v", n.NodeID, n.Listeners)
		}
	}
	bad := describe(leader, "orders").Topics[0].Partitions[0]
	if bad.ErrorCode != kerr.UnknownTopicOrPartition.Code || bad.ErrorMessage == nil {
		t.Errorf("another topic: %+v", bad)
	}
}
