package broker

import (
	"context"

	"github.com/runnel-dev/runnel/broker/kafkaserver"
	"github.com/runnel-dev/runnel/raftmeta/controller"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.ElectLeaders, 0, 2, (*Broker).handleElectLeaders) }

// outcomeErrors maps the per-partition outcomes of elections and
// reassignments to Kafka errors.
var outcomeErrors = map[string]*kerr.Error{
	controller.ElectionNotNeeded:           kerr.ElectionNotNeeded,
	controller.PreferredLeaderNotAvailable: kerr.PreferredLeaderNotAvailable,
	controller.EligibleLeadersNotAvailable: kerr.EligibleLeadersNotAvailable,
	controller.UnknownTopicOrPartition:     kerr.UnknownTopicOrPartition,
	controller.InvalidReplicaAssignment:    kerr.InvalidReplicaAssignment,
	controller.NoReassignmentInProgress:    kerr.NoReassignmentInProgress,
	replicationFactorChange:                kerr.InvalidReplicationFactor,
}

// handleElectLeaders runs preferred (type 0; the only type of v0) or
// unclean (type 1) leader elections through the controller (KIP-183,
// KIP-460), for the listed partitions or, with null topics, for every
// partition, answering only those that needed an election. A failure of
// the whole request is the top-level error from v1, and each listed
// partition's error in v0.
func (b *Broker) handleElectLeaders(ctx context.Context, r *kafkaserver.Request) (*kafkaserver.Response, error) {
	req := r.Msg.(*kmsg.ElectLeadersRequest)
	resp := req.ResponseKind().(*kmsg.ElectLeadersResponse)
	ctx, cancel := adminContext(ctx, req.TimeoutMillis)
	defer cancel()
	creq := controller.ElectLeadersRequest{Type: controller.ElectionType(req.ElectionType), All: req.Topics == nil}
	if req.Version == 0 {
		creq.Type = controller.ElectPreferred
	}
	if !creq.All {
		creq.Partitions = make(map[string][]int32, len(req.Topics))
		for _, t := range req.Topics {
			creq.Partitions[t.Topic] = append(creq.Partitions[t.Topic], t.Partitions...)
		}
	}
	results, err := b.member.ElectLeaders(ctx, creq)
	if err != nil {
		b.log.Info("elect leaders", "type", creq.Type, "error", err)
		if req.Version >= 1 {
			resp.ErrorCode = errorCode(err)
			return &kafkaserver.Response{Msg: resp}, nil
		}
		for _, t := range req.Topics {
			rt := kmsg.NewElectLeadersResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewElectLeadersResponseTopicPartition()
				rp.Partition, rp.ErrorCode, rp.ErrorMessage = p, errorCode(err), errorMessage(err)
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return &kafkaserver.Response{Msg: resp}, nil
	}
	eachResult(results, func(topic string) {
		rt := kmsg.NewElectLeadersResponseTopic()
		rt.Topic = topic
		resp.Topics = append(resp.Topics, rt)
	}, func(res controller.PartitionResult, code int16, msg *string) {
		rp := kmsg.NewElectLeadersResponseTopicPartition()
		rp.Partition, rp.ErrorCode, rp.ErrorMessage = res.Partition, code, msg
		rt := &resp.Topics[len(resp.Topics)-1]
		rt.Partitions = append(rt.Partitions, rp)
	})
	return &kafkaserver.Response{Msg: resp}, nil
}

// eachResult walks per-partition controller outcomes sorted by topic:
// newTopic is called at the first result of each topic, then add with the
// result's Kafka error code (outcomeErrors; UNKNOWN_SERVER_ERROR for
// others) and message, both zero on success.
func eachResult(results []controller.PartitionResult, newTopic func(topic string), add func(res controller.PartitionResult, code int16, msg *string)) {
	for i, res := range results {
		if i == 0 || results[i-1].Topic != res.Topic {
			newTopic(res.Topic)
		}
		if res.Error == "" {
			add(res, 0, nil)
			continue
		}
		code := kerr.UnknownServerError
		if e, ok := outcomeErrors[res.Error]; ok {
			code = e
		}
		msg := res.Message
		add(res, code.Code, &msg)
	}
}
