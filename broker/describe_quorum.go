package broker

import (
	"context"
	"net"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/runnel-dev/runnel/broker/kafkaserver"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
	"github.com/runnel-dev/runnel/raftmeta/raftnode"
)

func init() { register(kmsg.DescribeQuorum, 0, 2, (*Broker).handleDescribeQuorum) }

// raftListenerName names the raft address of a quorum member in
// DescribeQuorum v2's nodes, as Kafka names its controller listener.
const raftListenerName = "CONTROLLER"

// handleDescribeQuorum describes the metadata raft group (KIP-595, as
// kafka-metadata-quorum's describe): its leader, term (the leader epoch),
// commit index (the high watermark), voters and learners (observers) with
// how far their logs reach, and (v2) their raft addresses, as the raft
// leader knows them (asked through the metadata member when this node does
// not lead). Partition 0 of __cluster_metadata is the only one.
func (b *Broker) handleDescribeQuorum(ctx context.Context, r *kafkaserver.Request) (*kafkaserver.Response, error) {
	req := r.Msg.(*kmsg.DescribeQuorumRequest)
	resp := req.ResponseKind().(*kmsg.DescribeQuorumResponse)
	var q *raftnode.QuorumState
	for _, rt := range req.Topics {
		st := kmsg.NewDescribeQuorumResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewDescribeQuorumResponseTopicPartition()
			sp.Partition = rp.Partition
			if rt.Topic != metadata.TopicClusterMetadata || rp.Partition != 0 {
				err := refuse(kerr.UnknownTopicOrPartition, "the metadata quorum is partition 0 of %s, not %s/%d", metadata.TopicClusterMetadata, rt.Topic, rp.Partition)
				sp.ErrorCode = errorCode(err)
				if req.Version >= 2 {
					sp.ErrorMessage = errorMessage(err)
				}
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			if q == nil {
				qctx, cancel := adminContext(ctx, 0)
				s, err := b.member.QuorumState(qctx)
				cancel()
				if err != nil {
					err = refuse(kerr.RequestTimedOut, "the metadata quorum's leader did not answer: %v", err)
					sp.ErrorCode = errorCode(err)
					if req.Version >= 2 {
						sp.ErrorMessage = errorMessage(err)
					}
					st.Partitions = append(st.Partitions, sp)
					continue
				}
				q = &s
			}
			sp.LeaderID, sp.LeaderEpoch, sp.HighWatermark = int32(q.Leader), int32(q.Term), int64(q.Commit)
			if q.Leader == 0 {
				sp.LeaderID = -1
			}
			sp.CurrentVoters = quorumReplicas(q.Voters)
			sp.Observers = quorumReplicas(q.Learners)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	if q != nil && req.Version >= 2 {
		for _, m := range append(append([]raftnode.QuorumMember{}, q.Voters...), q.Learners...) {
			host, port, err := net.SplitHostPort(m.Addr)
			p, perr := strconv.ParseUint(port, 10, 16)
			if err != nil || perr != nil {
				continue // address not known (yet)
			}
			n := kmsg.NewDescribeQuorumResponseNode()
			n.NodeID = int32(m.ID)
			l := kmsg.NewDescribeQuorumResponseNodeListener()
			l.Name, l.Host, l.Port = raftListenerName, host, uint16(p)
			n.Listeners = append(n.Listeners, l)
			resp.Nodes = append(resp.Nodes, n)
		}
	}
	return &kafkaserver.Response{Msg: resp}, nil
}

func quorumReplicas(ms []raftnode.QuorumMember) []kmsg.DescribeQuorumResponseTopicPartitionReplicaState {
	out := make([]kmsg.DescribeQuorumResponseTopicPartitionReplicaState, 0, len(ms))
	for _, m := range ms {
		rs := kmsg.NewDescribeQuorumResponseTopicPartitionReplicaState()
		rs.ReplicaID, rs.LogEndOffset = int32(m.ID), m.Match
		out = append(out, rs)
	}
	return out
}
