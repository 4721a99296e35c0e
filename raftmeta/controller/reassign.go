package controller

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/runnel-dev/runnel/raftmeta/metadata"
)

// Per-partition outcomes of AlterPartitionReassignments other than success
// (beside UnknownTopicOrPartition); each names the Kafka error.
const (
	InvalidReplicaAssignment = "invalid_replica_assignment"
	NoReassignmentInProgress = "no_reassignment_in_progress"
)

// PartitionReassignment asks to move one partition to Replicas, or, with
// Cancel, to stop its reassignment in progress and go back to its replicas
// from before it.
type PartitionReassignment struct {
	Partition int32   `json:"partition"`
	Replicas  []int32 `json:"replicas,omitempty"`
	Cancel    bool    `json:"cancel,omitempty"`
}

// ReassignRequest is Kafka's AlterPartitionReassignments (KIP-455), by
// topic name.
type ReassignRequest struct {
	Topics map[string][]PartitionReassignment `json:"topics"`
}

// ReassignPartitions starts or cancels replica reassignments, in one
// commit, and returns each partition's outcome in topic then partition
// order (see PartitionResult). A reassignment makes the replica set the
// target followed by the old replicas not in it; the new ones catch up,
// and once every target replica is in the ISR the controller drops the
// others (see completeReassignment), in the same commit as the ISR change
// that completes it. A target that changes
// nothing, or whose replicas are all in the ISR already, completes at once.
func (c *Controller) ReassignPartitions(ctx context.Context, req ReassignRequest) ([]PartitionResult, error) {
	return c.perPartitionLocked(ctx, func(img *metadata.Image) ([]PartitionResult, []metadata.Record) {
		return c.reassignAll(img, req)
	})
}

// reassignAll decides every reassignment of req against img.
func (c *Controller) reassignAll(img *metadata.Image, req ReassignRequest) ([]PartitionResult, []metadata.Record) {
	var out []PartitionResult
	var recs []metadata.Record
	seen := map[string]bool{}
	for _, name := range slices.Sorted(maps.Keys(req.Topics)) {
		t, ok := img.Topic(name)
		for _, r := range req.Topics[name] {
			res := PartitionResult{Topic: name, Partition: r.Partition}
			key := fmt.Sprintf("%s/%d", name, r.Partition)
			switch {
			case seen[key]:
				res.Error, res.Message = InvalidReplicaAssignment, "partition listed twice"
			case !ok || r.Partition < 0 || int(r.Partition) >= len(t.Partitions):
				res.Error, res.Message = UnknownTopicOrPartition, fmt.Sprintf("topic %q has no partition %d", name, r.Partition)
			default:
				var rec *metadata.Record
				rec, res.Error, res.Message = c.reassignOne(img, t, t.Partitions[r.Partition], r)
				if rec != nil {
					recs = append(recs, *rec)
				}
			}
			seen[key] = true
			out = append(out, res)
		}
	}
	slices.SortStableFunc(out, func(a, b PartitionResult) int {
		if a.Topic != b.Topic {
			return cmp.Compare(a.Topic, b.Topic)
		}
		return cmp.Compare(a.Partition, b.Partition)
	})
	return out, recs
}

// original returns p's replicas from before its reassignment in progress.
func original(p metadata.Partition) []int32 {
	return slices.DeleteFunc(slices.Clone(p.Replicas), func(b int32) bool { return slices.Contains(p.AddingReplicas, b) })
}

