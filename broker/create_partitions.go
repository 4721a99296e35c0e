package broker

import (
	"context"

	"github.com/runnel-dev/runnel/broker/kafkaserver"
	"github.com/runnel-dev/runnel/raftmeta/controller"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/runnel-dev/runnel/internal/plural"
)

func init() { register(kmsg.CreatePartitions, 0, 3, (*Broker).handleCreatePartitions) }

// handleCreatePartitions raises topics' partition counts through the
// controller, each topic on its own. The count can only grow, up to
// maxTopicPartitions; the new partitions are placed like a new topic's, with
// the topic's replication factor, so manual assignments are refused. With
// validate_only the request is checked and nothing changes.
func (b *Broker) handleCreatePartitions(ctx context.Context, r *kafkaserver.Request) (*kafkaserver.Response, error) {
	req := r.Msg.(*kmsg.CreatePartitionsRequest)
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	ctx, cancel := adminContext(ctx, req.TimeoutMillis)
	defer cancel()

	count := make(map[string]int, len(req.Topics))
	for _, t := range req.Topics {
		count[t.Topic]++
	}
	answered := make(map[string]bool, len(req.Topics))
	img := b.member.Image()
	live := liveBrokers(img)
	for _, t := range req.Topics {
		if answered[t.Topic] {
			continue
		}
		answered[t.Topic] = true
		rt := kmsg.NewCreatePartitionsResponseTopic()
		rt.Topic = t.Topic
		var err error
		mt, exists := img.Topic(t.Topic)
		switch {
		case count[t.Topic] > 1:
			err = refuse(kerr.InvalidRequest, "topic %q is listed %d times in the request", t.Topic, count[t.Topic])
		case t.Assignment != nil:
			err = refuse(kerr.InvalidRequest, "manual replica assignment is not supported: leave the assignment empty and the new partitions are placed on the live brokers")
		case !exists:
			err = refuse(kerr.UnknownTopicOrPartition, "topic %q does not exist", t.Topic)
		case t.Count == int32(len(mt.Partitions)):
			err = refuse(kerr.InvalidPartitions, "topic %q already has %s", t.Topic, plural.Noun(t.Count, "partition"))
		case t.Count < int32(len(mt.Partitions)):
			err = refuse(kerr.InvalidPartitions, "topic %q has %d partitions, more than the requested %d: partitions can only be added", t.Topic, len(mt.Partitions), t.Count)
		case t.Count > maxTopicPartitions:
			err = refuse(kerr.InvalidPartitions, "%d partitions: a topic may have at most %d", t.Count, maxTopicPartitions)
		case mt.ReplicationFactor() > live:
			err = refuse(kerr.InvalidReplicationFactor, "topic %q has replication factor %d, larger than the %s", t.Topic, mt.ReplicationFactor(), plural.Noun(live, "available broker"))
		case !req.ValidateOnly:
			_, err = b.member.CreatePartitions(ctx, controller.CreatePartitionsRequest{Name: t.Topic, Count: t.Count})
		}
		if err != nil {
			rt.ErrorCode, rt.ErrorMessage = errorCode(err), errorMessage(err)
			if rt.ErrorCode == kerr.UnknownServerError.Code {
				b.log.Error("create partitions", "topic", t.Topic, "error", err)
			}
		} else if !req.ValidateOnly {
			b.log.Info("added partitions", "topic", t.Topic, "partitions", t.Count)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return &kafkaserver.Response{Msg: resp}, nil
}
