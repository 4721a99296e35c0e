package main

import (
	"fmt"
	"net"
	"sort"
	"strconv"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// clusterMetadataTopic is the metadata quorum's topic in DescribeQuorum.
const clusterMetadataTopic = "__cluster_metadata"

// clusterView is what "runnel admin cluster" prints.
type clusterView struct {
	ClusterID    string       `json:"cluster_id"`
	ControllerID int32        `json:"controller_id"`
	Brokers      []brokerView `json:"brokers"`
	Quorum       quorumView   `json:"quorum"`
}

type brokerView struct {
	ID   int32  `json:"id"`
	Host string `json:"host"`
	Port int32  `json:"port"`
	Rack string `json:"rack,omitempty"`
}

type quorumView struct {
	LeaderID      int32      `json:"leader_id"`
	LeaderEpoch   int32      `json:"leader_epoch"`
	HighWatermark int64      `json:"high_watermark"`
	Voters        []raftNode `json:"voters"`
	Observers     []raftNode `json:"observers"`
}

// raftNode is one member of the metadata quorum. LogEndOffset is -1 when
// the answering broker does not know it (only the leader does).
type raftNode struct {
	ID           int32  `json:"id"`
	RaftAddress  string `json:"raft_address,omitempty"`
	LogEndOffset int64  `json:"log_end_offset"`
}

func adminClusterCommand() *command {
	var af adminFlags
	return &command{
		name:    "cluster",
		summary: "show the brokers, the controller and the metadata quorum",
		help: `Show the cluster id, the live brokers with their addresses, the active
controller and the metadata raft quorum: its leader, epoch and high watermark,
the voters and the observers (learners) with how far their logs reach.`,
		flags: af.register,
		run: af.run(func(s *adminSession, inv *invocation) error {
			v, err := s.describeCluster()
			if err != nil {
				return err
			}
			if af.json {
				return printJSON(inv.stdout, v)
			}
			return printCluster(inv, v)
		}),
	}
}

func (s *adminSession) describeCluster() (clusterView, error) {
	var v clusterView
	md, err := s.adm.BrokerMetadata(s.ctx)
	if err != nil {
		return v, s.wireError("describe the brokers", err)
	}
	v.ClusterID, v.ControllerID = md.Cluster, md.Controller
	for _, b := range md.Brokers {
		bv := brokerView{ID: b.NodeID, Host: b.Host, Port: b.Port}
		if b.Rack != nil {
			bv.Rack = *b.Rack
		}
		v.Brokers = append(v.Brokers, bv)
	}
	sort.Slice(v.Brokers, func(i, j int) bool { return v.Brokers[i].ID < v.Brokers[j].ID })
	// Any broker answers with the raft leader's view.
	q, err := s.describeQuorum(s.cl.SeedBrokers()[0])
	if err != nil {
		return v, err
	}
	v.Quorum = q
	return v, nil
}

// describeQuorum sends DescribeQuorum to one broker.
func (s *adminSession) describeQuorum(to *kgo.Broker) (quorumView, error) {
	var q quorumView
	req := kmsg.NewPtrDescribeQuorumRequest()
	rt := kmsg.NewDescribeQuorumRequestTopic()
	rt.Topic = clusterMetadataTopic
	rt.Partitions = append(rt.Partitions, kmsg.NewDescribeQuorumRequestTopicPartition())
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(s.ctx, to)
	if err != nil {
		return q, s.wireError("describe the metadata quorum", err)
	}
	if err := kafkaError("describe the metadata quorum", resp.ErrorCode, resp.ErrorMessage); err != nil {
		return q, err
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return q, fmt.Errorf("describe the metadata quorum: the broker answered for %d topics, want 1", len(resp.Topics))
	}
	p := resp.Topics[0].Partitions[0]
	if err := kafkaError("describe the metadata quorum", p.ErrorCode, p.ErrorMessage); err != nil {
		return q, err
	}
	addrs := map[int32]string{}
	for _, n := range resp.Nodes {
		if len(n.Listeners) > 0 {
			l := n.Listeners[0]
			addrs[n.NodeID] = net.JoinHostPort(l.Host, strconv.Itoa(int(l.Port)))
		}
	}
	q.LeaderID, q.LeaderEpoch, q.HighWatermark = p.LeaderID, p.LeaderEpoch, p.HighWatermark
	conv := func(rs []kmsg.DescribeQuorumResponseTopicPartitionReplicaState) []raftNode {
		out := []raftNode{}
		for _, r := range rs {
			out = append(out, raftNode{ID: r.ReplicaID, RaftAddress: addrs[r.ReplicaID], LogEndOffset: r.LogEndOffset})
		}
		return out
	}
	q.Voters, q.Observers = conv(p.CurrentVoters), conv(p.Observers)
	return q, nil
}

func printCluster(inv *invocation, v clusterView) error {
	w := inv.stdout
	t := newTable(w, "Cluster ID:", v.ClusterID)
	t.row("Controller:", idOrNone(v.ControllerID))
	if err := t.flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	t = newTable(w, "BROKER", "HOST", "PORT", "RACK")
	for _, b := range v.Brokers {
		t.row(strconv.Itoa(int(b.ID)), b.Host, strconv.Itoa(int(b.Port)), dash(b.Rack))
	}
	if err := t.flush(); err != nil {
		return err
	}
	q := v.Quorum
	fmt.Fprintf(w, "\nMetadata quorum: leader %s, epoch %d, high watermark %d\n", idOrNone(q.LeaderID), q.LeaderEpoch, q.HighWatermark)
	t = newTable(w, "NODE", "ROLE", "RAFT ADDRESS", "LOG END", "LAG")
	add := func(n raftNode, role string) {
		end, lag := "-", "-"
		if n.LogEndOffset >= 0 {
			end = strconv.FormatInt(n.LogEndOffset, 10)
			lag = strconv.FormatInt(max(q.HighWatermark-n.LogEndOffset, 0), 10)
		}
		t.row(strconv.Itoa(int(n.ID)), role, dash(n.RaftAddress), end, lag)
	}
	for _, n := range q.Voters {
		role := "follower"
		if n.ID == q.LeaderID {
			role = "leader"
		}
		add(n, role)
	}
	for _, n := range q.Observers {
		add(n, "observer")
	}
	return t.flush()
}

// idOrNone shows a node id, or "none" for -1.
func idOrNone(id int32) string {
	if id < 0 {
		return "none"
	}
	return strconv.Itoa(int(id))
}
