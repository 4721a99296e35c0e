package broker

import (
	"context"
	"net"
	"strconv"
	"time"

	"github.com/runnel-dev/runnel/broker/kafkaserver"
	"github.com/runnel-dev/runnel/raftmeta/raftnode"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The voter APIs change the metadata quorum: only the admin listener
// (NodeConfig.AdminListen) serves them, as Kafka serves them on its
// controller listener only.
func init() {
	registerAdmin(kmsg.AddRaftVoter, 0, 0, (*Broker).handleAddRaftVoter)
	registerAdmin(kmsg.RemoveRaftVoter, 0, 0, (*Broker).handleRemoveRaftVoter)
}

// handleAddRaftVoter adds a node to the metadata raft group as a voter (KIP-853).
// The node runs already, started outside --voters, so it waits as a learner;
// this adds it as a learner at the raft address of its first listener, then
// promotes it. The answer comes once the change is applied.
func (b *Broker) handleAddRaftVoter(ctx context.Context, r *kafkaserver.Request) (*kafkaserver.Response, error) {
	req := r.Msg.(*kmsg.AddRaftVoterRequest)
	resp := req.ResponseKind().(*kmsg.AddRaftVoterResponse)
	err := b.addRaftVoter(ctx, req)
	resp.ErrorCode, resp.ErrorMessage = errorCode(err), errorMessage(err)
	return &kafkaserver.Response{Msg: resp}, nil
}

func (b *Broker) addRaftVoter(ctx context.Context, req *kmsg.AddRaftVoterRequest) error {
	if err := b.checkClusterID(req.ClusterID); err != nil {
		return err
	}
	if req.VoterID <= 0 {
		return refuse(kerr.InvalidRequest, "voter id %d must be positive", req.VoterID)
	}
	if len(req.Listeners) == 0 || req.Listeners[0].Host == "" || req.Listeners[0].Port == 0 {
		return refuse(kerr.InvalidRequest, "the new voter's raft listener (host and port) is required")
	}
	addr := net.JoinHostPort(req.Listeners[0].Host, strconv.Itoa(int(req.Listeners[0].Port)))
	ctx, cancel := adminContext(ctx, req.TimeoutMillis)
	defer cancel()
	id := uint64(req.VoterID)
	q, err := b.member.QuorumState(ctx)
	if err != nil {
		return refuse(kerr.RequestTimedOut, "read the metadata quorum: %v", err)
	}
	if quorumMember(q.Voters, id) != nil {
		// Adding it as a learner would demote it.
		return refuse(kerr.DuplicateVoter, "node %d is a voter already", id)
	}
	if err := b.member.AddLearner(ctx, id, addr); err != nil {
		return refuse(kerr.InvalidRequest, "add node %d at %s as a learner: %v", id, addr, err)
	}
	if err := b.awaitCaughtUp(ctx, id, addr); err != nil {
		return err
	}
	if err := b.member.AddVoter(ctx, id, addr); err != nil {
		return refuse(kerr.InvalidRequest, "promote node %d to voter: %v", id, err)
	}
	b.log.Info("raft voter added", "voter", id, "addr", addr)
	return nil
}

// handleRemoveRaftVoter removes a voter from the metadata raft group (KIP-853).
func (b *Broker) handleRemoveRaftVoter(ctx context.Context, r *kafkaserver.Request) (*kafkaserver.Response, error) {
	req := r.Msg.(*kmsg.RemoveRaftVoterRequest)
	resp := req.ResponseKind().(*kmsg.RemoveRaftVoterResponse)
	err := b.checkClusterID(req.ClusterID)
	if err == nil && req.VoterID <= 0 {
		err = refuse(kerr.InvalidRequest, "voter id %d must be positive", req.VoterID)
	}
	if err == nil {
		ctx, cancel := adminContext(ctx, 0)
		defer cancel()
		if err = b.member.RemoveVoter(ctx, uint64(req.VoterID)); err != nil {
			err = refuse(kerr.InvalidRequest, "remove voter %d: %v", req.VoterID, err)
		} else {
			b.log.Info("raft voter removed", "voter", req.VoterID)
		}
	}
	resp.ErrorCode, resp.ErrorMessage = errorCode(err), errorMessage(err)
	return &kafkaserver.Response{Msg: resp}, nil
}

// checkClusterID refuses a request meant for another cluster.
func (b *Broker) checkClusterID(id *string) error {
	if mine := b.member.Image().ClusterID(); id != nil && *id != mine {
		return refuse(kerr.InconsistentClusterID, "cluster id %q is not this cluster's %q", *id, mine)
	}
	return nil
}

// catchUpPoll is how often AddRaftVoter looks at a new learner's progress.
const catchUpPoll = 50 * time.Millisecond

// awaitCaughtUp waits until learner id holds the metadata log up to the
// commit index it joined at. A voter that has not caught up would count
// toward the majority without being able to vote (unreachable, wrong
// address, not started): in a one-voter cluster that stops every metadata
// change. So, as Kafka answers REQUEST_TIMED_OUT to an AddRaftVoter whose
// voter is not caught up, the node then stays a learner, which never counts.
func (b *Broker) awaitCaughtUp(ctx context.Context, id uint64, addr string) error {
	var target int64 = -1
	for {
		q, err := b.member.QuorumState(ctx)
		if err == nil {
			if target < 0 {
				target = int64(q.Commit)
			}
			if m := quorumMember(q.Learners, id); m != nil && m.Match >= target {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return refuse(kerr.RequestTimedOut, "node %d has not caught up with the metadata log (is it running, with its raft listener at %s?); "+
				"it stays a learner, which does not vote: start it and add it again, or remove it with RemoveRaftVoter", id, addr)
		case <-time.After(catchUpPoll):
		}
	}
}

// quorumMember returns member id of ms, nil if it is not there.
func quorumMember(ms []raftnode.QuorumMember, id uint64) *raftnode.QuorumMember {
	for i := range ms {
		if ms[i].ID == id {
			return &ms[i]
		}
	}
	return nil
}
