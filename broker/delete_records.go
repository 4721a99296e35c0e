package broker

import (
	"context"
	"errors"

	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/runnel-dev/runnel/broker/kafkaserver"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.DeleteRecords, 0, 2, (*Broker).handleDeleteRecords) }

// deleteToHighWatermark is DeleteRecords' offset meaning "everything up to
// the high watermark".
const deleteToHighWatermark = -1

// handleDeleteRecords moves the log start offset of each partition it leads
// up to the requested offset (-1: the high watermark), deleting the segments
// wholly below it; readers below the new start get OFFSET_OUT_OF_RANGE. An
// offset past the high watermark is refused with OFFSET_OUT_OF_RANGE; one
// below the log start changes nothing. The answer's low watermark is the new
// log start. The store is checkpointed before answering, so the new start
// survives a crash. Followers move their log start to the leader's as they
// fetch (up to their high watermark); a topic with cleanup.policy=compact
// alone refuses with POLICY_VIOLATION, as Kafka does. Unlike Kafka, whose timeout_ms bounds
// a wait for that, the answer does not wait for them.
// On a partition with remote segments the start moves in the metadata
// first (the remote log start) and the remote segments wholly below it are
// deleted afterwards (deleteRecords).
func (b *Broker) handleDeleteRecords(ctx context.Context, r *kafkaserver.Request) (*kafkaserver.Response, error) {
	req := r.Msg.(*kmsg.DeleteRecordsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	var moved []*kmsg.DeleteRecordsResponseTopicPartition
	for _, t := range req.Topics {
		rt := kmsg.NewDeleteRecordsResponseTopic()
		rt.Topic = t.Topic
		rt.Partitions = make([]kmsg.DeleteRecordsResponseTopicPartition, 0, len(t.Partitions))
		for _, dp := range t.Partitions {
			rp := kmsg.NewDeleteRecordsResponseTopicPartition()
			rp.Partition, rp.LowWatermark = dp.Partition, -1
			p, err := b.partitionFor(t.Topic, dp.Partition)
			if err == nil {
				_, err = p.leaderState(-1)
			}
			if err == nil {
				err = deletesAllowed(p.state.Load().config, t.Topic)
			}
			var changed bool
			if err == nil {
				rp.LowWatermark, changed, err = b.deleteRecords(ctx, p, dp.Offset)
			}
			rp.ErrorCode = errorCode(err)
			if rp.ErrorCode == kerr.UnknownServerError.Code {
				b.log.Error("delete records", "topic", t.Topic, "partition", dp.Partition, "error", err)
			}
			rt.Partitions = append(rt.Partitions, rp)
			if changed {
				moved = append(moved, &rt.Partitions[len(rt.Partitions)-1])
			}
		}
		resp.Topics = append(resp.Topics, rt)
	}
	if len(moved) > 0 {
		if err := b.store.Checkpoint(); err != nil {
			// The records are gone from the logs, but a crash could bring
			// the old start back; the client may retry, which is harmless.
			b.log.Error("checkpoint after delete records", "error", err)
			for _, rp := range moved {
				rp.ErrorCode = kerr.KafkaStorageError.Code
			}
		}
	}
	return &kafkaserver.Response{Msg: resp}, nil
}

// deletesAllowed refuses DeleteRecords on a topic whose cleanup.policy is
// compact alone, with POLICY_VIOLATION, as Kafka does.
func deletesAllowed(cfg map[string]string, topic string) error {
	policy, ok := cfg[metadata.ConfigCleanupPolicy]
	if !ok {
		return nil
	}
	if deletes, _, valid := metadata.CleanupPolicy(policy); valid && !deletes {
		return refuse(kerr.PolicyViolation, "records of topic %s cannot be deleted: its cleanup.policy is %s", topic, policy)
	}
	return nil
}

// deleteRecordsBefore moves l's log start up to offset and returns the new
// start and whether it moved.
func deleteRecordsBefore(l partitionLog, offset int64) (int64, bool, error) {
	o := l.Offsets()
	if offset == deleteToHighWatermark {
		offset = o.HighWatermark
	}
	if offset < 0 || offset > o.HighWatermark {
		return -1, false, kerr.OffsetOutOfRange
	}
	start, err := l.DeleteRecordsBefore(offset)
	if errors.Is(err, commitlog.ErrInvalidRequest) {
		// The high watermark went back (the log was truncated) since it
		// was read above.
		return -1, false, kerr.OffsetOutOfRange
	}
	if err != nil {
		return -1, false, err
	}
	return start, start > o.LogStart, nil
}
