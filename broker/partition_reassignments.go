package broker

import (
	"cmp"
	"context"
	"slices"

	"github.com/runnel-dev/runnel/broker/kafkaserver"
	"github.com/runnel-dev/runnel/raftmeta/controller"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(kmsg.AlterPartitionAssignments, 0, 1, (*Broker).handleAlterPartitionReassignments)
	register(kmsg.ListPartitionReassignments, 0, 0, (*Broker).handleListPartitionReassignments)
}

// replicationFactorChange is the outcome of a target refused here because
// it changes the replication factor (KIP-860).
const replicationFactorChange = "replication_factor_change"

// handleAlterPartitionReassignments starts (replicas given) or cancels
// (replicas null) replica reassignments through the controller (KIP-455).
// The new replicas catch up by replication; once they are all in the ISR
// the controller drops the replicas that are not in the target. From v1, a
// target of another size than the partition's replication factor is
// refused (INVALID_REPLICATION_FACTOR) unless the request allows it
// (KIP-860).
func (b *Broker) handleAlterPartitionReassignments(ctx context.Context, r *kafkaserver.Request) (*kafkaserver.Response, error) {
	req := r.Msg.(*kmsg.AlterPartitionAssignmentsRequest)
	resp := req.ResponseKind().(*kmsg.AlterPartitionAssignmentsResponse)
	resp.AllowReplicationFactorChange = req.AllowReplicationFactorChange
	ctx, cancel := adminContext(ctx, req.TimeoutMillis)
	defer cancel()
	img := b.member.Image()
	creq := controller.ReassignRequest{Topics: map[string][]controller.PartitionReassignment{}}
	var refused []controller.PartitionResult
	for _, t := range req.Topics {
		mt, exists := img.Topic(t.Topic)
		for _, p := range t.Partitions {
			pr := controller.PartitionReassignment{Partition: p.Partition, Replicas: p.Replicas, Cancel: p.Replicas == nil}
			if req.Version >= 1 && !req.AllowReplicationFactorChange && !pr.Cancel && exists &&
				p.Partition >= 0 && int(p.Partition) < len(mt.Partitions) && len(p.Replicas) != len(mt.Partitions[p.Partition].TargetReplicas()) {
				refused = append(refused, controller.PartitionResult{Topic: t.Topic, Partition: p.Partition, Error: replicationFactorChange,
					Message: "the target changes the replication factor and the request does not allow it"})
				continue
			}
			creq.Topics[t.Topic] = append(creq.Topics[t.Topic], pr)
		}
	}
	results, err := b.member.ReassignPartitions(ctx, creq)
	if err != nil {
		b.log.Info("alter partition reassignments", "error", err)
		resp.ErrorCode, resp.ErrorMessage = errorCode(err), errorMessage(err)
		return &kafkaserver.Response{Msg: resp}, nil
	}
	results = append(results, refused...)
	slices.SortStableFunc(results, func(a, b controller.PartitionResult) int {
		return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	eachResult(results, func(topic string) {
		rt := kmsg.NewAlterPartitionAssignmentsResponseTopic()
		rt.Topic = topic
		resp.Topics = append(resp.Topics, rt)
	}, func(res controller.PartitionResult, code int16, msg *string) {
		rp := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
		rp.Partition, rp.ErrorCode, rp.ErrorMessage = res.Partition, code, msg
		rt := &resp.Topics[len(resp.Topics)-1]
		rt.Partitions = append(rt.Partitions, rp)
		if code == 0 {
			b.log.Info("partition reassignment", "topic", res.Topic, "partition", res.Partition)
		}
	})
	return &kafkaserver.Response{Msg: resp}, nil
}

// handleListPartitionReassignments lists the reassignments in progress, of
// the partitions named or (topics null) of every partition, from this
// broker's metadata image.
func (b *Broker) handleListPartitionReassignments(ctx context.Context, r *kafkaserver.Request) (*kafkaserver.Response, error) {
	req := r.Msg.(*kmsg.ListPartitionReassignmentsRequest)
	resp := req.ResponseKind().(*kmsg.ListPartitionReassignmentsResponse)
	img := b.member.Image()
	add := func(t *metadata.Topic, p metadata.Partition) {
		if !p.Reassigning() {
			return
		}
		if n := len(resp.Topics); n == 0 || resp.Topics[n-1].Topic != t.Name {
			rt := kmsg.NewListPartitionReassignmentsResponseTopic()
			rt.Topic = t.Name
			resp.Topics = append(resp.Topics, rt)
		}
		rp := kmsg.NewListPartitionReassignmentsResponseTopicPartition()
		rp.Partition = p.Index
		rp.Replicas, rp.AddingReplicas, rp.RemovingReplicas = slices.Clone(p.Replicas), slices.Clone(p.AddingReplicas), slices.Clone(p.RemovingReplicas)
		rt := &resp.Topics[len(resp.Topics)-1]
		rt.Partitions = append(rt.Partitions, rp)
	}
	if req.Topics == nil {
		for _, t := range img.Topics() {
			for _, p := range t.Partitions {
				add(t, p)
			}
		}
		return &kafkaserver.Response{Msg: resp}, nil
	}
	for _, rt := range req.Topics {
		t, ok := img.Topic(rt.Topic)
		if !ok {
			continue
		}
		for _, i := range rt.Partitions {
			if i >= 0 && int(i) < len(t.Partitions) {
				add(t, t.Partitions[i])
			}
		}
	}
	return &kafkaserver.Response{Msg: resp}, nil
}
