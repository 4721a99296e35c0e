package broker_test

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/runnel-dev/runnel/broker"
	"github.com/runnel-dev/runnel/internal/testwait"
)

// TestAddRaftVoterWaitsForCatchUp adds, to a one-voter cluster, a voter
// nothing listens for: a voter that cannot be reached would make every
// metadata change wait for it (two voters need both). AddRaftVoter answers
// REQUEST_TIMED_OUT naming the node and its address, the node stays a
// learner, and topics can still be created; re-adding the voter the cluster
// has is refused with DUPLICATE_VOTER instead of demoting it; the learner
// is removed with RemoveRaftVoter.
func TestAddRaftVoterWaitsForCatchUp(t *testing.T) {
	node, err := broker.StartNode(broker.NodeConfig{
		ID: 1, DataDir: t.TempDir(), KafkaListen: "127.0.0.1:0", RaftListen: "127.0.0.1:0", AdminListen: "127.0.0.1:0",
		Voters: map[uint64]string{1: "127.0.0.1:0"}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	admin := node.AdminAddr()
	quorum := func() kmsg.DescribeQuorumResponseTopicPartition {
		req := kmsg.NewPtrDescribeQuorumRequest()
		rt := kmsg.NewDescribeQuorumRequestTopic()
		rt.Topic = "__cluster_metadata"
		rt.Partitions = append(rt.Partitions, kmsg.NewDescribeQuorumRequestTopicPartition())
		req.Topics = append(req.Topics, rt)
		return rawRequest(t, admin, req).(*kmsg.DescribeQuorumResponse).Topics[0].Partitions[0]
	}
	testwait.For(t, 20*time.Second, 20*time.Millisecond, func() error {
		if q := quorum(); q.LeaderID != 1 {
			return fmt.Errorf("no leader yet: %+v", q)
		}
		return nil
	})

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().(*net.TCPAddr)
	ln.Close()
	add := func(id int32, port int) *kmsg.AddRaftVoterResponse {
		req := kmsg.NewPtrAddRaftVoterRequest()
		req.VoterID, req.TimeoutMillis = id, 1500
		l := kmsg.NewAddRaftVoterRequestListener()
		l.Name, l.Host, l.Port = "CONTROLLER", "127.0.0.1", uint16(port)
		req.Listeners = append(req.Listeners, l)
		return rawRequest(t, admin, req).(*kmsg.AddRaftVoterResponse)
	}
	resp := add(2, dead.Port)
	if resp.ErrorCode != kerr.RequestTimedOut.Code || resp.ErrorMessage == nil ||
		!strings.Contains(*resp.ErrorMessage, "node 2 has not caught up") || !strings.Contains(*resp.ErrorMessage, dead.String()) {
		t.Fatalf("adding an unreachable voter: %+v (%v)", resp, kerr.ErrorForCode(resp.ErrorCode))
	}
	q := quorum()
	if len(q.CurrentVoters) != 1 || len(q.Observers) != 1 || q.Observers[0].ReplicaID != 2 {
		t.Fatalf("after the refused add: voters %+v, observers %+v", q.CurrentVoters, q.Observers)
	}
	create := kmsg.NewPtrCreateTopicsRequest()
	ct := kmsg.NewCreateTopicsRequestTopic()
	ct.Topic, ct.NumPartitions, ct.ReplicationFactor = "still-writable", 1, 1
	create.Topics, create.TimeoutMillis = append(create.Topics, ct), 10000
	create.SetVersion(7)
	if cr := rawRequest(t, node.KafkaAddr(), create).(*kmsg.CreateTopicsResponse); cr.Topics[0].ErrorCode != 0 {
		t.Fatalf("create a topic with a learner that never came: %v", kerr.ErrorForCode(cr.Topics[0].ErrorCode))
	}

	raftPort := 0
	for _, n := range rawDescribeNodes(t, admin) {
		if n.NodeID == 1 {
			raftPort = int(n.Listeners[0].Port)
		}
	}
	if resp := add(1, raftPort); resp.ErrorCode != kerr.DuplicateVoter.Code {
		t.Fatalf("adding voter 1 again: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	if q := quorum(); len(q.CurrentVoters) != 1 || q.CurrentVoters[0].ReplicaID != 1 {
		t.Fatalf("voters after adding 1 again: %+v", q.CurrentVoters)
	}

	rm := kmsg.NewPtrRemoveRaftVoterRequest()
	rm.VoterID = 2
	if resp := rawRequest(t, admin, rm).(*kmsg.RemoveRaftVoterResponse); resp.ErrorCode != 0 {
		t.Fatalf("remove learner 2: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	if q := quorum(); len(q.Observers) != 0 {
		t.Fatalf("observers after removing 2: %+v", q.Observers)
	}
}

// rawDescribeNodes returns DescribeQuorum v2's nodes.
func rawDescribeNodes(t *testing.T, addr string) []kmsg.DescribeQuorumResponseNode {
	t.Helper()
	req := kmsg.NewPtrDescribeQuorumRequest()
	req.SetVersion(2)
	rt := kmsg.NewDescribeQuorumRequestTopic()
	rt.Topic = "__cluster_metadata"
	rt.Partitions = append(rt.Partitions, kmsg.NewDescribeQuorumRequestTopicPartition())
	req.Topics = append(req.Topics, rt)
	return rawRequest(t, addr, req).(*kmsg.DescribeQuorumResponse).Nodes
}
