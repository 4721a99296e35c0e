package broker

import (
	"context"

	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/runnel-dev/runnel/broker/kafkaserver"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.OffsetForLeaderEpoch, 2, 4, (*Broker).handleOffsetForLeaderEpoch) }

// handleOffsetForLeaderEpoch answers, as each partition's leader, where a
// leader epoch ended: the largest epoch at or below the requested one and the
// offset where the next epoch began, or the log end offset for the current
// epoch. Consumers (replica id -1) use it to detect log truncation after a
// leader change (KIP-320), followers (their broker id) to find where to
// truncate; as in Kafka both are answered by the leader alone and the end
// offset is not bounded by the high watermark. The client's current leader
// epoch, when it sends one, is checked like in Fetch (FENCED_LEADER_EPOCH,
// UNKNOWN_LEADER_EPOCH).
func (b *Broker) handleOffsetForLeaderEpoch(ctx context.Context, r *kafkaserver.Request) (*kafkaserver.Response, error) {
	req := r.Msg.(*kmsg.OffsetForLeaderEpochRequest)
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetForLeaderEpochResponseTopic()
		rt.Topic = t.Topic
		for _, lp := range t.Partitions {
			rp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			rp.Partition = lp.Partition
			rp.LeaderEpoch, rp.EndOffset = commitlog.UndefinedEpoch, commitlog.UndefinedOffset
			p, err := b.partitionFor(t.Topic, lp.Partition)
			var st *partitionState
			if err == nil {
				st, err = p.leaderState(lp.CurrentLeaderEpoch)
			}
			if err == nil {
				rp.LeaderEpoch, rp.EndOffset = endOffsetForEpoch(p.log, st.leaderEpoch, lp.LeaderEpoch)
			}
			rp.ErrorCode = errorCode(err)
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return &kafkaserver.Response{Msg: resp}, nil
}

// endOffsetForEpoch answers OffsetForLeaderEpoch for a leader at epoch
// current. Kafka's leader records its epoch's start offset when it takes
// over; the log here records an epoch with its first append, so until then
// the current epoch is answered as if it were recorded, starting at the log
// end (nothing was appended in it yet).
func endOffsetForEpoch(l partitionLog, current, requested int32) (int32, int64) {
	if requested < 0 || requested > current {
		return commitlog.UndefinedEpoch, commitlog.UndefinedOffset
	}
	latest := l.LatestEpoch()
	if latest >= current || requested < latest {
		return l.EndOffsetForEpoch(requested)
	}
	// latest <= requested <= current, and the current epoch has no entry yet:
	// the epoch after the requested one began at the log end.
	end := l.Offsets().LogEnd
	if requested == current || latest == commitlog.UndefinedEpoch {
		return requested, end
	}
	return latest, end
}
