package controller

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/runnel-dev/runnel/raftmeta/metadata"
)

// ElectionType is Kafka's ElectLeaders election type.
type ElectionType int8

// Election types (KIP-460).
const (
	// ElectPreferred moves leadership to the preferred replica, the first
	// of the replica list, when it is in the ISR and eligible.
	ElectPreferred ElectionType = 0
	// ElectUnclean elects a leader for a leaderless partition: from the ISR
	// if a member is eligible, else any eligible replica, whatever the
	// topic's unclean.leader.election.enable.
	ElectUnclean ElectionType = 1
)

// Per-partition outcomes of ElectLeaders other than success; each names
// the Kafka error of the same name.
const (
	ElectionNotNeeded           = "election_not_needed"
	PreferredLeaderNotAvailable = "preferred_leader_not_available"
	EligibleLeadersNotAvailable = "eligible_leaders_not_available"
	UnknownTopicOrPartition     = "unknown_topic_or_partition"
)

// ElectLeadersRequest asks for leader elections (Kafka's ElectLeaders).
type ElectLeadersRequest struct {
	Type ElectionType `json:"type"`
	// All elects for every partition; the results then leave out the
	// partitions that needed no election, as Kafka does.
	All bool `json:"all,omitempty"`
	// Partitions lists partition indexes by topic name when All is unset.
	Partitions map[string][]int32 `json:"partitions,omitempty"`
}

// PartitionResult is the outcome of an election or a reassignment for one
// partition: Error is empty on success, else one of the outcome constants
// (ElectionNotNeeded, InvalidReplicaAssignment, ...), explained by Message.
type PartitionResult struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Error     string `json:"error,omitempty"`
	Message   string `json:"message,omitempty"`
}

// ElectLeaders runs the requested elections in one commit and returns
// each partition's outcome, in topic then partition order.
func (c *Controller) ElectLeaders(ctx context.Context, req ElectLeadersRequest) ([]PartitionResult, error) {
	if req.Type != ElectPreferred && req.Type != ElectUnclean {
		return nil, fmt.Errorf("%w: election type %d, want 0 (preferred) or 1 (unclean)", ErrInvalidRequest, req.Type)
	}
	return c.perPartitionLocked(ctx, func(img *metadata.Image) (out []PartitionResult, recs []metadata.Record) {
		c.electAll(img, req, &out, &recs)
		return out, recs
	})
}

// electAll decides the elections req asks for against img, appending each
// outcome to out and each record to recs.
func (c *Controller) electAll(img *metadata.Image, req ElectLeadersRequest, out *[]PartitionResult, recs *[]metadata.Record) {
	try := func(t *metadata.Topic, p metadata.Partition) {
		rec, code, msg := c.electOne(img, t, p, req.Type)
		if rec != nil {
			*recs = append(*recs, *rec)
		}
		if req.All && code == ElectionNotNeeded {
			return
		}
		*out = append(*out, PartitionResult{Topic: t.Name, Partition: p.Index, Error: code, Message: msg})
	}
	if req.All {
		for _, t := range img.Topics() {
			for _, p := range t.Partitions {
				try(t, p)
			}
		}
	} else {
		for _, name := range slices.Sorted(maps.Keys(req.Partitions)) {
			parts := slices.Clone(req.Partitions[name])
			slices.Sort(parts)
			parts = slices.Compact(parts)
			t, ok := img.Topic(name)
			for _, i := range parts {
				if !ok || i < 0 || int(i) >= len(t.Partitions) {
					*out = append(*out, PartitionResult{Topic: name, Partition: i, Error: UnknownTopicOrPartition,
						Message: fmt.Sprintf("topic %q has no partition %d", name, i)})
					continue
				}
				try(t, t.Partitions[i])
			}
		}
	}
}

// perPartitionLocked runs decide against the current image, under c.mu,
// and proposes the records it returns in one commit; it returns decide's
// per-partition outcomes once they are committed.
func (c *Controller) perPartitionLocked(ctx context.Context, decide func(img *metadata.Image) ([]PartitionResult, []metadata.Record)) ([]PartitionResult, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.checkActive(); err != nil {
		return nil, err
	}
	out, recs := decide(c.image())
	if len(recs) > 0 {
		if _, err := c.proposeLocked(ctx, recs...); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// electOne decides one partition's election: the record to propose (nil if
// none) and, when it cannot or need not elect, the outcome code and why.
func (c *Controller) electOne(img *metadata.Image, t *metadata.Topic, p metadata.Partition, typ ElectionType) (*metadata.Record, string, string) {
	if typ == ElectPreferred {
		pref := p.Replicas[0]
		switch {
		case p.Leader == pref:
			return nil, ElectionNotNeeded, fmt.Sprintf("preferred replica %d already leads", pref)
		case !slices.Contains(p.ISR, pref) || !c.eligible(img, pref):
			return nil, PreferredLeaderNotAvailable, fmt.Sprintf("preferred replica %d is not an eligible ISR member (ISR %v)", pref, p.ISR)
		}
		rec := change(t, p, pref, p.ISR)
		return &rec, "", ""
	}
	if p.Leader != metadata.NoLeader {
		return nil, ElectionNotNeeded, fmt.Sprintf("partition has leader %d", p.Leader)
	}
	live := c.liveISR(img, p.ISR)
	for _, r := range p.Replicas {
		if slices.Contains(live, r) {
			rec := change(t, p, r, live)
			return &rec, "", ""
		}
	}
	for _, r := range p.Replicas {
		if c.eligible(img, r) {
			rec := change(t, p, r, []int32{r})
			return &rec, "", ""
		}
	}
	return nil, EligibleLeadersNotAvailable, fmt.Sprintf("no replica of %v is eligible", p.Replicas)
}