// reassignOne decides one partition's reassignment: the record to propose
// (nil if none) or the outcome code and why.
func (c *Controller) reassignOne(img *metadata.Image, t *metadata.Topic, p metadata.Partition, r PartitionReassignment) (*metadata.Record, string, string) {
	orig := original(p)
	var re metadata.Reassignment
	if r.Cancel {
		if !p.Reassigning() {
			return nil, NoReassignmentInProgress, "no reassignment in progress"
		}
		re = metadata.Reassignment{Replicas: orig}
	} else {
		target := r.Replicas
		if len(target) == 0 || len(target) > metadata.MaxReplicationFactor {
			return nil, InvalidReplicaAssignment, fmt.Sprintf("%d target replicas, want 1..%d", len(target), metadata.MaxReplicationFactor)
		}
		for i, b := range target {
			if slices.Contains(target[:i], b) {
				return nil, InvalidReplicaAssignment, fmt.Sprintf("broker %d listed twice in %v", b, target)
			}
			if _, ok := img.Broker(b); !ok {
				return nil, InvalidReplicaAssignment, fmt.Sprintf("broker %d is not registered", b)
			}
		}
		if !p.Reassigning() && slices.Equal(target, p.Replicas) {
			return nil, "", ""
		}
		re.Replicas = slices.Clone(target)
		for _, b := range orig {
			if !slices.Contains(target, b) {
				re.Replicas = append(re.Replicas, b)
				re.Removing = append(re.Removing, b)
			}
		}
		for _, b := range target {
			if !slices.Contains(orig, b) {
				re.Adding = append(re.Adding, b)
			}
		}
	}
	isr := slices.DeleteFunc(slices.Clone(p.ISR), func(b int32) bool { return !slices.Contains(re.Replicas, b) })
	next := p
	next.Replicas, next.AddingReplicas, next.RemovingReplicas, next.ISR = re.Replicas, re.Adding, re.Removing, isr
	leader, isr, ok := c.leaderWithin(img, next, re.Replicas)
	if !ok {
		return nil, InvalidReplicaAssignment, fmt.Sprintf("no eligible in-sync replica of %v could lead (ISR %v): that would take an unclean election", re.Replicas, p.ISR)
	}
	next.Leader, next.ISR = leader, isr
	if done := c.completeReassignment(img, t, p, next); done != nil {
		return done, "", ""
	}
	rec := change(t, p, leader, isr)
	rec.PartitionChanged.Reassign = &re
	return &rec, "", ""
}

// leaderWithin keeps p's leader if it is one of replicas and in p's ISR,
// else picks the first eligible ISR member in replica order. ok is false
// when none can lead, or the ISR would be empty.
func (c *Controller) leaderWithin(img *metadata.Image, p metadata.Partition, replicas []int32) (int32, []int32, bool) {
	if len(p.ISR) == 0 {
		return metadata.NoLeader, nil, false
	}
	if p.Leader != metadata.NoLeader && slices.Contains(replicas, p.Leader) && slices.Contains(p.ISR, p.Leader) {
		return p.Leader, p.ISR, true
	}
	for _, r := range replicas {
		if slices.Contains(p.ISR, r) && c.eligible(img, r) {
			return r, p.ISR, true
		}
	}
	return metadata.NoLeader, nil, false
}

// completeReassignment returns the record that finishes the reassignment
// of partition p (as in img) when its next state has every target replica
// in the ISR: the replicas become the target, the ISR loses the removed
// replicas, and a removed leader hands over to the first eligible target
// replica in the ISR. It returns nil while the reassignment must go on, or
// when none is in progress.
func (c *Controller) completeReassignment(img *metadata.Image, t *metadata.Topic, p, next metadata.Partition) *metadata.Record {
	if !next.Reassigning() {
		return nil
	}
	target := next.TargetReplicas()
	for _, b := range target {
		if !slices.Contains(next.ISR, b) {
			return nil
		}
	}
	next.ISR = slices.DeleteFunc(slices.Clone(next.ISR), func(b int32) bool { return !slices.Contains(target, b) })
	leader, isr, ok := c.leaderWithin(img, next, target)
	if !ok {
		return nil
	}
	rec := change(t, p, leader, isr)
	rec.PartitionChanged.Reassign = &metadata.Reassignment{Replicas: target}
	c.log.Info("partition reassignment complete", "topic", t.Name, "partition", p.Index, "replicas", target, "leader", leader)
	return &rec
}
